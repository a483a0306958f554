//! Waiting for jobs while keeping the client informed: progress
//! notifications on status changes, on agent activity (rate-limited) and as
//! a heartbeat that keeps clients' idle timeouts from firing. Between events
//! the wait sleeps; a waiting server uses no CPU.

use super::server::{Ringmaster, failed, ok, summary};
use crate::engine::EngineError;
use crate::job::{JobRecord, JobSpec, JobStatus};
use rmcp::model::{CallToolResult, ProgressNotificationParam, ProgressToken};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};
use std::time::Duration;

/// Progress notifications come at least this often, keeping clients' idle
/// timeouts from firing on long jobs.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// Agent activity is reported at most this often.
const ACTIVITY_GAP: Duration = Duration::from_secs(1);

/// A time no wait reaches (a disabled `select!` branch still needs one).
fn far_future() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(86_400 * 365)
}

impl Ringmaster {
    /// Waits for `ids` (at most `timeout`, when given), sending progress
    /// notifications when the client asked for them; cancels the jobs if
    /// `cancel_on_abort` and the client cancelled the request (not when it
    /// closed the session: its jobs go on). Between events it
    /// sleeps: only a status change, agent activity (with a progress token),
    /// a due notification or the deadline wakes it.
    pub(super) async fn wait_with_progress(
        &self,
        ids: &[String],
        timeout: Option<Duration>,
        context: &RequestContext<RoleServer>,
        cancel_on_abort: bool,
    ) -> Result<Vec<JobRecord>, EngineError> {
        let token: Option<ProgressToken> = context.meta.get_progress_token();
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        let mut changes = self.engine.subscribe();
        let mut activity = self.engine.subscribe_activity();
        let mut step = 0.0;
        let (mut last_status, mut last_message) = (String::new(), String::new());
        let mut last_sent = tokio::time::Instant::now();
        loop {
            let mut records = Vec::with_capacity(ids.len());
            for id in ids {
                records.push(self.status(id).await?);
            }
            if records.iter().all(|r| r.status.is_terminal())
                || deadline.is_some_and(|d| tokio::time::Instant::now() >= d)
            {
                return Ok(records);
            }
            // Status changes are reported at once; agent activity at most
            // every ACTIVITY_GAP; something at least every PROGRESS_EVERY.
            let (mut activity_due, mut heartbeat_due) = (None, None);
            if let Some(token) = &token {
                let status = self.progress_message(&records);
                let message = match self.activity_count(&records) {
                    0 => status.clone(),
                    events => format!("{status}; {events} agent events"),
                };
                let now = tokio::time::Instant::now();
                let heartbeat = now >= last_sent + PROGRESS_EVERY;
                let activity_ready = message != last_message && now >= last_sent + ACTIVITY_GAP;
                if step == 0.0 || status != last_status || activity_ready || heartbeat {
                    step += 1.0;
                    let param = ProgressNotificationParam::new(token.clone(), step).with_message(message.clone());
                    let _ = context.peer.notify_progress(param).await;
                    (last_status, last_message, last_sent) = (status, message, now);
                } else if message != last_message {
                    activity_due = Some(last_sent + ACTIVITY_GAP);
                }
                heartbeat_due = Some(last_sent + PROGRESS_EVERY);
            }
            let at = |due: Option<tokio::time::Instant>| tokio::time::sleep_until(due.unwrap_or_else(far_future));
            tokio::select! {
                _ = changes.changed() => {}
                _ = activity.changed(), if token.is_some() && activity_due.is_none() => {}
                () = at(activity_due), if activity_due.is_some() => {}
                () = at(heartbeat_due), if heartbeat_due.is_some() => {}
                () = at(deadline), if deadline.is_some() => {}
                () = context.ct.cancelled() => {
                    if cancel_on_abort && !self.closed.is_cancelled() {
                        for id in ids {
                            let _ = self.cancel(id).await;
                        }
                    }
                    return Ok(records);
                }
            }
        }
    }

    /// Agent activity in a single running job (none is counted for a set).
    fn activity_count(&self, records: &[JobRecord]) -> u32 {
        match records {
            [record] if record.status == JobStatus::Running => self.engine.activity(&record.job_id),
            _ => 0,
        }
    }

    /// Submits `spec` and waits for it to finish, with progress; cancelling
    /// the request cancels the job.
    pub(super) async fn run_to_end(
        &self,
        spec: JobSpec,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let id = match self.submit(spec).await {
            Ok(queued) => queued.job_id,
            Err(message) => return failed(message),
        };
        match self.wait_with_progress(&[id], None, context, true).await {
            Ok(mut records) => {
                let record = records.remove(0);
                ok(summary(&record), &record)
            }
            Err(err) => failed(err),
        }
    }

    /// One line on where `records` stand, e.g. `queued, position 3 — slot 0: 5 of 5 running`.
    pub(super) fn progress_message(&self, records: &[JobRecord]) -> String {
        if let [record] = records {
            return match record.status {
                JobStatus::Queued => {
                    let position = self.engine.queue_position(&record.job_id);
                    let mut message = position.map_or("queued".into(), |p| format!("queued, position {p}"));
                    if let Some(why) = &record.waiting_for {
                        message.push_str(" — ");
                        message.push_str(why);
                    }
                    message
                }
                JobStatus::Waiting => {
                    format!("waiting — {}", record.waiting_for.as_deref().unwrap_or("for the jobs it runs after"))
                }
                JobStatus::Running => format!("running, attempt {}", record.attempts),
                JobStatus::RetryWait => format!("attempt {} failed; retry scheduled", record.attempts),
                status => status.as_str().to_string(),
            };
        }
        let done = records.iter().filter(|r| r.status.is_terminal()).count();
        let running = records.iter().filter(|r| r.status == JobStatus::Running).count();
        format!("{done} of {} finished, {running} running", records.len())
    }
}
