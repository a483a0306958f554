//! `ringmaster serve` as a front-end: the MCP session is served by the
//! engine of the state directory (or, inside a job, the root engine),
//! reached over its socket; this process carries the lines.
//!
//! Why more than a byte pipe:
//! * `initialize` is answered here at once (the same answer the engine
//!   gives, see [`super::handler::server_info`]), while the engine is found
//!   or started in the background: a client waits for no engine start to
//!   see the server up. The client's `initialize` is then replayed to the
//!   engine under an id of this front-end's, and its answer dropped.
//! * An engine that goes away (stopped, crashed, handing over to a newer
//!   build) answers nothing more: every request it had not answered gets an
//!   error here, and the next request reconnects (starting a new engine when
//!   this front-end may), replaying `initialize` and the log level, so the
//!   session goes on.
//! * Closing the session (EOF, or this process killed) only closes the
//!   socket: the engine keeps every job running.
//!
//! Memory stays bounded: lines are held to [`MAX_LINE`], and while no
//! engine answers at most [`MAX_PENDING`] lines wait before stdin is read
//! no further.

use super::handler::server_info;
use super::transport::MAX_LINE;
use crate::remote::launch::{self, Connected, EngineCommand, LaunchError};
use crate::remote::{Hello, Reply, Request};
use crate::untrusted::{Line, Lines};
use rmcp::ServerHandler;
use rmcp::model::{InitializeRequestParams, ServerConfig};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{HashSet, VecDeque};
use std::os::fd::AsFd;
use std::path::PathBuf;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::pipe;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::task::JoinHandle;

/// Lines held while no engine answers.
const MAX_PENDING: usize = 1024;
/// Ids of the requests this front-end makes itself (replays), whose
/// answers the client never sees.
const OWN_ID: &str = "ringmaster-front-";

/// Which engine serves the session.
pub struct Target {
    pub socket: PathBuf,
    pub hello: Hello,
    /// The state directory and how to start its engine when none answers;
    /// `None` inside a job (the root engine is there or the job is over).
    pub start: Option<(PathBuf, EngineCommand)>,
    /// The job whose MCP server this is, inside a job.
    pub job_id: Option<String>,
}

/// Answers `initialize` as the engine would: rmcp's negotiation over the
/// engine's server info.
struct Early;

impl ServerHandler for Early {
    fn get_info(&self) -> ServerConfig {
        server_info()
    }
}

/// What the front-end reads of a message: enough to route it (the rest
/// is skipped, not built).
#[derive(Deserialize)]
struct Peek {
    id: Option<Value>,
    method: Option<String>,
}

/// The params of an `initialize` request.
#[derive(Deserialize)]
struct Initialize {
    params: InitializeRequestParams,
}

/// Serves the session on stdin/stdout through the engine of `target`, until
/// the client closes stdin.
pub async fn serve(target: Target) -> anyhow::Result<()> {
    // Read and written here, in one task: no hand-off per line.
    let mut from_client = Lines::new(BufReader::new(stdin()), MAX_LINE);
    let mut session = Session::new(target, stdout());
    session.connect();
    loop {
        let may_read = session.engine.is_some() || session.pending.len() < MAX_PENDING;
        tokio::select! {
            line = from_client.next_line(), if may_read => match line {
                Ok(Some(line)) => session.on_client_line(line).await,
                _ => break,
            },
            line = next_line(&mut session.engine) => session.on_engine_line(line).await,
            connected = wait(&mut session.connecting) => session.connected(connected).await,
        }
    }
    if let Some((_, mut write)) = session.engine.take() {
        let _ = write.shutdown().await;
    }
    Ok(())
}

type Engine = (Lines<BufReader<OwnedReadHalf>>, OwnedWriteHalf);

struct Session {
    target: Target,
    to_client: Box<dyn AsyncWrite + Unpin + Send>,
    engine: Option<Engine>,
    connecting: Option<JoinHandle<Result<Connected, LaunchError>>>,
    /// Lines for the engine, while none answers.
    pending: VecDeque<String>,
    /// Requests sent (or pending) and not answered yet.
    in_flight: HashSet<String>,
    /// The client's `initialize` (under an id of ours), replayed to every engine.
    initialize: Option<String>,
    /// Whether the client's `notifications/initialized` went to an engine
    /// (it is then replayed to the next one).
    initialized: bool,
    /// The client's last `logging/setLevel` (under an id of ours).
    log_level: Option<String>,
    own_ids: u64,
}

impl Session {
    fn new(target: Target, to_client: Box<dyn AsyncWrite + Unpin + Send>) -> Session {
        Session {
            target,
            to_client,
            engine: None,
            connecting: None,
            pending: VecDeque::new(),
            in_flight: HashSet::new(),
            initialize: None,
            initialized: false,
            log_level: None,
            own_ids: 0,
        }
    }

    /// Starts finding (or starting) the engine, unless already under way.
    fn connect(&mut self) {
        if self.engine.is_some() || self.connecting.is_some() {
            return;
        }
        let (socket, hello, start) = (self.target.socket.clone(), self.target.hello.clone(), self.target.start.clone());
        self.connecting = Some(tokio::task::spawn_blocking(move || match start {
            Some((state_dir, command)) => launch::connect_or_start(&state_dir, &hello, &command),
            None => launch::connect(&socket, &hello),
        }));
    }

    /// Writes `line` to the client (a client that stopped reading holds
    /// this session up, and nothing else).
    async fn say(&mut self, line: String) {
        let mut bytes = line.into_bytes();
        bytes.push(b'\n');
        let _ = self.to_client.write_all(&bytes).await;
        let _ = self.to_client.flush().await;
    }

    /// `line` with its id replaced by one of ours.
    fn own(&mut self, mut message: serde_json::Map<String, Value>) -> String {
        self.own_ids += 1;
        message.insert("id".into(), Value::String(format!("{OWN_ID}{}", self.own_ids)));
        Value::Object(message).to_string()
    }

    async fn on_client_line(&mut self, line: Line) {
        let text = match line {
            Line::Text(text) => text,
            Line::TooLong { bytes } => {
                let message = format!("a message of {bytes} bytes is larger than the {MAX_LINE} allowed");
                return self.say(error(&Value::Null, -32600, &message)).await;
            }
        };
        let peek = serde_json::from_str::<Peek>(&text).ok();
        let request = peek.as_ref().and_then(|p| Some((request_id(p.id.as_ref()?)?, p.method.as_deref()?)));
        if let (Some((_, method)), Some(peek)) = (&request, &peek) {
            if *method == "initialize" && self.initialize.is_none() && self.answer_initialize(&text, peek).await {
                return;
            }
            if *method == "logging/setLevel"
                && let Ok(Value::Object(message)) = serde_json::from_str(&text)
            {
                self.log_level = Some(self.own(message));
            }
        }
        if self.engine.is_some() && is_initialized(&text) {
            self.initialized = true;
        }
        if let Some((id, _)) = request {
            self.in_flight.insert(id);
        }
        match &mut self.engine {
            Some((_, write)) => {
                // Lost with it: answered with an error by `lost`.
                if send(write, &text).await.is_err() {
                    self.lost("the connection broke").await;
                }
            }
            None => {
                self.pending.push_back(text);
                self.connect();
            }
        }
    }

    /// Answers the client's first `initialize` here; `false` when it is
    /// left to the engine (params it cannot read, a version it refuses).
    async fn answer_initialize(&mut self, text: &str, peek: &Peek) -> bool {
        let Ok(Initialize { params }) = serde_json::from_str(text) else { return false };
        let Ok(result) = Early.negotiate_initialize(&params) else { return false };
        let Ok(Value::Object(message)) = serde_json::from_str(text) else { return false };
        let id = peek.id.clone().unwrap_or_default();
        let answer = json!({ "jsonrpc": "2.0", "id": id, "result": result });
        self.say(answer.to_string()).await;
        let replay = self.own(message);
        self.initialize = Some(replay.clone());
        if let Some((_, write)) = &mut self.engine
            && send(write, &replay).await.is_err()
        {
            self.lost("the connection broke").await;
        }
        true
    }

    async fn on_engine_line(&mut self, line: Option<String>) {
        let Some(text) = line else {
            return self.lost("the engine closed the connection").await;
        };
        // The engine refusing the session itself answers in its own protocol.
        if let Ok(Reply::Error(why)) = serde_json::from_str::<Reply>(&text) {
            self.engine = None;
            return self.unavailable(&why).await;
        }
        if let Ok(peek) = serde_json::from_str::<Peek>(&text)
            && peek.method.is_none()
            && let Some(id) = peek.id.as_ref().and_then(request_id)
        {
            if id.starts_with(&format!("s:{OWN_ID}")) {
                return;
            }
            self.in_flight.remove(&id);
        }
        self.say(text).await;
    }

    async fn connected(&mut self, connected: Result<Connected, LaunchError>) {
        let connected = match connected {
            Ok(connected) => connected,
            Err(err) => return self.unavailable(&err.to_string()).await,
        };
        for line in &connected.welcome.differs {
            tracing::warn!("the running engine keeps its own settings: {line}");
        }
        let stream = connected.stream;
        let stream = stream.set_nonblocking(true).and_then(|()| UnixStream::from_std(stream));
        let Ok(stream) = stream else {
            return self.unavailable("cannot use the engine's connection").await;
        };
        let (read, mut write) = stream.into_split();
        let opening =
            serde_json::to_string(&Request::Mcp { job_id: self.target.job_id.clone() }).expect("requests serialise");
        let mut replay = vec![opening];
        replay.extend(self.initialize.clone());
        if self.initialized {
            replay.push(json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }).to_string());
        }
        replay.extend(self.log_level.clone());
        self.initialized |= self.pending.iter().any(|line| is_initialized(line));
        replay.extend(self.pending.drain(..));
        for line in &replay {
            if send(&mut write, line).await.is_err() {
                return self.lost("the connection broke").await;
            }
        }
        tracing::info!(pid = connected.welcome.pid, build = %connected.welcome.build, "connected to the engine");
        self.engine = Some((Lines::new(BufReader::new(read), usize::MAX), write));
    }

    /// The engine went away: what it had not answered gets an error; the
    /// next request reconnects.
    async fn lost(&mut self, why: &str) {
        tracing::warn!("lost the engine: {why}");
        self.engine = None;
        self.fail_in_flight(&format!(
            "ringmaster's engine went away before answering ({why}); ask again: the next call reaches a new engine"
        ))
        .await;
    }

    /// No engine could be reached: every waiting request gets `why`.
    async fn unavailable(&mut self, why: &str) {
        tracing::error!("{why}");
        self.pending.clear();
        self.fail_in_flight(&format!("ringmaster's engine is unavailable: {why}")).await;
    }

    async fn fail_in_flight(&mut self, message: &str) {
        for id in std::mem::take(&mut self.in_flight) {
            self.say(error(&id_value(&id), -32000, message)).await;
        }
    }
}

fn is_initialized(line: &str) -> bool {
    serde_json::from_str::<Peek>(line)
        .is_ok_and(|p| p.id.is_none() && p.method.as_deref() == Some("notifications/initialized"))
}

/// A request id as a set key: strings and numbers kept apart.
fn request_id(id: &Value) -> Option<String> {
    match id {
        Value::String(s) => Some(format!("s:{s}")),
        Value::Number(n) => Some(format!("n:{n}")),
        _ => None,
    }
}

fn id_value(key: &str) -> Value {
    match key.split_once(':') {
        Some(("s", s)) => Value::String(s.to_string()),
        Some((_, n)) => serde_json::from_str(n).unwrap_or_default(),
        None => Value::Null,
    }
}

fn error(id: &Value, code: i32, message: &str) -> String {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } }).to_string()
}

async fn send(write: &mut OwnedWriteHalf, line: &str) -> std::io::Result<()> {
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    write.write_all(&bytes).await
}

/// The engine's next line; pending forever while there is no engine.
async fn next_line(engine: &mut Option<Engine>) -> Option<String> {
    let Some((lines, _)) = engine else { return std::future::pending().await };
    match lines.next_line().await {
        Ok(Some(Line::Text(line))) => Some(line),
        _ => None,
    }
}

/// The connection under way, when it is done; pending forever while none is.
async fn wait(connecting: &mut Option<JoinHandle<Result<Connected, LaunchError>>>) -> Result<Connected, LaunchError> {
    let Some(task) = connecting else { return std::future::pending().await };
    let result = task.await;
    *connecting = None;
    result.unwrap_or_else(|err| Err(LaunchError::Start { state: PathBuf::new(), why: err.to_string() }))
}

/// stdin for reading: a pipe (as MCP clients give) through the reactor,
/// without the hop to a blocking thread tokio's `stdin()` makes per read;
/// anything else through `stdin()`.
pub fn stdin() -> Box<dyn AsyncRead + Unpin + Send> {
    let pipe = std::io::stdin().as_fd().try_clone_to_owned().and_then(pipe::Receiver::from_owned_fd);
    match pipe {
        Ok(pipe) => Box::new(pipe),
        Err(_) => Box::new(tokio::io::stdin()),
    }
}

/// stdout for writing, as [`stdin`].
pub fn stdout() -> Box<dyn AsyncWrite + Unpin + Send> {
    let pipe = std::io::stdout().as_fd().try_clone_to_owned().and_then(pipe::Sender::from_owned_fd);
    match pipe {
        Ok(pipe) => Box::new(pipe),
        Err(_) => Box::new(tokio::io::stdout()),
    }
}
