//! The tools' arguments: what a client may send, with the schema it is shown
//! (`deny_unknown_fields`, so a misspelt field is an error, not ignored).
//! [`SubmitArgs`] is also what `ringmaster job submit|run` takes: one shape,
//! one conversion to a [`JobSpec`], documented once for both.

use crate::job::workspace::Isolation;
use crate::job::{After, JobSpec};
use schemars::JsonSchema;
use serde::Deserialize;
use std::path::PathBuf;

/// A job to submit.
#[derive(Debug, Clone, Deserialize, JsonSchema, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct SubmitArgs {
    /// What the agent should do. Passed to the agent on its stdin, never through a shell.
    pub prompt: String,
    /// Working directory of the agent (default: the project directory).
    #[arg(long)]
    pub cwd: Option<String>,
    /// Agent profile from ringmaster.yaml (default: `claude`).
    #[arg(long)]
    pub agent: Option<String>,
    /// Model for the agent, e.g. `sonnet`.
    #[arg(long)]
    pub model: Option<String>,
    /// Higher starts earlier; default 0.
    #[arg(long)]
    pub priority: Option<i32>,
    /// Labels for filtering and statistics.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Option<Vec<String>>,
    /// Hard timeout per attempt, in seconds (default: estimated from similar past jobs).
    #[schemars(range(min = 1, max = 86400))]
    #[arg(long)]
    pub timeout_s: Option<u64>,
    /// Retries after a failed first attempt (default from ringmaster.yaml, 2).
    #[schemars(range(max = 100))]
    #[arg(long)]
    pub max_retries: Option<u32>,
    /// Agent session id to continue (`--resume`).
    #[arg(long)]
    pub resume_session: Option<String>,
    /// Turn limit for the agent.
    #[schemars(range(min = 1, max = 10000))]
    #[arg(long)]
    pub max_turns: Option<u32>,
    /// Tools the agent may use, e.g. `["Read", "Bash(git diff:*)"]`.
    #[arg(long = "allowed-tool", value_name = "TOOL")]
    pub allowed_tools: Option<Vec<String>>,
    /// A key of yours for this submission: submitting again with the key of
    /// a job the engine still has (not yet pruned) returns that job instead
    /// of starting another, so a retried submission runs once.
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// Jobs to run after: it waits (`waiting`) until they have all ended, and
    /// runs if they all succeeded. Job ids; in `job_batch` also the index of
    /// an earlier entry (0-based). The prompt may quote them:
    /// `{{after.N.result}}` (also `.error`, `.status`, `.job_id`) is replaced
    /// by that of the Nth job of this list.
    #[arg(long = "after", value_name = "JOB_ID")]
    pub after: Option<Vec<After>>,
    /// Run after the `after` jobs whatever they end with (default: only if all succeed).
    #[serde(default)]
    #[arg(long)]
    pub after_any_outcome: bool,
    /// Dollars this job and every job it spawns may spend together; once spent, the
    /// tree's jobs wait instead of starting.
    #[arg(long)]
    pub budget_usd: Option<f64>,
    /// `worktree`: the agent works in a git worktree of its own, on a new branch
    /// `ringmaster/<id>-<slug>` from `base`, leaving the project untouched; review
    /// with job_diff, then job_merge or job_discard. `none`: in the project as it is.
    /// Default: the agent profile's (`none`); a sub-job works in its parent's worktree.
    #[arg(long, value_parser = parse_isolation)]
    pub isolation: Option<Isolation>,
    /// The commit or branch a worktree starts from (default: the project's HEAD).
    #[arg(long)]
    pub base: Option<String>,
    /// Record the project's files (tracked and untracked) before and after the job,
    /// for job_diff and checkpoint_restore (jobs without isolation; needs git).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub checkpoint: Option<bool>,
}

fn parse_isolation(text: &str) -> Result<Isolation, String> {
    match text {
        "none" => Ok(Isolation::None),
        "worktree" => Ok(Isolation::Worktree),
        _ => Err(format!("{text:?}: use none or worktree")),
    }
}

impl SubmitArgs {
    pub fn into_spec(self) -> JobSpec {
        JobSpec {
            prompt: self.prompt,
            cwd: self.cwd.map(PathBuf::from),
            agent: self.agent,
            model: self.model,
            priority: self.priority.unwrap_or(0),
            tags: self.tags.unwrap_or_default(),
            timeout_s: self.timeout_s,
            max_retries: self.max_retries,
            resume_session: self.resume_session,
            max_turns: self.max_turns,
            allowed_tools: self.allowed_tools.unwrap_or_default(),
            env: Default::default(),
            parent_job_id: None,
            client: None,
            idempotency_key: self.idempotency_key,
            after: self.after.unwrap_or_default(),
            after_any_outcome: self.after_any_outcome,
            budget_usd: self.budget_usd,
            isolation: self.isolation,
            base: self.base,
            checkpoint: self.checkpoint,
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchArgs {
    /// The jobs, each with the same fields as job_submit; `after` may also
    /// name earlier entries of the batch by index (0-based).
    pub jobs: Vec<SubmitArgs>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryArgs {
    /// A failed, timed-out or cancelled job.
    pub job_id: String,
    /// Continue the agent session its last attempt left (default: a fresh session).
    #[serde(default)]
    pub resume_session: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseArgs {
    /// Only jobs with this tag (default: the whole queue).
    pub tag: Option<String>,
}

/// A schedule to create (`schedule_create`, `ringmaster schedule create`).
#[derive(Debug, Clone, Deserialize, JsonSchema, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct ScheduleArgs {
    /// When to run: cron's five fields (minute hour day-of-month month day-of-week), e.g.
    /// `0 2 * * *` for 2:00 every day, or six with seconds first.
    #[arg(long)]
    pub cron: String,
    /// IANA time zone the pattern is read in, e.g. `Europe/Berlin` (default `UTC`).
    #[arg(long)]
    pub timezone: Option<String>,
    /// A name for it (letters, digits, `-`, `_`, `.`); default: a short id.
    #[arg(long)]
    pub name: Option<String>,
    /// The job each run submits, as job_submit takes it (without `after` and `idempotency_key`).
    #[arg(skip)]
    #[serde(default)]
    pub job: Option<SubmitArgs>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleIdArgs {
    /// The schedule's id (its name), as schedule_create returned it.
    pub schedule_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobIdArgs {
    /// The job's id, as returned by job_submit.
    pub job_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitArgs {
    /// The jobs to wait for.
    pub job_ids: Vec<String>,
    /// Longest wait in seconds (default 60, at most 90). Returns earlier when all are finished.
    pub timeout_s: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutputArgs {
    pub job_id: String,
    /// First transcript line to return (0-based; default 0).
    pub offset: Option<usize>,
    /// Lines to return (default 100, at most 1000).
    pub limit: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    /// Only jobs with this status: waiting, queued, running, retry_wait, succeeded, failed, timed_out, cancelled.
    pub status: Option<String>,
    /// Only jobs with this tag.
    pub tag: Option<String>,
    /// Most records to return, newest first (default 50, at most 500).
    pub limit: Option<usize>,
    /// Only the jobs this session submitted.
    pub mine: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandRunArgs {
    /// The command's name, as command_list shows it (a leading `/` is fine).
    pub name: String,
    /// The argument string, as typed after the command; split with shell-style quoting.
    pub arguments: Option<String>,
    /// Wait for the job to finish and return its record (default: return the job id at once).
    pub wait: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiffArgs {
    /// A job run with isolation: worktree (or checkpoint: true).
    pub job_id: String,
    /// Only this file or directory, relative to the repository's top.
    pub path: Option<String>,
    /// Lines of context around each change (default 3).
    #[schemars(range(max = 1000))]
    pub context: Option<u32>,
    /// Byte of the whole diff to start at: the next_offset of the previous page (default 0).
    #[serde(default)]
    pub offset: u64,
    /// Bytes in the page (default 65536, at most 1048576).
    #[schemars(range(min = 1, max = 1048576))]
    pub max_bytes: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeArgs {
    /// A finished job run with isolation: worktree.
    pub job_id: String,
    /// `merge` (a merge commit, default), `squash` (one commit) or `rebase` (its commits replayed on top).
    #[serde(default)]
    pub strategy: crate::job::workspace::MergeStrategy,
    /// The project's branch to merge into (default: its current branch).
    pub into: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreArgs {
    /// A finished job run with checkpoint: true.
    pub job_id: String,
    /// `before` (undo the job) or `after` (its result again).
    pub which: crate::job::workspace::Which,
    /// Restore even though the files changed since the job's checkpoints (those changes are lost).
    #[serde(default)]
    pub force: bool,
}
