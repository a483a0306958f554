//! The tools, one file per group; [`Ringmaster::tools`] is all of them.

mod commands;
mod inspect;
mod jobs;
mod queue;
mod review;
mod schedules;

use super::server::Ringmaster;
use rmcp::handler::server::router::tool::ToolRouter;

impl Ringmaster {
    /// Every tool ringmaster serves.
    pub(super) fn tools() -> ToolRouter<Self> {
        Self::job_tools()
            + Self::queue_tools()
            + Self::review_tools()
            + Self::schedule_tools()
            + Self::command_tools()
            + Self::inspect_tools()
    }
}
