//! What is loaded and how the engine stands: engine statistics, plugins,
//! hook handlers.

use crate::mcp::args::NoArgs;
use crate::mcp::server::{Ringmaster, failed, ok};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{ErrorData, tool, tool_router};
use serde_json::json;

#[tool_router(router = inspect_tools, vis = "pub(super)")]
impl Ringmaster {
    #[tool(description = "The engine's state: queued and running jobs, limits, token slots (by index), jobs by \
                          status; and where the running engine's settings differ from what this session's \
                          `ringmaster serve` was started with (the engine keeps its own).")]
    async fn engine_stats(&self, Parameters(_): Parameters<NoArgs>) -> Result<CallToolResult, ErrorData> {
        match self.engine.stats() {
            Ok(stats) => {
                let mut text = format!("{} running, {} queued", stats.running, stats.queued);
                let mut value = serde_json::to_value(stats).expect("stats serialise");
                if !self.settings_differ.is_empty() {
                    text.push_str(&format!(
                        "; the engine's settings differ from this session's: {}",
                        self.settings_differ.join("; ")
                    ));
                    value["settings_differ"] = json!(self.settings_differ.as_ref());
                }
                ok(text, value)
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

    #[tool(description = "The configured hook handlers: event, matcher, type (command or wasm), command or plugin, \
                          timeout, source file, status and any load error.")]
    async fn hook_list(&self, Parameters(_): Parameters<NoArgs>) -> Result<CallToolResult, ErrorData> {
        let hooks = self.hooks.list();
        ok(format!("{} hook handlers", hooks.len()), json!({ "hooks": hooks }))
    }
}
