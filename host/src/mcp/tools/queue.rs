//! Holding the queue: `queue_pause` and `queue_resume`, for every job or
//! the jobs of one tag (see [`crate::engine::Engine::set_paused`]).

use crate::job::Pauses;
use crate::mcp::args::PauseArgs;
use crate::mcp::server::{Ringmaster, failed, ok};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{ErrorData, tool, tool_router};

fn summary(pauses: &Pauses) -> String {
    let tags: Vec<&str> = pauses.tags.iter().map(String::as_str).collect();
    match (pauses.all, tags.is_empty()) {
        (true, _) => "the queue is paused: no job starts; running jobs go on".into(),
        (false, true) => "the queue runs".into(),
        (false, false) => format!("jobs tagged {} do not start; the rest of the queue runs", tags.join(", ")),
    }
}

#[tool_router(router = queue_tools, vis = "pub(super)")]
impl Ringmaster {
    #[tool(description = "Stop starting queued jobs: all of them, or those with `tag`. Running jobs finish; held \
                          jobs keep their place in the queue. The pause outlives sessions and restarts until \
                          queue_resume. Returns the pauses in force.")]
    async fn queue_pause(&self, Parameters(args): Parameters<PauseArgs>) -> Result<CallToolResult, ErrorData> {
        match self.set_paused(args.tag, true).await {
            Ok(pauses) => ok(summary(&pauses), serde_json::json!({ "paused": pauses })),
            Err(err) => failed(err),
        }
    }

    #[tool(description = "End a pause made by queue_pause: of the whole queue (no `tag`), or of one tag. \
                          Returns the pauses still in force.")]
    async fn queue_resume(&self, Parameters(args): Parameters<PauseArgs>) -> Result<CallToolResult, ErrorData> {
        match self.set_paused(args.tag, false).await {
            Ok(pauses) => ok(summary(&pauses), serde_json::json!({ "paused": pauses })),
            Err(err) => failed(err),
        }
    }
}
