//! The engine's scheduling under virtual time, for `ringmaster simulate`:
//! the same state and its transitions ([`State`]), the same scheduling
//! round ([`schedule::offer`], [`schedule::take_places`]), the same policy
//! calls ([`Policies`]: rank, select, estimate, decide, each answered by a
//! plugin or the built-in exactly as in the running engine) and the same
//! glue around them (records, retries, cooldowns, duration history). What
//! differs is only what drives it: a workload's events instead of agents,
//! and a clock the caller advances.
//!
//! Virtual time is milliseconds from the start of the replay; the
//! state's instants are `epoch + t`. Plugins that read the host's wall
//! clock (`now-ms`) see real time, not the replay's.

use super::history::Finished;
use super::job_info;
use super::schedule::{self, offer, take_places};
/// The failure an attempt's outcome is to the retry policy.
pub use super::settle::failure_kind;
use super::settle::{await_retry, cooldown, given_up};
use super::state::{Admission, Limits, Live, Refusal, State};
use super::submit::queued_record;
use super::tokens::{SlotOutcome, TokenPool};
use crate::config::EngineConfig;
use crate::contract::{Decision, ExtensionPoint, Failure, FailureKind};
use crate::credentials::{Secret, Token};
use crate::job::{JobRecord, JobSpec, JobStatus};
use crate::policy::{Policies, Source};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// An attempt the replay started.
#[derive(Debug, Clone, PartialEq)]
pub struct Started {
    pub job_id: String,
    pub slot: usize,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The timeouts the estimator gave it.
    pub hard_ms: u64,
}

/// How an attempt ended, as the workload says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ending {
    Succeeded,
    /// A failure of this kind (a timeout is the caller's to detect: an
    /// attempt longer than its `hard_ms` ends `Timeout` at `hard_ms`).
    Failed(FailureKind),
}

/// What follows an attempt's end.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// The job ended with this status.
    Done(JobStatus),
    /// It waits for a retry: call [`Replay::requeue`] at `at_ms`.
    RetryAt { at_ms: u64 },
}

pub struct Replay {
    state: State,
    policies: Arc<Policies>,
    config: EngineConfig,
    limits: Limits,
    epoch: Instant,
    seq: i64,
    /// Every job submitted: its depth and its tree's root.
    trees: HashMap<String, (u32, String)>,
}

impl Replay {
    /// An engine with `config`'s limits and `tokens` token slots, asking
    /// `policies`.
    pub fn new(config: EngineConfig, tokens: usize, policies: Arc<Policies>) -> Replay {
        let tokens: Vec<Token> = (0..tokens).map(|i| Secret::new(format!("replay-{i}")).into()).collect();
        let pool = TokenPool::new(
            tokens,
            config.per_token_concurrency,
            config.token_starts_per_minute,
            Duration::from_secs(60),
        );
        let max_concurrent = config.max_concurrent.unwrap_or(pool.capacity()).max(1);
        let limits = Limits { max_concurrent, per_depth: config.max_concurrent_per_depth };
        let epoch = Instant::now();
        Replay { state: State::new(pool), policies, config, limits, epoch, seq: 0, trees: HashMap::new() }
    }

    fn at(&self, t_ms: u64) -> Instant {
        self.epoch + Duration::from_millis(t_ms)
    }

    /// Queues job `id` at `t_ms`, under `parent` if it has one (which must
    /// be live), as [`super::Engine::submit`] would after its checks.
    /// Refused (with the reason) past the queue's or the tree's limit.
    pub fn submit(&mut self, id: &str, spec: JobSpec, t_ms: u64) -> Result<JobRecord, String> {
        // Where a sub-job goes in its tree, even once its parent has ended.
        let (depth, root) = match spec.parent_job_id.as_deref().and_then(|p| self.trees.get(p)) {
            Some((depth, root)) => (depth + 1, root.clone()),
            None => (0, id.to_string()),
        };
        self.trees.insert(id.to_string(), (depth, root.clone()));
        let agent = spec.agent.clone().unwrap_or_else(|| self.config.default_agent.clone());
        let record = queued_record(id.to_string(), &spec, agent, (depth, root), &self.config, t_ms);
        let rank = self.policies.rank(&[job_info(&spec, &record)])[0];
        self.seq += 1;
        let mut live = Live::new(spec, record.clone(), self.seq, rank, CancellationToken::new());
        live.queued_at = self.at(t_ms);
        let tree_size = self.state.tree_size(&record.root_job_id).unwrap_or(0);
        let admission = Admission { max_queue: self.config.max_queue, max_per_tree: self.config.max_jobs_per_root };
        match self.state.admit(live, admission, tree_size) {
            Ok(()) => Ok(record),
            Err(Refusal::TreeFull { count }) => Err(format!("its tree has already submitted {count} jobs")),
            Err(Refusal::QueueFull { queued }) => Err(format!("the queue is full ({queued} jobs)")),
        }
    }

    /// Scheduling rounds at `t_ms` until nothing more starts; the attempts
    /// started, with their timeouts.
    pub fn schedule(&mut self, t_ms: u64) -> Vec<Started> {
        let plugin = matches!(self.policies.source(ExtensionPoint::Scheduler), Source::Plugin(_));
        let now = self.at(t_ms);
        let mut started = Vec::new();
        while let Some(input) = offer(&mut self.state, self.limits, plugin, now, t_ms) {
            let chosen = self.policies.select(&input);
            let starts: Vec<schedule::Start> = take_places(&mut self.state, chosen, self.limits, now, t_ms).collect();
            if starts.is_empty() {
                break;
            }
            for start in starts {
                let hard_ms = self.timeout(&start.job_id);
                started.push(Started {
                    job_id: start.job_id,
                    slot: start.slot,
                    attempt: start.record.attempts,
                    hard_ms,
                });
            }
        }
        started
    }

    /// The estimator's hard timeout for the attempt of `id` starting now.
    fn timeout(&self, id: &str) -> u64 {
        let live = &self.state.live[id];
        let record = &live.record;
        let requested_ms = record.timeout_s.map(|s| s.saturating_mul(1000));
        let similar =
            self.state.durations.similar(&record.tags, &record.agent, record.model.as_deref(), live.spec.prompt.len());
        self.policies.estimate(&job_info(&live.spec, record), &similar, requested_ms).hard_ms
    }

    /// Ends the running attempt of `id` at `t_ms` after `ran_ms`: the slot
    /// given back (resting after a rate limit), the duration learnt, then
    /// the job done or handed to the retry policy.
    pub fn end(&mut self, id: &str, ending: Ending, ran_ms: u64, t_ms: u64) -> Next {
        let now = self.at(t_ms);
        let live = self.state.live.get(id).expect("an attempt that ends is live");
        let timed_out = matches!(ending, Ending::Failed(FailureKind::Timeout | FailureKind::IdleTimeout));
        self.state.durations.record(Finished {
            tags: &live.record.tags,
            agent: &live.record.agent,
            model: live.record.model.as_deref(),
            prompt_bytes: live.spec.prompt.len(),
            duration_ms: (!timed_out).then_some(ran_ms),
        });
        let slot = live.record.token_slot.map(|s| s as usize);
        let outcome = match ending {
            Ending::Succeeded => SlotOutcome::Ok,
            Ending::Failed(FailureKind::RateLimited) => SlotOutcome::RateLimited,
            Ending::Failed(_) => SlotOutcome::Failed,
        };
        self.state.release(id, outcome, now);
        if let (Some(slot), SlotOutcome::RateLimited) = (slot, outcome) {
            self.state.tokens.cool_down(slot, now + cooldown(None, t_ms));
        }
        let kind = match ending {
            Ending::Succeeded => return self.done(id, JobStatus::Succeeded, now),
            Ending::Failed(kind) => kind,
        };
        let live = &self.state.live[id];
        let info = job_info(&live.spec, &live.record);
        let failure = Failure {
            kind,
            exit_code: None,
            signal: None,
            stderr_tail: String::new(),
            message: format!("{kind:?}"),
            has_session: false,
            rate_limit_resets_at_ms: None,
        };
        match self.policies.decide(&info, live.record.attempts, live.record.max_retries, &failure) {
            Decision::Retry(retry) => {
                let live = self.state.live.get_mut(id).expect("looked up above");
                await_retry(live, &retry, failure.message, t_ms);
                Next::RetryAt { at_ms: t_ms.saturating_add(retry.delay_ms) }
            }
            Decision::GiveUp(_) => self.done(id, given_up(kind), now),
        }
    }

    fn done(&mut self, id: &str, status: JobStatus, now: Instant) -> Next {
        self.state.finish(id, now);
        // Nobody is told of a finished tree under virtual time.
        self.state.take_finished_trees();
        Next::Done(status)
    }

    /// Queues job `id`, waiting for its retry, again at `t_ms`.
    pub fn requeue(&mut self, id: &str, t_ms: u64) {
        let Some(live) = self.state.live.get(id) else { return };
        let rank = self.policies.rank(&[job_info(&live.spec, &live.record)])[0];
        self.state.requeue(id, rank, self.at(t_ms));
    }

    /// When the next token slot ends its rest, if one rests: a moment to
    /// schedule at though nothing else happens.
    pub fn next_cooldown_end(&self, t_ms: u64) -> Option<u64> {
        let now = self.at(t_ms);
        self.state
            .tokens
            .slots
            .iter()
            .filter_map(|slot| slot.cooling_until.filter(|until| *until > now))
            .min()
            .map(|until| t_ms + until.duration_since(now).as_millis() as u64)
    }

    /// The overall concurrency: how many attempts may run at once.
    pub fn capacity(&self) -> u32 {
        self.limits.max_concurrent
    }

    /// Jobs queued now.
    pub fn queued(&self) -> usize {
        self.state.queue.len()
    }
}
