//! The MCP layer: `ringmaster serve` speaks the Model Context Protocol over
//! stdio and turns tool calls into engine calls. Nothing but protocol is ever
//! written to stdout; logs go to stderr.
//!
//! Every tool takes a JSON object and returns structured content (the job
//! record, a list of records, statistics) plus one line of text for people.
//! A tool that ran and failed (unknown job, refused submission) answers with
//! an error result whose text says what was wrong and how to fix it; only a
//! malformed request is a protocol error.

mod resources;
mod tools;

use crate::config::Config;
use crate::engine::tokens::tokens_from_env;
use crate::engine::{Engine, EngineOptions};
use crate::plugin::registry::PluginHost;
use crate::plugin::watch::watch;
use crate::policy::Policies;
use crate::store::Store;
use anyhow::Context;
use rmcp::ServiceExt;
use std::path::PathBuf;
use std::sync::Arc;

pub use tools::Ringmaster;

/// Runs the MCP server on stdin/stdout until the client disconnects.
pub async fn serve(config: Config, project_dir: PathBuf, state_dir: PathBuf) -> anyhow::Result<()> {
    std::fs::create_dir_all(&state_dir)
        .with_context(|| format!("cannot create the state directory {}", state_dir.display()))?;
    let plugins = PluginHost::new(config.plugins.clone(), Some(state_dir.join("plugin-cache")))?;
    // Answer `initialize` at once; plugins compile in the background and the
    // built-in policies answer until they are loaded.
    let loading = plugins.clone();
    std::thread::Builder::new().name("plugin-load".into()).spawn(move || loading.load_all())?;
    let _watcher = watch(plugins.clone()).context("cannot watch the plugin directories")?;

    let mut engine_config = config.engine.clone();
    engine_config.apply_env(|name| std::env::var(name).ok())?;
    let store_path = state_dir.join("jobs.db");
    let engine = Engine::start(EngineOptions {
        config: engine_config,
        agents: config.agents.clone(),
        project_dir,
        tokens: tokens_from_env(|name| std::env::var(name).ok()),
        policies: Arc::new(Policies::new(plugins.clone())),
        store: Store::open(&store_path)
            .with_context(|| format!("cannot open the job store {}", store_path.display()))?,
    })
    .await?;
    tracing::info!(state = %state_dir.display(), "ringmaster serving MCP on stdio");

    let service = Ringmaster::new(engine.clone(), plugins).serve(rmcp::transport::stdio()).await?;
    service.waiting().await?;
    engine.shutdown();
    Ok(())
}
