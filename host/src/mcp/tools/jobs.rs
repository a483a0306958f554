//! The job tools: submit (one, a batch, or run to the end), status, wait,
//! result, transcript, list, cancel.

use crate::job::{JobFilter, JobStatus};
use crate::mcp::args::{BatchArgs, JobIdArgs, ListArgs, OutputArgs, RetryArgs, SubmitArgs, WaitArgs};
use crate::mcp::server::{Ringmaster, failed, ok, summary};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, tool, tool_router};
use serde_json::{Value, json};
use std::time::Duration;

/// Longest a `job_wait` may wait: well under the two minutes after which
/// Claude Code moves a tool call to the background.
const MAX_WAIT_S: u64 = 90;
const DEFAULT_WAIT_S: u64 = 60;

#[tool_router(router = job_tools, vis = "pub(super)")]
impl Ringmaster {
    /// Queue a job for an agent; returns at once with its id.
    #[tool(description = "Queue a job for a coding agent (claude -p) and return at once with its job_id, status, \
                          queue_position and estimated_start_s (seconds until it may start, from the queue ahead \
                          and how long jobs have been taking; null before any finished). Jobs over a concurrency \
                          limit wait; they are never rejected for it. With `after`, it waits (status waiting) until \
                          those jobs have ended and runs if they succeeded; its prompt may quote their results as \
                          {{after.0.result}}.")]
    async fn job_submit(&self, Parameters(args): Parameters<SubmitArgs>) -> Result<CallToolResult, ErrorData> {
        match self.submit(args.into_spec()).await {
            Ok(queued) => ok(format!("queued job {}", queued.job_id), queued),
            Err(message) => failed(message),
        }
    }

    #[tool(description = "Queue several jobs at once; returns their job_ids in order. Stops at the first job that \
                          is refused and says which. An entry's `after` may name earlier entries by index (0-based), \
                          so a whole pipeline is one call.")]
    async fn job_submit_batch(&self, Parameters(args): Parameters<BatchArgs>) -> Result<CallToolResult, ErrorData> {
        let mut specs = Vec::with_capacity(args.jobs.len());
        for (index, job) in args.jobs.into_iter().enumerate() {
            let spec = job.into_spec();
            if let Err(err) = self.check_after(&spec).await {
                return failed(format!("job {index} of the batch was refused: {err}; no job was queued"));
            }
            specs.push(self.stamped(spec));
        }
        let (queued, refused) = self.engine.submit_all(specs).await;
        let ids: Vec<&str> = queued.iter().map(|record| record.job_id.as_str()).collect();
        match refused {
            Some(err) => failed(format!("job {} of the batch was refused: {err}; jobs {ids:?} were queued", ids.len())),
            None => ok(format!("queued {} jobs", ids.len()), json!({ "job_ids": ids })),
        }
    }

    #[tool(description = "Run a job and wait for it to finish; returns its record. Sends progress notifications \
                          while it waits; cancelling the request cancels the job.")]
    async fn job_run(
        &self,
        Parameters(args): Parameters<SubmitArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.run_to_end(args.into_spec(), &context).await
    }

    #[tool(description = "The record of a job: status, attempts, timings, result, error, cost, usage.")]
    async fn job_status(&self, Parameters(args): Parameters<JobIdArgs>) -> Result<CallToolResult, ErrorData> {
        match self.status(&args.job_id).await {
            Ok(record) => ok(summary(&record), &record),
            Err(err) => failed(err),
        }
    }

    #[tool(description = "Wait until all the given jobs have finished (or timeout_s, default 60, at most 90) and \
                          return their records. Sends progress notifications while it waits.")]
    async fn job_wait(
        &self,
        Parameters(args): Parameters<WaitArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        if args.job_ids.is_empty() {
            return failed("job_ids is empty: pass the ids returned by job_submit");
        }
        let timeout = Duration::from_secs(args.timeout_s.unwrap_or(DEFAULT_WAIT_S).min(MAX_WAIT_S));
        match self.wait_with_progress(&args.job_ids, Some(timeout), &context, false).await {
            Ok(records) => {
                let done = records.iter().filter(|r| r.status.is_terminal()).count();
                let text = format!("{done} of {} jobs finished", records.len());
                ok(text, json!({ "jobs": records }))
            }
            Err(err) => failed(err),
        }
    }

    #[tool(description = "The final result text of a finished job, with its record.")]
    async fn job_result(&self, Parameters(args): Parameters<JobIdArgs>) -> Result<CallToolResult, ErrorData> {
        match self.status(&args.job_id).await {
            Ok(record) if !record.status.is_terminal() => failed(format!(
                "job {} has not finished (it is {}); use job_wait to wait for it",
                record.job_id,
                record.status.as_str()
            )),
            Ok(record) => {
                let text = record.result.clone().or_else(|| record.error.clone()).unwrap_or_default();
                ok(text.clone(), json!({ "result": text, "record": &record }))
            }
            Err(err) => failed(err),
        }
    }

    #[tool(description = "A page of a job's transcript: the agent's stream-json events, oldest first.")]
    async fn job_output(&self, Parameters(args): Parameters<OutputArgs>) -> Result<CallToolResult, ErrorData> {
        if let Err(err) = self.status(&args.job_id).await {
            return failed(err);
        }
        let offset = args.offset.unwrap_or(0);
        let limit = args.limit.unwrap_or(100).min(1000);
        match self.transcript(&args.job_id, offset, limit).await {
            Ok(lines) => {
                let events: Vec<Value> = lines
                    .iter()
                    .map(|(attempt, line)| {
                        let event = serde_json::from_str(line).unwrap_or_else(|_| Value::String(line.clone()));
                        json!({ "attempt": attempt, "event": event })
                    })
                    .collect();
                let next = (events.len() == limit).then_some(offset + limit);
                ok(format!("{} transcript events", events.len()), json!({ "events": events, "next_offset": next }))
            }
            Err(err) => failed(err),
        }
    }

    #[tool(description = "Job records, newest first, optionally filtered by status or tag, or to this session's own \
                          (`mine`). Every session of the project shares one queue.")]
    async fn job_list(&self, Parameters(args): Parameters<ListArgs>) -> Result<CallToolResult, ErrorData> {
        let status = match args.status.as_deref().map(JobStatus::parse).transpose() {
            Ok(status) => status,
            Err(message) => return failed(message),
        };
        let limit = args.limit.unwrap_or(50).min(500);
        let client = args.mine.unwrap_or(false).then(|| self.client_label());
        match self.list(&JobFilter { status, tag: args.tag, client }, limit) {
            Ok(records) => ok(format!("{} jobs", records.len()), json!({ "jobs": records })),
            Err(err) => failed(err),
        }
    }

    #[tool(description = "Queue a failed, timed-out or cancelled job again as the same job: its history, cost and \
                          attempt count carry on; with resume_session its next attempt continues the agent \
                          session the last one left. Returns its record (queued).")]
    async fn job_retry(&self, Parameters(args): Parameters<RetryArgs>) -> Result<CallToolResult, ErrorData> {
        match self.retry(&args.job_id, args.resume_session).await {
            Ok(record) => ok(summary(&record), &record),
            Err(err) => failed(err),
        }
    }

    #[tool(description = "Cancel a queued, waiting or running job (a running agent is stopped), and the waiting \
                          jobs that would never run without it (those that run after it, unless after any \
                          outcome); returns its record, with the ids of those in cancelled_dependants.")]
    async fn job_cancel(&self, Parameters(args): Parameters<JobIdArgs>) -> Result<CallToolResult, ErrorData> {
        match self.cancel(&args.job_id).await {
            Ok(cancelled) => {
                let mut text = summary(&cancelled.record);
                if !cancelled.cancelled_dependants.is_empty() {
                    let ids = cancelled.cancelled_dependants.join(", ");
                    text.push_str(&format!("; also cancelled the jobs waiting to run after it: {ids}"));
                }
                ok(text, &cancelled)
            }
            Err(err) => failed(err),
        }
    }
}
