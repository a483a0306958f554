//! The other side of the socket: a blocking client, so the CLI, the hook
//! relay and `fake-claude` need no async runtime.
//!
//! ```no_run
//! # use ringmaster::remote::client::Client;
//! # use ringmaster::job::JobSpec;
//! let mut engine = Client::from_env(None)?;
//! let child = engine.submit(JobSpec { prompt: "write the tests".into(), ..Default::default() })?;
//! let done = engine.wait_all(&[child.job_id], None)?;
//! # Ok::<(), ringmaster::remote::client::ClientError>(())
//! ```

use super::{HookVerdict, Reply, Request, socket_path};
use crate::job::env;
use crate::job::{JobFilter, JobRecord, JobSpec};
use serde_json::{Map, Value};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What one wait request asks for; longer waits ask again.
const WAIT_STEP: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "cannot reach the ringmaster engine at {path}: {source}; start `ringmaster serve` for this state \
         directory, or run this inside a ringmaster job"
    )]
    Connect { path: PathBuf, source: std::io::Error },
    #[error("the connection to the ringmaster engine broke: {0}")]
    Io(#[from] std::io::Error),
    #[error("the ringmaster engine answered something unreadable: {0}")]
    Protocol(String),
    /// The engine refused: the message says why.
    #[error("{0}")]
    Refused(String),
}

/// A connection to the root engine.
pub struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    /// The job this process runs in, whose sub-jobs it submits.
    parent: Option<String>,
}

impl Client {
    /// Connects to the engine of the job this process runs in
    /// (`RINGMASTER_SOCKET`), else to the one serving `state_dir`.
    pub fn from_env(state_dir: Option<&Path>) -> Result<Client, ClientError> {
        let path = match (std::env::var_os(env::SOCKET), state_dir) {
            (Some(path), _) => PathBuf::from(path),
            (None, Some(dir)) => socket_path(dir),
            (None, None) => socket_path(Path::new(".ringmaster")),
        };
        let parent = std::env::var(env::JOB_ID).ok().filter(|id| !id.is_empty());
        Client::connect(&path, parent)
    }

    /// Connects to the socket at `path`; jobs submitted get `parent`.
    pub fn connect(path: &Path, parent: Option<String>) -> Result<Client, ClientError> {
        let stream =
            UnixStream::connect(path).map_err(|source| ClientError::Connect { path: path.to_path_buf(), source })?;
        Ok(Client { reader: BufReader::new(stream.try_clone()?), writer: stream, parent })
    }

    /// The job whose sub-jobs this client submits, if it runs inside one.
    pub fn parent(&self) -> Option<&str> {
        self.parent.as_deref()
    }

    fn call<T: serde::de::DeserializeOwned>(&mut self, request: &Request) -> Result<T, ClientError> {
        let mut line = serde_json::to_string(request).expect("requests serialise");
        line.push('\n');
        self.writer.write_all(line.as_bytes())?;
        let mut answer = String::new();
        if self.reader.read_line(&mut answer)? == 0 {
            return Err(ClientError::Protocol("the engine closed the connection".into()));
        }
        match serde_json::from_str::<Reply>(&answer).map_err(|e| ClientError::Protocol(e.to_string()))? {
            Reply::Ok(value) => serde_json::from_value(value).map_err(|e| ClientError::Protocol(e.to_string())),
            Reply::Error(message) => Err(ClientError::Refused(message)),
        }
    }

    /// Queues `spec`, as a sub-job of this process's job when it runs in one.
    pub fn submit(&mut self, mut spec: JobSpec) -> Result<JobRecord, ClientError> {
        if spec.parent_job_id.is_none() {
            spec.parent_job_id = self.parent.clone();
        }
        self.call(&Request::Submit { spec })
    }

    pub fn status(&mut self, job_id: &str) -> Result<JobRecord, ClientError> {
        self.call(&Request::Status { job_id: job_id.into() })
    }

    /// Waits until every job has finished, or `timeout` (forever when `None`).
    pub fn wait_all(&mut self, job_ids: &[String], timeout: Option<Duration>) -> Result<Vec<JobRecord>, ClientError> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let step = deadline.map_or(WAIT_STEP, |d| d.saturating_duration_since(Instant::now()).min(WAIT_STEP));
            let request = Request::Wait { job_ids: job_ids.to_vec(), timeout_ms: step.as_millis() as u64 };
            let records: Vec<JobRecord> = self.call(&request)?;
            let done = records.iter().all(|r| r.status.is_terminal());
            if done || deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(records);
            }
        }
    }

    pub fn cancel(&mut self, job_id: &str) -> Result<JobRecord, ClientError> {
        self.call(&Request::Cancel { job_id: job_id.into() })
    }

    pub fn list(&mut self, filter: JobFilter, limit: usize) -> Result<Vec<JobRecord>, ClientError> {
        self.call(&Request::List { filter, limit })
    }

    /// Runs a hook event through the root's hook pipeline.
    pub fn hook(&mut self, event: &str, payload: Map<String, Value>) -> Result<HookVerdict, ClientError> {
        self.call(&Request::Hook { event: event.into(), job_id: self.parent.clone(), payload })
    }
}
