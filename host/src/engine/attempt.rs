//! One attempt of a started job, and what follows it: the `PreJobStart`
//! hooks, timeouts from the estimator, the agent run through the executor
//! with its transcript streamed into the store, then settling: the token
//! slot and counters given back, and the job finished or handed to the retry
//! policy, which may queue it again after a delay.

use super::history::Finished;
use super::tokens::SlotOutcome;
use super::{Inner, events, job_info};
use crate::contract::{Decision, Failure, FailureKind};
use crate::contract::{ExtensionPoint, JobInfo};
use crate::credentials::{OUTRANKING_CREDENTIALS, Secret};
use crate::executor::agent::{AgentProfile, Auth, Invocation};
use crate::executor::stream::AgentEvent;
use crate::executor::{AttemptReport, AttemptSpec, run_attempt};
use crate::hooks::EventName;
use crate::job;
use crate::job::AttemptOutcome;
use crate::job::{AttemptRecord, JobRecord, JobSpec, JobStatus, now_ms};
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a slot rests after a rate limit that names no reset time.
const DEFAULT_COOLDOWN: Duration = Duration::from_secs(60);
/// The longest a slot rests, whatever reset time the agent reported (usage
/// limits reset within a week).
const MAX_COOLDOWN: Duration = Duration::from_secs(7 * 24 * 3600);

fn failure_kind(outcome: AttemptOutcome) -> FailureKind {
    match outcome {
        AttemptOutcome::TimedOut => FailureKind::Timeout,
        AttemptOutcome::IdleTimedOut => FailureKind::IdleTimeout,
        AttemptOutcome::RateLimited => FailureKind::RateLimited,
        AttemptOutcome::AgentError => FailureKind::AgentError,
        AttemptOutcome::CouldNotStart => FailureKind::CouldNotStart,
        AttemptOutcome::Succeeded
        | AttemptOutcome::Cancelled
        | AttemptOutcome::Crashed
        | AttemptOutcome::Interrupted => FailureKind::Crashed,
    }
}

impl Inner {
    /// Runs an attempt of started job `id` as a task of its own. Should it
    /// panic (a bug), the job does not stay `running` holding its place: it
    /// ends `failed` with the panic's message, its place and slot given back.
    pub(super) fn spawn_attempt(self: &Arc<Self>, id: String, slot: usize) {
        let inner = self.clone();
        tokio::spawn(async move {
            let attempt = AssertUnwindSafe(inner.clone().run_attempt(id.clone(), slot)).catch_unwind();
            if let Err(panic) = attempt.await {
                inner.attempt_panicked(&id, &crate::panic::message(&*panic));
            }
        });
    }

    /// Ends job `id`, whose attempt panicked. No hooks run: they may be what
    /// panicked.
    fn attempt_panicked(&self, id: &str, message: &str) {
        tracing::error!(job = %id, "an attempt panicked (a bug in ringmaster): {message}");
        self.state.lock().release(id, SlotOutcome::Failed, Instant::now());
        let error = format!("internal error: the attempt panicked: {message}");
        self.finish(id, JobStatus::Failed, |record| record.error = Some(error));
        self.wake.notify_one();
    }

    /// Runs one attempt of a started job and settles the job afterwards.
    pub(super) async fn run_attempt(self: Arc<Self>, id: String, slot: usize) {
        let (spec, record, cancel, token, resume) = {
            let state = self.state.lock();
            let live = &state.live[&id];
            let token = state.tokens.slots[slot].token.clone();
            (live.spec.clone(), live.record.clone(), live.cancel.clone(), token, live.resume)
        };
        #[cfg(test)]
        if spec.prompt == tests::PANIC {
            panic!("a bug, injected by a test");
        }
        let info = job_info(&spec, &record);
        if self.hooks.is_some() && !self.clone().pre_job_start(&id, &spec, &record, &info).await {
            return;
        }
        let requested_ms = record.timeout_s.map(|s| s.saturating_mul(1000));
        let similar = {
            let state = self.state.lock();
            state.durations.similar(&record.tags, &record.agent, record.model.as_deref(), spec.prompt.len())
        };
        let timeouts = self
            .policy(ExtensionPoint::TimeoutEstimator, move |policies| policies.estimate(&info, &similar, requested_ms))
            .await;

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
                let (env, env_remove) = self.agent_env(&id, &record, &spec, &profile, token.as_ref());
                let invocation = Invocation {
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
                };
                let attempt_spec = AttemptSpec {
                    program,
                    args: profile.args(&invocation),
                    stdin: profile.stdin(&invocation),
                    cwd: spec.cwd.clone().unwrap_or_else(|| self.project_dir.clone()),
                    env,
                    env_remove,
                    hard_timeout: Duration::from_millis(timeouts.hard_ms),
                    idle_timeout: Duration::from_millis(timeouts.idle_ms),
                    kill_grace: Duration::from_millis(settings.config.kill_grace_ms),
                };
                {
                    let mut state = self.state.lock();
                    if let Some(live) = state.live.get_mut(&id) {
                        live.record.timeout_s = Some(timeouts.hard_ms.div_ceil(1000));
                    }
                }
                let report = run_attempt(&attempt_spec, &cancel, |line, event| {
                    self.writes.line(&id, attempt, line);
                    if *event == AgentEvent::Activity {
                        if let Some(live) = self.state.lock().live.get_mut(&id) {
                            live.activity += 1;
                        }
                        self.activity.send_modify(|n| *n += 1);
                    }
                    if let AgentEvent::Init { session_id } = event {
                        tracing::debug!(job = %id, session = %session_id, "agent session started");
                    }
                })
                .await;
                let (name, value) = crate::executor::attempt_marker(&id, attempt);
                crate::executor::sweep::soon(format!("{name}={value}"));
                report
            }
        };
        history.finished_at_ms = Some(now_ms());
        history.outcome = Some(report.outcome);
        history.message = Some(report.message.clone());
        history.exit_code = report.exit_code;
        history.session_id = report.session_id.clone();
        history.cost_usd = report.result.as_ref().and_then(|r| r.total_cost_usd);
        self.settle(id, slot, report, history).await;
    }

    /// The environment an agent gets on top of ringmaster's, and what it must
    /// not inherit from it: no credential ringmaster knows of, but exactly
    /// its slot's token (or, with `auth: api-key`, the API keys); then the
    /// profile's and the job's variables; then the `RINGMASTER_*` variables
    /// that tie it to this job, which nothing else may set.
    fn agent_env(
        &self,
        id: &str,
        record: &JobRecord,
        spec: &JobSpec,
        profile: &AgentProfile,
        token: Option<&Secret>,
    ) -> (Vec<(String, String)>, Vec<String>) {
        let mut remove = self.credential_vars.clone();
        let mut env = Vec::new();
        match profile.auth {
            Auth::Token => {
                if let Some(token) = token {
                    env.push(("CLAUDE_CODE_OAUTH_TOKEN".to_string(), token.expose().to_string()));
                }
            }
            Auth::ApiKey => remove.retain(|name| !OUTRANKING_CREDENTIALS.contains(&name.as_str())),
        }
        env.extend(profile.env.iter().chain(&spec.env).map(|(k, v)| (k.clone(), v.clone())));
        env.extend([
            (job::env::JOB_ID.to_string(), id.to_string()),
            (job::env::DEPTH.to_string(), record.depth.to_string()),
            (job::env::ROOT_JOB_ID.to_string(), record.root_job_id.clone()),
            crate::executor::attempt_marker(id, record.attempts),
        ]);
        if let Some(socket) = &self.wiring.socket {
            env.push((job::env::SOCKET.to_string(), socket.display().to_string()));
        }
        (env, remove)
    }

    /// The `PreJobStart` hooks; returns whether the attempt may go on. A
    /// denied job fails without running; a delayed one waits and is queued
    /// again, its attempt not counted.
    async fn pre_job_start(self: Arc<Self>, id: &str, spec: &JobSpec, record: &JobRecord, info: &JobInfo) -> bool {
        let outcome = self.hook(|| events::about_job(EventName::PreJobStart, spec, record, info.clone())).await;
        let delay = outcome.delay.filter(|d| !d.is_zero());
        let refusal = outcome.refusal();
        if refusal.is_none() && delay.is_none() {
            return true;
        }
        let retry_at_ms = delay.filter(|_| refusal.is_none()).map(|d| now_ms().saturating_add(d.as_millis() as u64));
        let changed = {
            let mut state = self.state.lock();
            state.release(id, SlotOutcome::Ok, Instant::now());
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
        if report.outcome == AttemptOutcome::Cancelled && self.shutdown.is_cancelled() {
            // Stopped by shutdown, not by a user: the job stays `running` in
            // the store and is recovered as interrupted at the next start.
            return;
        }
        let now = Instant::now();
        {
            let mut guard = self.state.lock();
            let state = &mut *guard;
            let live = state.live.get_mut(&id).expect("a running job is live");
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
                duration_ms: (!report.outcome.is_timeout()).then_some(report.duration.as_millis() as u64),
            };
            let counts = !matches!(report.outcome, AttemptOutcome::Cancelled | AttemptOutcome::CouldNotStart);
            if counts {
                state.durations.record(finished);
            }
            let slot_outcome = match report.outcome {
                AttemptOutcome::Succeeded => SlotOutcome::Ok,
                AttemptOutcome::RateLimited => SlotOutcome::RateLimited,
                _ => SlotOutcome::Failed,
            };
            state.release(&id, slot_outcome, now);
            if report.outcome == AttemptOutcome::RateLimited {
                // The agent's word on when its limit resets, within reason.
                let wait = report
                    .resets_at_ms
                    .map_or(DEFAULT_COOLDOWN, |at| Duration::from_millis(at.saturating_sub(now_ms())))
                    .min(MAX_COOLDOWN);
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
            AttemptOutcome::Succeeded => {
                let text = report.result.and_then(|r| r.result);
                self.conclude(&id, JobStatus::Succeeded, |record| {
                    record.result = text;
                    record.error = None;
                })
                .await;
            }
            AttemptOutcome::Cancelled => {
                self.conclude(&id, JobStatus::Cancelled, |record| record.error = Some("cancelled".into())).await
            }
            outcome => {
                let failure = (failure_kind(outcome), report.message.clone(), report.exit_code, report.signal);
                self.fail_attempt_with(&id, failure, report.stderr_tail, report.resets_at_ms).await;
            }
        }
        self.wake.notify_one();
    }

    /// A failed attempt without a report (interrupted by a restart).
    pub(super) async fn fail_attempt(
        self: Arc<Self>,
        id: &str,
        kind: FailureKind,
        message: String,
        resets: Option<u64>,
    ) {
        {
            let mut state = self.state.lock();
            if let Some(live) = state.live.get_mut(id) {
                live.record.history.push(AttemptRecord {
                    attempt: live.record.attempts,
                    started_at_ms: live.record.started_at_ms.unwrap_or(0),
                    finished_at_ms: Some(now_ms()),
                    outcome: Some(AttemptOutcome::Interrupted),
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
            let state = self.state.lock();
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
        let decision = self
            .policy(ExtensionPoint::RetryPolicy, move |policies| policies.decide(&info, attempt, max_retries, &failure))
            .await;
        match decision {
            Decision::Retry(retry) => {
                let delay = Duration::from_millis(retry.delay_ms);
                let changed = {
                    let mut state = self.state.lock();
                    let Some(live) = state.live.get_mut(id) else { return };
                    live.record.status = JobStatus::RetryWait;
                    live.record.retry_at_ms = Some(now_ms().saturating_add(retry.delay_ms));
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
                    let mut event = events::about_job(EventName::JobRetry, &spec, &changed, job_info(&spec, &changed));
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
    pub(super) fn requeue_after(self: Arc<Self>, id: String, delay: Duration) {
        let cancel = match self.state.lock().live.get(&id) {
            Some(live) => live.cancel.clone(),
            None => return,
        };
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = cancel.cancelled() => {
                    // Cancelled while it went from running to waiting, which
                    // `Engine::cancel` (seeing it running) left to this task.
                    // At shutdown it stays waiting, to be recovered.
                    let waiting = self.state.lock().live.get(&id).is_some_and(|l| l.record.status == JobStatus::RetryWait);
                    if waiting && !self.shutdown.is_cancelled() {
                        self.conclude(&id, JobStatus::Cancelled, |record| record.error = Some("cancelled".into())).await;
                    }
                    return;
                }
            }
            let Some(info) = self.state.lock().live.get(&id).map(|live| job_info(&live.spec, &live.record)) else {
                return;
            };
            let rank = self.rank(info).await;
            let Some(record) = self.state.lock().requeue(&id, rank, Instant::now()) else { return };
            self.persist(&record);
            self.wake.notify_one();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::EngineConfig;
    use super::super::testing::{WAIT, script_engine};
    use crate::job::{JobSpec, JobStatus};

    /// A prompt whose attempt panics (see `run_attempt`).
    pub const PANIC: &str = "@panic-for-tests";

    #[tokio::test]
    async fn a_panicking_attempt_ends_its_job_failed_and_gives_its_place_back() {
        let dir = tempfile::tempdir().unwrap();
        let engine =
            script_engine(dir.path(), EngineConfig { max_concurrent: Some(1), ..EngineConfig::default() }).await;
        let id = engine.submit(JobSpec { prompt: PANIC.into(), ..JobSpec::default() }).await.unwrap().job_id;
        let record = engine.wait(std::slice::from_ref(&id), WAIT).await.unwrap().remove(0);
        assert_eq!(record.status, JobStatus::Failed);
        assert!(record.error.as_deref().unwrap().contains("a bug, injected by a test"), "{record:?}");
        // Its place is free again: the next job runs.
        let next = engine.submit(JobSpec { prompt: "next".into(), ..JobSpec::default() }).await.unwrap().job_id;
        let next = engine.wait(std::slice::from_ref(&next), WAIT).await.unwrap().remove(0);
        assert_eq!(next.status, JobStatus::Succeeded);
        assert_eq!(engine.stats().unwrap().running, 0);
        engine.shutdown();
    }
}
