//! One attempt of a started job: the `PreJobStart` hooks, timeouts from the
//! estimator, the agent's environment, and the agent run through the
//! executor with its transcript streamed into the store. What follows it is
//! in `settle.rs`.

use super::tokens::SlotOutcome;
use super::{Inner, events, job_info};
use crate::contract::{ExtensionPoint, JobInfo};
use crate::credentials::{OUTRANKING_CREDENTIALS, Secret};
use crate::executor::agent::{AgentProfile, Auth, Invocation};
use crate::executor::stream::AgentEvent;
use crate::executor::{AttemptReport, AttemptSpec, run_attempt};
use crate::hooks::EventName;
use crate::job;
use crate::job::{AttemptRecord, JobRecord, JobSpec, JobStatus, budget, now_ms};
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
        let (mut spec, record, cancel, token, resume, key) = {
            let state = self.state.lock();
            let live = &state.live[&id];
            let token = state.tokens.slots[slot].token.clone();
            (live.spec.clone(), live.record.clone(), live.cancel.clone(), token, live.resume, live.key.clone())
        };
        #[cfg(test)]
        if spec.prompt == tests::PANIC {
            panic!("a bug, injected by a test");
        }
        let info = job_info(&spec, &record);
        // Its worktree or checkpoint first: the hooks see where it will run.
        let prepared = self.prepare_workspace(&id, &mut spec).await;
        if prepared.is_ok() && self.hooks.is_some() && !self.clone().pre_job_start(&id, &spec, &record, &info).await {
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
        let unconfigured;
        let profile = match settings.agents.get(&record.agent) {
            Some(profile) => profile,
            None => {
                unconfigured = AgentProfile::default();
                &unconfigured
            }
        };
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
            tokens: None,
        };
        let report = match prepared.and_then(|()| profile.find_binary(&record.agent)) {
            Err(message) => AttemptReport::could_not_start(message),
            Ok(program) => {
                let (env, env_remove) = self.agent_env(&id, &record, &spec, profile, token.as_ref(), &key);
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
                    max_budget_usd: self.state.lock().remaining_usd(&record.root_job_id, &record.tags, now_ms()),
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
        history.tokens = report.result.as_ref().and_then(|r| r.usage.as_ref()).map(budget::tokens_in);
        self.settle(id, slot, report, history).await;
    }

    /// The environment an agent gets on top of ringmaster's, and what it must
    /// not inherit from it: no credential ringmaster knows of, but exactly
    /// its slot's token (or, with `auth: api-key`, the API keys); then the
    /// profile's and the job's variables; then the `RINGMASTER_*` variables
    /// that tie it to this job (its key among them), which nothing else may set.
    fn agent_env(
        &self,
        id: &str,
        record: &JobRecord,
        spec: &JobSpec,
        profile: &AgentProfile,
        token: Option<&Secret>,
        key: &Secret,
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
            (job::env::JOB_TOKEN.to_string(), key.expose().to_string()),
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
}

#[cfg(test)]
mod tests {
    use super::super::testing::{WAIT, one_place, script_engine};
    use crate::job::{JobSpec, JobStatus};

    /// A prompt whose attempt panics (see `run_attempt`).
    pub const PANIC: &str = "@panic-for-tests";

    #[tokio::test]
    async fn a_panicking_attempt_ends_its_job_failed_and_gives_its_place_back() {
        let dir = tempfile::tempdir().unwrap();
        let engine = script_engine(dir.path(), one_place()).await;
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
