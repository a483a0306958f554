//! Which live jobs wait for which (`after`), as a plain value the engine's
//! state keeps beside its queue: the edges both ways, and what became of a
//! waiting job when one of its parents ended (an outbox the engine drains,
//! see `engine/dependencies.rs`). No I/O, no clock.
//!
//! Only live parents are edges: a parent that had already ended when its
//! dependant arrived was judged then ([`Parent::Ended`]). A job stays here
//! from the moment it waits until it is queued or leaves the live set
//! ([`Waits::forget`]), so the count of waiting jobs is this map's size.

use crate::job::JobStatus;
use crate::job::after::satisfied;
use std::collections::{HashMap, HashSet};

/// A job a waiting job runs after, as its dependant is admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Parent {
    Live,
    Ended(JobStatus),
    /// Neither live nor in the store (pruned): after a restart only.
    Unknown,
}

/// What became of a waiting job, to be acted on outside the state's lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Settled {
    /// Every job it runs after ended as it needs: it may be queued.
    Ready(String),
    /// `parent` ended with `status` (`None`: no longer known), which the job
    /// cannot run after: it ends failed.
    Doomed { id: String, parent: String, status: Option<JobStatus> },
}

#[derive(Debug)]
struct Waiting {
    /// Live parents it still waits for.
    on: Vec<String>,
    any_outcome: bool,
    /// Settled as doomed: later endings of its parents change nothing.
    doomed: bool,
}

#[derive(Debug, Default)]
pub(super) struct Waits {
    waiting: HashMap<String, Waiting>,
    /// Live parent -> the jobs waiting for it (a set: a parent of thousands
    /// loses each as it is cancelled in constant time).
    dependants: HashMap<String, HashSet<String>>,
    settled: Vec<Settled>,
}

impl Waits {
    /// Job `id` waits for `parents`: registered, and what it comes to now
    /// (`Ready` with no live parent; `Doomed` for an ended one it cannot
    /// run after). Nothing goes to the outbox: the caller acts on the answer.
    pub fn wait(&mut self, id: &str, any_outcome: bool, parents: Vec<(String, Parent)>) -> Option<Settled> {
        let mut on = Vec::new();
        for (parent, standing) in parents {
            let status = match standing {
                Parent::Live => {
                    on.push(parent);
                    continue;
                }
                Parent::Ended(status) if satisfied(status, any_outcome) => continue,
                Parent::Ended(status) => Some(status),
                Parent::Unknown => None,
            };
            self.waiting.insert(id.to_string(), Waiting { on: Vec::new(), any_outcome, doomed: true });
            return Some(Settled::Doomed { id: id.to_string(), parent, status });
        }
        for parent in &on {
            self.dependants.entry(parent.clone()).or_default().insert(id.to_string());
        }
        let ready = on.is_empty();
        self.waiting.insert(id.to_string(), Waiting { on, any_outcome, doomed: false });
        ready.then(|| Settled::Ready(id.to_string()))
    }

    /// Job `parent` ended with `status`: its dependants that waited for it
    /// alone are ready, those that cannot run after it are doomed (both to
    /// the outbox).
    pub fn ended(&mut self, parent: &str, status: JobStatus) {
        for id in self.dependants.remove(parent).unwrap_or_default() {
            let Some(waiting) = self.waiting.get_mut(&id) else { continue };
            waiting.on.retain(|p| p != parent);
            if satisfied(status, waiting.any_outcome) {
                if waiting.on.is_empty() {
                    self.settled.push(Settled::Ready(id));
                }
                continue;
            }
            waiting.doomed = true;
            let others = std::mem::take(&mut waiting.on);
            self.unlink(&id, &others);
            self.settled.push(Settled::Doomed { id, parent: parent.to_string(), status: Some(status) });
        }
    }

    /// Job `id` no longer waits (queued, or gone from the live set).
    pub fn forget(&mut self, id: &str) {
        if let Some(waiting) = self.waiting.remove(id) {
            self.unlink(id, &waiting.on);
        }
    }

    fn unlink(&mut self, id: &str, parents: &[String]) {
        for parent in parents {
            if let Some(dependants) = self.dependants.get_mut(parent) {
                dependants.remove(id);
                if dependants.is_empty() {
                    self.dependants.remove(parent);
                }
            }
        }
    }

    /// Whether waiting job `id` may be queued: nothing left to wait for.
    pub fn is_ready(&self, id: &str) -> bool {
        self.waiting.get(id).is_some_and(|w| w.on.is_empty() && !w.doomed)
    }

    /// The live parents job `id` still waits for.
    pub fn on(&self, id: &str) -> Option<&[String]> {
        self.waiting.get(id).map(|w| w.on.as_slice())
    }

    /// The waiting jobs that need `id` to succeed, directly or through one
    /// another (those that run after any outcome, and theirs, excepted).
    /// (Nearest first; in no particular order among equals.)
    pub fn needing_success(&self, id: &str) -> Vec<String> {
        let mut found = Vec::new();
        let mut seen = HashSet::new();
        let mut next = std::collections::VecDeque::from([id.to_string()]);
        while let Some(parent) = next.pop_front() {
            for dependant in self.dependants.get(&parent).into_iter().flatten() {
                let needs = self.waiting.get(dependant).is_some_and(|w| !w.any_outcome && !w.doomed);
                if needs && seen.insert(dependant.clone()) {
                    found.push(dependant.clone());
                    next.push_back(dependant.clone());
                }
            }
        }
        found
    }

    /// Jobs waiting (ready ones not yet queued included).
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether something became of a waiting job since the last take.
    pub fn has_settled(&self) -> bool {
        !self.settled.is_empty()
    }

    /// What became of waiting jobs since the last call.
    pub fn take_settled(&mut self) -> Vec<Settled> {
        std::mem::take(&mut self.settled)
    }

    /// Adds what a caller of [`Waits::wait`] leaves to the outbox (at recovery).
    pub fn push_settled(&mut self, settled: Settled) {
        self.settled.push(settled);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(ids: &[&str]) -> Vec<(String, Parent)> {
        ids.iter().map(|id| (id.to_string(), Parent::Live)).collect()
    }

    #[test]
    fn a_job_is_ready_when_its_last_parent_succeeds() {
        let mut waits = Waits::default();
        assert_eq!(waits.wait("c", false, live(&["a", "b"])), None);
        waits.ended("a", JobStatus::Succeeded);
        assert!(waits.take_settled().is_empty() && !waits.is_ready("c"));
        assert_eq!(waits.on("c").unwrap(), ["b"]);
        waits.ended("b", JobStatus::Succeeded);
        assert_eq!(waits.take_settled(), [Settled::Ready("c".into())]);
        assert!(waits.is_ready("c"));
        waits.forget("c");
        assert_eq!(waits.len(), 0);
        assert!(waits.dependants.is_empty());
    }

    #[test]
    fn a_failed_parent_dooms_its_dependants_once_unless_any_outcome_will_do() {
        let mut waits = Waits::default();
        waits.wait("strict", false, live(&["a", "b"]));
        waits.wait("lenient", true, live(&["a"]));
        waits.ended("a", JobStatus::TimedOut);
        let settled = waits.take_settled();
        assert!(settled.contains(&Settled::Ready("lenient".into())), "{settled:?}");
        let doomed = Settled::Doomed { id: "strict".into(), parent: "a".into(), status: Some(JobStatus::TimedOut) };
        assert!(settled.contains(&doomed), "{settled:?}");
        // Its other parent's end changes nothing more.
        waits.ended("b", JobStatus::Succeeded);
        assert!(waits.take_settled().is_empty());
        assert!(!waits.is_ready("strict"));
        assert!(waits.dependants.is_empty(), "a doomed job waits for nothing");
    }

    #[test]
    fn parents_that_already_ended_are_judged_at_once() {
        let mut waits = Waits::default();
        let ended = |s| vec![("p".to_string(), Parent::Ended(s))];
        assert_eq!(waits.wait("a", false, ended(JobStatus::Succeeded)), Some(Settled::Ready("a".into())));
        assert_eq!(waits.wait("b", true, ended(JobStatus::Cancelled)), Some(Settled::Ready("b".into())));
        let doomed = waits.wait("c", false, ended(JobStatus::Failed));
        assert_eq!(
            doomed,
            Some(Settled::Doomed { id: "c".into(), parent: "p".into(), status: Some(JobStatus::Failed) })
        );
        let unknown = waits.wait("d", true, vec![("gone".into(), Parent::Unknown)]);
        assert_eq!(unknown, Some(Settled::Doomed { id: "d".into(), parent: "gone".into(), status: None }));
        assert_eq!(waits.len(), 4);
    }

    #[test]
    fn cancelling_reaches_what_needs_success_through_chains() {
        let mut waits = Waits::default();
        waits.wait("b", false, live(&["a"]));
        waits.wait("c", false, live(&["b"]));
        waits.wait("cleanup", true, live(&["a"]));
        waits.wait("after-cleanup", false, live(&["cleanup"]));
        waits.wait("other", false, live(&["x"]));
        let mut found = waits.needing_success("a");
        found.sort();
        assert_eq!(found, ["b", "c"]);
        waits.forget("b");
        assert_eq!(waits.needing_success("a"), Vec::<String>::new());
        assert_eq!(waits.dependants.get("a").unwrap(), &HashSet::from(["cleanup".to_string()]));
    }
}
