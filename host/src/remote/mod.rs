//! The root engine's local socket: how a `ringmaster` started inside a job
//! (the CLI `ringmaster job ...`, `ringmaster hook-relay`, `fake-claude
//! @spawn`) reaches the engine that runs the job, so every limit holds
//! across the whole job tree however many processes it spans.
//!
//! The root `ringmaster serve` listens on `STATE_DIR/engine.sock` (mode
//! 0600: only its user can connect) and hands every agent its path in
//! `RINGMASTER_SOCKET`, with the job's id, depth and root. The protocol is
//! one JSON object per line each way: a [`Request`], then its [`Reply`].
//!
//! ```text
//! -> {"op":"submit","spec":{"prompt":"fix the test","parent_job_id":"3f0c..."}}
//! <- {"ok":{"job_id":"9a1e...","status":"queued","depth":1,...}}
//! ```

pub mod client;
pub mod server;

use crate::engine::Wiring;
use crate::job::{JobFilter, JobSpec};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// The socket's file name in the state directory.
pub const SOCKET_NAME: &str = "engine.sock";

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
    Submit { spec: JobSpec },
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

/// The combined verdict of a relayed hook event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HookVerdict {
    /// `allow`, `ask`, `defer` or `deny`; absent when nobody decided.
    pub permission: Option<String>,
    pub reason: Option<String>,
    pub updated_input: Option<Map<String, Value>>,
    pub additional_context: Option<String>,
}
