//! The MCP server handler: tool calls (with `job_run` as a task for clients
//! of the tasks extension), tasks, resources, prompts, logging and the
//! list-changed notifications. The tools themselves are in [`super::tools`].

use super::args::SubmitArgs;
use super::server::{Ringmaster, failed, summary};
use super::{logs, prompts, resources, tasks};
use crate::commands::Prepared;
use crate::job::JobRecord;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CancelTaskParams, ContentBlock, CreateTaskResult,
    GetPromptRequestParams, GetPromptResponse, GetPromptResult, GetTaskParams, GetTaskResult, Implementation,
    InitializeRequestParams, InitializeResult, ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult,
    PaginatedRequestParams, PromptMessage, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Role,
    ServerCapabilities, ServerConfig, TaskStatus,
};
#[allow(deprecated)] // MCP logging: see `super::logs`.
use rmcp::model::{LoggingLevel, LoggingMessageNotificationParam, SetLevelRequestParams};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ErrorData, RoleServer, ServerHandler, tool_handler};
use serde_json::{Value, json};

impl Ringmaster {
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
        self.status(task_id).await.map_err(|_| {
            ErrorData::invalid_params(format!("no task {task_id}; task ids are the job ids job_run returned"), None)
        })
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
            let mut result = CallToolResult::structured(serde_json::to_value(&record).expect("records serialise"));
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
        let contents = resources::read(self, &request.uri).await?;
        Ok(ReadResourceResult::new(vec![contents]).into())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let commands = self.command_infos().await;
        let runnable = commands.iter().filter(|c| c.status.runs());
        Ok(ListPromptsResult::with_all_items(runnable.map(prompts::prompt).collect()))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let commands = self.command_infos().await;
        let Some(command) = commands.iter().find(|c| c.name == request.name && c.status.runs()) else {
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

    /// From now on, tells the client when the prompt list changes and when
    /// a job tree it submitted finishes, and forwards plugin log lines at the
    /// level it asked for.
    #[allow(deprecated)] // MCP logging: see `super::logs`.
    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let mut changes = self.prompts_changed.clone();
        changes.mark_unchanged();
        let mut plugin_logs = logs::subscribe();
        let mut store = self.engine.subscribe_store();
        store.mark_unchanged();
        let level = self.log_level.clone();
        let mut trees = self.engine.finished_trees();
        let label = self.client_label();
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
                    // A tree this session submitted finished: its counts and cost.
                    tree = trees.recv() => match tree {
                        Ok(tree) if tree.client.as_deref() == Some(label.as_str()) => {
                            let wanted = level.lock().is_none_or(|t| logs::passes(LoggingLevel::Notice, t));
                            let mut data = serde_json::to_value(&*tree).expect("summaries serialise");
                            data["message"] = Value::String(tree.line());
                            !wanted || context.peer.notify_logging_message(
                                LoggingMessageNotificationParam::new(LoggingLevel::Notice, data).with_logger("ringmaster"),
                            ).await.is_ok()
                        }
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => true,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
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
        server_info()
    }

    /// As the default, remembering the client's name for the records of
    /// what this session submits.
    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        let name: String = request.client_info.name.chars().filter(|c| !c.is_control()).take(64).collect();
        *self.client_name.lock() = Some(name);
        context.peer.set_peer_info(request.clone());
        self.negotiate_initialize(&request)
    }
}

/// What `initialize` answers (before the protocol version is negotiated):
/// the same from the engine and from a front-end answering it early.
pub(super) fn server_info() -> ServerConfig {
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
