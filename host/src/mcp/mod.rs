//! The MCP layer: `ringmaster serve` speaks the Model Context Protocol over
//! stdio and turns tool calls into engine calls. Nothing but protocol is ever
//! written to stdout; logs go to stderr.
//!
//! Every tool takes a JSON object and returns structured content (the job
//! record, a list of records, statistics) plus one line of text for people.
//! A tool that ran and failed (unknown job, refused submission) answers with
//! an error result whose text says what was wrong and how to fix it; only a
//! malformed request is a protocol error.
//!
//! * `server` — [`Ringmaster`], the value each session holds, and what the
//!   tools share (queueing, result shapes).
//! * `args` — the tools' arguments and their schemas.
//! * `tools` — the tools, one file per group (jobs, commands, inspection).
//! * `progress` — waiting for jobs with progress notifications.
//! * `handler` — the MCP server handler: tool calls, tasks, resources,
//!   prompts, logging, list-changed notifications.
//! * `prompts` — slash commands as MCP prompts.
//! * `resources` — job records, transcripts, statistics and plugins by URI.
//! * `tasks` — `job_run` as an MCP task for clients of the tasks extension.
//! * `logs` — plugin log lines as MCP log notifications.
//! * `transport` — the boundary every client message crosses first.
//!
//! [`serve`] assembles a server: plugins, commands, hooks, the engine and its
//! socket, and the watchers that reload them. Inside a job, [`forward`]
//! carries the session to the root ringmaster instead.

mod args;
mod handler;
pub mod logs;
mod progress;
mod prompts;
mod resources;
mod server;
mod tasks;
mod tools;
pub mod transport;

use crate::commands::{Commands, CommandsOptions};
use crate::config::Config;
use crate::config::live::LiveConfig;
use crate::credentials;
use crate::engine::{Engine, EngineOptions};
use crate::executor::shell::Shell;
use crate::hooks::{Hooks, HooksOptions};
use crate::plugin::registry::{PluginEvent, PluginHost};
use crate::plugin::reload::watch;
use crate::policy::Policies;
use crate::remote;
use crate::remote::server::McpSessions;
use crate::store::Store;
use anyhow::Context;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch as signal;

pub use server::Ringmaster;

/// Runs the MCP server on stdin/stdout until the client disconnects.
/// `config` is in force (with the command line's additions); `config_file`,
/// when there is one, is watched and reloaded live.
pub async fn serve(
    config: Config,
    config_file: Option<PathBuf>,
    project_dir: PathBuf,
    state_dir: PathBuf,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&state_dir)
        .with_context(|| format!("cannot create the state directory {}", state_dir.display()))?;
    let plugins = PluginHost::new(config.plugins.clone(), Some(state_dir.join("plugin-cache")))?;
    // Answer `initialize` at once; plugins compile in the background and the
    // built-in policies answer until they are loaded.
    let loading = plugins.clone();
    std::thread::Builder::new().name("plugin-load".into()).spawn(move || loading.load_all())?;
    let _plugin_watcher = watch(plugins.clone()).context("cannot watch the plugin directories")?;

    let shell = Arc::new(Shell::new(config.shell.max_processes, &config.shell.pass_env));
    let commands = Commands::new(
        CommandsOptions {
            dirs: config.command_dirs(&project_dir),
            project_dir: project_dir.clone(),
            shell: config
                .commands
                .allow_shell
                .then(|| (shell.clone(), Duration::from_secs(config.commands.shell_timeout_s))),
        },
        plugins.clone(),
    );
    let _command_watcher = commands.watch().context("cannot watch the command directories")?;
    let hooks = Hooks::new(
        HooksOptions {
            dirs: config.hook_dirs(&project_dir),
            project_dir: project_dir.clone(),
            command_timeout: Duration::from_secs(config.hooks.command_timeout_s),
            shell,
        },
        plugins.clone(),
    );
    let _hook_watcher = hooks.watch().context("cannot watch the hook directories")?;

    let mut engine_config = config.engine.clone();
    engine_config.apply_env(|name| std::env::var(name).ok())?;
    let policies = Arc::new(Policies::new(plugins.clone()));
    let store_path = state_dir.join("jobs.db");
    let socket = remote::socket_path(&state_dir);
    let bound = remote::server::bind(&socket).await?;
    let engine = Engine::start(EngineOptions {
        config: engine_config,
        agents: config.agents.clone(),
        project_dir,
        tokens: credentials::tokens(&config.tokens, |name| std::env::var(name).ok())
            .map_err(|err| anyhow::anyhow!("ringmaster.yaml {err}"))?,
        credential_vars: credentials::credential_vars(&config.tokens),
        policies: policies.clone(),
        hooks: Some(hooks.clone()),
        store: Store::open(&store_path)
            .with_context(|| format!("cannot open the job store {}", store_path.display()))?,
        wiring: remote::wiring(&std::env::current_exe()?, &socket, config.hooks.in_agents),
    })
    .await?;
    let _config_watcher = match config_file {
        Some(path) => Some(watch_config(path, &engine, &policies)?),
        None => None,
    };
    let prompts_changed = prompts_changed(&commands, &plugins);
    let server = Ringmaster::new(engine.clone(), plugins, commands, hooks.clone(), prompts_changed);
    let sessions = server.clone();
    let mcp: McpSessions = Arc::new(move |read, write, job| {
        let session = sessions.for_job(job);
        tokio::spawn(async move {
            if let Err(err) = transport::serve(session, read, write).await {
                tracing::warn!(error = %err, "an MCP session from inside a job ended with an error");
            }
        });
    });
    let _socket = bound.serve(engine.clone(), Some(hooks), Some(mcp));
    tracing::info!(state = %state_dir.display(), "ringmaster serving MCP on stdio");

    transport::serve(server, tokio::io::stdin(), tokio::io::stdout()).await?;
    engine.stop().await;
    Ok(())
}

/// Reloads `path` live into the engine and the policy selection.
fn watch_config(path: PathBuf, engine: &Engine, policies: &Arc<Policies>) -> anyhow::Result<crate::watch::DirWatcher> {
    // The file as written, without the command line's additions, is what
    // later versions are compared with.
    let live = LiveConfig::new(path.clone(), Config::load(&path)?);
    let (engine, policies) = (engine.clone(), policies.clone());
    let watcher = live.watch(move |new| {
        let mut engine_config = new.engine.clone();
        engine_config.apply_env(|name| std::env::var(name).ok()).map_err(|e| e.to_string())?;
        engine.reconfigure(engine_config, new.agents.clone());
        policies.select_plugins(new.plugins.policies.clone());
        engine.rerank();
        Ok(())
    });
    watcher.with_context(|| format!("cannot watch {}", path.display()))
}

/// A signal that fires whenever the prompt list may have changed: a command
/// file changed, or a plugin (which may export commands) came or went.
fn prompts_changed(commands: &Commands, plugins: &PluginHost) -> signal::Receiver<u64> {
    let (tx, rx) = signal::channel(0);
    let tx = Arc::new(tx);
    let mut files = commands.subscribe();
    let on_files = tx.clone();
    tokio::spawn(async move {
        while files.changed().await.is_ok() {
            on_files.send_modify(|n| *n += 1);
        }
    });
    let events = plugins.subscribe();
    std::thread::Builder::new()
        .name("plugin-events".into())
        .spawn(move || {
            for event in events {
                if matches!(event, PluginEvent::Loaded { .. } | PluginEvent::Unloaded { .. }) {
                    tx.send_modify(|n| *n += 1);
                }
            }
        })
        .expect("spawning the plugin event bridge");
    rx
}

/// `ringmaster serve` inside a job: the MCP session is served by the root
/// ringmaster, reached through the engine socket, so the agent's tools act on
/// the root engine (its jobs are sub-jobs of this job, under the tree's
/// limits). This process only carries bytes between stdio and the socket.
pub async fn forward(socket: &std::path::Path, job_id: Option<String>) -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt;
    let stream = tokio::net::UnixStream::connect(socket)
        .await
        .with_context(|| format!("cannot reach the root ringmaster at {}", socket.display()))?;
    let (mut from_root, mut to_root) = stream.into_split();
    let mut hello = serde_json::to_string(&remote::Request::Mcp { job_id }).expect("requests serialise");
    hello.push('\n');
    to_root.write_all(hello.as_bytes()).await?;
    let upstream = async {
        tokio::io::copy(&mut tokio::io::stdin(), &mut to_root).await?;
        to_root.shutdown().await
    };
    let downstream = async {
        let mut stdout = tokio::io::stdout();
        tokio::io::copy(&mut from_root, &mut stdout).await?;
        stdout.flush().await
    };
    // The session ends when either side closes.
    tokio::select! {
        result = upstream => result?,
        result = downstream => result?,
    }
    Ok(())
}
