//! The engine process: one per state directory, shared by every front-end.
//!
//! Why a process of its own: the work ringmaster runs outlives the session
//! that asked for it (close Claude Code, the jobs go on) and spans sessions
//! (a second window sees the same queue). So the engine, with its store,
//! plugins, watchers and socket, runs as `ringmaster engine`, started on
//! demand by the first client that finds none (see
//! [`crate::remote::launch`]), and every `ringmaster serve` carries its MCP
//! session to it over the socket. `serve --embedded` runs the same
//! [`Daemon`] inside `serve` and ends it with the session.
//!
//! * `process` — the lock that makes it the only one, detaching, its log.
//! * `lifetime` — when it ends: idle exit, `engine stop [--drain]`, a newer
//!   build taking over, signals.

mod lifetime;
pub mod process;

pub use lifetime::Lifetime;

use crate::commands::{Commands, CommandsOptions};
use crate::config::Config;
use crate::config::live::LiveConfig;
use crate::credentials;
use crate::engine::{Engine, EngineOptions};
use crate::executor::shell::Shell;
use crate::hooks::{Hooks, HooksOptions};
use crate::mcp::Ringmaster;
use crate::plugin::registry::{PluginEvent, PluginHost};
use crate::plugin::reload::watch;
use crate::policy::Policies;
use crate::remote;
use crate::remote::lock::EngineLock;
use crate::remote::server::{Listening, McpSessions, Services};
use crate::store::Store;
use crate::watch::DirWatcher;
use anyhow::Context;
use futures::FutureExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch as signal;

/// What an engine is started with.
pub struct Options {
    /// In force, with the command line's additions.
    pub config: Config,
    /// Watched and reloaded live (and on SIGHUP), when there is one.
    pub config_file: Option<PathBuf>,
    pub project_dir: PathBuf,
    pub state_dir: PathBuf,
    /// Whether it outlives its clients (`ringmaster engine`): it then exits
    /// after `engine.idle-exit-s` without clients or unfinished jobs.
    pub idle_exit: bool,
}

/// A running engine and everything around it. Dropping it stops watching
/// and listening; [`Daemon::stop`] ends it properly.
pub struct Daemon {
    engine: Engine,
    server: Ringmaster,
    lifetime: Arc<Lifetime>,
    listening: Listening,
    _watchers: Vec<DirWatcher>,
    _lock: EngineLock,
}

impl Daemon {
    /// Starts the engine of `options.state_dir`: takes its lock (failing
    /// when another engine holds it), opens the store (recovering what a
    /// previous engine left unfinished), starts watching and listening.
    /// Plugins load in the background; the built-in policies answer until
    /// they are in.
    pub async fn start(options: Options) -> anyhow::Result<Daemon> {
        let Options { config, config_file, project_dir, state_dir, idle_exit } = options;
        let lock = EngineLock::take(&state_dir)?;
        let settings = settings(&config, config_file.clone(), &project_dir);
        let plugins = PluginHost::new(config.plugins.clone(), Some(state_dir.join("plugin-cache")))?;
        let loading = plugins.clone();
        std::thread::Builder::new().name("plugin-load".into()).spawn(move || loading.load_all())?;
        let mut watchers = vec![watch(plugins.clone()).context("cannot watch the plugin directories")?];

        let shell = Arc::new(Shell::new(config.shell.max_processes, &config.shell.pass_env));
        let commands = Commands::new(
            CommandsOptions {
                dirs: settings.command_dirs.clone(),
                project_dir: project_dir.clone(),
                shell: config
                    .commands
                    .allow_shell
                    .then(|| (shell.clone(), Duration::from_secs(config.commands.shell_timeout_s))),
            },
            plugins.clone(),
        );
        watchers.push(commands.watch().context("cannot watch the command directories")?);
        let hooks = Hooks::new(
            HooksOptions {
                dirs: settings.hook_dirs.clone(),
                project_dir: project_dir.clone(),
                command_timeout: Duration::from_secs(config.hooks.command_timeout_s),
                shell,
            },
            plugins.clone(),
        );
        watchers.push(hooks.watch().context("cannot watch the hook directories")?);

        let mut engine_config = config.engine.clone();
        engine_config.apply_env(|name| std::env::var(name).ok())?;
        let policies = Arc::new(Policies::new(plugins.clone()));
        let store_path = state_dir.join("jobs.db");
        let socket = remote::socket_path(&state_dir);
        // Bound before the engine starts, so that agents recovered at start
        // find the socket there.
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
            state_dir: state_dir.clone(),
        })
        .await?;
        let idle_exit = Duration::from_secs(if idle_exit { config.engine.idle_exit_s } else { 0 });
        let lifetime = Lifetime::new(engine.clone(), state_dir.clone(), settings.clone(), idle_exit);
        let live = match config_file {
            Some(path) => {
                let live = LiveConfig::new(path.clone(), Config::load(&path)?);
                let apply = lifetime.reloader(policies.clone());
                watchers.push(live.watch(apply).with_context(|| format!("cannot watch {}", path.display()))?);
                Some(live)
            }
            None => None,
        };
        lifetime.set_config(live, policies);
        let prompts_changed = prompts_changed(&commands, &plugins);
        let server = Ringmaster::new(engine.clone(), plugins.clone(), commands, hooks.clone(), prompts_changed);
        let sessions = server.clone();
        let mcp: McpSessions = Arc::new(move |read, write, job, differs| {
            let session = sessions.for_session(job, differs);
            async move {
                if let Err(err) = session.serve(read, write).await {
                    tracing::warn!(error = %err, "an MCP session over the engine socket ended with an error");
                }
            }
            .boxed()
        });
        let listening = bound.serve(Services {
            engine: engine.clone(),
            hooks: Some(hooks),
            mcp: Some(mcp),
            control: Some(lifetime.clone()),
            plugins: Some(plugins),
            settings,
        });
        tracing::info!(state = %state_dir.display(), pid = std::process::id(), build = %remote::build_id(), "engine started");
        Ok(Daemon { engine, server, lifetime, listening, _watchers: watchers, _lock: lock })
    }

    /// Serves MCP on stdio with this engine (`serve --embedded`) until the
    /// session ends or the engine is told to stop; then stops it.
    pub async fn serve_stdio(self) -> anyhow::Result<()> {
        let session = self.server.clone().serve(crate::mcp::front::stdin(), crate::mcp::front::stdout());
        let result = tokio::select! {
            result = session => result,
            () = self.lifetime.until_done(self.listening.clients()) => Ok(()),
        };
        self.stop().await;
        result
    }

    /// Runs until the engine should end (see [`Lifetime`]), then stops it.
    pub async fn run(self) {
        self.lifetime.until_done(self.listening.clients()).await;
        self.stop().await;
    }

    /// Stops the engine: the `Shutdown` hooks, then the agents are ended
    /// (their jobs recovered at the next start) and the store written.
    pub async fn stop(self) {
        self.engine.stop().await;
        tracing::info!("engine stopped");
    }
}

/// The settings an engine started with `config` (with the command line's
/// additions) has: what `engine status` shows and front-ends compare.
pub fn settings(config: &Config, config_file: Option<PathBuf>, project_dir: &std::path::Path) -> remote::Settings {
    remote::Settings {
        project_dir: project_dir.to_path_buf(),
        config_file,
        plugin_dirs: config.plugins.dirs.clone(),
        command_dirs: config.command_dirs(project_dir),
        hook_dirs: config.hook_dirs(project_dir),
    }
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
