//! What follows an attempt: settling it (the token slot and counters given
//! back, a rate-limited slot rested, and the rest stored), then the job
//! finished, queued again at once after a usage limit that names its reset
//! (without spending a retry), or handed to the retry policy, which may
//! queue it again after a delay.

use super::history::Finished;
use super::state::Live;
use super::tokens::SlotOutcome;
use super::{Inner, events, job_info};
use crate::contract::{Decision, ExtensionPoint, Failure, FailureKind, Retry};
use crate::executor::AttemptReport;
use crate::hooks::EventName;
use crate::job::budget::Spend;
use crate::job::{AttemptOutcome, AttemptRecord, JobStatus, now_ms};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Usage-limited attempts a job may have before the retry policy decides
/// on the next as on any failure.
const MAX_LIMITED_ATTEMPTS: u32 = 20;
/// The shortest a slot rests after a limit (a reset reported in the past,
/// or a 429's short retry delay).
const MIN_COOLDOWN: Duration = Duration::from_secs(5);
/// How long a slot rests after a rate limit that names no reset time.
const DEFAULT_COOLDOWN: Duration = Duration::from_secs(60);
/// The longest a slot rests, whatever reset time the agent reported (usage
/// limits reset within a week).
const MAX_COOLDOWN: Duration = Duration::from_secs(7 * 24 * 3600);

pub fn failure_kind(outcome: AttemptOutcome) -> FailureKind {
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

/// How long a rate-limited slot rests: until the reset the agent reported,
/// within reason.
pub(super) fn cooldown(resets_at_ms: Option<u64>, now_ms: u64) -> Duration {
    resets_at_ms
        .map_or(DEFAULT_COOLDOWN, |at| Duration::from_millis(at.saturating_sub(now_ms)))
        .clamp(MIN_COOLDOWN, MAX_COOLDOWN)
}

/// Job `live`, whose attempt failed, waiting for the retry the policy chose.
pub(super) fn await_retry(live: &mut Live, retry: &Retry, message: String, now_ms: u64) {
    live.record.status = JobStatus::RetryWait;
    live.record.retry_at_ms = Some(now_ms.saturating_add(retry.delay_ms));
    live.record.error = Some(message);
    live.resume = retry.resume_session;
    if let Some(priority) = retry.priority {
        live.record.priority = priority;
    }
    if let Some(ms) = retry.timeout_ms {
        live.record.timeout_s = Some(ms.div_ceil(1000));
    }
}

/// The status a job ends with when the retry policy gives up on it.
pub(super) fn given_up(kind: FailureKind) -> JobStatus {
    match kind {
        FailureKind::Timeout | FailureKind::IdleTimeout => JobStatus::TimedOut,
        _ => JobStatus::Failed,
    }
}

impl Inner {
    /// Books the end of an attempt: counters, token slot, record; then the
    /// job is done or goes to the retry policy.
    pub(super) async fn settle(
        self: Arc<Self>,
        id: String,
        slot: usize,
        report: AttemptReport,
        history: AttemptRecord,
    ) {
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
            // What it spent counts against the budgets over it from now on.
            let spend = (history.cost_usd.is_some() || history.tokens.is_some()).then(|| Spend {
                at_ms: history.finished_at_ms.unwrap_or_else(now_ms),
                usd: history.cost_usd.unwrap_or(0.0),
                tokens: history.tokens.unwrap_or(0),
                root: live.record.root_job_id.clone(),
                tags: live.record.tags.clone(),
            });
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
            if let Some(spend) = spend {
                let spent_before: Vec<String> =
                    state.spent_budgets(now_ms()).into_iter().map(|b| b.budget.name).collect();
                state.spend(spend, now_ms());
                for budget in
                    state.spent_budgets(now_ms()).into_iter().filter(|b| !spent_before.contains(&b.budget.name))
                {
                    tracing::warn!(budget = %budget.budget.name, "{}", budget.why());
                    self.fire(|| {
                        events::notification(
                            "budget_spent",
                            format!("{}: its jobs wait until it frees up", budget.why()),
                        )
                    });
                }
            }
            if report.outcome == AttemptOutcome::RateLimited {
                let wait = cooldown(report.resets_at_ms, now_ms());
                tracing::warn!(slot, cooldown_s = wait.as_secs(), "token slot rate limited; cooling down");
                state.tokens.cool_down(slot, now + wait);
                // Stored, so that a restarted engine lets it rest too.
                let token = state.tokens.slots[slot].token.as_ref().map(|t| t.fingerprint()).unwrap_or_default();
                let (store, until_ms) = (self.store.clone(), now_ms().saturating_add(wait.as_millis() as u64));
                tokio::task::spawn_blocking(move || {
                    if let Err(err) = store.set_rest(slot, &token, until_ms) {
                        tracing::warn!(slot, error = %err, "a token slot's rest is not stored");
                    }
                });
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
            AttemptOutcome::RateLimited
                if report.resets_at_ms.is_some_and(|reset| self.wait_out_limit(&id, slot, reset)) => {}
            outcome => {
                let failure = (failure_kind(outcome), report.message.clone(), report.exit_code, report.signal);
                self.fail_attempt_with(&id, failure, report.stderr_tail, report.resets_at_ms).await;
            }
        }
        self.wake.notify_one();
    }

    /// Job `id`, stopped by a usage limit of slot `slot` that resets at
    /// `resets_at_ms`, is not failing: it is queued again at once (resuming
    /// its session) to start on the next free slot (not this one, which
    /// rests until the reset), and the attempt does not count against its
    /// retries. Past [`MAX_LIMITED_ATTEMPTS`] it goes to the retry policy
    /// as any failure (an agent that always says so). Whether it was queued.
    fn wait_out_limit(&self, id: &str, slot: usize, resets_at_ms: u64) -> bool {
        let record = {
            let mut state = self.state.lock();
            let Some(live) = state.live.get_mut(id).filter(|l| l.record.limited_attempts < MAX_LIMITED_ATTEMPTS) else {
                return false;
            };
            live.record.limited_attempts += 1;
            live.record.status = JobStatus::RetryWait;
            live.record.error = Some(format!(
                "token slot {slot} reached its usage limit (it resets at {resets_at_ms}, Unix ms); queued again, \
                 not counted as a retry"
            ));
            live.resume = live.record.session_id.is_some();
            let rank = live.rank;
            state.requeue(id, rank, Instant::now())
        };
        let Some(record) = record else { return false };
        tracing::info!(job = %id, slot, "usage limit: queued again for another slot");
        self.persist(&record);
        true
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
                    tokens: None,
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
                // Attempts a usage limit stopped spent no retry.
                let attempt = l.record.attempts.saturating_sub(l.record.limited_attempts);
                (job_info(&l.spec, &l.record), attempt, l.record.max_retries, l.record.session_id.is_some())
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
                    await_retry(live, &retry, message, now_ms());
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
                let status = given_up(kind);
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
