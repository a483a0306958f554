//! Schedules: `schedule_create`, `schedule_list`, `schedule_delete`,
//! `schedule_pause`, `schedule_resume` (see [`crate::schedule`]).

use crate::mcp::args::{ScheduleArgs, ScheduleIdArgs};
use crate::mcp::server::{Ringmaster, failed, ok};
use crate::schedule::Schedule;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{ErrorData, tool, tool_router};

fn line(schedule: &Schedule) -> String {
    let state = match (schedule.paused, schedule.next_at_ms) {
        (true, _) => "paused".to_string(),
        (false, Some(at)) => format!("next run at {at} (Unix ms)"),
        (false, None) => "no run to come".to_string(),
    };
    format!("schedule {} ({} {}): {state}", schedule.schedule_id, schedule.cron, schedule.timezone)
}

#[tool_router(router = schedule_tools, vis = "pub(super)")]
impl Ringmaster {
    #[tool(description = "Run a job on a schedule: `cron` (five fields, e.g. `0 2 * * *`, or six with seconds \
                          first) read in `timezone` (IANA, default UTC), submitting `job` (as job_submit takes it) \
                          each time it comes round, tagged schedule:ID. Stored: it fires while the engine runs, and \
                          occurrences missed while it was down are caught up once. Returns the schedule with \
                          next_at_ms.")]
    async fn schedule_create(&self, Parameters(args): Parameters<ScheduleArgs>) -> Result<CallToolResult, ErrorData> {
        match self.create_schedule(args).await {
            Ok(schedule) => ok(line(&schedule), &schedule),
            Err(err) => failed(err),
        }
    }

    #[tool(description = "The schedules: cron, timezone, job, paused, last run (last_fired_ms, last_job_id, \
                          last_error) and next_at_ms.")]
    async fn schedule_list(&self) -> Result<CallToolResult, ErrorData> {
        let schedules = self.engine.schedules();
        let text = match schedules.is_empty() {
            true => "no schedules".to_string(),
            false => schedules.iter().map(line).collect::<Vec<_>>().join("\n"),
        };
        ok(text, serde_json::json!({ "schedules": schedules }))
    }

    #[tool(description = "Delete a schedule; the jobs it ran stay. Returns it as it was.")]
    async fn schedule_delete(&self, Parameters(args): Parameters<ScheduleIdArgs>) -> Result<CallToolResult, ErrorData> {
        match self.change_schedule(&args.schedule_id, None).await {
            Ok(schedule) => ok(format!("deleted {}", line(&schedule)), &schedule),
            Err(err) => failed(err),
        }
    }

    #[tool(description = "Pause a schedule: it submits nothing until schedule_resume.")]
    async fn schedule_pause(&self, Parameters(args): Parameters<ScheduleIdArgs>) -> Result<CallToolResult, ErrorData> {
        match self.change_schedule(&args.schedule_id, Some(true)).await {
            Ok(schedule) => ok(line(&schedule), &schedule),
            Err(err) => failed(err),
        }
    }

    #[tool(description = "Resume a paused schedule: it fires at its next occurrence (what came round while it was \
                          paused is not caught up).")]
    async fn schedule_resume(&self, Parameters(args): Parameters<ScheduleIdArgs>) -> Result<CallToolResult, ErrorData> {
        match self.change_schedule(&args.schedule_id, Some(false)).await {
            Ok(schedule) => ok(line(&schedule), &schedule),
            Err(err) => failed(err),
        }
    }
}
