//! The policies the job engine consults — scheduler, timeout estimator and
//! retry policy — each answered by the plugin the configuration selects, or
//! by the built-in default in [`builtin`] when none is selected, the selected
//! one is not loaded, or its call fails.
//!
//! This is also where the host's hard rules are applied to whatever a
//! policy answered: a scheduler cannot start unknown jobs, overfill a slot or
//! exceed the capacity; an estimator cannot set a timeout outside the host's
//! bounds; a retry policy cannot retry past the job's retry budget.

pub mod builtin;

use crate::config::PolicySelection;
use crate::contract::{Assignment, Decision, ExtensionPoint, Failure, JobInfo, ScheduleInput, SimilarJobs, Timeouts};
use crate::plugin::registry::{PluginEvent, PluginHost};
use parking_lot::RwLock;
use std::collections::HashSet;
use std::sync::Arc;

/// Bounds every timeout estimate is held to, whoever made it.
pub const MIN_TIMEOUT_MS: u64 = 1_000;
pub const MAX_TIMEOUT_MS: u64 = 24 * 3_600_000;
/// The longest a retry may be put off (a usage limit resets within a week).
pub const MAX_RETRY_DELAY_MS: u64 = 7 * 24 * 3_600_000;

/// Who answers a policy question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Builtin,
    Plugin(String),
}

/// The engine's view of its policies.
pub struct Policies {
    plugins: Arc<PluginHost>,
    selection: RwLock<PolicySelection>,
}

impl Policies {
    pub fn new(plugins: Arc<PluginHost>) -> Policies {
        let selection = plugins.config().policies.clone();
        Policies { plugins, selection: RwLock::new(selection) }
    }

    /// Chooses other plugins (e.g. after the configuration file changed).
    pub fn select_plugins(&self, selection: PolicySelection) {
        *self.selection.write() = selection;
    }

    fn selected(&self, point: ExtensionPoint) -> Option<String> {
        let selection = self.selection.read();
        match point {
            ExtensionPoint::Scheduler => selection.scheduler.clone(),
            ExtensionPoint::TimeoutEstimator => selection.timeout_estimator.clone(),
            ExtensionPoint::RetryPolicy => selection.retry_policy.clone(),
            ExtensionPoint::HookHandler | ExtensionPoint::Commands => None,
        }
    }

    /// Whether `plugin` is the one selected for `point` (loaded or not).
    pub fn selects(&self, point: ExtensionPoint, plugin: &str) -> bool {
        self.selected(point).as_deref() == Some(plugin)
    }

    /// Plugin events from now on: loads and unloads that may change who answers.
    pub fn subscribe(&self) -> std::sync::mpsc::Receiver<PluginEvent> {
        self.plugins.subscribe()
    }

    /// Who would answer `point` now.
    pub fn source(&self, point: ExtensionPoint) -> Source {
        match self.selected(point) {
            Some(name) if self.plugins.get(&name).is_some_and(|p| p.provides(point)) => Source::Plugin(name),
            _ => Source::Builtin,
        }
    }

    /// Asks the selected plugin; `None` means use the built-in answer.
    fn ask<R>(
        &self,
        point: ExtensionPoint,
        call: impl FnOnce(&crate::plugin::loader::LoadedPlugin) -> Result<R, crate::plugin::error::CallError>,
    ) -> Option<R> {
        let name = self.selected(point)?;
        self.plugins.call(&name, point, call).ok()
    }

    /// Ranks for `jobs`, one each, in order. Higher ranks start first.
    pub fn rank(&self, jobs: &[JobInfo]) -> Vec<i64> {
        self.ask(ExtensionPoint::Scheduler, |p| p.rank(jobs)).unwrap_or_else(|| builtin::rank(jobs))
    }

    /// The jobs to start now. Whatever the scheduler answers, the result
    /// names only candidates, each once, on slots with room, within capacity.
    pub fn select(&self, input: &ScheduleInput) -> Vec<Assignment> {
        let chosen = self.ask(ExtensionPoint::Scheduler, |p| p.select(input)).unwrap_or_else(|| builtin::select(input));
        enforce_limits(input, chosen)
    }

    /// Timeouts for the next attempt of `job`, within the host's bounds.
    pub fn estimate(&self, job: &JobInfo, similar: &SimilarJobs, requested_ms: Option<u64>) -> Timeouts {
        let fallback = builtin::estimate(similar, requested_ms);
        let answer = self
            .ask(ExtensionPoint::TimeoutEstimator, |p| p.estimate(job, similar, requested_ms, fallback))
            .unwrap_or(fallback);
        let hard_ms = answer.hard_ms.clamp(MIN_TIMEOUT_MS, MAX_TIMEOUT_MS);
        Timeouts { hard_ms, idle_ms: answer.idle_ms.clamp(MIN_TIMEOUT_MS, hard_ms) }
    }

    /// What to do after attempt `attempt` of `job` failed. Never a retry past
    /// `max_retries` retries.
    pub fn decide(&self, job: &JobInfo, attempt: u32, max_retries: u32, failure: &Failure) -> Decision {
        if attempt > max_retries {
            return Decision::GiveUp(format!(
                "failed {attempt} time(s), retry budget of {max_retries} used up; last failure: {}",
                failure.message
            ));
        }
        let decision = self
            .ask(ExtensionPoint::RetryPolicy, |p| p.decide(job, attempt, max_retries, failure))
            .unwrap_or_else(|| builtin::decide(job, attempt, failure));
        match decision {
            Decision::Retry(mut retry) => {
                retry.delay_ms = retry.delay_ms.min(MAX_RETRY_DELAY_MS);
                retry.timeout_ms = retry.timeout_ms.map(|ms| ms.clamp(MIN_TIMEOUT_MS, MAX_TIMEOUT_MS));
                Decision::Retry(retry)
            }
            give_up => give_up,
        }
    }
}

/// Drops assignments that name unknown jobs or slots, repeat a job, overfill
/// a slot or exceed the capacity. Logged, since it means a buggy scheduler.
fn enforce_limits(input: &ScheduleInput, chosen: Vec<Assignment>) -> Vec<Assignment> {
    let candidates: HashSet<&str> = input.candidates.iter().map(|c| c.job.id.as_str()).collect();
    let mut free: Vec<u32> =
        input.slots.iter().map(|s| if s.cooling_until_ms.is_some() { 0 } else { s.free }).collect();
    let index_of = |slot: u32| input.slots.iter().position(|s| s.index == slot);
    let mut started = HashSet::new();
    let mut kept = Vec::new();
    for assignment in chosen {
        let fits = kept.len() < input.capacity as usize
            && candidates.contains(assignment.job_id.as_str())
            && !started.contains(&assignment.job_id)
            && index_of(assignment.slot).is_some_and(|i| free[i] > 0);
        if !fits {
            tracing::warn!(job = %assignment.job_id, slot = assignment.slot, "scheduler assignment dropped: it breaks a host limit");
            continue;
        }
        free[index_of(assignment.slot).expect("checked above")] -= 1;
        started.insert(assignment.job_id.clone());
        kept.push(assignment);
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::FailureKind;
    use crate::policy::builtin::tests::{candidate, job, slot};

    #[test]
    fn host_limits_hold_whatever_the_scheduler_answers() {
        let input = ScheduleInput {
            candidates: vec![candidate("a", 0), candidate("b", 0), candidate("c", 0)],
            slots: vec![slot(0, 1), slot(1, 5)],
            capacity: 2,
            roots: vec![],
            queued_total: 3,
            now_ms: 0,
        };
        let assign = |id: &str, slot| Assignment { job_id: id.into(), slot };
        let kept = enforce_limits(
            &input,
            vec![
                assign("zzz", 1),
                assign("a", 0),
                assign("b", 0),
                assign("a", 1),
                assign("b", 9),
                assign("b", 1),
                assign("c", 1),
            ],
        );
        // unknown job, full slot 0, duplicate a, unknown slot 9, and c over capacity are dropped
        assert_eq!(kept, vec![assign("a", 0), assign("b", 1)]);
    }

    #[test]
    fn no_retry_past_the_budget() {
        let plugins = PluginHost::new(Default::default(), None).unwrap();
        let policies = Policies::new(plugins);
        let failure = builtin::tests::failure(FailureKind::Crashed, false);
        assert!(matches!(policies.decide(&job("a", 0), 3, 3, &failure), Decision::Retry(_)));
        match policies.decide(&job("a", 0), 4, 3, &failure) {
            Decision::GiveUp(reason) => assert!(reason.contains("retry budget of 3"), "{reason}"),
            other => panic!("expected give-up, got {other:?}"),
        }
    }

    #[test]
    fn retries_are_held_to_host_bounds() {
        let plugins = PluginHost::new(Default::default(), None).unwrap();
        let policies = Policies::new(plugins);
        let mut failure = builtin::tests::failure(FailureKind::RateLimited, false);
        failure.rate_limit_resets_at_ms = Some(u64::MAX);
        match policies.decide(&job("a", 0), 1, 3, &failure) {
            Decision::Retry(retry) => assert_eq!(retry.delay_ms, MAX_RETRY_DELAY_MS),
            other => panic!("expected a retry, got {other:?}"),
        }
    }

    #[test]
    fn estimates_are_held_to_host_bounds() {
        let plugins = PluginHost::new(Default::default(), None).unwrap();
        let policies = Policies::new(plugins);
        let similar = builtin::tests::no_history();
        let t = policies.estimate(&job("a", 0), &similar, Some(10));
        assert_eq!(t, Timeouts { hard_ms: MIN_TIMEOUT_MS, idle_ms: MIN_TIMEOUT_MS });
    }
}
