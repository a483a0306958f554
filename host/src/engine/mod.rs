//! The job engine: accepts jobs, keeps them in a persistent priority queue,
//! starts them under the hard limits when the scheduler says so, runs each
//! attempt through the [`executor`](crate::executor), retries failures as the
//! retry policy decides, and records everything in the [`Store`].
//!
//! Flow of one job: [`Engine::submit`] checks the limits that refuse work
//! (depth, tree total, queue size), ranks the job and queues it. The
//! scheduling loop offers the best-ranked jobs that fit the concurrency
//! limits to the scheduler policy, and starts what it picks. An attempt task
//! estimates timeouts, spawns the agent, streams its transcript into the
//! store and, when the agent ends, settles the job: done, or back to the
//! queue after the retry policy's delay.
//!
//! Concurrency limits never refuse a job: it waits. All shared state sits
//! in one plain value (`state.rs`) behind one mutex that is never held
//! across an await, a plugin call or a store write; the store is written by
//! one writer thread (`persist.rs`).
//!
//! Where things are: this file holds the engine's parts and its small calls
//! (status, list, reconfigure, subscriptions); `lifecycle.rs` starting,
//! recovering, the background tasks and stopping; `submit.rs` taking a job; `schedule.rs` the scheduling loop, where the
//! scheduler policy is asked; `attempt.rs` one attempt, where the timeout
//! estimator is asked; `settle.rs` what follows it, where the retry policy
//! is asked; `finish.rs` how jobs end
//! (finish, cancel, wait); [`events`] the hook events and their JSON;
//! [`tokens`], [`history`] and [`stats`] the token pool, the duration
//! history and the statistics; `waiting.rs` why a queued job waits;
//! [`replay`] the same scheduling under virtual time, driven by a workload
//! (`ringmaster simulate`).

mod attempt;
mod budgets;
mod cleanup;
mod dependencies;
mod endings;
pub mod events;
mod finish;
pub mod history;
mod isolation;
mod lifecycle;
mod pause;
mod persist;
mod recent_ends;
pub mod replay;
mod retry;
mod review;
mod schedule;
mod schedules;
mod settle;
mod state;
pub mod stats;
mod submit;
#[cfg(test)]
mod testing;
pub mod tokens;
mod waiting;
mod waits;

pub use isolation::WorktreeStats;
pub use stats::{EngineStats, SlotStats};
pub use submit::SubmitError;

use crate::config::EngineConfig;
use crate::contract::ExtensionPoint;
use crate::contract::JobInfo;
use crate::credentials::Token;
use crate::executor::agent::AgentProfile;
use crate::hooks::{Event, HookOutcome, Hooks};
use crate::job::{JobFilter, JobRecord, JobSpec, preview};
use crate::policy::{Policies, Source};
use crate::store::{Store, StoreError};
use arc_swap::ArcSwap;
use parking_lot::Mutex;
use persist::Writes;
use state::State;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no job {0}; job ids are the UUIDs returned by job_submit")]
    UnknownJob(String),
    #[error("job {id} is not in the tree of job {job}; a job sees only itself and its sub-jobs")]
    OutsideTree { id: String, job: String },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Settings {
    fn new(config: EngineConfig, agents: BTreeMap<String, AgentProfile>, token_capacity: u32) -> Settings {
        let max_concurrent = config.max_concurrent.unwrap_or(token_capacity).max(1);
        Settings { config, agents, max_concurrent }
    }
}

/// What a reload of `ringmaster.yaml` may change while the engine runs.
struct Settings {
    config: EngineConfig,
    agents: BTreeMap<String, AgentProfile>,
    /// Overall concurrency: `config.max_concurrent`, or the token pool's capacity.
    max_concurrent: u32,
}

struct Inner {
    settings: ArcSwap<Settings>,
    /// Token slots x their concurrency, fixed at start.
    token_capacity: u32,
    project_dir: PathBuf,
    credential_vars: Vec<String>,
    policies: Arc<Policies>,
    hooks: Option<Arc<Hooks>>,
    /// Read here; written only through `writes`.
    store: Arc<Store>,
    writes: Arc<Writes>,
    /// The last sequence number given to a job.
    last_seq: AtomicI64,
    wiring: Wiring,
    state: Mutex<State>,
    /// Set by [`Engine::drain`]: the scheduling loop starts nothing.
    draining: std::sync::atomic::AtomicBool,
    /// Held while a submission is checked against the limits and admitted
    /// (see [`Engine::submit`]).
    admission: tokio::sync::Mutex<()>,
    wake: Notify,
    /// Wakes the task that acts on what became of waiting jobs when a job
    /// ended (`dependencies.rs`).
    settled: Notify,
    /// The schedules (`schedules.rs`); locked only to read or change them.
    schedules: Mutex<schedules::Schedules>,
    /// Wakes the task firing schedules: one was created, changed or deleted.
    schedules_changed: Notify,
    /// Jobs' worktrees and checkpoints (`isolation.rs`).
    workspaces: isolation::Workspaces,
    /// Every job tree that finishes (see `endings.rs`).
    trees: tokio::sync::broadcast::Sender<Arc<crate::job::TreeSummary>>,
    /// Bumped on every status change; waiters watch it.
    changed: watch::Sender<u64>,
    /// Bumped when a job finishes (after `changed`); [`Engine::wait`] watches it.
    ended: watch::Sender<u64>,
    /// Bumped on every line of agent activity, for progress reports.
    activity: watch::Sender<u64>,
    shutdown: CancellationToken,
}

/// Everything the engine needs from outside.
pub struct EngineOptions {
    pub config: EngineConfig,
    pub agents: BTreeMap<String, AgentProfile>,
    /// Default working directory of agents.
    pub project_dir: PathBuf,
    pub tokens: Vec<Token>,
    /// Variables holding credentials, never inherited by agents (see
    /// [`crate::credentials::credential_vars`]).
    pub credential_vars: Vec<String>,
    pub policies: Arc<Policies>,
    /// The hook pipeline; `None` runs no hooks.
    pub hooks: Option<Arc<Hooks>>,
    pub store: Store,
    /// How agents reach back to this engine.
    pub wiring: Wiring,
    /// The state directory: jobs' worktrees go in `worktrees/` there.
    pub state_dir: PathBuf,
}

/// How agents reach back to the engine that runs them (built by
/// [`crate::remote::wiring`]).
#[derive(Debug, Clone, Default)]
pub struct Wiring {
    /// The engine's socket, handed to every agent as `RINGMASTER_SOCKET`.
    pub socket: Option<PathBuf>,
    /// `--settings` for every agent: hooks relayed to ringmaster.
    pub settings: Option<String>,
    /// `--mcp-config` for agents whose profile asks for ringmaster (`mcp: true`).
    pub mcp_config: Option<String>,
}

/// Handle to the running engine; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

/// The configured budgets (checked when the configuration was read).
fn config_budgets(config: &EngineConfig) -> Vec<crate::job::budget::Budget> {
    config.budgets.iter().filter_map(|b| b.budget().ok()).collect()
}

fn job_info(spec: &JobSpec, record: &JobRecord) -> JobInfo {
    JobInfo {
        id: record.job_id.clone(),
        prompt_preview: preview(&spec.prompt, 200),
        prompt_bytes: spec.prompt.len() as u32,
        agent: record.agent.clone(),
        model: record.model.clone(),
        priority: record.priority,
        tags: record.tags.clone(),
        depth: record.depth,
        root_id: record.root_job_id.clone(),
        parent_id: record.parent_job_id.clone(),
        attempt: record.attempts.max(1),
        submitted_at_ms: record.created_at_ms,
    }
}

impl Engine {
    /// The job's record; a queued one says what it waits for.
    pub async fn status(&self, id: &str) -> Result<JobRecord, EngineError> {
        let settings = self.inner.settings.load();
        let scheduler = match self.inner.policies.source(ExtensionPoint::Scheduler) {
            Source::Plugin(name) => name,
            Source::Builtin => "built-in".into(),
        };
        let mut state = self.inner.state.lock();
        if let Some(mut record) = state.live.get(id).map(|live| live.record.clone()) {
            record.waiting_for = state.waiting_for(id, &settings, &scheduler);
            return Ok(record);
        }
        drop(state);
        if let Some(record) = self.inner.writes.pending_record(id) {
            return Ok(record);
        }
        self.inner.store.record(id)?.ok_or_else(|| EngineError::UnknownJob(id.into()))
    }

    /// A live job as policies and hook plugins see it.
    pub fn job_info(&self, id: &str) -> Option<JobInfo> {
        let state = self.inner.state.lock();
        state.live.get(id).map(|live| job_info(&live.spec, &live.record))
    }

    /// 1-based position in the queue, for a queued job.
    pub fn queue_position(&self, id: &str) -> Option<usize> {
        let state = self.inner.state.lock();
        state.queue.iter().position(|(_, _, queued)| queued == id).map(|p| p + 1)
    }

    /// When queued job `id` may start: now, when it fits the free places;
    /// otherwise after as many waves of the typical (median) job as it takes
    /// the jobs ahead of it to make room. `None` when it is not queued, or no
    /// job has finished yet to go by.
    pub fn estimated_start(&self, id: &str) -> Option<Duration> {
        let capacity = self.inner.settings.load().max_concurrent;
        let state = self.inner.state.lock();
        let position = state.queue.iter().position(|(_, _, queued)| queued == id)? as u32 + 1;
        let free = capacity.saturating_sub(state.running);
        if position <= free {
            return Some(Duration::ZERO);
        }
        let typical = state.durations.overall();
        if typical.count == 0 {
            return None;
        }
        let waves = (position - free).div_ceil(capacity);
        Some(Duration::from_millis(typical.p50_ms.saturating_mul(u64::from(waves))))
    }

    /// Records, newest first.
    pub fn list(&self, filter: &JobFilter, limit: usize) -> Result<Vec<JobRecord>, EngineError> {
        Ok(self.inner.writes.with_pending(self.inner.store.list(filter, limit)?))
    }

    /// Transcript lines of a job: (attempt, raw stream-json line). Lines
    /// still queued for the store are written first, so a finished job's
    /// transcript is whole (while the store is unwritable, it holds what
    /// went in before).
    pub async fn transcript(&self, id: &str, offset: usize, limit: usize) -> Result<Vec<(u32, String)>, EngineError> {
        let _ = self.inner.writes.flush().await;
        Ok(self.inner.store.transcript(id, offset, limit)?)
    }

    /// Applies a reloaded configuration: limits, defaults and agent profiles
    /// apply to what happens next (jobs already running keep their limits).
    /// The token pool is fixed at start.
    pub fn reconfigure(&self, config: EngineConfig, agents: BTreeMap<String, AgentProfile>) {
        let inner = &self.inner;
        inner.state.lock().budgets = config_budgets(&config);
        inner.settings.store(Arc::new(Settings::new(config, agents, inner.token_capacity)));
        // Raised limits may let queued jobs start now.
        inner.wake.notify_one();
        inner.changed.send_modify(|n| *n += 1);
    }

    /// Ranks every queued job again, e.g. after the scheduler selection
    /// changed. It asks the scheduler: call it off the async runtime.
    pub fn rerank(&self) {
        self.inner.rerank();
    }

    /// A receiver that sees a change whenever an agent says or does something.
    pub fn subscribe_activity(&self) -> watch::Receiver<u64> {
        self.inner.activity.subscribe()
    }

    /// How many things the agent of unfinished job `id` has said or done.
    pub fn activity(&self, id: &str) -> u32 {
        self.inner.state.lock().live.get(id).map_or(0, |live| live.activity)
    }

    /// Why the job store is unwritable, while it is (`None` when it is fine).
    pub fn subscribe_store(&self) -> watch::Receiver<Option<String>> {
        self.inner.writes.subscribe_fault()
    }

    /// A receiver that sees a change whenever any job changes status.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.changed.subscribe()
    }

    /// The unfinished job whose key is `key` (see `RINGMASTER_JOB_TOKEN`).
    pub fn job_of_key(&self, key: &str) -> Option<String> {
        // One look per connection, over the unfinished jobs.
        let state = self.inner.state.lock();
        state.live.values().find(|live| live.key.expose() == key).map(|live| live.record.job_id.clone())
    }

    /// `Ok` when job `id` is `ancestor` or one of its descendants.
    pub async fn check_within(&self, id: &str, ancestor: &str) -> Result<(), EngineError> {
        let mut at = id.to_string();
        // A chain is at most `max-depth` long; the bound also stops a cycle
        // a corrupt store might hold.
        for _ in 0..=crate::config::ranges::MAX_DEPTH.end() + 1 {
            if at == ancestor {
                return Ok(());
            }
            match self.status(&at).await?.parent_job_id {
                Some(parent) => at = parent,
                None => break,
            }
        }
        Err(EngineError::OutsideTree { id: id.into(), job: ancestor.into() })
    }

    /// Records of `ancestor` and its descendants, newest first.
    pub fn list_within(&self, filter: &JobFilter, limit: usize, ancestor: &str) -> Result<Vec<JobRecord>, EngineError> {
        let Some(root) = self
            .inner
            .store
            .record(ancestor)?
            .map(|r| r.root_job_id)
            .or_else(|| self.inner.state.lock().live.get(ancestor).map(|live| live.record.root_job_id.clone()))
        else {
            return Ok(Vec::new());
        };
        // The whole tree first: a job is inside through its parent, whether
        // or not the parent passes the filter.
        let tree = self.inner.writes.with_pending(self.inner.store.tree(&root)?);
        // Parents are older than their children: walking oldest first, a
        // job is inside when its parent is.
        let mut inside = std::collections::HashSet::from([ancestor.to_string()]);
        let mut kept: Vec<JobRecord> = Vec::new();
        for record in tree.into_iter().rev() {
            if record.job_id == ancestor || record.parent_job_id.as_ref().is_some_and(|p| inside.contains(p)) {
                inside.insert(record.job_id.clone());
                kept.push(record);
            }
        }
        kept.reverse();
        kept.retain(|record| filter.matches(record));
        kept.truncate(limit);
        Ok(kept)
    }

    /// Jobs queued, running or waiting to retry.
    pub fn unfinished(&self) -> usize {
        self.inner.state.lock().live.len()
    }

    /// Schedules that are not paused: what the engine stays up for, as for
    /// unfinished jobs.
    pub fn active_schedules(&self) -> usize {
        self.inner.schedules.lock().active()
    }

    /// Jobs running now.
    pub fn running(&self) -> u32 {
        self.inner.state.lock().running
    }

    /// Jobs in the store, by status.
    pub fn jobs_by_status(&self) -> Result<BTreeMap<String, u64>, EngineError> {
        Ok(self.inner.store.count_by_status()?)
    }

    /// Starts nothing more; what runs goes on, what is queued stays queued
    /// (for the next engine on the same store). There is no way back: a
    /// draining engine is on its way out.
    pub fn drain(&self) {
        self.inner.draining.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Inner {
    /// Runs a policy call. A plugin's runs on a blocking thread (WebAssembly
    /// may run up to its deadline); the built-in's inline, since it answers
    /// in microseconds and a hand-off to another thread costs more.
    async fn policy<R: Send + 'static>(
        &self,
        point: ExtensionPoint,
        call: impl FnOnce(&Policies) -> R + Send + 'static,
    ) -> R {
        let policies = self.policies.clone();
        if policies.source(point) == Source::Builtin {
            return call(&policies);
        }
        tokio::task::spawn_blocking(move || call(&policies)).await.expect("policy call panicked")
    }

    /// Runs the hooks of the event `make` builds, when any hooks are configured.
    async fn hook(&self, make: impl FnOnce() -> Event) -> HookOutcome {
        match &self.hooks {
            Some(hooks) => hooks.dispatch(make()).await,
            None => HookOutcome::default(),
        }
    }

    /// Dispatches an event nobody waits for (its handlers still run to the end).
    fn fire(&self, make: impl FnOnce() -> Event) {
        if let Some(hooks) = self.hooks.clone() {
            let event = make();
            tokio::spawn(async move { hooks.dispatch(event).await });
        }
    }

    fn persist(&self, record: &JobRecord) {
        self.writes.record(record);
        self.changed.send_modify(|n| *n += 1);
    }
}
