//! Slash commands as tools: list them, run one as a job.

use crate::commands::Prepared;
use crate::mcp::args::{CommandRunArgs, NoArgs};
use crate::mcp::server::{Ringmaster, failed, ok};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, tool, tool_router};
use serde_json::json;

#[tool_router(router = command_tools, vis = "pub(super)")]
impl Ringmaster {
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
                Ok(queued) => {
                    ok(format!("/{} queued as job {}", args.name.trim_start_matches('/'), queued.job_id), queued)
                }
                Err(message) => failed(message),
            },
        }
    }
}
