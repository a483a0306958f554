//! The other side of the socket: a blocking client, so the CLI, the hook
//! relay and `fake-claude` need no async runtime.
//!
//! ```no_run
//! # use ringmaster::remote::client::Client;
//! # use ringmaster::job::JobSpec;
//! let mut engine = Client::from_env(None, None)?;
//! let child = engine.submit(JobSpec { prompt: "write the tests".into(), ..Default::default() })?;
//! let done = engine.wait_all(&[child.job_id], None)?;
//! # Ok::<(), ringmaster::remote::client::ClientError>(())
//! ```

use super::launch::{self, EngineCommand, LaunchError};
use super::{EngineStatus, Hello, HookVerdict, PluginState, Reply, Request, socket_path};
use crate::job::env;
use crate::job::workspace::{Diff, DiffRequest, MergeStrategy, Restored, Which};
use crate::job::{Cancelled, JobFilter, JobRecord, JobSpec, Pauses};
use crate::schedule::Schedule;
use serde_json::{Map, Value};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// What one wait request asks for; longer waits ask again.
const WAIT_STEP: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Launch(#[from] LaunchError),
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
    /// (`RINGMASTER_SOCKET`), else to the one serving `state_dir`, starting
    /// it with `start` when given and none answers.
    pub fn from_env(state_dir: Option<&Path>, start: Option<&EngineCommand>) -> Result<Client, ClientError> {
        let parent = std::env::var(env::JOB_ID).ok().filter(|id| !id.is_empty());
        let connected = match (std::env::var_os(env::SOCKET), state_dir, start) {
            (Some(path), _, _) => launch::connect(Path::new(&path), &Hello::inside_job())?,
            (None, Some(dir), Some(start)) => launch::connect_or_start(dir, &Hello::new(None).taking_over(), start)?,
            (None, dir, _) => {
                launch::connect(&socket_path(dir.unwrap_or(Path::new(".ringmaster"))), &Hello::new(None))?
            }
        };
        Client::over(connected.stream, parent)
    }

    /// Connects to the socket at `path`; jobs submitted get `parent`.
    pub fn connect(path: &Path, parent: Option<String>) -> Result<Client, ClientError> {
        Client::over(launch::connect(path, &Hello::new(None))?.stream, parent)
    }

    fn over(stream: UnixStream, parent: Option<String>) -> Result<Client, ClientError> {
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
        self.call(&Request::Submit { spec: Box::new(spec) })
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

    /// Cancels a job (and the waiting jobs that need it); what that did.
    pub fn cancel(&mut self, job_id: &str) -> Result<Cancelled, ClientError> {
        self.call(&Request::Cancel { job_id: job_id.into() })
    }

    /// Queues a failed, timed-out or cancelled job again; its record.
    pub fn retry(&mut self, job_id: &str, resume_session: bool) -> Result<JobRecord, ClientError> {
        self.call(&Request::Retry { job_id: job_id.into(), resume_session })
    }

    /// A page of the diff of what a job changed.
    pub fn diff(&mut self, job_id: &str, request: DiffRequest) -> Result<Diff, ClientError> {
        self.call(&Request::Diff { job_id: job_id.into(), request })
    }

    /// Merges a finished worktree job's branch into the project; its record.
    pub fn merge(
        &mut self,
        job_id: &str,
        strategy: MergeStrategy,
        into: Option<String>,
    ) -> Result<JobRecord, ClientError> {
        self.call(&Request::Merge { job_id: job_id.into(), strategy, into })
    }

    /// Removes a finished worktree job's worktree and branch; its record.
    pub fn discard(&mut self, job_id: &str) -> Result<JobRecord, ClientError> {
        self.call(&Request::Discard { job_id: job_id.into() })
    }

    /// Restores the project's files to a job's checkpoint.
    pub fn restore(&mut self, job_id: &str, which: Which, force: bool) -> Result<Restored, ClientError> {
        self.call(&Request::Restore { job_id: job_id.into(), which, force })
    }

    /// Pauses (`paused`) or resumes the queue, or the jobs with `tag`; the pauses in force.
    pub fn set_paused(&mut self, tag: Option<String>, paused: bool) -> Result<Pauses, ClientError> {
        self.call(&Request::Pause { tag, paused })
    }

    /// Creates a schedule; it, with when it fires next.
    pub fn schedule_create(
        &mut self,
        name: Option<String>,
        cron: String,
        timezone: Option<String>,
        job: JobSpec,
    ) -> Result<Schedule, ClientError> {
        self.call(&Request::ScheduleCreate { name, cron, timezone, job: Box::new(job) })
    }

    pub fn schedules(&mut self) -> Result<Vec<Schedule>, ClientError> {
        self.call(&Request::Schedules)
    }

    /// Deletes (`paused` none), pauses or resumes a schedule; it.
    pub fn schedule_change(&mut self, schedule_id: &str, paused: Option<bool>) -> Result<Schedule, ClientError> {
        self.call(&Request::ScheduleChange { schedule_id: schedule_id.into(), paused })
    }

    pub fn list(&mut self, filter: JobFilter, limit: usize) -> Result<Vec<JobRecord>, ClientError> {
        self.call(&Request::List { filter, limit })
    }

    /// The engine process's status.
    pub fn engine(&mut self) -> Result<EngineStatus, ClientError> {
        self.call(&Request::Engine)
    }

    /// Where plugin `name` stands; with `after_attempts`, once more loads of
    /// it than that have ended, or after `timeout` (see [`Request::Plugin`]).
    pub fn plugin(
        &mut self,
        name: &str,
        after_attempts: Option<u64>,
        timeout: Duration,
    ) -> Result<Option<PluginState>, ClientError> {
        let request = Request::Plugin { name: name.into(), after_attempts, timeout_ms: timeout.as_millis() as u64 };
        self.call(&request)
    }

    /// Asks the engine to stop (see [`Request::Stop`]).
    pub fn stop(&mut self, drain: bool) -> Result<String, ClientError> {
        self.call(&Request::Stop { drain })
    }

    /// Runs a hook event through the root's hook pipeline.
    pub fn hook(&mut self, event: &str, payload: Map<String, Value>) -> Result<HookVerdict, ClientError> {
        self.call(&Request::Hook { event: event.into(), job_id: self.parent.clone(), payload })
    }
}
