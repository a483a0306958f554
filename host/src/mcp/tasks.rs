//! `job_run` as an MCP task (the `io.modelcontextprotocol/tasks` extension),
//! for clients that declare it: the call returns at once with a task whose
//! id is the job's id; `tasks/get` reports the job, with `job_run`'s result
//! once it has finished; `tasks/cancel` cancels the job. The task is the job,
//! so it survives a restart of ringmaster like any job. Clients without the
//! extension (Claude Code among them) get the ordinary blocking `job_run`.

use crate::job::{JobRecord, JobStatus};
use rmcp::model::{CallToolResult, DetailedTask, Task, TaskPayload, TaskStatus};
use std::time::{Duration, UNIX_EPOCH};

/// How often clients are asked to poll.
const POLL_INTERVAL_MS: u64 = 1_000;

fn timestamp(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// The task a job is, as created or as it stands.
pub fn task(record: &JobRecord, status: TaskStatus, message: String) -> Task {
    let updated = record.finished_at_ms.or(record.started_at_ms).unwrap_or(record.created_at_ms);
    Task::new(&record.job_id, status, timestamp(record.created_at_ms), timestamp(updated))
        .with_status_message(message)
        .with_poll_interval_ms(POLL_INTERVAL_MS)
}

/// The task with its payload: `result` is what `job_run` returns for the
/// finished job.
pub fn detailed(record: &JobRecord, message: String, result: impl FnOnce() -> CallToolResult) -> DetailedTask {
    let payload = match record.status {
        JobStatus::Cancelled => TaskPayload::Cancelled,
        status if status.is_terminal() => match serde_json::to_value(result()) {
            Ok(serde_json::Value::Object(result)) => TaskPayload::Completed { result },
            _ => unreachable!("tool results serialise to objects"),
        },
        _ => TaskPayload::Working,
    };
    DetailedTask::new(task(record, payload.status(), message), payload)
}
