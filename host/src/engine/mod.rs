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
//! behind one mutex that is never held across an await or a plugin call.

pub mod events;
pub mod history;
pub mod job;
pub mod stats;
pub mod tokens;

use crate::config::EngineConfig;
use crate::executor::agent::{AgentProfile, Invocation};
use crate::executor::stream::AgentEvent;
use crate::executor::{AttemptReport, AttemptSpec, OUTRANKING_CREDENTIALS, Outcome, run_attempt};
use crate::hooks::{Event, HookOutcome, Hooks};
use crate::plugin::contract::ExtensionPoint;
use crate::plugin::contract::JobInfo;
use crate::policy::{Candidate, Decision, Failure, FailureKind, Policies, RootLoad, ScheduleInput, Slot, Source};
use crate::store::{Store, StoreError};
use arc_swap::ArcSwap;
use history::{Durations, Finished};
use job::{AttemptRecord, JobRecord, JobSpec, JobStatus, now_ms, preview};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokens::{SlotOutcome, Token, TokenPool};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

/// Candidates offered to the scheduler per round.
const WINDOW: usize = 64;

/// How often old jobs are pruned from the store.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Environment variables every agent gets.
pub const ENV_JOB_ID: &str = "RINGMASTER_JOB_ID";
pub const ENV_DEPTH: &str = "RINGMASTER_DEPTH";
pub const ENV_ROOT_JOB_ID: &str = "RINGMASTER_ROOT_JOB_ID";
/// The root engine's socket, through which a job submits sub-jobs.
pub const ENV_SOCKET: &str = "RINGMASTER_SOCKET";

/// Why a submission was refused. Concurrency never refuses: only these do.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("invalid job: {0}")]
    Invalid(String),
    #[error(
        "the job would run at depth {depth}, beyond the maximum depth of {max} \
         (engine.max-depth in ringmaster.yaml or CLAUDE_MAX_RECURSION_DEPTH)"
    )]
    TooDeep { depth: u32, max: u32 },
    #[error(
        "job tree {root} has already submitted {count} jobs, the most one tree may \
         (engine.max-jobs-per-root in ringmaster.yaml or CLAUDE_MAX_TOTAL_JOBS)"
    )]
    TreeFull { root: String, count: u32 },
    #[error("the queue is full: {depth} jobs are waiting, the limit is {max} (engine.max-queue in ringmaster.yaml)")]
    QueueFull { depth: usize, max: usize },
    #[error("no job {0}")]
    UnknownParent(String),
    #[error("a JobSubmit hook denied the job: {0}")]
    Denied(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no job {0}; job ids are the UUIDs returned by job_submit")]
    UnknownJob(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A job that is not finished.
struct Live {
    spec: JobSpec,
    record: JobRecord,
    seq: i64,
    rank: i64,
    queued_at: Instant,
    cancel: CancellationToken,
    /// Whether the next attempt resumes the last attempt's agent session.
    resume: bool,
    /// What the agent has said or done so far (assistant and tool lines).
    activity: u32,
}

type QueueKey = (Reverse<i64>, i64, String);

struct State {
    live: HashMap<String, Live>,
    queue: BTreeSet<QueueKey>,
    running: u32,
    running_by_depth: HashMap<u32, u32>,
    running_by_root: HashMap<String, u32>,
    tokens: TokenPool,
    durations: Durations,
}

impl Settings {
    fn new(config: EngineConfig, agents: BTreeMap<String, AgentProfile>, token_capacity: u32) -> Settings {
        let max_concurrent = config.max_concurrent.unwrap_or(token_capacity).max(1);
        Settings { config, agents, max_concurrent }
    }
}

impl State {
    /// Gives back what a started attempt held: its place in the running
    /// counts and its token slot.
    fn release(&mut self, depth: u32, root: &str, slot: usize, outcome: SlotOutcome, now: Instant) {
        self.running -= 1;
        if let Some(n) = self.running_by_depth.get_mut(&depth) {
            *n -= 1;
        }
        if let Some(n) = self.running_by_root.get_mut(root) {
            *n -= 1;
        }
        self.tokens.finish(slot, outcome, now);
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
    policies: Arc<Policies>,
    hooks: Option<Arc<Hooks>>,
    store: Store,
    wiring: Wiring,
    state: Mutex<State>,
    wake: Notify,
    /// Bumped on every status change; waiters watch it.
    changed: watch::Sender<u64>,
    /// Bumped on every line of agent activity, for progress reports.
    activity: watch::Sender<u64>,
    shutdown: CancellationToken,
}

/// What `engine_stats` reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EngineStats {
    pub queued: usize,
    pub running: u32,
    pub max_concurrent: u32,
    pub max_concurrent_per_depth: u32,
    pub max_depth: u32,
    pub max_jobs_per_root: u32,
    pub max_queue: usize,
    /// Who answers each policy now: a plugin's name, or `built-in`.
    pub policies: BTreeMap<String, String>,
    /// Jobs in the store by status, over all time.
    pub jobs_by_status: BTreeMap<String, u64>,
    pub slots: Vec<SlotStats>,
    /// Figures over the most recent jobs, by slot, depth, tag and agent.
    pub recent: stats::Breakdown,
}

/// Jobs the statistics breakdown looks at, newest first.
const STATS_WINDOW: usize = 10_000;

#[derive(Debug, Clone, serde::Serialize)]
pub struct SlotStats {
    pub index: u32,
    pub has_token: bool,
    pub running: u32,
    pub concurrency: u32,
    pub free: u32,
    pub cooling_for_s: Option<u64>,
}

/// Everything the engine needs from outside.
pub struct EngineOptions {
    pub config: EngineConfig,
    pub agents: BTreeMap<String, AgentProfile>,
    /// Default working directory of agents.
    pub project_dir: PathBuf,
    pub tokens: Vec<Token>,
    pub policies: Arc<Policies>,
    /// The hook pipeline; `None` runs no hooks.
    pub hooks: Option<Arc<Hooks>>,
    pub store: Store,
    /// How agents reach back to this engine.
    pub wiring: Wiring,
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

/// Runs a blocking policy call off the async runtime.
async fn blocking<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    tokio::task::spawn_blocking(f).await.expect("policy call panicked")
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

fn failure_kind(outcome: &Outcome) -> FailureKind {
    match outcome {
        Outcome::TimedOut => FailureKind::Timeout,
        Outcome::IdleTimedOut => FailureKind::IdleTimeout,
        Outcome::RateLimited { .. } => FailureKind::RateLimited,
        Outcome::AgentError => FailureKind::AgentError,
        Outcome::CouldNotStart => FailureKind::CouldNotStart,
        Outcome::Succeeded | Outcome::Cancelled | Outcome::Crashed => FailureKind::Crashed,
    }
}

fn outcome_name(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Succeeded => "succeeded",
        Outcome::AgentError => "agent_error",
        Outcome::RateLimited { .. } => "rate_limited",
        Outcome::TimedOut => "timed_out",
        Outcome::IdleTimedOut => "idle_timed_out",
        Outcome::Crashed => "crashed",
        Outcome::CouldNotStart => "could_not_start",
        Outcome::Cancelled => "cancelled",
    }
}

impl Engine {
    /// Opens the engine on its store: unfinished jobs from a previous run are
    /// queued again (those that were running are handed to the retry policy
    /// as interrupted), and the scheduling loop starts.
    pub async fn start(options: EngineOptions) -> Result<Engine, StoreError> {
        let EngineOptions { config, agents, project_dir, tokens, policies, hooks, store, wiring } = options;
        let tokens = TokenPool::new(
            tokens,
            config.per_token_concurrency,
            config.token_starts_per_minute,
            Duration::from_secs(60),
        );
        let token_capacity = tokens.capacity();
        let unfinished = store.unfinished()?;
        let inner = Arc::new(Inner {
            settings: ArcSwap::from_pointee(Settings::new(config, agents, token_capacity)),
            token_capacity,
            project_dir,
            policies,
            hooks,
            store,
            wiring,
            state: Mutex::new(State {
                live: HashMap::new(),
                queue: BTreeSet::new(),
                running: 0,
                running_by_depth: HashMap::new(),
                running_by_root: HashMap::new(),
                tokens,
                durations: Durations::default(),
            }),
            wake: Notify::new(),
            changed: watch::Sender::new(0),
            activity: watch::Sender::new(0),
            shutdown: CancellationToken::new(),
        });
        let engine = Engine { inner };
        engine.recover(unfinished).await?;
        let inner = engine.inner.clone();
        tokio::spawn(async move { inner.scheduling_loop().await });
        let inner = engine.inner.clone();
        tokio::spawn(async move { inner.pruning_loop().await });
        Ok(engine)
    }

    async fn recover(&self, jobs: Vec<crate::store::StoredJob>) -> Result<(), StoreError> {
        for stored in jobs {
            let id = stored.record.job_id.clone();
            let status = stored.record.status;
            let retry_at = stored.record.retry_at_ms;
            self.inner.adopt(stored).await;
            match status {
                JobStatus::Running => {
                    let killed = crate::executor::kill_leftovers(&id);
                    if killed > 0 {
                        tracing::warn!(job = %id, processes = killed, "killed processes left over from the interrupted attempt");
                    }
                    let message = "ringmaster stopped while the attempt was running".to_string();
                    tracing::warn!(job = %id, "job was running when ringmaster stopped; handing it to the retry policy");
                    self.inner.clone().fail_attempt(&id, FailureKind::Interrupted, message, None).await;
                }
                JobStatus::RetryWait => {
                    let delay = Duration::from_millis(retry_at.unwrap_or(0).saturating_sub(now_ms()));
                    self.inner.clone().requeue_after(id, delay);
                }
                _ => {}
            }
        }
        self.inner.wake.notify_one();
        Ok(())
    }

    /// Queues a job. Refused only past the depth limit, the tree's total or
    /// the queue size; otherwise it waits for capacity, however long.
    pub async fn submit(&self, mut spec: JobSpec) -> Result<JobRecord, SubmitError> {
        let inner = &self.inner;
        let settings = inner.settings.load_full();
        let (config, agents) = (&settings.config, &settings.agents);
        inner.check_prompt(&spec.prompt)?;
        let id = uuid::Uuid::new_v4().to_string();
        let (depth, root) = match &spec.parent_job_id {
            None => (0, id.clone()),
            Some(parent) => {
                let parent = self.status(parent).await.map_err(|_| SubmitError::UnknownParent(parent.clone()))?;
                (parent.depth + 1, parent.root_job_id)
            }
        };
        if depth > config.max_depth {
            return Err(SubmitError::TooDeep { depth, max: config.max_depth });
        }
        if let Some(hooks) = &inner.hooks {
            let agent = spec.agent.clone().unwrap_or_else(|| config.default_agent.clone());
            let outcome = hooks.dispatch(events::job_submit(&id, depth, &root, &spec, &agent)).await;
            if let Some(reason) = outcome.refusal() {
                tracing::info!(job = %id, reason = %reason, "JobSubmit hook denied a job");
                return Err(SubmitError::Denied(reason));
            }
            events::rewrite(&mut spec, &outcome.updated_input).map_err(SubmitError::Invalid)?;
            for context in &outcome.additional_context {
                spec.prompt.push_str("\n\n");
                spec.prompt.push_str(context);
            }
        }
        // Again: a hook may have rewritten it.
        inner.check_prompt(&spec.prompt)?;
        let agent = spec.agent.clone().unwrap_or_else(|| config.default_agent.clone());
        if agent != "claude" && !agents.contains_key(&agent) {
            let known: Vec<&str> =
                std::iter::once("claude").chain(agents.keys().map(String::as_str).filter(|a| *a != "claude")).collect();
            return Err(SubmitError::Invalid(format!(
                "unknown agent {agent:?}; configured agents: {}",
                known.join(", ")
            )));
        }
        let tree = inner.store.count_in_tree(&root)?;
        if tree >= config.max_jobs_per_root as usize {
            return Err(SubmitError::TreeFull { root, count: tree as u32 });
        }
        let queued = inner.state.lock().unwrap().queue.len();
        if queued >= config.max_queue {
            return Err(SubmitError::QueueFull { depth: queued, max: config.max_queue });
        }
        let record = JobRecord {
            job_id: id.clone(),
            status: JobStatus::Queued,
            prompt: preview(&spec.prompt, 200),
            agent,
            model: spec.model.clone(),
            priority: spec.priority,
            tags: spec.tags.clone(),
            depth,
            parent_job_id: spec.parent_job_id.clone(),
            root_job_id: root,
            attempts: 0,
            max_retries: spec.max_retries.unwrap_or(config.default_max_retries),
            created_at_ms: now_ms(),
            started_at_ms: None,
            finished_at_ms: None,
            retry_at_ms: None,
            timeout_s: spec.timeout_s.or(config.default_timeout_s),
            token_slot: None,
            session_id: None,
            result: None,
            error: None,
            exit_code: None,
            cost_usd: 0.0,
            usage: None,
            notes: Vec::new(),
            history: Vec::new(),
        };
        let seq = inner.store.insert(&spec, &record)?;
        inner.adopt(crate::store::StoredJob { seq, spec, record: record.clone() }).await;
        inner.wake.notify_one();
        Ok(record)
    }

    /// The job's record.
    pub async fn status(&self, id: &str) -> Result<JobRecord, EngineError> {
        if let Some(live) = self.inner.state.lock().unwrap().live.get(id) {
            return Ok(live.record.clone());
        }
        self.inner.store.get(id)?.map(|stored| stored.record).ok_or_else(|| EngineError::UnknownJob(id.into()))
    }

    /// A live job as policies and hook plugins see it.
    pub fn job_info(&self, id: &str) -> Option<JobInfo> {
        let state = self.inner.state.lock().unwrap();
        state.live.get(id).map(|live| job_info(&live.spec, &live.record))
    }

    /// 1-based position in the queue, for a queued job.
    pub fn queue_position(&self, id: &str) -> Option<usize> {
        let state = self.inner.state.lock().unwrap();
        state.queue.iter().position(|(_, _, queued)| queued == id).map(|p| p + 1)
    }

    /// When queued job `id` may start: now, when it fits the free places;
    /// otherwise after as many waves of the typical (median) job as it takes
    /// the jobs ahead of it to make room. `None` when it is not queued, or no
    /// job has finished yet to go by.
    pub fn estimated_start(&self, id: &str) -> Option<Duration> {
        let capacity = self.inner.settings.load().max_concurrent;
        let state = self.inner.state.lock().unwrap();
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
        Some(Duration::from_millis(typical.p50_ms * u64::from(waves)))
    }

    /// Records, newest first.
    pub fn list(&self, status: Option<JobStatus>, limit: usize) -> Result<Vec<JobRecord>, EngineError> {
        Ok(self.inner.store.list(status.map(JobStatus::as_str), limit)?)
    }

    /// Transcript lines of a job: (attempt, raw stream-json line).
    pub fn transcript(&self, id: &str, offset: usize, limit: usize) -> Result<Vec<(u32, String)>, EngineError> {
        Ok(self.inner.store.transcript(id, offset, limit)?)
    }

    /// Cancels a queued, waiting or running job; returns its record once it
    /// has stopped. Cancelling a finished job changes nothing.
    pub async fn cancel(&self, id: &str) -> Result<JobRecord, EngineError> {
        let running = {
            let mut state = self.inner.state.lock().unwrap();
            match state.live.get(id).map(|l| (l.record.status, l.rank, l.seq)) {
                None => None,
                Some((JobStatus::Running, ..)) => {
                    state.live[id].cancel.cancel();
                    Some(())
                }
                Some((_, rank, seq)) => {
                    state.queue.remove(&(Reverse(rank), seq, id.to_string()));
                    let mut live = state.live.remove(id).expect("present");
                    live.cancel.cancel();
                    live.record.status = JobStatus::Cancelled;
                    live.record.finished_at_ms = Some(now_ms());
                    live.record.retry_at_ms = None;
                    self.inner.store.update(&live.record)?;
                    self.inner.changed.send_modify(|n| *n += 1);
                    let Live { spec, record, .. } = live;
                    self.inner.fire(|| events::about_job("PostJob", &spec, &record, job_info(&spec, &record)));
                    None
                }
            }
        };
        if running.is_some() {
            return Ok(self.wait(&[id.to_string()], Duration::from_secs(3600)).await?.remove(0));
        }
        self.status(id).await
    }

    /// Waits until every job in `ids` is finished, or `timeout`; returns their records.
    pub async fn wait(&self, ids: &[String], timeout: Duration) -> Result<Vec<JobRecord>, EngineError> {
        let mut changes = self.inner.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        // A finished job never changes again: read each from the store once.
        let mut finished: HashMap<&str, JobRecord> = HashMap::new();
        loop {
            for id in ids {
                if !finished.contains_key(id.as_str()) && !self.inner.state.lock().unwrap().live.contains_key(id) {
                    let record = self.status(id).await?;
                    if record.status.is_terminal() {
                        finished.insert(id, record);
                    }
                }
            }
            let done = finished.len() == ids.len();
            if done || tokio::time::timeout_at(deadline, changes.changed()).await.is_err() {
                let mut records = Vec::with_capacity(ids.len());
                for id in ids {
                    records.push(match finished.get(id.as_str()) {
                        Some(record) => record.clone(),
                        None => self.status(id).await?,
                    });
                }
                return Ok(records);
            }
        }
    }

    /// A snapshot of the engine: what is queued and running, the limits in
    /// force and each token slot (by index, never the token).
    pub fn stats(&self) -> Result<EngineStats, EngineError> {
        let settings = self.inner.settings.load();
        let by_status = self.inner.store.count_by_status()?;
        let recent = stats::Breakdown::of(&self.inner.store.list(None, STATS_WINDOW)?);
        let mut state = self.inner.state.lock().unwrap();
        let now = Instant::now();
        let slots = (0..state.tokens.slots.len())
            .map(|i| {
                let free = state.tokens.free(i, now);
                let slot = &state.tokens.slots[i];
                SlotStats {
                    index: i as u32,
                    has_token: slot.token.is_some(),
                    running: slot.running,
                    concurrency: slot.concurrency,
                    free,
                    cooling_for_s: slot.cooling_until.map(|u| u.saturating_duration_since(now).as_secs()),
                }
            })
            .collect();
        Ok(EngineStats {
            queued: state.queue.len(),
            running: state.running,
            max_concurrent: settings.max_concurrent,
            max_concurrent_per_depth: settings.config.max_concurrent_per_depth,
            max_depth: settings.config.max_depth,
            max_jobs_per_root: settings.config.max_jobs_per_root,
            max_queue: settings.config.max_queue,
            policies: [ExtensionPoint::Scheduler, ExtensionPoint::TimeoutEstimator, ExtensionPoint::RetryPolicy]
                .into_iter()
                .map(|point| {
                    let source = match self.inner.policies.source(point) {
                        Source::Plugin(name) => name,
                        Source::Builtin => "built-in".to_string(),
                    };
                    (point.interface().to_string(), source)
                })
                .collect(),
            jobs_by_status: by_status,
            slots,
            recent,
        })
    }

    /// Applies a reloaded configuration: limits, defaults and agent profiles
    /// apply to what happens next (jobs already running keep their limits).
    /// The token pool is fixed at start.
    pub fn reconfigure(&self, config: EngineConfig, agents: BTreeMap<String, AgentProfile>) {
        let inner = &self.inner;
        inner.settings.store(Arc::new(Settings::new(config, agents, inner.token_capacity)));
        // Raised limits may let queued jobs start now.
        inner.wake.notify_one();
        inner.changed.send_modify(|n| *n += 1);
    }

    /// A receiver that sees a change whenever an agent says or does something.
    pub fn subscribe_activity(&self) -> watch::Receiver<u64> {
        self.inner.activity.subscribe()
    }

    /// How many things the agent of unfinished job `id` has said or done.
    pub fn activity(&self, id: &str) -> u32 {
        self.inner.state.lock().unwrap().live.get(id).map_or(0, |live| live.activity)
    }

    /// A receiver that sees a change whenever any job changes status.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.changed.subscribe()
    }

    /// Stops the scheduling loop and every running agent (their jobs count as
    /// interrupted at the next start).
    pub fn shutdown(&self) {
        self.inner.shutdown.cancel();
    }

    /// Runs the `Stop` hooks, then shuts down.
    pub async fn stop(&self) {
        let (queued, running) = {
            let state = self.inner.state.lock().unwrap();
            (state.queue.len(), state.running)
        };
        self.inner.hook(|| events::stop(queued, running)).await;
        self.shutdown();
    }
}

impl Inner {
    fn check_prompt(&self, prompt: &str) -> Result<(), SubmitError> {
        let max = self.settings.load().config.max_prompt_bytes;
        if prompt.trim().is_empty() {
            return Err(SubmitError::Invalid("the prompt is empty".into()));
        }
        if prompt.len() > max {
            return Err(SubmitError::Invalid(format!(
                "the prompt is {} bytes, more than the {max} allowed (engine.max-prompt-bytes)",
                prompt.len(),
            )));
        }
        Ok(())
    }

    /// Takes a stored, unfinished job under the engine's care.
    async fn adopt(self: &Arc<Self>, stored: crate::store::StoredJob) {
        let crate::store::StoredJob { seq, spec, record } = stored;
        let info = job_info(&spec, &record);
        let policies = self.policies.clone();
        let rank = blocking(move || policies.rank(std::slice::from_ref(&info))[0]).await;
        let mut state = self.state.lock().unwrap();
        if record.status == JobStatus::Queued {
            state.queue.insert((Reverse(rank), seq, record.job_id.clone()));
        }
        let id = record.job_id.clone();
        let cancel = self.shutdown.child_token();
        // After a restart, a job that has a session continues it.
        let resume = record.session_id.is_some();
        let live = Live { spec, record, seq, rank, queued_at: Instant::now(), cancel, resume, activity: 0 };
        state.live.insert(id, live);
    }

    /// Deletes old finished jobs now and every [`PRUNE_EVERY`].
    async fn pruning_loop(self: Arc<Self>) {
        loop {
            let (keep_days, keep) = {
                let settings = self.settings.load();
                (settings.config.keep_days, settings.config.keep_jobs)
            };
            let cutoff = now_ms().saturating_sub(keep_days.saturating_mul(86_400_000));
            let store = self.clone();
            match tokio::task::spawn_blocking(move || store.store.prune(cutoff, keep)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(pruned)) => {
                    tracing::info!(pruned, "deleted old finished jobs (engine.keep-days, engine.keep-jobs)")
                }
                Ok(Err(err)) => tracing::error!(error = %err, "cannot prune old jobs"),
                Err(err) => tracing::error!(error = %err, "pruning panicked"),
            }
            tokio::select! {
                () = tokio::time::sleep(PRUNE_EVERY) => {}
                () = self.shutdown.cancelled() => return,
            }
        }
    }

    async fn scheduling_loop(self: Arc<Self>) {
        loop {
            tokio::select! {
                () = self.wake.notified() => {}
                // Cooldowns and rate windows expire without an event.
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = self.shutdown.cancelled() => return,
            }
            while self.clone().schedule_round().await {}
        }
    }

    /// One scheduling decision; returns whether anything started.
    async fn schedule_round(self: Arc<Self>) -> bool {
        let settings = self.settings.load_full();
        let input = {
            let mut state = self.state.lock().unwrap();
            let capacity = settings.max_concurrent.saturating_sub(state.running);
            if capacity == 0 || state.queue.is_empty() {
                return false;
            }
            let now = Instant::now();
            let per_depth = settings.config.max_concurrent_per_depth;
            let state = &mut *state;
            let candidates: Vec<Candidate> = state
                .queue
                .iter()
                .filter_map(|(Reverse(rank), _, id)| {
                    let live = &state.live[id];
                    let busy = state.running_by_depth.get(&live.record.depth).copied().unwrap_or(0);
                    (busy < per_depth).then(|| Candidate {
                        job: job_info(&live.spec, &live.record),
                        rank: *rank,
                        waited_ms: now.duration_since(live.queued_at).as_millis() as u64,
                    })
                })
                .take(WINDOW)
                .collect();
            if candidates.is_empty() {
                return false;
            }
            let slots: Vec<Slot> = (0..state.tokens.slots.len())
                .map(|i| {
                    let free = state.tokens.free(i, now);
                    let slot = &state.tokens.slots[i];
                    let count = |o: SlotOutcome| slot.recent.iter().filter(|(_, x)| *x == o).count() as u32;
                    Slot {
                        index: i as u32,
                        running: slot.running,
                        free,
                        cooling_until_ms: slot
                            .cooling_until
                            .map(|until| now_ms() + until.saturating_duration_since(now).as_millis() as u64),
                        recent_started: slot.recent.len() as u32,
                        recent_failed: count(SlotOutcome::Failed) + count(SlotOutcome::RateLimited),
                        recent_rate_limited: count(SlotOutcome::RateLimited),
                    }
                })
                .collect();
            let roots: BTreeSet<&str> = candidates.iter().map(|c| c.job.root_id.as_str()).collect();
            let roots = roots
                .into_iter()
                .map(|r| RootLoad {
                    root_id: r.to_string(),
                    running: state.running_by_root.get(r).copied().unwrap_or(0),
                })
                .collect();
            ScheduleInput {
                candidates,
                slots,
                capacity,
                roots,
                queued_total: state.queue.len() as u32,
                now_ms: now_ms(),
            }
        };
        let policies = self.policies.clone();
        let chosen = blocking(move || policies.select(&input)).await;

        let mut started = false;
        for assignment in chosen {
            let mut guard = self.state.lock().unwrap();
            let state = &mut *guard;
            // The state may have moved while the scheduler thought: check again.
            let Some(live) = state.live.get(&assignment.job_id) else { continue };
            let depth = live.record.depth;
            let key = (Reverse(live.rank), live.seq, assignment.job_id.clone());
            let slot = assignment.slot as usize;
            let fits = state.queue.contains(&key)
                && state.running < settings.max_concurrent
                && state.running_by_depth.get(&depth).copied().unwrap_or(0) < settings.config.max_concurrent_per_depth
                && state.tokens.free(slot, Instant::now()) > 0;
            if !fits {
                continue;
            }
            state.queue.remove(&key);
            state.running += 1;
            *state.running_by_depth.entry(depth).or_default() += 1;
            state.tokens.start(slot, Instant::now());
            let live = state.live.get_mut(&assignment.job_id).expect("checked above");
            *state.running_by_root.entry(live.record.root_job_id.clone()).or_default() += 1;
            live.record.status = JobStatus::Running;
            live.record.attempts += 1;
            live.record.started_at_ms.get_or_insert(now_ms());
            live.record.retry_at_ms = None;
            live.record.token_slot = Some(slot as u32);
            if let Err(err) = self.store.update(&live.record) {
                tracing::error!(job = %assignment.job_id, error = %err, "cannot record job start");
            }
            drop(guard);
            self.changed.send_modify(|n| *n += 1);
            tokio::spawn(self.clone().run_attempt(assignment.job_id, slot));
            started = true;
        }
        started
    }

    /// Runs one attempt of a started job and settles the job afterwards.
    async fn run_attempt(self: Arc<Self>, id: String, slot: usize) {
        let (spec, record, cancel, token, resume) = {
            let state = self.state.lock().unwrap();
            let live = &state.live[&id];
            let token = state.tokens.slots[slot].token.clone();
            (live.spec.clone(), live.record.clone(), live.cancel.clone(), token, live.resume)
        };
        let info = job_info(&spec, &record);
        if self.hooks.is_some() && !self.clone().pre_job_start(&id, slot, &spec, &record, &info).await {
            return;
        }
        let requested_ms = record.timeout_s.map(|s| s * 1000);
        let similar = {
            let state = self.state.lock().unwrap();
            state.durations.similar(&record.tags, &record.agent, record.model.as_deref(), spec.prompt.len())
        };
        let policies = self.policies.clone();
        let timeouts = blocking(move || policies.estimate(&info, &similar, requested_ms)).await;

        let settings = self.settings.load_full();
        let profile = settings.agents.get(&record.agent).cloned().unwrap_or_default();
        let resume = match record.attempts {
            1 => spec.resume_session.clone(),
            _ => record.session_id.clone().filter(|_| resume),
        };
        let attempt = record.attempts;
        let mut history = AttemptRecord {
            attempt,
            started_at_ms: now_ms(),
            finished_at_ms: None,
            outcome: None,
            message: None,
            exit_code: None,
            session_id: None,
            token_slot: Some(slot as u32),
            cost_usd: None,
        };
        let report = match profile.find_binary(&record.agent) {
            Err(message) => AttemptReport::could_not_start(message),
            Ok(program) => {
                let mut env = vec![
                    (ENV_JOB_ID.to_string(), id.clone()),
                    (ENV_DEPTH.to_string(), record.depth.to_string()),
                    (ENV_ROOT_JOB_ID.to_string(), record.root_job_id.clone()),
                ];
                if let Some(socket) = &self.wiring.socket {
                    env.push((ENV_SOCKET.to_string(), socket.display().to_string()));
                }
                env.extend(profile.env.iter().map(|(k, v)| (k.clone(), v.clone())));
                env.extend(spec.env.iter().map(|(k, v)| (k.clone(), v.clone())));
                let mut env_remove = Vec::new();
                if let Some(token) = &token {
                    env.push(("CLAUDE_CODE_OAUTH_TOKEN".into(), token.expose().to_string()));
                    env_remove.extend(OUTRANKING_CREDENTIALS.map(String::from));
                }
                let attempt_spec = AttemptSpec {
                    program,
                    args: profile.args(&Invocation {
                        prompt: &spec.prompt,
                        model: spec.model.as_deref(),
                        resume_session: resume.as_deref(),
                        max_turns: spec.max_turns,
                        allowed_tools: &spec.allowed_tools,
                        settings: self.wiring.settings.as_deref(),
                        // Sub-jobs of a job at the maximum depth would be refused.
                        mcp_config: self
                            .wiring
                            .mcp_config
                            .as_deref()
                            .filter(|_| profile.mcp && record.depth < settings.config.max_depth),
                    }),
                    cwd: spec.cwd.clone().unwrap_or_else(|| self.project_dir.clone()),
                    env,
                    env_remove,
                    hard_timeout: Duration::from_millis(timeouts.hard_ms),
                    idle_timeout: Duration::from_millis(timeouts.idle_ms),
                    kill_grace: Duration::from_millis(settings.config.kill_grace_ms),
                };
                {
                    let mut state = self.state.lock().unwrap();
                    if let Some(live) = state.live.get_mut(&id) {
                        live.record.timeout_s = Some(timeouts.hard_ms.div_ceil(1000));
                    }
                }
                let store = &self.store;
                run_attempt(&attempt_spec, &cancel, |line, event| {
                    if let Err(err) = store.append_transcript(&id, attempt, line) {
                        tracing::error!(job = %id, error = %err, "cannot store transcript line");
                    }
                    if *event == AgentEvent::Activity {
                        if let Some(live) = self.state.lock().unwrap().live.get_mut(&id) {
                            live.activity += 1;
                        }
                        self.activity.send_modify(|n| *n += 1);
                    }
                    if let AgentEvent::Init { session_id } = event {
                        tracing::debug!(job = %id, session = %session_id, "agent session started");
                    }
                })
                .await
            }
        };
        history.finished_at_ms = Some(now_ms());
        history.outcome = Some(outcome_name(&report.outcome).to_string());
        history.message = Some(report.message.clone());
        history.exit_code = report.exit_code;
        history.session_id = report.session_id.clone();
        history.cost_usd = report.result.as_ref().and_then(|r| r.total_cost_usd);
        self.settle(id, slot, report, history).await;
    }

    /// The `PreJobStart` hooks; returns whether the attempt may go on. A
    /// denied job fails without running; a delayed one waits and is queued
    /// again, its attempt not counted.
    async fn pre_job_start(
        self: Arc<Self>,
        id: &str,
        slot: usize,
        spec: &JobSpec,
        record: &JobRecord,
        info: &JobInfo,
    ) -> bool {
        let outcome = self.hook(|| events::about_job("PreJobStart", spec, record, info.clone())).await;
        let delay = outcome.delay.filter(|d| !d.is_zero());
        let refusal = outcome.refusal();
        if refusal.is_none() && delay.is_none() {
            return true;
        }
        let retry_at_ms = delay.filter(|_| refusal.is_none()).map(|d| now_ms() + d.as_millis() as u64);
        let changed = {
            let mut state = self.state.lock().unwrap();
            state.release(record.depth, &record.root_job_id, slot, SlotOutcome::Ok, Instant::now());
            let live = state.live.get_mut(id).expect("a started job is live");
            live.record.attempts -= 1;
            live.record.status = JobStatus::RetryWait;
            live.record.retry_at_ms = retry_at_ms;
            live.record.clone()
        };
        match (refusal, delay) {
            (Some(reason), _) => {
                tracing::info!(job = %id, reason = %reason, "PreJobStart hook denied a job");
                let error = format!("a PreJobStart hook denied the job: {reason}");
                self.conclude(id, JobStatus::Failed, |record| record.error = Some(error)).await;
            }
            (None, delay) => {
                let delay = delay.expect("refused or delayed");
                tracing::info!(job = %id, delay_ms = delay.as_millis() as u64, "PreJobStart hook delayed a job");
                self.persist(&changed);
                self.clone().requeue_after(id.to_string(), delay);
            }
        }
        self.wake.notify_one();
        false
    }

    /// Books the end of an attempt: counters, token slot, record; then the
    /// job is done or goes to the retry policy.
    async fn settle(self: Arc<Self>, id: String, slot: usize, report: AttemptReport, history: AttemptRecord) {
        if report.outcome == Outcome::Cancelled && self.shutdown.is_cancelled() {
            // Stopped by shutdown, not by a user: the job stays `running` in
            // the store and is recovered as interrupted at the next start.
            return;
        }
        let now = Instant::now();
        {
            let mut guard = self.state.lock().unwrap();
            let state = &mut *guard;
            let live = state.live.get_mut(&id).expect("a running job is live");
            let (depth, root) = (live.record.depth, live.record.root_job_id.clone());
            live.record.history.push(history);
            live.record.exit_code = report.exit_code;
            if let Some(session) = &report.session_id {
                live.record.session_id = Some(session.clone());
            }
            if let Some(result) = &report.result {
                live.record.cost_usd += result.total_cost_usd.unwrap_or(0.0);
                live.record.usage = result.usage.clone();
            }
            let finished = Finished {
                tags: &live.record.tags,
                agent: &live.record.agent,
                model: live.record.model.as_deref(),
                prompt_bytes: live.spec.prompt.len(),
                duration_ms: (!matches!(report.outcome, Outcome::TimedOut | Outcome::IdleTimedOut))
                    .then_some(report.duration.as_millis() as u64),
            };
            let counts = !matches!(report.outcome, Outcome::Cancelled | Outcome::CouldNotStart);
            if counts {
                state.durations.record(finished);
            }
            let slot_outcome = match report.outcome {
                Outcome::Succeeded => SlotOutcome::Ok,
                Outcome::RateLimited { .. } => SlotOutcome::RateLimited,
                _ => SlotOutcome::Failed,
            };
            state.release(depth, &root, slot, slot_outcome, now);
            if let Outcome::RateLimited { resets_at_ms } = report.outcome {
                let wait = resets_at_ms
                    .map_or(Duration::from_secs(60), |at| Duration::from_millis(at.saturating_sub(now_ms())));
                tracing::warn!(slot, cooldown_s = wait.as_secs(), "token slot rate limited; cooling down");
                state.tokens.cool_down(slot, now + wait);
                self.fire(|| {
                    let message =
                        format!("token slot {slot} hit its rate limit; cooling down for {} s", wait.as_secs());
                    events::notification("rate_limited", message)
                });
            }
        }
        match report.outcome {
            Outcome::Succeeded => {
                let text = report.result.and_then(|r| r.result);
                self.conclude(&id, JobStatus::Succeeded, |record| {
                    record.result = text;
                    record.error = None;
                })
                .await;
            }
            Outcome::Cancelled => {
                self.conclude(&id, JobStatus::Cancelled, |record| record.error = Some("cancelled".into())).await
            }
            outcome => {
                let resets = match outcome {
                    Outcome::RateLimited { resets_at_ms } => resets_at_ms,
                    _ => None,
                };
                let failure = (failure_kind(&outcome), report.message.clone(), report.exit_code, report.signal);
                self.fail_attempt_with(&id, failure, report.stderr_tail, resets).await;
            }
        }
        self.wake.notify_one();
    }

    /// A failed attempt without a report (interrupted by a restart).
    async fn fail_attempt(self: Arc<Self>, id: &str, kind: FailureKind, message: String, resets: Option<u64>) {
        {
            let mut state = self.state.lock().unwrap();
            if let Some(live) = state.live.get_mut(id) {
                live.record.history.push(AttemptRecord {
                    attempt: live.record.attempts,
                    started_at_ms: live.record.started_at_ms.unwrap_or(0),
                    finished_at_ms: Some(now_ms()),
                    outcome: Some("interrupted".into()),
                    message: Some(message.clone()),
                    exit_code: None,
                    session_id: live.record.session_id.clone(),
                    token_slot: live.record.token_slot,
                    cost_usd: None,
                });
            }
        }
        self.fail_attempt_with(id, (kind, message, None, None), String::new(), resets).await;
    }

    async fn fail_attempt_with(
        self: &Arc<Self>,
        id: &str,
        (kind, message, exit_code, signal): (FailureKind, String, Option<i32>, Option<i32>),
        stderr_tail: String,
        resets_at_ms: Option<u64>,
    ) {
        let Some((info, attempt, max_retries, has_session)) = ({
            let state = self.state.lock().unwrap();
            state.live.get(id).map(|l| {
                (job_info(&l.spec, &l.record), l.record.attempts, l.record.max_retries, l.record.session_id.is_some())
            })
        }) else {
            return;
        };
        let failure = Failure {
            kind,
            exit_code,
            signal,
            stderr_tail,
            message: message.clone(),
            has_session,
            rate_limit_resets_at_ms: resets_at_ms,
        };
        let policies = self.policies.clone();
        let decision = blocking(move || policies.decide(&info, attempt, max_retries, &failure)).await;
        match decision {
            Decision::Retry(retry) => {
                let delay = Duration::from_millis(retry.delay_ms);
                let changed = {
                    let mut state = self.state.lock().unwrap();
                    let Some(live) = state.live.get_mut(id) else { return };
                    live.record.status = JobStatus::RetryWait;
                    live.record.retry_at_ms = Some(now_ms() + retry.delay_ms);
                    live.record.error = Some(message);
                    live.resume = retry.resume_session;
                    if let Some(priority) = retry.priority {
                        live.record.priority = priority;
                    }
                    if let Some(ms) = retry.timeout_ms {
                        live.record.timeout_s = Some(ms.div_ceil(1000));
                    }
                    (live.spec.clone(), live.record.clone())
                };
                let (spec, changed) = changed;
                tracing::info!(job = %id, attempt, delay_ms = retry.delay_ms, "attempt failed; retrying");
                self.persist(&changed);
                self.fire(|| {
                    let mut event = events::about_job("JobRetry", &spec, &changed, job_info(&spec, &changed));
                    event.payload.insert("delay_ms".into(), retry.delay_ms.into());
                    event
                });
                self.clone().requeue_after(id.to_string(), delay);
            }
            Decision::GiveUp(reason) => {
                let status = if matches!(kind, FailureKind::Timeout | FailureKind::IdleTimeout) {
                    JobStatus::TimedOut
                } else {
                    JobStatus::Failed
                };
                self.conclude(id, status, |record| record.error = Some(format!("{message} ({reason})"))).await;
            }
        }
    }

    /// Queues a job in `retry_wait` again after `delay`, unless it is cancelled first.
    fn requeue_after(self: Arc<Self>, id: String, delay: Duration) {
        let cancel = match self.state.lock().unwrap().live.get(&id) {
            Some(live) => live.cancel.clone(),
            None => return,
        };
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = cancel.cancelled() => return,
            }
            let (info, seq) = {
                let state = self.state.lock().unwrap();
                let Some(live) = state.live.get(&id) else { return };
                (job_info(&live.spec, &live.record), live.seq)
            };
            let policies = self.policies.clone();
            let rank = blocking(move || policies.rank(std::slice::from_ref(&info))[0]).await;
            let record = {
                let mut state = self.state.lock().unwrap();
                let Some(live) = state.live.get_mut(&id) else { return };
                if live.record.status != JobStatus::RetryWait {
                    return;
                }
                live.rank = rank;
                live.queued_at = Instant::now();
                live.record.status = JobStatus::Queued;
                live.record.retry_at_ms = None;
                let record = live.record.clone();
                state.queue.insert((Reverse(rank), seq, id.clone()));
                record
            };
            self.persist(&record);
            self.wake.notify_one();
        });
    }

    /// Ends a job with `status`. The store is updated before the job leaves
    /// the live set, so a reader never finds it in neither.
    fn finish(&self, id: &str, status: JobStatus, update: impl FnOnce(&mut JobRecord)) {
        {
            let mut state = self.state.lock().unwrap();
            let Some(live) = state.live.get_mut(id) else { return };
            live.record.status = status;
            live.record.finished_at_ms = Some(now_ms());
            live.record.retry_at_ms = None;
            update(&mut live.record);
            if let Err(err) = self.store.update(&live.record) {
                tracing::error!(job = %id, error = %err, "cannot record job state");
            }
            state.live.remove(id);
        }
        self.changed.send_modify(|n| *n += 1);
    }

    /// Ends a job with `status` once the `PostJob` hooks (and `JobFailed`
    /// ones, for a failure) have seen its final record; the context they
    /// attach lands in its notes before any waiter sees it finished.
    async fn conclude(&self, id: &str, status: JobStatus, update: impl FnOnce(&mut JobRecord)) {
        let Some((spec, mut record)) =
            self.state.lock().unwrap().live.get(id).map(|l| (l.spec.clone(), l.record.clone()))
        else {
            return;
        };
        record.status = status;
        record.finished_at_ms = Some(now_ms());
        record.retry_at_ms = None;
        update(&mut record);
        if self.hooks.is_some() {
            let info = job_info(&spec, &record);
            let post = self.hook(|| events::about_job("PostJob", &spec, &record, info.clone()));
            let failed = async {
                match status {
                    JobStatus::Failed | JobStatus::TimedOut => {
                        self.hook(|| events::about_job("JobFailed", &spec, &record, info.clone())).await
                    }
                    _ => HookOutcome::default(),
                }
            };
            let (post, failed) = tokio::join!(post, failed);
            record.notes.extend(post.additional_context.into_iter().chain(failed.additional_context));
        }
        self.finish(id, status, move |live| *live = record);
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
        if let Err(err) = self.store.update(record) {
            tracing::error!(job = %record.job_id, error = %err, "cannot record job state");
        }
        self.changed.send_modify(|n| *n += 1);
    }
}
