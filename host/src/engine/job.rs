//! Jobs as the engine's callers see them: what is submitted ([`JobSpec`]) and
//! what is reported ([`JobRecord`]). Plain data, serialisable, no secrets.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A job to run, as submitted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobSpec {
    pub prompt: String,
    /// Working directory of the agent; default: the engine's project directory.
    pub cwd: Option<PathBuf>,
    /// Agent profile name; default: the configured default agent.
    pub agent: Option<String>,
    pub model: Option<String>,
    /// Higher starts earlier. Default 0.
    pub priority: i32,
    pub tags: Vec<String>,
    /// Hard timeout for each attempt, overriding the estimator.
    pub timeout_s: Option<u64>,
    /// Retries after the first attempt; default from the configuration.
    pub max_retries: Option<u32>,
    /// Agent session to resume on the first attempt.
    pub resume_session: Option<String>,
    pub max_turns: Option<u32>,
    pub allowed_tools: Vec<String>,
    /// Extra environment for the agent.
    pub env: BTreeMap<String, String>,
    /// The job this one was spawned from, for jobs submitted by jobs.
    pub parent_job_id: Option<String>,
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
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

    pub fn as_str(self) -> &'static str {
        match self {
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

/// One attempt of a job, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub attempt: u32,
    pub started_at_ms: u64,
    pub finished_at_ms: Option<u64>,
    /// `succeeded`, `agent_error`, `rate_limited`, `timed_out`, `idle_timed_out`,
    /// `crashed`, `could_not_start`, `cancelled` or `interrupted`.
    pub outcome: Option<String>,
    pub message: Option<String>,
    pub exit_code: Option<i32>,
    pub session_id: Option<String>,
    pub token_slot: Option<u32>,
    pub cost_usd: Option<f64>,
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
    pub root_job_id: String,
    /// Attempts started so far.
    pub attempts: u32,
    pub max_retries: u32,
    pub created_at_ms: u64,
    pub started_at_ms: Option<u64>,
    pub finished_at_ms: Option<u64>,
    /// When a job in `retry_wait` is queued again.
    pub retry_at_ms: Option<u64>,
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
}

/// The first `max` characters of `text`.
pub fn preview(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
