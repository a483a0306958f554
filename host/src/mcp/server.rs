//! The server value every session holds: the engine, the plugin host, the
//! command and hook catalogues, and what the tools share (queueing a job,
//! the result shapes).

use super::transport;
use crate::commands::{CommandInfo, Commands};
use crate::engine::Engine;
use crate::engine::EngineError;
use crate::hooks::Hooks;
use crate::job::workspace::{Diff, DiffRequest, MergeStrategy, Restored, Which};
use crate::job::{After, Cancelled, JobFilter, JobRecord, JobSpec, JobStatus, Pauses};
use crate::mcp::args::ScheduleArgs;
use crate::plugin::registry::PluginHost;
use crate::schedule::Schedule;
use parking_lot::Mutex;
use rmcp::ErrorData;
use rmcp::handler::server::router::tool::ToolRouter;
#[allow(deprecated)] // MCP logging: see `super::logs`.
use rmcp::model::LoggingLevel;
use rmcp::model::{CallToolResult, ContentBlock};
use serde::Serialize;
use std::sync::Arc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The MCP server: tools over the engine and the plugin host.
#[derive(Clone)]
pub struct Ringmaster {
    pub(super) engine: Engine,
    pub(super) plugins: Arc<PluginHost>,
    pub(super) commands: Arc<Commands>,
    pub(super) hooks: Arc<Hooks>,
    /// Fires when the prompt list may have changed.
    pub(super) prompts_changed: watch::Receiver<u64>,
    /// The job this session serves inside (its submissions are sub-jobs).
    parent: Option<String>,
    /// How the engine's settings differ from those this session's front-end
    /// was started with (shown by `engine_stats`).
    pub(super) settings_differ: Arc<[String]>,
    /// This session's id, for the records of what it submits.
    session_id: Arc<str>,
    /// The client's name, from its `initialize`.
    pub(super) client_name: Arc<Mutex<Option<String>>>,
    /// Cancelled when the client closed the session (see [`transport::serve`]):
    /// what a request was doing for it then is left running.
    pub(super) closed: CancellationToken,
    /// The level the client asked plugin logs at (`logging/setLevel`); none
    /// are sent before it asks.
    #[allow(deprecated)] // MCP logging: see `super::logs`.
    pub(super) log_level: Arc<Mutex<Option<LoggingLevel>>>,
    pub(super) tool_router: ToolRouter<Self>,
}

/// A queued job, as `job_submit` answers.
#[derive(Debug, Serialize)]
pub(super) struct Queued {
    pub job_id: String,
    pub status: JobStatus,
    /// 1-based.
    pub queue_position: Option<usize>,
    /// Seconds until it may start (see `Engine::estimated_start`).
    pub estimated_start_s: Option<u64>,
}

fn new_session_id() -> Arc<str> {
    uuid::Uuid::new_v4().simple().to_string()[..8].into()
}

/// A tool's answer: one line for people, the structured value for programs.
pub(super) fn ok(text: String, value: impl Serialize) -> Result<CallToolResult, ErrorData> {
    let value = serde_json::to_value(value).expect("tool results serialise");
    let mut result = CallToolResult::structured(value);
    result.content = vec![ContentBlock::text(text)];
    Ok(result)
}

/// A tool that ran and failed: an error result the model can act on.
pub(super) fn failed(message: impl std::fmt::Display) -> Result<CallToolResult, ErrorData> {
    Ok(CallToolResult::error(vec![ContentBlock::text(message.to_string())]))
}

/// One line about a job, e.g. `job 1f… is failed: ran past its 60 s timeout`.
pub(super) fn summary(record: &JobRecord) -> String {
    let mut line = format!("job {} is {}", record.job_id, record.status.as_str());
    if let Some(error) = &record.error {
        line.push_str(&format!(": {error}"));
    }
    line
}

impl Ringmaster {
    pub fn new(
        engine: Engine,
        plugins: Arc<PluginHost>,
        commands: Arc<Commands>,
        hooks: Arc<Hooks>,
        prompts_changed: watch::Receiver<u64>,
    ) -> Ringmaster {
        Ringmaster {
            engine,
            plugins,
            commands,
            hooks,
            prompts_changed,
            parent: None,
            settings_differ: Arc::new([]),
            session_id: new_session_id(),
            client_name: Arc::default(),
            closed: CancellationToken::new(),
            log_level: Arc::default(),
            tool_router: Self::tools(),
        }
    }

    /// The same server, for an MCP session over the engine socket: inside
    /// job `parent` (what it submits are sub-jobs of it), or outside every
    /// job; `settings_differ` says how the engine's settings differ from
    /// those of the session's front-end.
    pub fn for_session(&self, parent: Option<String>, settings_differ: Vec<String>) -> Ringmaster {
        Ringmaster {
            parent,
            settings_differ: settings_differ.into(),
            session_id: new_session_id(),
            client_name: Arc::default(),
            closed: CancellationToken::new(),
            log_level: Arc::default(),
            ..self.clone()
        }
    }

    /// Serves this session to the client on `input`/`output` until it ends.
    pub async fn serve(
        self,
        input: impl tokio::io::AsyncRead + Unpin + Send + 'static,
        output: impl tokio::io::AsyncWrite + Unpin + Send + 'static,
    ) -> anyhow::Result<()> {
        let closed = self.closed.clone();
        transport::serve(self, input, output, closed).await
    }

    /// `Ok` when this session may see job `id`: any job, or in a session
    /// inside a job, that job and its sub-jobs.
    async fn check(&self, id: &str) -> Result<(), EngineError> {
        match &self.parent {
            Some(job) => self.engine.check_within(id, job).await,
            None => Ok(()),
        }
    }

    /// Job `id`'s record, when this session may see it.
    pub(super) async fn status(&self, id: &str) -> Result<JobRecord, EngineError> {
        self.check(id).await?;
        self.engine.status(id).await
    }

    /// Cancels job `id`, when this session may see it.
    pub(super) async fn cancel(&self, id: &str) -> Result<Cancelled, EngineError> {
        self.check(id).await?;
        self.engine.cancel(id).await
    }

    /// Queues finished job `id` again, when this session may see it.
    pub(super) async fn retry(&self, id: &str, resume_session: bool) -> Result<JobRecord, String> {
        self.check(id).await.map_err(|e| e.to_string())?;
        self.engine.retry(id, resume_session).await.map_err(|e| e.to_string())
    }

    /// A page of what job `id` changed, when this session may see it.
    pub(super) async fn diff(&self, id: &str, request: DiffRequest) -> Result<Diff, EngineError> {
        self.check(id).await?;
        self.engine.diff(id, request).await
    }

    /// Merges job `id`'s branch into the project: the project's, so a
    /// session inside a job may not.
    pub(super) async fn merge(
        &self,
        id: &str,
        strategy: MergeStrategy,
        into: Option<String>,
    ) -> Result<JobRecord, EngineError> {
        self.outside_jobs("merge into the project")?;
        self.engine.merge(id, strategy, into).await
    }

    /// Discards job `id`'s worktree and branch (outside jobs only).
    pub(super) async fn discard(&self, id: &str) -> Result<JobRecord, EngineError> {
        self.outside_jobs("discard a job's work")?;
        self.engine.discard(id).await
    }

    /// Restores the project to a checkpoint of job `id` (outside jobs only).
    pub(super) async fn restore(&self, id: &str, which: Which, force: bool) -> Result<Restored, EngineError> {
        self.outside_jobs("restore the project's files")?;
        self.engine.restore(id, which, force).await
    }

    /// Pauses or resumes the queue (or a tag's jobs): the project's, so a
    /// session inside a job, which sees only its own tree, may not.
    pub(super) async fn set_paused(&self, tag: Option<String>, paused: bool) -> Result<Pauses, EngineError> {
        if let Some(job) = &self.parent {
            return Err(EngineError::Invalid(format!(
                "a session inside job {job} cannot pause or resume the project's queue; its own jobs can be cancelled"
            )));
        }
        self.engine.set_paused(tag, paused).await
    }

    /// Creates a schedule: the project's, so a session inside a job may not.
    pub(super) async fn create_schedule(&self, args: ScheduleArgs) -> Result<Schedule, EngineError> {
        self.outside_jobs("create schedules")?;
        let Some(job) = args.job else {
            return Err(EngineError::Invalid("schedule_create needs `job`: the job each run submits".into()));
        };
        self.engine.schedule_create(args.name, args.cron, args.timezone, job.into_spec()).await
    }

    /// Deletes (`paused` none), pauses or resumes schedule `id`.
    pub(super) async fn change_schedule(&self, id: &str, paused: Option<bool>) -> Result<Schedule, EngineError> {
        self.outside_jobs("change schedules")?;
        match paused {
            None => self.engine.schedule_delete(id).await,
            Some(paused) => self.engine.schedule_pause(id, paused).await,
        }
    }

    /// Refuses what only a session outside ringmaster's jobs may do.
    fn outside_jobs(&self, what: &str) -> Result<(), EngineError> {
        match &self.parent {
            Some(job) => {
                Err(EngineError::Invalid(format!("a session inside job {job} cannot {what}: they are the project's")))
            }
            None => Ok(()),
        }
    }

    /// A page of job `id`'s transcript, when this session may see it.
    pub(super) async fn transcript(
        &self,
        id: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<(u32, String)>, EngineError> {
        self.check(id).await?;
        self.engine.transcript(id, offset, limit).await
    }

    /// The records this session may see, newest first.
    pub(super) fn list(&self, filter: &JobFilter, limit: usize) -> Result<Vec<JobRecord>, EngineError> {
        match &self.parent {
            Some(job) => self.engine.list_within(filter, limit, job),
            None => self.engine.list(filter, limit),
        }
    }

    /// This session as records name who submitted a job: the client's
    /// name and the session's id, e.g. `claude-code/3f0c9a1e`.
    pub(super) fn client_label(&self) -> String {
        let name = self.client_name.lock().clone().unwrap_or_else(|| "mcp".into());
        format!("{name}/{}", self.session_id)
    }

    /// `spec` as this session submits it: a sub-job of the session's job,
    /// or a root job naming this session as its client.
    pub(super) fn stamped(&self, mut spec: JobSpec) -> JobSpec {
        if spec.parent_job_id.is_none() {
            spec.parent_job_id = self.parent.clone();
        }
        if spec.parent_job_id.is_none() {
            spec.client = Some(self.client_label());
        }
        spec
    }

    /// Queues `spec` (a sub-job, in a session inside a job).
    pub(super) async fn queue(&self, spec: JobSpec) -> Result<JobRecord, String> {
        self.check_after(&spec).await?;
        self.engine.submit(self.stamped(spec)).await.map_err(|e| e.to_string())
    }

    /// Refuses a spec that runs after a job this session may not see (its
    /// prompt could quote that job's result).
    pub(super) async fn check_after(&self, spec: &JobSpec) -> Result<(), String> {
        for parent in spec.after.iter().filter_map(After::job) {
            self.check(parent).await.map_err(|e| format!("after: {e}"))?;
        }
        Ok(())
    }

    /// Queues `spec`; where it stands in the queue.
    pub(super) async fn submit(&self, spec: JobSpec) -> Result<Queued, String> {
        let record = self.queue(spec).await?;
        Ok(Queued {
            queue_position: self.engine.queue_position(&record.job_id),
            estimated_start_s: self.engine.estimated_start(&record.job_id).map(|d| d.as_secs_f64().ceil() as u64),
            job_id: record.job_id,
            status: record.status,
        })
    }

    /// The command list, computed off the async runtime (it calls plugins).
    pub(super) async fn command_infos(&self) -> Vec<CommandInfo> {
        let commands = self.commands.clone();
        tokio::task::spawn_blocking(move || commands.list()).await.unwrap_or_default()
    }
}
