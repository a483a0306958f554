//! What is reported: a job's [`JobRecord`] with its [`JobStatus`] and the
//! history of its attempts.

use super::workspace::{Checkpoints, Workspace};
use serde::{Deserialize, Serialize};

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for the jobs it runs after to end.
    Waiting,
    Queued,
    Running,
    RetryWait,
    Succeeded,
    Failed,
    TimedOut,
    Cancelled,
}

impl JobStatus {
    pub fn is_terminal(self) -> bool {
        matches!(self, JobStatus::Succeeded | JobStatus::Failed | JobStatus::TimedOut | JobStatus::Cancelled)
    }

    pub const ALL: [JobStatus; 8] = [
        JobStatus::Waiting,
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::RetryWait,
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::TimedOut,
        JobStatus::Cancelled,
    ];

    /// The status named `text` (as [`JobStatus::as_str`] names it); an
    /// error lists the names.
    pub fn parse(text: &str) -> Result<JobStatus, String> {
        JobStatus::ALL.into_iter().find(|s| s.as_str() == text).ok_or_else(|| {
            let names: Vec<&str> = JobStatus::ALL.iter().map(|s| s.as_str()).collect();
            format!("unknown status {text:?}; use one of {}", names.join(", "))
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Waiting => "waiting",
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::RetryWait => "retry_wait",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::TimedOut => "timed_out",
            JobStatus::Cancelled => "cancelled",
        }
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Which jobs a listing shows; the default shows all.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobFilter {
    pub status: Option<JobStatus>,
    /// Only jobs carrying this tag.
    pub tag: Option<String>,
    /// Only jobs submitted by this client (see [`JobRecord::client`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}

impl JobFilter {
    /// Whether `record` passes (as the store's query decides for what it lists).
    pub fn matches(&self, record: &JobRecord) -> bool {
        self.status.is_none_or(|status| record.status == status)
            && self.tag.as_ref().is_none_or(|tag| record.tags.contains(tag))
            && self.client.as_ref().is_none_or(|client| record.client.as_ref() == Some(client))
    }
}

/// How an attempt ended, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    Succeeded,
    /// The agent ran and reported an error result.
    AgentError,
    /// The agent reported a rejected rate limit (or a 429) and failed.
    RateLimited,
    /// Killed at the hard timeout.
    TimedOut,
    /// Killed after no output for the idle timeout.
    IdleTimedOut,
    /// Exited without a result line, or was killed by a signal it did not get from us.
    Crashed,
    /// Never ran: the binary or the working directory was unusable.
    CouldNotStart,
    /// Stopped because the job was cancelled.
    Cancelled,
    /// The engine stopped (or died) while it ran; found at the next start.
    Interrupted,
}

impl AttemptOutcome {
    /// Ended by a timeout, hard or idle.
    pub fn is_timeout(self) -> bool {
        matches!(self, AttemptOutcome::TimedOut | AttemptOutcome::IdleTimedOut)
    }
}

/// One attempt of a job, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub attempt: u32,
    pub started_at_ms: u64,
    pub finished_at_ms: Option<u64>,
    pub outcome: Option<AttemptOutcome>,
    pub message: Option<String>,
    pub exit_code: Option<i32>,
    pub session_id: Option<String>,
    pub token_slot: Option<u32>,
    pub cost_usd: Option<f64>,
    /// Tokens the agent reported using (input, output and cache).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
}

/// A job's state as reported to callers. Times are Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub job_id: String,
    pub status: JobStatus,
    /// The first 200 characters of the prompt.
    pub prompt: String,
    pub agent: String,
    pub model: Option<String>,
    pub priority: i32,
    pub tags: Vec<String>,
    pub depth: u32,
    pub parent_job_id: Option<String>,
    /// Who submitted it (see [`super::JobSpec::client`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// The key it was submitted with (see [`super::JobSpec::idempotency_key`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    pub root_job_id: String,
    /// The jobs it runs after (see [`super::after`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
    /// Whether it runs after them whatever they ended with.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub after_any_outcome: bool,
    /// Attempts started so far.
    pub attempts: u32,
    /// Attempts stopped by a usage limit with a reset time: the job was
    /// queued again, and they do not count against `max_retries`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limited_attempts: u32,
    pub max_retries: u32,
    pub created_at_ms: u64,
    pub started_at_ms: Option<u64>,
    pub finished_at_ms: Option<u64>,
    /// When a job in `retry_wait` is queued again.
    pub retry_at_ms: Option<u64>,
    /// Why a queued job is not running yet, e.g. "slot 0: 5 of 5 running";
    /// only while it is queued.
    #[serde(default)]
    pub waiting_for: Option<String>,
    /// Hard timeout of the current or last attempt.
    pub timeout_s: Option<u64>,
    /// Index of the token slot of the current or last attempt (never the token).
    pub token_slot: Option<u32>,
    pub session_id: Option<String>,
    /// The agent's final text, when it succeeded.
    pub result: Option<String>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    pub exit_code: Option<i32>,
    /// Total over all attempts.
    pub cost_usd: f64,
    /// Token usage of the last attempt, as the agent reported it.
    pub usage: Option<serde_json::Value>,
    /// Context attached by `PostJob` and `JobFailed` hooks.
    #[serde(default)]
    pub notes: Vec<String>,
    pub history: Vec<AttemptRecord>,
    /// Its git worktree, with `isolation: worktree`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<Workspace>,
    /// The project before and after it, with `checkpoint: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoints: Option<Checkpoints>,
}

#[cfg(test)]
impl JobRecord {
    /// A queued job of its own tree, with nothing else set (unit tests).
    pub(crate) fn for_tests(id: &str) -> JobRecord {
        serde_json::from_value(serde_json::json!({
            "job_id": id, "status": "queued", "prompt": "p", "agent": "claude", "model": null, "priority": 0,
            "tags": [], "depth": 0, "parent_job_id": null, "root_job_id": id, "attempts": 0,
            "max_retries": 0, "created_at_ms": 0, "started_at_ms": null, "finished_at_ms": null,
            "retry_at_ms": null, "timeout_s": null, "token_slot": null, "session_id": null, "result": null,
            "error": null, "exit_code": null, "cost_usd": 0.0, "usage": null, "history": []
        }))
        .expect("a valid record")
    }
}

/// What cancelling a job did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cancelled {
    /// The job's record, as it ended (or as it was, when it had ended before).
    #[serde(flatten)]
    pub record: JobRecord,
    /// Waiting jobs that needed it to succeed, cancelled with it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cancelled_dependants: Vec<String>,
}
