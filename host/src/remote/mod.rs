//! The root engine's local socket: how a `ringmaster` started inside a job
//! (the CLI `ringmaster job ...`, `ringmaster hook-relay`, `fake-claude
//! @spawn`) reaches the engine that runs the job, so every limit holds
//! across the whole job tree however many processes it spans.
//!
//! The engine listens on `STATE_DIR/engine.sock` (mode 0600 in a 0700
//! directory, and it checks every peer's uid: only its user gets in) and
//! hands every agent its path in `RINGMASTER_SOCKET`, with the job's id,
//! depth and root. The protocol is one JSON object per line each way: first
//! a [`Hello`] and its [`Welcome`], then requests, each a [`Request`] and its
//! [`Reply`].
//!
//! ```text
//! -> {"hello":{"protocol":1,"build":"0.1.0+1764501234"}}
//! <- {"protocol":1,"build":"0.1.0+1764501234","pid":4242,...}
//! -> {"op":"submit","spec":{"prompt":"fix the test","parent_job_id":"3f0c..."}}
//! <- {"ok":{"job_id":"9a1e...","status":"queued","depth":1,...}}
//! ```
//!
//! The hello and the welcome keep their shape across versions (fields are
//! only ever added), so any two builds can at least tell each other apart:
//! a client and an engine of different [`PROTOCOL`]s exchange nothing after
//! them, and the welcome says what to do.

pub mod client;
pub mod launch;
pub mod lock;
mod peer;
pub mod server;

use crate::engine::Wiring;
use crate::job::{JobFilter, JobSpec};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// The socket's file name in the state directory.
pub const SOCKET_NAME: &str = "engine.sock";

/// The version of the requests and replies after the handshake; bumped when
/// one changes in a way the other side would misread.
pub const PROTOCOL: u32 = 1;

/// This binary's build: its version and when it was built, so that a
/// rebuild of the same version is told apart (and is the newer one).
pub fn build_id() -> String {
    format!("{}+{}", env!("CARGO_PKG_VERSION"), env!("RINGMASTER_BUILT_AT"))
}

/// Whether build `a` is newer than build `b` (as [`build_id`] writes them).
pub fn is_newer(a: &str, b: &str) -> bool {
    fn parse(build: &str) -> (Vec<u64>, u64) {
        let (version, built_at) = build.split_once('+').unwrap_or((build, "0"));
        (version.split('.').map(|n| n.parse().unwrap_or(0)).collect(), built_at.parse().unwrap_or(0))
    }
    parse(a) > parse(b)
}

/// A client's first line: `{"hello": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HelloLine {
    pub hello: Hello,
}

/// Who is calling, and what it would have started an engine with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    pub protocol: u32,
    pub build: String,
    /// From a client that starts engines: when its build is newer than the
    /// engine's, the engine exits as soon as it has no unfinished job,
    /// however many clients it has (they reconnect to a new one).
    #[serde(default)]
    pub handover: bool,
    /// The settings this client would start an engine with, so the engine
    /// can say how its own differ.
    #[serde(default)]
    pub settings: Option<Settings>,
    /// The key of the job this client runs in (`RINGMASTER_JOB_TOKEN`):
    /// everything it asks is then done inside that job's tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_token: Option<JobKey>,
}

/// A job's key as a client presents it; never shown.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobKey(pub String);

impl std::fmt::Debug for JobKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Hello {
    /// This build's hello.
    pub fn new(settings: Option<Settings>) -> Hello {
        Hello { protocol: PROTOCOL, build: build_id(), handover: false, settings, job_token: None }
    }

    /// The hello of a process inside a job: with the job's key from the
    /// environment.
    pub fn inside_job() -> Hello {
        let job_token = std::env::var(crate::job::env::JOB_TOKEN).ok().filter(|k| !k.is_empty()).map(JobKey);
        Hello { job_token, ..Hello::new(None) }
    }

    /// The hello of a client that starts engines (see [`Hello::handover`]).
    pub fn taking_over(self) -> Hello {
        Hello { handover: true, ..self }
    }
}

/// The engine's answer to a hello.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    pub protocol: u32,
    pub build: String,
    pub pid: u32,
    /// Why the engine serves nothing more on this connection (it speaks
    /// another protocol), in words for the user: what to run.
    #[serde(default)]
    pub refused: Option<String>,
    /// How the engine's settings differ from those of the hello, one line
    /// each; the engine keeps its own.
    #[serde(default)]
    pub differs: Vec<String>,
}

/// What an engine is started with, beyond its state directory: what a
/// front-end compares with the running engine's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub project_dir: PathBuf,
    pub config_file: Option<PathBuf>,
    pub plugin_dirs: Vec<PathBuf>,
    pub command_dirs: Vec<PathBuf>,
    pub hook_dirs: Vec<PathBuf>,
}

impl Settings {
    /// One line per setting of `self` (the engine's) that `other` has otherwise.
    pub fn differences(&self, other: &Settings) -> Vec<String> {
        let show = |dirs: &[PathBuf]| dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ");
        let file = |f: &Option<PathBuf>| f.as_ref().map_or("none".to_string(), |f| f.display().to_string());
        let mut lines = Vec::new();
        let mut differ = |name: &str, ours: String, theirs: String| {
            if ours != theirs {
                lines.push(format!("{name}: the engine has [{ours}], this client asked for [{theirs}]"));
            }
        };
        differ("project directory", self.project_dir.display().to_string(), other.project_dir.display().to_string());
        differ("config file", file(&self.config_file), file(&other.config_file));
        differ("plugin directories", show(&self.plugin_dirs), show(&other.plugin_dirs));
        differ("command directories", show(&self.command_dirs), show(&other.command_dirs));
        differ("hook directories", show(&self.hook_dirs), show(&other.hook_dirs));
        lines
    }
}

/// The socket of the engine under `state_dir`.
pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join(SOCKET_NAME)
}

/// How agents started by the server at `socket` reach back to it: the
/// socket; with `relay_hooks`, a `--settings` whose tool hooks run
/// `ringmaster hook-relay`; and an `--mcp-config` naming `ringmaster serve`
/// (which, inside a job, serves the root engine's tools).
pub fn wiring(ringmaster: &Path, socket: &Path, relay_hooks: bool) -> Wiring {
    let exe = ringmaster.display().to_string();
    let quoted = shlex::try_quote(&exe).map_or_else(|_| exe.clone(), |q| q.into_owned());
    let relay = |event: &str| json!([{ "matcher": "*", "hooks": [{ "type": "command", "command": format!("{quoted} hook-relay {event}") }] }]);
    let settings = json!({ "hooks": {
        "PreToolUse": relay("PreToolUse"),
        "PostToolUse": relay("PostToolUse"),
        "Stop": relay("Stop"),
    }});
    let mcp = json!({ "mcpServers": { "ringmaster": { "command": exe, "args": ["serve"] } } });
    Wiring {
        socket: Some(socket.to_path_buf()),
        settings: relay_hooks.then(|| settings.to_string()),
        mcp_config: Some(mcp.to_string()),
    }
}

/// One request to the engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Queue a job; replies with its record.
    Submit { spec: Box<JobSpec> },
    /// A job's record.
    Status { job_id: String },
    /// Wait until the jobs finish or `timeout_ms` passes; replies with their records.
    Wait { job_ids: Vec<String>, timeout_ms: u64 },
    /// Cancel a job; replies with its record once it stopped.
    Cancel { job_id: String },
    /// Records, newest first.
    List {
        #[serde(flatten)]
        filter: JobFilter,
        limit: usize,
    },
    /// Run an event through the hook pipeline (from `hook-relay` inside an
    /// agent); replies with the combined verdict.
    Hook { event: String, job_id: Option<String>, payload: Map<String, Value> },
    /// Queue a failed, timed-out or cancelled job again; replies with its record.
    Retry { job_id: String, resume_session: bool },
    /// A page of the diff of what a job changed.
    Diff {
        job_id: String,
        #[serde(flatten)]
        request: crate::job::workspace::DiffRequest,
    },
    /// Merge a finished worktree job's branch into the project; replies with its record.
    Merge { job_id: String, strategy: crate::job::workspace::MergeStrategy, into: Option<String> },
    /// Remove a finished worktree job's worktree and branch; replies with its record.
    Discard { job_id: String },
    /// Restore the project's files to a job's checkpoint.
    Restore { job_id: String, which: crate::job::workspace::Which, force: bool },
    /// Pause (`paused`) or resume the queue, or the jobs with `tag`;
    /// replies with the pauses in force.
    Pause { tag: Option<String>, paused: bool },
    /// Create a schedule; replies with it.
    ScheduleCreate { name: Option<String>, cron: String, timezone: Option<String>, job: Box<JobSpec> },
    /// Every schedule.
    Schedules,
    /// Delete schedule `schedule_id` (`paused` none), or pause or resume it;
    /// replies with it.
    ScheduleChange { schedule_id: String, paused: Option<bool> },
    /// The engine process: pid, build, uptime, clients, jobs, settings.
    Engine,
    /// Stop the engine: at once (running agents are ended, their jobs
    /// recovered at the next start, as after a crash), or with `drain`
    /// after the running jobs end (no new starts meanwhile). Replies at once.
    Stop { drain: bool },
    /// Where plugin `name` stands in the engine; with `after_attempts`, once
    /// more than that many loads of it have ended (or `timeout_ms` passed).
    /// Replies with a [`PluginState`], or null for a plugin never seen.
    Plugin { name: String, after_attempts: Option<u64>, timeout_ms: u64 },
    /// Turn this connection into an MCP session served by the root, as the
    /// MCP server of job `job_id` (whose sub-jobs it submits). No reply line:
    /// MCP messages follow at once, both ways.
    Mcp { job_id: Option<String> },
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    Ok(Value),
    Error(String),
}

/// What `ringmaster engine status` shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineStatus {
    pub pid: u32,
    pub build: String,
    pub protocol: u32,
    pub uptime_s: u64,
    /// Connections open now (front-ends, CLI calls, hook relays).
    pub clients: usize,
    /// Jobs in the store by status.
    pub jobs: std::collections::BTreeMap<String, u64>,
    pub state_dir: PathBuf,
    pub settings: Settings,
    /// Seconds without clients or unfinished jobs before it exits (0: never).
    pub idle_exit_s: u64,
    /// Set when it is stopping: `draining` (no new starts) or `handing over`
    /// (exits once no job is left, for a newer build).
    pub stopping: Option<String>,
}

/// Where one plugin stands in the engine: what `ringmaster plugin dev`
/// reports after installing a build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginState {
    pub name: String,
    /// The build answering calls (`sha256:...`), if any.
    pub active_hash: Option<String>,
    pub version: Option<String>,
    /// Loads of the plugin's file that ended, either way.
    pub load_attempts: u64,
    /// Why the last load was rejected; none when it loaded.
    pub load_error: Option<String>,
}

impl From<crate::plugin::registry::PluginInfo> for PluginState {
    fn from(info: crate::plugin::registry::PluginInfo) -> PluginState {
        PluginState {
            name: info.name,
            active_hash: info.hash,
            version: info.version,
            load_attempts: info.load_attempts,
            load_error: info.load_error,
        }
    }
}

/// The combined verdict of a relayed hook event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HookVerdict {
    /// `allow`, `ask`, `defer` or `deny`; absent when nobody decided.
    pub permission: Option<String>,
    pub reason: Option<String>,
    pub updated_input: Option<Map<String, Value>>,
    pub additional_context: Option<String>,
}
