//! The engine's state as a plain value: the live (unfinished) jobs, the
//! queue, what runs where, the job trees, the token pool and the duration
//! history. No I/O, no locks, no clock of its own (callers pass `now`), so
//! every transition is a method here and the counts it keeps (running in
//! all, per depth, per tree, per token slot; jobs per tree) change in one
//! place, under unit tests.
//!
//! A job's life through it: [`State::admit`] (a submission, within the
//! queue and tree limits) or [`State::adopt`] (recovered at start) →
//! [`State::start`] (a place and a slot taken; [`State::unstart`] when the
//! start could not be recorded) → [`State::release`] (the place given back)
//! → [`State::requeue`] for another attempt, or [`State::finish`].
//! [`State::retract`] takes back an admitted job whose insert failed.
//! Finished jobs are remembered, numbered, for a while, so that who waits
//! for some looks at what finished since it last looked (`recent_ends.rs`).
//!
//! `Inner` holds it behind one mutex that is never held across an await, a
//! plugin call or a store write.
//!
//! Length: 370 lines of transitions, 300 of their tests; they belong beside
//! the code whose invariants they check.

use super::history::Durations;
use super::recent_ends::RecentEnds;
use super::tokens::{SlotOutcome, TokenPool};
use super::waits::{Parent, Settled, Waits};
use crate::credentials::Secret;
use crate::job::budget::{Budget, Ledger};
use crate::job::{JobRecord, JobSpec, JobStatus, Pauses};
use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// A job that is not finished.
pub(super) struct Live {
    pub spec: JobSpec,
    pub record: JobRecord,
    /// Submission order, the queue's tie-breaker.
    pub seq: i64,
    /// The scheduler's rank; higher starts earlier.
    pub rank: i64,
    pub queued_at: Instant,
    pub cancel: CancellationToken,
    /// Whether the next attempt resumes the last attempt's agent session.
    pub resume: bool,
    /// What the agent has said or done so far (assistant and tool lines).
    pub activity: u32,
    /// The token slot of the started attempt, while it holds a place in the
    /// running counts (see [`State::release`]).
    slot: Option<usize>,
    /// The job's key (`RINGMASTER_JOB_TOKEN`): what its processes prove
    /// who they are with on the engine socket. Made anew for every engine
    /// run, never stored or logged.
    pub key: Secret,
}

impl Live {
    pub fn new(spec: JobSpec, record: JobRecord, seq: i64, rank: i64, cancel: CancellationToken) -> Live {
        // After a restart, a job that has a session continues it.
        let resume = record.session_id.is_some();
        let key = Secret::new(format!("{:032x}{:032x}", rand::random::<u128>(), rand::random::<u128>()));
        Live { spec, record, seq, rank, queued_at: Instant::now(), cancel, resume, activity: 0, slot: None, key }
    }

    fn key(&self) -> QueueKey {
        (Reverse(self.rank), self.seq, self.record.job_id.clone())
    }
}

/// Best first: highest rank, then earliest submitted.
pub(super) type QueueKey = (Reverse<i64>, i64, String);

/// The limits a submission must fit.
#[derive(Debug, Clone, Copy)]
pub(super) struct Admission {
    pub max_queue: usize,
    pub max_per_tree: u32,
}

/// The limits a start must fit.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub max_concurrent: u32,
    pub per_depth: u32,
}

/// Why [`State::admit`] did not take a job.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    TreeFull { count: u32 },
    QueueFull { queued: usize },
}

/// A job tree with at least one live job.
#[derive(Debug, Clone, Copy)]
struct Tree {
    /// Jobs ever submitted in it.
    submitted: u32,
    live: u32,
}

pub(super) struct State {
    pub live: HashMap<String, Live>,
    pub queue: BTreeSet<QueueKey>,
    pub running: u32,
    pub running_by_depth: HashMap<u32, u32>,
    pub running_by_root: HashMap<String, u32>,
    /// Trees with a live job. A tree with none is counted in the store,
    /// where all its jobs are (an insert is confirmed before its job can
    /// end).
    trees: HashMap<String, Tree>,
    /// Live jobs by idempotency key. A finished job's key is found in the
    /// store, where its insert is (as for trees).
    keys: HashMap<String, String>,
    pub tokens: TokenPool,
    pub durations: Durations,
    /// What the queue holds back (`queue_pause`): held jobs are not offered
    /// to the scheduler, and [`State::start`] refuses them.
    pub paused: Pauses,
    /// Jobs waiting for the jobs they run after (`waiting`, not queued).
    pub waits: Waits,
    /// The configured budgets (`budgets.rs`).
    pub budgets: Vec<Budget>,
    /// Budgets of job trees submitted with `budget_usd`, by root, while the tree lives.
    pub tree_budgets: HashMap<String, f64>,
    /// What attempts spent, as far back as the budgets look.
    pub ledger: Ledger,
    /// Roots of trees whose last live job finished, to be announced.
    finished_trees: Vec<String>,
    /// The jobs that finished most recently, for waiters.
    pub recent_ends: RecentEnds,
}

impl State {
    pub fn new(tokens: TokenPool) -> State {
        State {
            live: HashMap::new(),
            queue: BTreeSet::new(),
            running: 0,
            running_by_depth: HashMap::new(),
            running_by_root: HashMap::new(),
            trees: HashMap::new(),
            keys: HashMap::new(),
            tokens,
            durations: Durations::default(),
            paused: Pauses::default(),
            waits: Waits::default(),
            budgets: Vec::new(),
            tree_budgets: HashMap::new(),
            ledger: Ledger::default(),
            finished_trees: Vec::new(),
            recent_ends: RecentEnds::default(),
        }
    }

    /// Takes a submitted job, queued, if the queue and its tree have room.
    /// `tree_size` is how many jobs its tree has had, for a tree the state
    /// does not know ([`State::tree_size`]: one with no live job, whose jobs
    /// are all in the store).
    pub fn admit(&mut self, live: Live, limits: Admission, tree_size: u32) -> Result<(), Refusal> {
        let root = &live.record.root_job_id;
        let submitted = self.trees.get(root).map_or(tree_size, |tree| tree.submitted);
        if submitted >= limits.max_per_tree {
            return Err(Refusal::TreeFull { count: submitted });
        }
        // Waiting jobs count: they are queued work, only not yet in order.
        let queued = self.queue.len() + self.waits.len();
        if queued >= limits.max_queue {
            return Err(Refusal::QueueFull { queued });
        }
        self.trees.entry(root.clone()).or_insert(Tree { submitted, live: 0 }).submitted += 1;
        self.insert(live);
        Ok(())
    }

    /// Takes a job recovered from the store at start (no limits: it was
    /// admitted once). `tree_size` is the store's count of its tree's jobs.
    pub fn adopt(&mut self, live: Live, tree_size: u32) {
        self.trees.entry(live.record.root_job_id.clone()).or_insert(Tree { submitted: tree_size, live: 0 });
        self.insert(live);
    }

    fn insert(&mut self, live: Live) {
        if live.record.status == JobStatus::Queued {
            self.queue.insert(live.key());
        }
        if let (Some(usd), None) = (live.spec.budget_usd, &live.record.parent_job_id) {
            self.tree_budgets.insert(live.record.root_job_id.clone(), usd);
        }
        if let Some(tree) = self.trees.get_mut(&live.record.root_job_id) {
            tree.live += 1;
        }
        if let Some(key) = &live.spec.idempotency_key {
            self.keys.insert(key.clone(), live.record.job_id.clone());
        }
        self.live.insert(live.record.job_id.clone(), live);
    }

    /// A parent in `after` that is neither live nor judged in `ended`: one
    /// that ended since the caller looked (it looks again).
    pub fn unjudged_parent<'a>(&self, after: &'a [String], ended: &HashMap<String, Parent>) -> Option<&'a str> {
        after.iter().map(String::as_str).find(|p| !self.live.contains_key(*p) && !ended.contains_key(*p))
    }

    /// Waiting job `id` (admitted or adopted) waits for the live jobs of its
    /// `after`; `ended` judges the others (one in neither is unknown). What
    /// it comes to now, if anything (see [`Waits::wait`]).
    pub fn wait_after(&mut self, id: &str, ended: &HashMap<String, Parent>) -> Option<Settled> {
        let live = self.live.get(id)?;
        let parents = live
            .record
            .after
            .iter()
            .map(|p| {
                let standing = match self.live.contains_key(p) {
                    true => Parent::Live,
                    false => ended.get(p).cloned().unwrap_or(Parent::Unknown),
                };
                (p.clone(), standing)
            })
            .collect();
        self.waits.wait(id, live.record.after_any_outcome, parents)
    }

    /// Queues waiting job `id`, with its prompt as rendered from its
    /// parents, if it is ready (see [`Waits::is_ready`]); its record.
    pub fn queue_ready(&mut self, id: &str, prompt: String, now: Instant) -> Option<JobRecord> {
        let live = self.live.get_mut(id).filter(|l| l.record.status == JobStatus::Waiting)?;
        if !self.waits.is_ready(id) {
            return None;
        }
        self.waits.forget(id);
        live.spec.prompt = prompt;
        live.queued_at = now;
        live.record.status = JobStatus::Queued;
        let (key, record) = (live.key(), live.record.clone());
        self.queue.insert(key);
        Some(record)
    }

    /// Takes back an admitted job that could not be stored, as if it had
    /// never been submitted.
    pub fn retract(&mut self, id: &str) {
        if let Some(live) = self.remove(id)
            && let Some(tree) = self.trees.get_mut(&live.record.root_job_id)
        {
            tree.submitted = tree.submitted.saturating_sub(1);
        }
    }

    /// Starts queued job `id` on token slot `slot` if it fits the limits:
    /// takes its place in the running counts and the slot, and returns the
    /// started record (already the live one). `None` when it does not fit.
    pub fn start(&mut self, id: &str, slot: usize, limits: Limits, now: Instant, now_ms: u64) -> Option<JobRecord> {
        let live = self.live.get(id)?;
        let depth = live.record.depth;
        let fits = self.queue.contains(&live.key())
            && self.paused.holding(&live.spec.tags).is_none()
            && self.budget_holding(&live.record.root_job_id, &live.record.tags, now_ms).is_none()
            && slot < self.tokens.slots.len()
            && self.running < limits.max_concurrent
            && self.running_by_depth.get(&depth).copied().unwrap_or(0) < limits.per_depth
            && self.tokens.free(slot, now) > 0;
        if !fits {
            return None;
        }
        self.queue.remove(&live.key());
        let live = self.live.get_mut(id).expect("checked above");
        live.slot = Some(slot);
        let record = &mut live.record;
        record.status = JobStatus::Running;
        record.attempts += 1;
        record.started_at_ms.get_or_insert(now_ms);
        record.retry_at_ms = None;
        record.token_slot = Some(slot as u32);
        let record = record.clone();
        self.running += 1;
        *self.running_by_depth.entry(depth).or_default() += 1;
        *self.running_by_root.entry(record.root_job_id.clone()).or_default() += 1;
        self.tokens.start(slot, now);
        Some(record)
    }

    /// Undoes [`State::start`] of job `id`, whose start could not be
    /// recorded: `before` is its record from before, and it is queued again
    /// where it was. The slot's start does not count.
    pub fn unstart(&mut self, id: &str, before: JobRecord) {
        let Some(slot) = self.give_back(id) else { return };
        self.tokens.unstart(slot);
        let live = self.live.get_mut(id).expect("given back above");
        live.record = before;
        let key = live.key();
        self.queue.insert(key);
    }

    /// Gives back what job `id`'s started attempt holds: its place in the
    /// running counts and its token slot. Does nothing when it holds none, so
    /// whoever ends an attempt (normally, or after a panic) may call it.
    pub fn release(&mut self, id: &str, outcome: SlotOutcome, now: Instant) {
        if let Some(slot) = self.give_back(id) {
            self.tokens.finish(slot, outcome, now);
        }
    }

    /// The place of job `id` in the running counts, given back; its slot.
    fn give_back(&mut self, id: &str) -> Option<usize> {
        let live = self.live.get_mut(id)?;
        let slot = live.slot.take()?;
        let (depth, root) = (live.record.depth, &live.record.root_job_id);
        self.running -= 1;
        if let Some(n) = self.running_by_depth.get_mut(&depth) {
            *n -= 1;
        }
        if let Some(n) = self.running_by_root.get_mut(root) {
            *n -= 1;
            if *n == 0 {
                self.running_by_root.remove(root);
            }
        }
        Some(slot)
    }

    /// Queues job `id`, waiting for a retry, again with `rank`; its record
    /// as queued. `None` when it is not waiting (cancelled meanwhile).
    pub fn requeue(&mut self, id: &str, rank: i64, now: Instant) -> Option<JobRecord> {
        let live = self.live.get_mut(id).filter(|l| l.record.status == JobStatus::RetryWait)?;
        live.rank = rank;
        live.queued_at = now;
        live.record.status = JobStatus::Queued;
        live.record.retry_at_ms = None;
        let (key, record) = (live.key(), live.record.clone());
        self.queue.insert(key);
        Some(record)
    }

    /// Ranks queued job `id` anew; whether it was queued.
    pub fn rerank(&mut self, id: &str, rank: i64) -> bool {
        let Some(live) = self.live.get_mut(id) else { return false };
        if !self.queue.remove(&live.key()) {
            return false;
        }
        live.rank = rank;
        self.queue.insert(live.key());
        true
    }

    /// Takes job `id` out of the queue; whether it was there.
    pub fn dequeue(&mut self, id: &str) -> bool {
        self.live.get(id).is_some_and(|live| self.queue.remove(&live.key()))
    }

    /// Removes finished job `id` from the live jobs (and the queue), giving
    /// back any place it still holds; what it was.
    pub fn finish(&mut self, id: &str, now: Instant) -> Option<Live> {
        self.release(id, SlotOutcome::Failed, now);
        let live = self.remove(id)?;
        self.waits.ended(id, live.record.status);
        let root = &live.record.root_job_id;
        if !self.trees.contains_key(root) {
            self.tree_budgets.remove(root);
            self.finished_trees.push(root.clone());
        }
        self.recent_ends.push(&live.record);
        Some(live)
    }

    pub fn has_finished_trees(&self) -> bool {
        !self.finished_trees.is_empty()
    }

    /// The roots of the trees that finished since the last call.
    pub fn take_finished_trees(&mut self) -> Vec<String> {
        std::mem::take(&mut self.finished_trees)
    }

    fn remove(&mut self, id: &str) -> Option<Live> {
        self.dequeue(id);
        let live = self.live.remove(id)?;
        self.waits.forget(id);
        if let Some(key) = &live.spec.idempotency_key {
            self.keys.remove(key);
        }
        let root = &live.record.root_job_id;
        if let Some(tree) = self.trees.get_mut(root) {
            tree.live -= 1;
            if tree.live == 0 {
                self.trees.remove(root);
            }
        }
        Some(live)
    }

    /// The live job submitted with idempotency key `key`.
    pub fn job_with_key(&self, key: &str) -> Option<&str> {
        self.keys.get(key).map(String::as_str)
    }

    /// Jobs in `root`'s tree so far, while it has a live job.
    pub fn tree_size(&self, root: &str) -> Option<u32> {
        self.trees.get(root).map(|t| t.submitted)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::credentials::Secret;
    use std::time::Duration;

    fn record(id: &str, root: &str, depth: u32) -> JobRecord {
        serde_json::from_value(serde_json::json!({
            "job_id": id, "status": "queued", "prompt": "p", "agent": "claude", "model": null, "priority": 0,
            "tags": [], "depth": depth, "parent_job_id": null, "root_job_id": root, "attempts": 0,
            "max_retries": 0, "created_at_ms": 0, "started_at_ms": null, "finished_at_ms": null,
            "retry_at_ms": null, "timeout_s": null, "token_slot": null, "session_id": null, "result": null,
            "error": null, "exit_code": null, "cost_usd": 0.0, "usage": null, "history": []
        }))
        .unwrap()
    }

    pub fn live(id: &str, root: &str, depth: u32, seq: i64, rank: i64) -> Live {
        Live::new(JobSpec::default(), record(id, root, depth), seq, rank, CancellationToken::new())
    }

    /// Two slots of concurrency 2 each.
    pub fn state() -> State {
        let tokens = vec![Secret::new("a".into()).into(), Secret::new("b".into()).into()];
        State::new(TokenPool::new(tokens, 2, 0, Duration::from_secs(60)))
    }

    pub const ROOMY: Admission = Admission { max_queue: 100, max_per_tree: 100 };
    pub const WIDE: Limits = Limits { max_concurrent: 10, per_depth: 10 };

    /// The counts the state keeps agree with its live jobs.
    fn check(state: &State) {
        let running: Vec<&Live> = state.live.values().filter(|l| l.slot.is_some()).collect();
        assert_eq!(state.running as usize, running.len());
        for depth in state.running_by_depth.keys() {
            let n = running.iter().filter(|l| l.record.depth == *depth).count() as u32;
            assert_eq!(state.running_by_depth[depth], n, "depth {depth}");
        }
        for (root, n) in &state.running_by_root {
            assert_eq!(*n as usize, running.iter().filter(|l| &l.record.root_job_id == root).count());
        }
        let by_slot: u32 = state.tokens.slots.iter().map(|s| s.running).sum();
        assert_eq!(by_slot, state.running);
        for (_, _, id) in &state.queue {
            assert_eq!(state.live[id].record.status, JobStatus::Queued, "{id}");
            assert!(state.live[id].slot.is_none());
        }
        for (root, tree) in &state.trees {
            assert_eq!(tree.live as usize, state.live.values().filter(|l| &l.record.root_job_id == root).count());
        }
        let waiting = state.live.values().filter(|l| l.record.status == JobStatus::Waiting).count();
        assert_eq!(state.waits.len(), waiting, "every waiting job, and only those, waits");
        for (key, id) in &state.keys {
            assert_eq!(state.live[id].spec.idempotency_key.as_deref(), Some(key.as_str()));
        }
    }

    #[test]
    fn a_held_job_does_not_start_and_starts_once_released() {
        let mut state = state();
        let tagged = |id: &str, tag: &str| {
            let spec = JobSpec { tags: vec![tag.into()], ..JobSpec::default() };
            Live::new(spec, record(id, id, 0), 1, 0, CancellationToken::new())
        };
        state.admit(tagged("n", "nightly"), ROOMY, 0).unwrap();
        state.admit(tagged("o", "other"), ROOMY, 0).unwrap();
        state.paused.set(Some("nightly"), true);
        let now = Instant::now();
        assert!(state.start("n", 0, WIDE, now, 0).is_none());
        assert!(state.start("o", 0, WIDE, now, 0).is_some(), "other tags start");
        state.paused.set(Some("nightly"), false);
        state.paused.set(None, true);
        assert!(state.start("n", 0, WIDE, now, 0).is_none(), "the whole queue is held");
        state.paused.set(None, false);
        assert!(state.start("n", 0, WIDE, now, 0).is_some());
        check(&state);
    }

    #[test]
    fn a_waiting_job_counts_against_the_queue_and_is_queued_when_its_parent_succeeds() {
        let mut state = state();
        let limits = Admission { max_queue: 2, max_per_tree: 100 };
        state.admit(live("a", "a", 0, 1, 0), limits, 0).unwrap();
        let mut waiting = live("b", "b", 0, 2, 0);
        waiting.record.status = JobStatus::Waiting;
        waiting.record.after = vec!["a".into()];
        state.admit(waiting, limits, 0).unwrap();
        assert_eq!(state.wait_after("b", &HashMap::new()), None, "a is live");
        assert_eq!(state.admit(live("c", "c", 0, 3, 0), limits, 0), Err(Refusal::QueueFull { queued: 2 }));
        assert!(state.queue_ready("b", "rendered".into(), Instant::now()).is_none(), "a has not ended");
        check(&state);
        let now = Instant::now();
        state.start("a", 0, WIDE, now, 0).unwrap();
        state.live.get_mut("a").unwrap().record.status = JobStatus::Succeeded;
        state.finish("a", now);
        assert_eq!(state.waits.take_settled(), [Settled::Ready("b".into())]);
        let queued = state.queue_ready("b", "rendered".into(), now).unwrap();
        assert_eq!((queued.status, state.live["b"].spec.prompt.as_str()), (JobStatus::Queued, "rendered"));
        assert!(state.queue.contains(&(Reverse(0), 2, "b".to_string())));
        check(&state);
    }

    #[test]
    fn a_key_names_its_job_while_the_job_lives() {
        let mut state = state();
        let keyed = |id: &str, key: &str| {
            let spec = JobSpec { idempotency_key: Some(key.into()), ..JobSpec::default() };
            Live::new(spec, record(id, id, 0), 1, 0, CancellationToken::new())
        };
        state.admit(keyed("a", "nightly"), ROOMY, 0).unwrap();
        state.admit(keyed("b", "weekly"), ROOMY, 0).unwrap();
        state.admit(live("c", "c", 0, 3, 0), ROOMY, 0).unwrap();
        assert_eq!(state.job_with_key("nightly"), Some("a"));
        check(&state);
        state.finish("a", Instant::now());
        state.retract("b");
        assert_eq!((state.job_with_key("nightly"), state.job_with_key("weekly")), (None, None));
        check(&state);
    }

    #[test]
    fn admission_holds_the_queue_and_tree_limits() {
        let mut state = state();
        let limits = Admission { max_queue: 3, max_per_tree: 2 };
        state.admit(live("a", "a", 0, 1, 0), limits, 0).unwrap();
        // The tree is known now: its count is the state's, whatever is passed.
        state.admit(live("a1", "a", 1, 2, 0), limits, 0).unwrap();
        assert_eq!(state.admit(live("a2", "a", 1, 3, 0), limits, 0), Err(Refusal::TreeFull { count: 2 }));
        // A tree that had jobs before, counted in the store.
        assert_eq!(state.admit(live("b", "b", 0, 3, 0), limits, 2), Err(Refusal::TreeFull { count: 2 }));
        state.admit(live("c", "c", 0, 4, 0), limits, 0).unwrap();
        assert_eq!(state.admit(live("d", "d", 0, 5, 0), limits, 0), Err(Refusal::QueueFull { queued: 3 }));
        // A retracted job does not count against its tree.
        state.retract("a1");
        assert_eq!(state.tree_size("a"), Some(1));
        state.admit(live("a3", "a", 1, 6, 0), limits, 0).unwrap();
        check(&state);
    }

    #[test]
    fn finished_jobs_are_told_to_waiters_with_their_final_records_retracted_ones_not() {
        let mut state = state();
        let mark = state.recent_ends.total();
        state.admit(live("a", "a", 0, 1, 0), ROOMY, 0).unwrap();
        state.admit(live("b", "b", 0, 2, 0), ROOMY, 0).unwrap();
        state.retract("b");
        state.live.get_mut("a").unwrap().record.status = JobStatus::Succeeded;
        state.finish("a", Instant::now());
        let told: Vec<_> = state.recent_ends.since(mark).unwrap().collect();
        assert_eq!(told.len(), 1, "a retracted job did not finish");
        assert_eq!(told[0].0, "a");
        assert_eq!(told[0].1.unwrap().status, JobStatus::Succeeded, "as it ended");
        check(&state);
    }

    #[test]
    fn a_tree_is_forgotten_when_its_last_live_job_ends() {
        let mut state = state();
        state.admit(live("a", "a", 0, 1, 0), ROOMY, 0).unwrap();
        state.admit(live("a1", "a", 1, 2, 0), ROOMY, 0).unwrap();
        state.finish("a", Instant::now());
        assert_eq!(state.tree_size("a"), Some(2), "a live job remains");
        assert!(state.take_finished_trees().is_empty());
        state.finish("a1", Instant::now());
        assert_eq!(state.tree_size("a"), None, "counted in the store from now on");
        assert_eq!(state.take_finished_trees(), ["a"], "its last job ended");
        check(&state);
    }

    #[test]
    fn starts_take_places_in_every_count_and_release_gives_them_back() {
        let mut state = state();
        let now = Instant::now();
        for (i, id) in ["a", "b", "c"].iter().enumerate() {
            state.admit(live(id, "r", 1, i as i64, 0), ROOMY, 0).unwrap();
        }
        let started = state.start("a", 0, WIDE, now, 42).unwrap();
        assert_eq!((started.status, started.attempts, started.token_slot), (JobStatus::Running, 1, Some(0)));
        assert_eq!(started.started_at_ms, Some(42));
        assert_eq!(state.live["a"].record, started);
        assert!(state.start("a", 0, WIDE, now, 42).is_none(), "a running job does not start again");
        state.start("b", 0, WIDE, now, 43).unwrap();
        assert!(state.start("c", 0, WIDE, now, 44).is_none(), "slot 0 is full");
        assert!(state.start("c", 7, WIDE, now, 44).is_none(), "no slot 7");
        assert_eq!((state.running, state.running_by_depth[&1], state.running_by_root["r"]), (2, 2, 2));
        check(&state);

        state.release("a", SlotOutcome::Ok, now);
        state.release("a", SlotOutcome::Ok, now);
        assert_eq!(state.running, 1, "a second release gives back nothing");
        check(&state);
        state.start("c", 0, WIDE, now, 45).unwrap();
        state.finish("b", now);
        state.finish("c", now);
        assert_eq!(state.running, 0);
        assert!(state.running_by_root.is_empty());
        check(&state);
    }

    #[test]
    fn starts_hold_the_total_and_per_depth_limits() {
        let mut state = state();
        let now = Instant::now();
        for (i, (id, depth)) in [("a", 0), ("b", 0), ("c", 1), ("d", 1)].iter().enumerate() {
            state.admit(live(id, id, *depth, i as i64, 0), ROOMY, 0).unwrap();
        }
        let limits = Limits { max_concurrent: 2, per_depth: 1 };
        state.start("a", 0, limits, now, 0).unwrap();
        assert!(state.start("b", 1, limits, now, 0).is_none(), "depth 0 is full");
        state.start("c", 1, limits, now, 0).unwrap();
        assert!(state.start("d", 1, Limits { per_depth: 5, ..limits }, now, 0).is_none(), "all places are taken");
        check(&state);
    }

    #[test]
    fn an_unrecorded_start_is_undone() {
        let mut state = state();
        let now = Instant::now();
        state.admit(live("a", "a", 0, 1, 5), ROOMY, 0).unwrap();
        let before = state.live["a"].record.clone();
        state.start("a", 1, WIDE, now, 1).unwrap();
        state.unstart("a", before.clone());
        assert_eq!(state.live["a"].record, before);
        assert!(state.queue.contains(&(Reverse(5), 1, "a".to_string())), "queued where it was");
        assert_eq!(state.tokens.free(1, now), 2, "the slot's start does not count");
        check(&state);
    }

    #[test]
    fn a_job_waiting_for_a_retry_is_queued_again_with_its_new_rank() {
        let mut state = state();
        let now = Instant::now();
        state.admit(live("a", "a", 0, 1, 0), ROOMY, 0).unwrap();
        state.start("a", 0, WIDE, now, 0).unwrap();
        assert!(state.requeue("a", 9, now).is_none(), "only a job waiting for a retry");
        state.release("a", SlotOutcome::Failed, now);
        state.live.get_mut("a").unwrap().record.status = JobStatus::RetryWait;
        let record = state.requeue("a", 9, now).unwrap();
        assert_eq!((record.status, record.attempts), (JobStatus::Queued, 1));
        assert!(state.queue.contains(&(Reverse(9), 1, "a".to_string())));
        assert!(state.rerank("a", 3));
        assert!(state.queue.contains(&(Reverse(3), 1, "a".to_string())));
        assert!(state.dequeue("a"));
        assert!(!state.rerank("a", 4), "not queued");
        check(&state);
    }

    #[test]
    fn recovered_jobs_keep_their_trees_count() {
        let mut state = state();
        let mut running = live("a", "r", 0, 1, 0);
        running.record.status = JobStatus::Running;
        state.adopt(running, 7);
        state.adopt(live("b", "r", 1, 2, 0), 7);
        assert_eq!(state.tree_size("r"), Some(7));
        assert_eq!(state.queue.len(), 1, "only the queued one is queued");
        assert_eq!(state.running, 0, "a recovered job holds no place");
        check(&state);
    }
}
