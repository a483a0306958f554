//! Reaching the engine of a state directory, starting one when none runs.
//!
//! Every client connects and shakes hands ([`connect`]). When nothing
//! answers, [`connect_or_start`] starts `ringmaster engine` for the state
//! directory: clients that find no engine at the same moment queue on
//! `engine.start.lock`, the first starts it, the others then find it
//! answering; the engine's own lock ([`super::lock`]) keeps it the only one
//! even against one started by hand. `ringmaster engine` detaches and exits
//! once its engine serves (or says why it cannot), so waiting for that exit
//! is waiting for the socket to answer: no polling.

use super::{Hello, Reply, Welcome, build_id, is_newer, lock, socket_path};
use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Longest wait for an engine to answer the hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for a started engine to serve (opening and recovering a
/// big store included).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for an engine on its way out to be gone.
const GONE_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest welcome read.
const MAX_WELCOME: usize = 64 << 10;

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("no ringmaster engine answers at {path}: {source}")]
    NotRunning { path: PathBuf, source: std::io::Error },
    /// The engine will not talk to this build: what to do, in words.
    #[error("{0}")]
    Refused(String),
    #[error("cannot start the ringmaster engine for {state}: {why}")]
    Start { state: PathBuf, why: String },
    #[error("the connection to the ringmaster engine broke during the handshake: {0}")]
    Io(#[from] std::io::Error),
}

/// A connection past the handshake.
pub struct Connected {
    pub stream: UnixStream,
    pub welcome: Welcome,
}

/// How to start an engine: `ringmaster engine` with the client's settings.
#[derive(Debug, Clone)]
pub struct EngineCommand {
    pub exe: PathBuf,
    /// After `engine`: `--state`, `--config`, `--plugins`...
    pub args: Vec<OsString>,
    /// Where relative paths in the environment (e.g. `CLAUDE_PROJECT_DIR`) resolve.
    pub cwd: PathBuf,
}

/// Connects to the engine at `socket` and shakes hands.
pub fn connect(socket: &Path, hello: &Hello) -> Result<Connected, LaunchError> {
    let mut stream =
        UnixStream::connect(socket).map_err(|source| LaunchError::NotRunning { path: socket.into(), source })?;
    let mut line = serde_json::to_string(&super::HelloLine { hello: hello.clone() }).expect("hellos serialise");
    line.push('\n');
    stream.write_all(line.as_bytes())?;
    stream.set_read_timeout(Some(HELLO_TIMEOUT))?;
    let answer = read_line(&mut stream)?;
    stream.set_read_timeout(None)?;
    let welcome = match serde_json::from_str::<Welcome>(&answer) {
        Ok(welcome) => welcome,
        // An engine from before the handshake reads a hello as a malformed request.
        Err(_) => match serde_json::from_str::<Reply>(&answer) {
            Ok(Reply::Error(_)) => return Err(LaunchError::Refused(mismatch_message(hello, None, socket))),
            _ => {
                return Err(LaunchError::Refused(format!(
                    "the ringmaster engine at {} answered the handshake with {answer:?}",
                    socket.display()
                )));
            }
        },
    };
    if welcome.protocol != hello.protocol {
        return Err(LaunchError::Refused(mismatch_message(hello, Some(&welcome), socket)));
    }
    if let Some(why) = welcome.refused {
        return Err(LaunchError::Refused(why));
    }
    Ok(Connected { stream, welcome })
}

/// One line, read a byte at a time: nothing past it is taken from the
/// stream, which may carry another protocol next (MCP).
fn read_line(stream: &mut UnixStream) -> std::io::Result<String> {
    let mut line = Vec::new();
    let mut byte = [0u8];
    while line.len() < MAX_WELCOME {
        match stream.read(&mut byte)? {
            0 => {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the engine closed the connection"));
            }
            _ if byte[0] == b'\n' => break,
            _ => line.push(byte[0]),
        }
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// Connects to the engine of `state_dir`, starting it with `start` when
/// none answers.
pub fn connect_or_start(state_dir: &Path, hello: &Hello, start: &EngineCommand) -> Result<Connected, LaunchError> {
    let socket = socket_path(state_dir);
    match connect(&socket, hello) {
        Err(LaunchError::NotRunning { .. }) => {}
        other => return other,
    }
    let failed = |why: String| LaunchError::Start { state: state_dir.into(), why };
    let _starting = lock::starting(state_dir).map_err(|err| failed(format!("{err:#}")))?;
    match connect(&socket, hello) {
        Err(LaunchError::NotRunning { .. }) => {}
        other => return other,
    }
    // An engine that no longer answers but still holds its lock is on its way out.
    let dir = state_dir.to_path_buf();
    if within(GONE_TIMEOUT, move || lock::wait_until_gone(&dir)).is_none() {
        let pid = lock::holder(state_dir).map_or_else(String::new, |pid| format!(" (pid {pid})"));
        return Err(failed(format!(
            "an engine{pid} holds {} but has not answered on its socket for {} s; stop it (kill{pid_arg}) and try again",
            state_dir.join(lock::LOCK_NAME).display(),
            GONE_TIMEOUT.as_secs(),
            pid_arg = lock::holder(state_dir).map_or_else(String::new, |pid| format!(" {pid}")),
        )));
    }
    let mut child = Command::new(&start.exe)
        .arg("engine")
        .args(&start.args)
        .current_dir(&start.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| failed(format!("cannot run {}: {err}", start.exe.display())))?;
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let said = within(START_TIMEOUT, move || {
        let mut text = String::new();
        let _ = stderr.by_ref().take(64 << 10).read_to_string(&mut text);
        text
    });
    let Some(said) = said else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(failed(format!(
            "it did not serve within {} s; see {}",
            START_TIMEOUT.as_secs(),
            state_dir.join("engine.log").display()
        )));
    };
    let status = child.wait()?;
    if !status.success() {
        let why = said.trim().trim_start_matches("error: ");
        return Err(failed(if why.is_empty() {
            format!("`ringmaster engine` exited with {status}")
        } else {
            why.to_string()
        }));
    }
    connect(&socket, hello)
}

/// Runs `f` on a thread of its own; `None` when it takes longer than
/// `bound` (the thread is left to finish on its own).
fn within<T: Send + 'static>(bound: Duration, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("engine-launch".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .ok()?;
    rx.recv_timeout(bound).ok()
}

/// What to tell a user whose ringmaster and running engine do not speak the
/// same protocol (`engine` is `None` for an engine from before handshakes).
pub fn mismatch_message(ours: &Hello, engine: Option<&Welcome>, socket: &Path) -> String {
    let state = socket.parent().unwrap_or(Path::new(".")).display();
    let theirs = match engine {
        Some(w) => {
            format!("the engine running for {state} (pid {}, build {}, protocol {})", w.pid, w.build, w.protocol)
        }
        None => format!("the engine running for {state} (a build from before protocol 1)"),
    };
    let newer = engine.is_none_or(|w| is_newer(&ours.build, &w.build));
    let then = match (newer, ours.handover) {
        (true, true) => {
            " It was asked to exit once its unfinished jobs are done; the next call then starts this build."
        }
        _ => "",
    };
    format!(
        "this ringmaster (build {}, protocol {}) cannot work with {theirs}.{then} To switch now, run \
         `ringmaster engine stop --state {state}` (its running jobs are interrupted and run again \
         under the new engine), then call again.",
        build_id(),
        ours.protocol,
    )
}
