//! What extension points see and answer, as the host's own plain types.
//! They mirror the WIT records of the contract (`wit/types.wit`, whose
//! comments say what each field means); `plugin::wit` converts.

/// A job as policies and hook handlers see it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobInfo {
    pub id: String,
    /// The first 200 characters of the prompt.
    pub prompt_preview: String,
    pub prompt_bytes: u32,
    pub agent: String,
    pub model: Option<String>,
    pub priority: i32,
    pub tags: Vec<String>,
    pub depth: u32,
    pub root_id: String,
    pub parent_id: Option<String>,
    /// 1-based: the attempt about to run, or that ran.
    pub attempt: u32,
    pub submitted_at_ms: u64,
}

// -- scheduler ---------------------------------------------------------------

/// A queued job offered to the scheduler.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub job: JobInfo,
    pub rank: i64,
    pub waited_ms: u64,
}

/// A token slot as the scheduler sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlotLoad {
    pub index: u32,
    pub running: u32,
    /// How many more jobs may start on it now.
    pub free: u32,
    pub cooling_until_ms: Option<u64>,
    pub recent_started: u32,
    pub recent_failed: u32,
    pub recent_rate_limited: u32,
}

impl SlotLoad {
    /// A slot with nothing running and no history.
    pub fn idle(index: u32, free: u32) -> SlotLoad {
        SlotLoad {
            index,
            running: 0,
            free,
            cooling_until_ms: None,
            recent_started: 0,
            recent_failed: 0,
            recent_rate_limited: 0,
        }
    }
}

/// Jobs running in one job tree.
#[derive(Debug, Clone, PartialEq)]
pub struct RootLoad {
    pub root_id: String,
    pub running: u32,
}

/// One scheduling round.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleInput {
    /// Best-ranked first.
    pub candidates: Vec<Candidate>,
    pub slots: Vec<SlotLoad>,
    /// Jobs that may start in this round at most.
    pub capacity: u32,
    pub roots: Vec<RootLoad>,
    pub queued_total: u32,
    pub now_ms: u64,
}

/// Start this job on this slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub job_id: String,
    pub slot: u32,
}

// -- timeout estimator -------------------------------------------------------

/// Durations of finished jobs of one kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct History {
    pub count: u32,
    pub p50_ms: u64,
    pub p95_ms: u64,
    pub timeout_rate: f32,
}

/// What past jobs like this one took.
#[derive(Debug, Clone, PartialEq)]
pub struct SimilarJobs {
    pub by_tag: Vec<(String, History)>,
    pub by_agent: History,
    pub by_model: History,
    pub by_prompt_size: History,
    pub overall: History,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub hard_ms: u64,
    pub idle_ms: u64,
}

// -- retry policy ------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    Timeout,
    IdleTimeout,
    RateLimited,
    AgentError,
    Crashed,
    CouldNotStart,
    Interrupted,
}

/// How an attempt failed.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub kind: FailureKind,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub stderr_tail: String,
    pub message: String,
    pub has_session: bool,
    pub rate_limit_resets_at_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    pub delay_ms: u64,
    pub resume_session: bool,
    pub priority: Option<i32>,
    pub timeout_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Retry(Retry),
    GiveUp(String),
}

// -- hook handler ------------------------------------------------------------

/// An event as a hook plugin is handed it.
#[derive(Debug, Clone, PartialEq)]
pub struct HookCall {
    pub name: String,
    pub payload_json: String,
    pub job: Option<JobInfo>,
}

/// What a hook plugin may say about an event (no say: `None` in
/// [`HookResponse::permission`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookPermission {
    Allow,
    Ask,
    Deny,
}

impl HookPermission {
    pub fn as_str(self) -> &'static str {
        match self {
            HookPermission::Allow => "allow",
            HookPermission::Ask => "ask",
            HookPermission::Deny => "deny",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookResponse {
    pub permission: Option<HookPermission>,
    pub reason: Option<String>,
    pub updated_input_json: Option<String>,
    pub additional_context: Option<String>,
}

// -- commands ----------------------------------------------------------------

/// A command a plugin offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginCommand {
    pub name: String,
    pub description: String,
    pub argument_hint: Option<String>,
}

/// How a plugin command's job runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobOptions {
    pub agent: Option<String>,
    pub model: Option<String>,
    pub priority: Option<i32>,
    pub tags: Vec<String>,
    pub timeout_ms: Option<u64>,
    pub max_retries: Option<u32>,
    pub allowed_tools: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRequest {
    pub prompt: String,
    pub options: JobOptions,
}

/// What running a plugin command gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandOutcome {
    /// Text for the caller.
    Text(String),
    /// A job to submit.
    Submit(JobRequest),
}

// -- host --------------------------------------------------------------------

/// The level of a plugin's log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}
