//! The root's side of the socket: accepts connections and answers requests
//! with the engine (and the hook pipeline, for relayed events).

use super::{HookVerdict, Reply, Request};
use crate::engine::Engine;
use crate::hooks::{Event, EventName, Hooks};
use crate::untrusted::{Line, Lines};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};

/// Serves an MCP session on a connection that asked for one (the reader may
/// hold bytes already read), as the MCP server of the given job.
pub type McpSessions = Arc<dyn Fn(BufReader<OwnedReadHalf>, OwnedWriteHalf, Option<String>) + Send + Sync>;

/// Longest wait one request may ask for; clients wait longer by asking again.
const MAX_WAIT: Duration = Duration::from_secs(600);
/// The longest request line (as long as MCP's stdio lines may be): a peer
/// sending more without a newline has it read and dropped, not held.
pub const MAX_LINE: usize = 16 << 20;
/// Connections served at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 256;

/// The listening socket; its file is removed when this is dropped.
pub struct Listening {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A bound socket that does not answer yet. Binding comes first, before the
/// engine starts, so that a second server on the same state directory is
/// refused before it touches the job store, and agents recovered at start
/// find the socket there.
pub struct Bound {
    listener: UnixListener,
    path: PathBuf,
}

/// Binds `path`. A socket file left by a dead server is replaced; one a live
/// server answers on is an error naming it.
pub async fn bind(path: &Path) -> std::io::Result<Bound> {
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!(
                    "another ringmaster is serving this state directory (its socket {} answers); \
                     give this one its own with --state DIR",
                    path.display()
                ),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)
        .map_err(|err| std::io::Error::new(err.kind(), format!("cannot listen on {}: {err}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(Bound { listener, path: path.to_path_buf() })
}

impl Bound {
    /// Starts answering requests with `engine` (and `hooks`, for relayed
    /// events; `mcp`, for connections that ask for an MCP session).
    pub fn serve(self, engine: Engine, hooks: Option<Arc<Hooks>>, mcp: Option<McpSessions>) -> Listening {
        let Bound { listener, path } = self;
        tracing::info!(socket = %path.display(), "engine socket listening");
        let task = tokio::spawn(async move {
            let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
            loop {
                let permit = permits.clone().acquire_owned().await.expect("the semaphore is never closed");
                match listener.accept().await {
                    Ok((stream, _)) => {
                        let serve = serve_connection(stream, engine.clone(), hooks.clone(), mcp.clone());
                        tokio::spawn(async move {
                            serve.await;
                            drop(permit);
                        });
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "engine socket accept failed");
                        // E.g. out of file descriptors: give it a moment rather than spin.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        Listening { path, task }
    }
}

async fn serve_connection(stream: UnixStream, engine: Engine, hooks: Option<Arc<Hooks>>, mcp: Option<McpSessions>) {
    let (read, mut write) = stream.into_split();
    let mut lines = Lines::new(BufReader::new(read), MAX_LINE);
    let mut first = true;
    loop {
        let line = match lines.next_line().await {
            Ok(Some(Line::Text(line))) => line,
            Ok(Some(Line::TooLong { bytes })) => {
                let reply =
                    Reply::Error(format!("request of {bytes} bytes refused: a request line may hold {MAX_LINE}"));
                if send(&mut write, &reply).await.is_err() {
                    return;
                }
                continue;
            }
            Ok(None) | Err(_) => return,
        };
        let reply = match serde_json::from_str::<Request>(&line) {
            Ok(Request::Mcp { job_id }) if first => match &mcp {
                Some(sessions) => return sessions(lines.into_parts().0, write, job_id),
                None => Reply::Error("this engine serves no MCP sessions".into()),
            },
            Ok(request) => answer(request, &engine, hooks.as_deref()).await,
            Err(err) => Reply::Error(format!("malformed request: {err}")),
        };
        first = false;
        if send(&mut write, &reply).await.is_err() {
            return;
        }
    }
}

async fn send(write: &mut OwnedWriteHalf, reply: &Reply) -> std::io::Result<()> {
    let mut text = serde_json::to_string(reply).expect("replies serialise");
    text.push('\n');
    write.write_all(text.as_bytes()).await
}

fn json(value: impl serde::Serialize) -> Reply {
    Reply::Ok(serde_json::to_value(value).expect("engine values serialise"))
}

async fn answer(request: Request, engine: &Engine, hooks: Option<&Hooks>) -> Reply {
    let result = match request {
        Request::Submit { spec } => engine.submit(spec).await.map(json).map_err(|e| e.to_string()),
        Request::Status { job_id } => engine.status(&job_id).await.map(json).map_err(|e| e.to_string()),
        Request::Wait { job_ids, timeout_ms } => {
            let timeout = Duration::from_millis(timeout_ms).min(MAX_WAIT);
            engine.wait(&job_ids, timeout).await.map(json).map_err(|e| e.to_string())
        }
        Request::Cancel { job_id } => engine.cancel(&job_id).await.map(json).map_err(|e| e.to_string()),
        Request::List { filter, limit } => engine.list(&filter, limit).map(json).map_err(|e| e.to_string()),
        Request::Mcp { .. } => Err("an MCP session must be the first request of its connection".into()),
        Request::Hook { event, job_id, payload } => {
            let Some(hooks) = hooks else { return json(HookVerdict::default()) };
            let Some(name) = EventName::parse(&event) else {
                return Reply::Error(format!("ringmaster relays no hook event {event:?}"));
            };
            // What tool events name: the tool.
            let subjects = payload.get("tool_name").and_then(Value::as_str).map(String::from).into_iter().collect();
            let job = job_id.as_deref().and_then(|id| engine.job_info(id));
            let outcome = hooks.dispatch(Event { name, subjects, payload, job }).await;
            Ok(json(HookVerdict {
                permission: outcome.permission.map(|p| p.as_str().to_string()),
                reason: outcome.reason,
                updated_input: (!outcome.updated_input.is_empty()).then_some(outcome.updated_input),
                additional_context: (!outcome.additional_context.is_empty())
                    .then(|| outcome.additional_context.join("\n")),
            }))
        }
    };
    result.unwrap_or_else(Reply::Error)
}
