//! The engine's side of the socket: accepts connections from its own user,
//! shakes hands, and answers requests with the engine (the hook pipeline,
//! for relayed events; the process around it, for status and stop).

use super::peer::{self, Peer};
use super::{
    EngineStatus, HelloLine, HookVerdict, PROTOCOL, PluginState, Reply, Request, Settings, Welcome, build_id, is_newer,
};
use crate::engine::Engine;
use crate::hooks::{Event, EventName, Hooks};
use crate::plugin::registry::PluginHost;
use crate::untrusted::{Line, Lines};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

/// Serves an MCP session on a connection that asked for one (the reader may
/// hold bytes already read), as the MCP server of the given job, with how
/// the engine's settings differ from the front-end's; the future ends with
/// the session.
pub type McpSessions = Arc<
    dyn Fn(
            BufReader<OwnedReadHalf>,
            OwnedWriteHalf,
            Option<String>,
            Vec<String>,
        ) -> futures::future::BoxFuture<'static, ()>
        + Send
        + Sync,
>;

/// The process around the engine, for what concerns it rather than jobs.
pub trait Control: Send + Sync {
    /// `ringmaster engine status`, with `clients` connected now.
    fn status(&self, clients: usize) -> EngineStatus;
    /// Stops the engine, now or after draining.
    fn stop(&self, drain: bool);
    /// Exits once no job is left: a newer build asked to take over.
    fn hand_over(&self);
}

/// What the socket serves.
#[derive(Clone)]
pub struct Services {
    pub engine: Engine,
    pub hooks: Option<Arc<Hooks>>,
    pub mcp: Option<McpSessions>,
    pub control: Option<Arc<dyn Control>>,
    /// The engine's plugins, for `plugin dev`'s verdicts.
    pub plugins: Option<Arc<PluginHost>>,
    /// The engine's settings, which front-ends compare with theirs.
    pub settings: Settings,
}

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
    clients: watch::Receiver<usize>,
}

impl Listening {
    /// How many connections are open, kept up to date.
    pub fn clients(&self) -> watch::Receiver<usize> {
        self.clients.clone()
    }
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
    /// Starts answering requests with `services`.
    pub fn serve(self, services: Services) -> Listening {
        let Bound { listener, path } = self;
        tracing::info!(socket = %path.display(), "engine socket listening");
        let (count, clients) = watch::channel(0usize);
        let count = Arc::new(count);
        let task = tokio::spawn(async move {
            let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
            loop {
                let permit = permits.clone().acquire_owned().await.expect("the semaphore is never closed");
                match listener.accept().await {
                    Ok((stream, _)) => {
                        let serve = serve_connection(stream, services.clone(), count.clone());
                        let count = count.clone();
                        count.send_modify(|n| *n += 1);
                        tokio::spawn(async move {
                            // Counted down however the connection ends.
                            let _connected = scopeguard::guard((), move |()| count.send_modify(|n| *n -= 1));
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
        Listening { path, task, clients }
    }
}

/// Whether the peer runs as this process's user: the socket's mode keeps
/// others out, this keeps them out should the mode or the directory's be
/// loosened.
fn same_user(stream: &UnixStream) -> bool {
    stream.peer_cred().is_ok_and(|cred| cred.uid() == nix::unistd::geteuid().as_raw())
}

/// Reads the client's hello and answers it; who the peer is, or `None`
/// when the connection should close (no hello, another protocol, a job
/// that cannot prove which).
async fn handshake(
    lines: &mut Lines<BufReader<OwnedReadHalf>>,
    write: &mut OwnedWriteHalf,
    services: &Services,
    identity: impl FnOnce(Option<&str>) -> Result<Peer, String>,
) -> Option<(Peer, Vec<String>)> {
    let hello = match lines.next_line().await {
        Ok(Some(Line::Text(line))) => serde_json::from_str::<HelloLine>(&line).map(|h| h.hello),
        _ => return None,
    };
    let mut welcome =
        Welcome { protocol: PROTOCOL, build: build_id(), pid: std::process::id(), refused: None, differs: Vec::new() };
    let hello = match hello {
        Ok(hello) => hello,
        Err(_) => {
            let reply = Reply::Error(format!(
                "the first line on the ringmaster engine socket must be a hello, e.g. \
                 {{\"hello\":{{\"protocol\":{PROTOCOL},\"build\":\"{}\"}}}}",
                build_id()
            ));
            let _ = send(write, &reply).await;
            return None;
        }
    };
    let peer = identity(hello.job_token.as_ref().map(|key| key.0.as_str()));
    if hello.protocol != PROTOCOL {
        welcome.refused = Some(format!("this engine speaks protocol {PROTOCOL}, not {}", hello.protocol));
    } else if let Err(why) = &peer {
        welcome.refused = Some(why.clone());
    }
    if let Some(settings) = &hello.settings {
        welcome.differs = services.settings.differences(settings);
    }
    if hello.handover
        && is_newer(&hello.build, &welcome.build)
        && let Some(control) = &services.control
    {
        control.hand_over();
    }
    let mut text = serde_json::to_string(&welcome).expect("welcomes serialise");
    text.push('\n');
    let sent = write.write_all(text.as_bytes()).await.is_ok();
    peer.ok().filter(|_| sent && welcome.refused.is_none()).map(|peer| (peer, welcome.differs))
}

async fn serve_connection(stream: UnixStream, services: Services, count: Arc<watch::Sender<usize>>) {
    if !same_user(&stream) {
        tracing::warn!("refused a connection to the engine socket from another user");
        return;
    }
    let pid = stream.peer_cred().ok().and_then(|cred| cred.pid());
    let (read, mut write) = stream.into_split();
    let mut lines = Lines::new(BufReader::new(read), MAX_LINE);
    let identity = |key: Option<&str>| peer::identify(pid, key, &services.engine);
    let Some((peer, differs)) = handshake(&mut lines, &mut write, &services, identity).await else {
        return;
    };
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
        let request = match serde_json::from_str::<Request>(&line) {
            Ok(request) => peer::scope(request, &peer, &services.engine).await,
            Err(err) => Err(format!("malformed request: {err}")),
        };
        let reply = match request {
            Ok(Request::Mcp { job_id }) if first => match &services.mcp {
                Some(sessions) => return sessions(lines.into_parts().0, write, job_id, differs).await,
                None => Reply::Error("this engine serves no MCP sessions".into()),
            },
            Ok(request) => {
                let clients = *count.borrow();
                answer(request, &services, clients, &peer).await
            }
            Err(message) => Reply::Error(message),
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

async fn answer(request: Request, services: &Services, clients: usize, peer: &Peer) -> Reply {
    let (engine, hooks) = (&services.engine, services.hooks.as_deref());
    let result = match request {
        Request::Submit { spec } => engine.submit(*spec).await.map(json).map_err(|e| e.to_string()),
        Request::Status { job_id } => engine.status(&job_id).await.map(json).map_err(|e| e.to_string()),
        Request::Wait { job_ids, timeout_ms } => {
            let timeout = Duration::from_millis(timeout_ms).min(MAX_WAIT);
            engine.wait(&job_ids, timeout).await.map(json).map_err(|e| e.to_string())
        }
        Request::Cancel { job_id } => engine.cancel(&job_id).await.map(json).map_err(|e| e.to_string()),
        Request::List { filter, limit } => match peer {
            Peer::Outside => engine.list(&filter, limit),
            Peer::Job(job) => engine.list_within(&filter, limit, job),
        }
        .map(json)
        .map_err(|e| e.to_string()),
        Request::Retry { job_id, resume_session } => {
            engine.retry(&job_id, resume_session).await.map(json).map_err(|e| e.to_string())
        }
        Request::Pause { tag, paused } => engine.set_paused(tag, paused).await.map(json).map_err(|e| e.to_string()),
        Request::Diff { job_id, request } => engine.diff(&job_id, request).await.map(json).map_err(|e| e.to_string()),
        Request::Merge { job_id, strategy, into } => {
            engine.merge(&job_id, strategy, into).await.map(json).map_err(|e| e.to_string())
        }
        Request::Discard { job_id } => engine.discard(&job_id).await.map(json).map_err(|e| e.to_string()),
        Request::Restore { job_id, which, force } => {
            engine.restore(&job_id, which, force).await.map(json).map_err(|e| e.to_string())
        }
        Request::ScheduleCreate { name, cron, timezone, job } => {
            engine.schedule_create(name, cron, timezone, *job).await.map(json).map_err(|e| e.to_string())
        }
        Request::Schedules => Ok(json(engine.schedules())),
        Request::ScheduleChange { schedule_id, paused } => match paused {
            None => engine.schedule_delete(&schedule_id).await,
            Some(paused) => engine.schedule_pause(&schedule_id, paused).await,
        }
        .map(json)
        .map_err(|e| e.to_string()),
        Request::Mcp { .. } => Err("an MCP session must be the first request of its connection".into()),
        Request::Engine => match &services.control {
            Some(control) => Ok(json(control.status(clients))),
            None => Err("this engine runs inside another program and reports no status of its own".into()),
        },
        Request::Stop { drain } => match &services.control {
            Some(control) => {
                control.stop(drain);
                Ok(json(if drain { "draining" } else { "stopping" }))
            }
            None => Err("this engine runs inside another program; stop that program instead".into()),
        },
        Request::Plugin { name, after_attempts, timeout_ms } => {
            let Some(plugins) = &services.plugins else {
                return Reply::Error("this engine runs no plugins".into());
            };
            let timeout = Duration::from_millis(timeout_ms).min(MAX_WAIT);
            let info = match after_attempts {
                Some(after) => plugins.wait_for_load(&name, after, timeout).await,
                None => plugins.info(&name),
            };
            Ok(json(info.map(PluginState::from)))
        }
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
