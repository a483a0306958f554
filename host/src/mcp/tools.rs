//! The MCP tools, their argument schemas and results.

use super::{logs, prompts, resources, tasks};
use crate::commands::{Commands, Prepared};
use crate::engine::{Engine, EngineError};
use crate::hooks::Hooks;
use crate::job::{JobFilter, JobRecord, JobSpec, JobStatus};
use crate::plugin::registry::PluginHost;
use parking_lot::Mutex;
use rmcp::handler::server::{router::tool::ToolRouter, tool::ToolCallContext, wrapper::Parameters};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CancelTaskParams, ContentBlock, CreateTaskResult,
    GetPromptRequestParams, GetPromptResponse, GetPromptResult, GetTaskParams, GetTaskResult, Implementation,
    ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, PaginatedRequestParams,
    ProgressNotificationParam, ProgressToken, PromptMessage, ReadResourceRequestParams, ReadResourceResponse,
    ReadResourceResult, Role, ServerCapabilities, ServerConfig, TaskStatus,
};
#[allow(deprecated)] // MCP logging: see `super::logs`.
use rmcp::model::{LoggingLevel, LoggingMessageNotificationParam, SetLevelRequestParams};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Longest a `job_wait` may wait: well under the two minutes after which
/// Claude Code moves a tool call to the background.
const MAX_WAIT_S: u64 = 90;
const DEFAULT_WAIT_S: u64 = 60;
/// Progress notifications come at least this often, keeping clients' idle
/// timeouts from firing on long jobs.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// Agent activity is reported at most this often.
const ACTIVITY_GAP: Duration = Duration::from_secs(1);

/// A job to submit.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitArgs {
    /// What the agent should do. Passed to the agent as one argument, never through a shell.
    pub prompt: String,
    /// Working directory of the agent (default: the project directory).
    pub cwd: Option<String>,
    /// Agent profile from ringmaster.yaml (default: `claude`).
    pub agent: Option<String>,
    /// Model for the agent, e.g. `sonnet`.
    pub model: Option<String>,
    /// Higher starts earlier; default 0.
    pub priority: Option<i32>,
    /// Labels for filtering and statistics.
    pub tags: Option<Vec<String>>,
    /// Hard timeout per attempt, in seconds (default: estimated from similar past jobs).
    #[schemars(range(min = 1, max = 86400))]
    pub timeout_s: Option<u64>,
    /// Retries after a failed first attempt (default from ringmaster.yaml, 2).
    #[schemars(range(max = 100))]
    pub max_retries: Option<u32>,
    /// Agent session id to continue (`--resume`).
    pub resume_session: Option<String>,
    /// Turn limit for the agent.
    #[schemars(range(min = 1, max = 10000))]
    pub max_turns: Option<u32>,
    /// Tools the agent may use, e.g. `["Read", "Bash(git diff:*)"]`.
    pub allowed_tools: Option<Vec<String>>,
}

impl SubmitArgs {
    fn into_spec(self) -> JobSpec {
        JobSpec {
            prompt: self.prompt,
            cwd: self.cwd.map(PathBuf::from),
            agent: self.agent,
            model: self.model,
            priority: self.priority.unwrap_or(0),
            tags: self.tags.unwrap_or_default(),
            timeout_s: self.timeout_s,
            max_retries: self.max_retries,
            resume_session: self.resume_session,
            max_turns: self.max_turns,
            allowed_tools: self.allowed_tools.unwrap_or_default(),
            env: Default::default(),
            parent_job_id: None,
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchArgs {
    /// The jobs, each with the same fields as job_submit.
    pub jobs: Vec<SubmitArgs>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobIdArgs {
    /// The job's id, as returned by job_submit.
    pub job_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitArgs {
    /// The jobs to wait for.
    pub job_ids: Vec<String>,
    /// Longest wait in seconds (default 60, at most 90). Returns earlier when all are finished.
    pub timeout_s: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutputArgs {
    pub job_id: String,
    /// First transcript line to return (0-based; default 0).
    pub offset: Option<usize>,
    /// Lines to return (default 100, at most 1000).
    pub limit: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    /// Only jobs with this status: queued, running, retry_wait, succeeded, failed, timed_out, cancelled.
    pub status: Option<String>,
    /// Only jobs with this tag.
    pub tag: Option<String>,
    /// Most records to return, newest first (default 50, at most 500).
    pub limit: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandRunArgs {
    /// The command's name, as command_list shows it (a leading `/` is fine).
    pub name: String,
    /// The argument string, as typed after the command; split with shell-style quoting.
    pub arguments: Option<String>,
    /// Wait for the job to finish and return its record (default: return the job id at once).
    pub wait: Option<bool>,
}

/// The MCP server: tools over the engine and the plugin host.
#[derive(Clone)]
pub struct Ringmaster {
    engine: Engine,
    plugins: Arc<PluginHost>,
    commands: Arc<Commands>,
    hooks: Arc<Hooks>,
    /// Fires when the prompt list may have changed.
    prompts_changed: watch::Receiver<u64>,
    /// The job this session serves inside (its submissions are sub-jobs).
    parent: Option<String>,
    /// The level the client asked plugin logs at (`logging/setLevel`); none
    /// are sent before it asks.
    #[allow(deprecated)] // MCP logging: see `super::logs`.
    log_level: Arc<Mutex<Option<LoggingLevel>>>,
    tool_router: ToolRouter<Self>,
}

/// A time no wait reaches (a disabled `select!` branch still needs one).
fn far_future() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(86_400 * 365)
}

fn ok(text: String, value: Value) -> Result<CallToolResult, ErrorData> {
    let mut result = CallToolResult::structured(value);
    result.content = vec![ContentBlock::text(text)];
    Ok(result)
}

fn failed(message: impl std::fmt::Display) -> Result<CallToolResult, ErrorData> {
    Ok(CallToolResult::error(vec![ContentBlock::text(message.to_string())]))
}

fn record_json(record: &JobRecord) -> Value {
    serde_json::to_value(record).expect("records serialise")
}

fn summary(record: &JobRecord) -> String {
    let mut line = format!("job {} is {}", record.job_id, record.status.as_str());
    if let Some(error) = &record.error {
        line.push_str(&format!(": {error}"));
    }
    line
}

fn parse_status(text: &str) -> Option<JobStatus> {
    serde_json::from_value(Value::String(text.to_string())).ok()
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
            log_level: Arc::default(),
            tool_router: Self::tool_router(),
        }
    }

    /// The same server, for an MCP session inside job `parent` (reached
    /// through the engine socket): what it submits are sub-jobs of `parent`.
    pub fn for_job(&self, parent: Option<String>) -> Ringmaster {
        Ringmaster { parent, log_level: Arc::default(), ..self.clone() }
    }

    /// Queues `spec` (a sub-job, in a session inside a job).
    async fn queue(&self, mut spec: JobSpec) -> Result<JobRecord, String> {
        if spec.parent_job_id.is_none() {
            spec.parent_job_id = self.parent.clone();
        }
        self.engine.submit(spec).await.map_err(|e| e.to_string())
    }

    async fn submit(&self, spec: JobSpec) -> Result<Value, String> {
        let record = self.queue(spec).await?;
        let position = self.engine.queue_position(&record.job_id);
        let estimated_start_s = self.engine.estimated_start(&record.job_id).map(|d| d.as_secs_f64().ceil() as u64);
        Ok(json!({
            "job_id": record.job_id,
            "status": record.status,
            "queue_position": position,
            "estimated_start_s": estimated_start_s,
        }))
    }

    /// Waits for `ids` (at most `timeout`, when given), sending progress
    /// notifications when the client asked for them; cancels the jobs if
    /// `cancel_on_abort` and the request is cancelled. Between events it
    /// sleeps: only a status change, agent activity (with a progress token),
    /// a due notification or the deadline wakes it.
    async fn wait_with_progress(
        &self,
        ids: &[String],
        timeout: Option<Duration>,
        context: &RequestContext<RoleServer>,
        cancel_on_abort: bool,
    ) -> Result<Vec<JobRecord>, EngineError> {
        let token: Option<ProgressToken> = context.meta.get_progress_token();
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        let mut changes = self.engine.subscribe();
        let mut activity = self.engine.subscribe_activity();
        let mut step = 0.0;
        let (mut last_status, mut last_message) = (String::new(), String::new());
        let mut last_sent = tokio::time::Instant::now();
        loop {
            let mut records = Vec::with_capacity(ids.len());
            for id in ids {
                records.push(self.engine.status(id).await?);
            }
            if records.iter().all(|r| r.status.is_terminal())
                || deadline.is_some_and(|d| tokio::time::Instant::now() >= d)
            {
                return Ok(records);
            }
            // Status changes are reported at once; agent activity at most
            // every ACTIVITY_GAP; something at least every PROGRESS_EVERY.
            let (mut activity_due, mut heartbeat_due) = (None, None);
            if let Some(token) = &token {
                let status = self.progress_message(&records);
                let message = match self.activity_count(&records) {
                    0 => status.clone(),
                    events => format!("{status}; {events} agent events"),
                };
                let now = tokio::time::Instant::now();
                let heartbeat = now >= last_sent + PROGRESS_EVERY;
                let activity_ready = message != last_message && now >= last_sent + ACTIVITY_GAP;
                if step == 0.0 || status != last_status || activity_ready || heartbeat {
                    step += 1.0;
                    let param = ProgressNotificationParam::new(token.clone(), step).with_message(message.clone());
                    let _ = context.peer.notify_progress(param).await;
                    (last_status, last_message, last_sent) = (status, message, now);
                } else if message != last_message {
                    activity_due = Some(last_sent + ACTIVITY_GAP);
                }
                heartbeat_due = Some(last_sent + PROGRESS_EVERY);
            }
            let at = |due: Option<tokio::time::Instant>| tokio::time::sleep_until(due.unwrap_or_else(far_future));
            tokio::select! {
                _ = changes.changed() => {}
                _ = activity.changed(), if token.is_some() && activity_due.is_none() => {}
                () = at(activity_due), if activity_due.is_some() => {}
                () = at(heartbeat_due), if heartbeat_due.is_some() => {}
                () = at(deadline), if deadline.is_some() => {}
                () = context.ct.cancelled() => {
                    if cancel_on_abort {
                        for id in ids {
                            let _ = self.engine.cancel(id).await;
                        }
                    }
                    return Ok(records);
                }
            }
        }
    }

    /// Agent activity in a single running job (none is counted for a set).
    fn activity_count(&self, records: &[JobRecord]) -> u32 {
        match records {
            [record] if record.status == JobStatus::Running => self.engine.activity(&record.job_id),
            _ => 0,
        }
    }

    /// Submits `spec` and waits for it to finish, with progress; cancelling
    /// the request cancels the job.
    async fn run_to_end(
        &self,
        spec: JobSpec,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let id = match self.submit(spec).await {
            Ok(value) => value["job_id"].as_str().unwrap_or_default().to_string(),
            Err(message) => return failed(message),
        };
        match self.wait_with_progress(&[id], None, context, true).await {
            Ok(mut records) => {
                let record = records.remove(0);
                ok(summary(&record), record_json(&record))
            }
            Err(err) => failed(err),
        }
    }

    /// `job_run` as a task: queue the job and return its task at once.
    async fn job_run_task(&self, request: CallToolRequestParams) -> Result<CallToolResponse, ErrorData> {
        let arguments = Value::Object(request.arguments.unwrap_or_default());
        let args: SubmitArgs = serde_json::from_value(arguments)
            .map_err(|err| ErrorData::invalid_params(format!("job_run: {err}"), None))?;
        match self.queue(args.into_spec()).await {
            Ok(record) => {
                let message = self.progress_message(std::slice::from_ref(&record));
                Ok(CallToolResponse::Task(CreateTaskResult::new(tasks::task(&record, TaskStatus::Working, message))))
            }
            Err(message) => Ok(CallToolResponse::Complete(failed(message)?)),
        }
    }

    /// The job a task id names.
    async fn task_job(&self, task_id: &str) -> Result<JobRecord, ErrorData> {
        self.engine.status(task_id).await.map_err(|_| {
            ErrorData::invalid_params(format!("no task {task_id}; task ids are the job ids job_run returned"), None)
        })
    }

    /// The command list, computed off the async runtime (it calls plugins).
    async fn command_infos(&self) -> Vec<crate::commands::CommandInfo> {
        let commands = self.commands.clone();
        tokio::task::spawn_blocking(move || commands.list()).await.unwrap_or_default()
    }

    fn progress_message(&self, records: &[JobRecord]) -> String {
        if let [record] = records {
            return match record.status {
                JobStatus::Queued => {
                    let position = self.engine.queue_position(&record.job_id);
                    let mut message = position.map_or("queued".into(), |p| format!("queued, position {p}"));
                    if let Some(why) = &record.waiting_for {
                        message.push_str(" — ");
                        message.push_str(why);
                    }
                    message
                }
                JobStatus::Running => format!("running, attempt {}", record.attempts),
                JobStatus::RetryWait => format!("attempt {} failed; retry scheduled", record.attempts),
                status => status.as_str().to_string(),
            };
        }
        let done = records.iter().filter(|r| r.status.is_terminal()).count();
        let running = records.iter().filter(|r| r.status == JobStatus::Running).count();
        format!("{done} of {} finished, {running} running", records.len())
    }
}

#[tool_router]
impl Ringmaster {
    /// Queue a job for an agent; returns at once with its id.
    #[tool(description = "Queue a job for a coding agent (claude -p) and return at once with its job_id, status, \
                          queue_position and estimated_start_s (seconds until it may start, from the queue ahead \
                          and how long jobs have been taking; null before any finished). Jobs over a concurrency \
                          limit wait; they are never rejected for it.")]
    async fn job_submit(&self, Parameters(args): Parameters<SubmitArgs>) -> Result<CallToolResult, ErrorData> {
        match self.submit(args.into_spec()).await {
            Ok(value) => ok(format!("queued job {}", value["job_id"].as_str().unwrap_or_default()), value),
            Err(message) => failed(message),
        }
    }

    #[tool(description = "Queue several jobs at once; returns their job_ids in order. Stops at the first job that \
                          is refused and says which.")]
    async fn job_submit_batch(&self, Parameters(args): Parameters<BatchArgs>) -> Result<CallToolResult, ErrorData> {
        let mut ids = Vec::new();
        for (index, job) in args.jobs.into_iter().enumerate() {
            match self.submit(job.into_spec()).await {
                Ok(value) => ids.push(value["job_id"].clone()),
                Err(message) => {
                    return failed(format!(
                        "job {index} of the batch was refused: {message}; jobs {ids:?} were queued"
                    ));
                }
            }
        }
        ok(format!("queued {} jobs", ids.len()), json!({ "job_ids": ids }))
    }

    #[tool(description = "Run a job and wait for it to finish; returns its record. Sends progress notifications \
                          while it waits; cancelling the request cancels the job.")]
    async fn job_run(
        &self,
        Parameters(args): Parameters<SubmitArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.run_to_end(args.into_spec(), &context).await
    }

    #[tool(description = "The record of a job: status, attempts, timings, result, error, cost, usage.")]
    async fn job_status(&self, Parameters(args): Parameters<JobIdArgs>) -> Result<CallToolResult, ErrorData> {
        match self.engine.status(&args.job_id).await {
            Ok(record) => ok(summary(&record), record_json(&record)),
            Err(err) => failed(err),
        }
    }

    #[tool(description = "Wait until all the given jobs have finished (or timeout_s, default 60, at most 90) and \
                          return their records. Sends progress notifications while it waits.")]
    async fn job_wait(
        &self,
        Parameters(args): Parameters<WaitArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        if args.job_ids.is_empty() {
            return failed("job_ids is empty: pass the ids returned by job_submit");
        }
        let timeout = Duration::from_secs(args.timeout_s.unwrap_or(DEFAULT_WAIT_S).min(MAX_WAIT_S));
        match self.wait_with_progress(&args.job_ids, Some(timeout), &context, false).await {
            Ok(records) => {
                let done = records.iter().filter(|r| r.status.is_terminal()).count();
                let text = format!("{done} of {} jobs finished", records.len());
                ok(text, json!({ "jobs": records.iter().map(record_json).collect::<Vec<_>>() }))
            }
            Err(err) => failed(err),
        }
    }

    #[tool(description = "The final result text of a finished job, with its record.")]
    async fn job_result(&self, Parameters(args): Parameters<JobIdArgs>) -> Result<CallToolResult, ErrorData> {
        match self.engine.status(&args.job_id).await {
            Ok(record) if !record.status.is_terminal() => failed(format!(
                "job {} has not finished (it is {}); use job_wait to wait for it",
                record.job_id,
                record.status.as_str()
            )),
            Ok(record) => {
                let text = record.result.clone().or_else(|| record.error.clone()).unwrap_or_default();
                ok(text.clone(), json!({ "result": text, "record": record_json(&record) }))
            }
            Err(err) => failed(err),
        }
    }

    #[tool(description = "A page of a job's transcript: the agent's stream-json events, oldest first.")]
    async fn job_output(&self, Parameters(args): Parameters<OutputArgs>) -> Result<CallToolResult, ErrorData> {
        if let Err(err) = self.engine.status(&args.job_id).await {
            return failed(err);
        }
        let offset = args.offset.unwrap_or(0);
        let limit = args.limit.unwrap_or(100).min(1000);
        match self.engine.transcript(&args.job_id, offset, limit) {
            Ok(lines) => {
                let events: Vec<Value> = lines
                    .iter()
                    .map(|(attempt, line)| {
                        let event = serde_json::from_str(line).unwrap_or_else(|_| Value::String(line.clone()));
                        json!({ "attempt": attempt, "event": event })
                    })
                    .collect();
                let next = (events.len() == limit).then_some(offset + limit);
                ok(format!("{} transcript events", events.len()), json!({ "events": events, "next_offset": next }))
            }
            Err(err) => failed(err),
        }
    }

    #[tool(description = "Job records, newest first, optionally filtered by status or tag.")]
    async fn job_list(&self, Parameters(args): Parameters<ListArgs>) -> Result<CallToolResult, ErrorData> {
        let status = match args.status.as_deref().map(|s| (s, parse_status(s))) {
            Some((text, None)) => {
                return failed(format!(
                    "unknown status {text:?}; use one of queued, running, retry_wait, succeeded, failed, timed_out, cancelled"
                ));
            }
            Some((_, status)) => status,
            None => None,
        };
        let limit = args.limit.unwrap_or(50).min(500);
        match self.engine.list(&JobFilter { status, tag: args.tag }, limit) {
            Ok(records) => {
                let records: Vec<Value> = records.iter().map(record_json).collect();
                ok(format!("{} jobs", records.len()), json!({ "jobs": records }))
            }
            Err(err) => failed(err),
        }
    }

    #[tool(description = "Cancel a queued, waiting or running job (a running agent is stopped); returns its record.")]
    async fn job_cancel(&self, Parameters(args): Parameters<JobIdArgs>) -> Result<CallToolResult, ErrorData> {
        match self.engine.cancel(&args.job_id).await {
            Ok(record) => ok(summary(&record), record_json(&record)),
            Err(err) => failed(err),
        }
    }

    #[tool(
        description = "The engine's state: queued and running jobs, limits, token slots (by index), jobs by status."
    )]
    async fn engine_stats(&self, Parameters(_): Parameters<NoArgs>) -> Result<CallToolResult, ErrorData> {
        match self.engine.stats() {
            Ok(stats) => {
                let text = format!("{} running, {} queued", stats.running, stats.queued);
                ok(text, serde_json::to_value(stats).expect("stats serialise"))
            }
            Err(err) => failed(err),
        }
    }

    #[tool(description = "The loaded plugins: name, version, extension points, status, last error, load time, \
                          calls, failures and call latency.")]
    async fn plugin_list(&self, Parameters(_): Parameters<NoArgs>) -> Result<CallToolResult, ErrorData> {
        let plugins = self.plugins.list();
        ok(format!("{} plugins", plugins.len()), json!({ "plugins": plugins }))
    }

    #[tool(description = "The slash commands ringmaster offers (markdown files in its command directories and \
                          plugin commands): name, description, argument hint, source, status and any load error.")]
    async fn command_list(&self, Parameters(_): Parameters<NoArgs>) -> Result<CallToolResult, ErrorData> {
        let commands = self.command_infos().await;
        ok(format!("{} commands", commands.len()), json!({ "commands": commands }))
    }

    #[tool(description = "Run a slash command: render it with the arguments and submit it as a job with the \
                          command's options (model, tools, priority, tags, timeout, agent). Returns the job id, or \
                          with wait=true the finished job's record. Plugin commands may answer with text instead.")]
    async fn command_run(
        &self,
        Parameters(args): Parameters<CommandRunArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let prepared = match self.commands.prepare(&args.name, args.arguments.as_deref().unwrap_or("")).await {
            Ok(prepared) => prepared,
            Err(message) => return failed(message),
        };
        match prepared {
            Prepared::Text(text) => ok(text.clone(), json!({ "text": text })),
            Prepared::Job(spec) if args.wait.unwrap_or(false) => self.run_to_end(*spec, &context).await,
            Prepared::Job(spec) => match self.submit(*spec).await {
                Ok(value) => ok(
                    format!(
                        "/{} queued as job {}",
                        args.name.trim_start_matches('/'),
                        value["job_id"].as_str().unwrap_or_default()
                    ),
                    value,
                ),
                Err(message) => failed(message),
            },
        }
    }

    #[tool(description = "The configured hook handlers: event, matcher, type (command or wasm), command or plugin, \
                          timeout, source file, status and any load error.")]
    async fn hook_list(&self, Parameters(_): Parameters<NoArgs>) -> Result<CallToolResult, ErrorData> {
        let hooks = self.hooks.list();
        ok(format!("{} hook handlers", hooks.len()), json!({ "hooks": hooks }))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Ringmaster {
    /// As the generated one, but an unknown tool's error names the tool and
    /// lists the real ones.
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if !self.tool_router.has_route(&request.name) {
            let known: Vec<String> = self.tool_router.list_all().into_iter().map(|t| t.name.to_string()).collect();
            let message = format!("unknown tool {:?}; ringmaster's tools are: {}", request.name, known.join(", "));
            return Err(ErrorData::invalid_params(message, None));
        }
        if request.name == "job_run" && context.client_capabilities().is_some_and(|c| c.supports_tasks()) {
            return self.job_run_task(request).await;
        }
        self.tool_router.call(ToolCallContext::new(self, request, context)).await
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        let record = self.task_job(&request.task_id).await?;
        let message = self.progress_message(std::slice::from_ref(&record));
        let done = || {
            let mut result = CallToolResult::structured(record_json(&record));
            result.content = vec![ContentBlock::text(summary(&record))];
            result
        };
        Ok(GetTaskResult::new(tasks::detailed(&record, message, done)))
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.task_job(&request.task_id).await?;
        // Cancellation completes in the background; tasks/get shows it.
        let engine = self.engine.clone();
        tokio::spawn(async move { engine.cancel(&request.task_id).await });
        Ok(())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(resources::resources()))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(resources::templates()))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let contents = resources::read(&self.engine, &self.plugins, &request.uri).await?;
        Ok(ReadResourceResult::new(vec![contents]).into())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let commands = self.command_infos().await;
        let runnable = commands.iter().filter(|c| matches!(c.status, "active" | "stale"));
        Ok(ListPromptsResult::with_all_items(runnable.map(prompts::prompt).collect()))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let commands = self.command_infos().await;
        let Some(command) = commands.iter().find(|c| c.name == request.name && matches!(c.status, "active" | "stale"))
        else {
            let known: Vec<&str> = commands.iter().map(|c| c.name.as_str()).collect();
            let message = format!("unknown prompt {:?}; ringmaster's prompts are: {}", request.name, known.join(", "));
            return Err(ErrorData::invalid_params(message, None));
        };
        let arguments = prompts::argument_string(command.argument_hint.as_deref(), request.arguments.as_ref())
            .map_err(|message| ErrorData::invalid_params(format!("prompt {}: {message}", command.name), None))?;
        let text = match self.commands.prepare(&command.name, &arguments).await {
            Ok(Prepared::Job(spec)) => spec.prompt,
            Ok(Prepared::Text(text)) => text,
            Err(message) => return Err(ErrorData::invalid_params(message, None)),
        };
        let result = GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)])
            .with_description(command.description.clone());
        Ok(result.into())
    }

    #[allow(deprecated)] // MCP logging: see `super::logs`.
    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        *self.log_level.lock() = Some(request.level);
        Ok(())
    }

    /// From now on, tells the client when the prompt list changes, and
    /// forwards plugin log lines at the level it asked for.
    #[allow(deprecated)] // MCP logging: see `super::logs`.
    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let mut changes = self.prompts_changed.clone();
        changes.mark_unchanged();
        let mut plugin_logs = logs::subscribe();
        let mut store = self.engine.subscribe_store();
        store.mark_unchanged();
        let level = self.log_level.clone();
        tokio::spawn(async move {
            loop {
                let sent = tokio::select! {
                    changed = changes.changed() => match changed {
                        Ok(()) => context.peer.notify_prompt_list_changed().await.is_ok(),
                        Err(_) => return,
                    },
                    // The store's condition reaches every client that has not
                    // asked for less than errors: it stops all new work.
                    changed = store.changed() => match changed {
                        Ok(()) => {
                            let fault = store.borrow_and_update().clone();
                            let (severity, data) = match fault {
                                Some(error) => (LoggingLevel::Error, json!({"message": "the job store cannot be written: \
                                    no job starts and submissions are refused until it can", "error": error})),
                                None => (LoggingLevel::Notice, json!({"message": "the job store is writable again; jobs start again"})),
                            };
                            let wanted = level.lock().is_none_or(|t| logs::passes(severity, t));
                            !wanted || context.peer.notify_logging_message(
                                LoggingMessageNotificationParam::new(severity, data).with_logger("ringmaster"),
                            ).await.is_ok()
                        }
                        Err(_) => return,
                    },
                    line = plugin_logs.recv() => match line {
                        Ok(line) => {
                            let threshold = *level.lock();
                            match threshold.filter(|t| logs::passes(line.level, *t)) {
                                None => true,
                                Some(_) => {
                                    let param = LoggingMessageNotificationParam::new(line.level, Value::Object(line.data))
                                        .with_logger(format!("plugin:{}", line.plugin));
                                    context.peer.notify_logging_message(param).await.is_ok()
                                }
                            }
                        }
                        // A burst overflowed the backlog: the lines lost are gone; go on.
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => true,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    },
                };
                // The client is gone.
                if !sent {
                    return;
                }
            }
        });
    }

    fn get_info(&self) -> ServerConfig {
        // MCP logging: see `super::logs`.
        #[allow(deprecated)]
        let capabilities = ServerCapabilities::builder()
            .enable_tasks()
            .enable_logging()
            .enable_tools()
            .enable_resources()
            .enable_prompts()
            .enable_prompts_list_changed();
        let mut info = ServerConfig::new(capabilities.build());
        info.server_info = Implementation::new("ringmaster", env!("CARGO_PKG_VERSION"));
        info.instructions = Some(
            "ringmaster runs coding-agent jobs in parallel. Submit with job_submit (or job_submit_batch), then \
             job_wait and job_result; job_run does both for one job. Jobs over a limit wait rather than fail."
                .into(),
        );
        info
    }
}
