//! Command-line interface: argument parsing and the subcommands.
//!
//! Subcommands print their results on stdout; logs always go to stderr.

mod demo;
mod hook_relay;
mod job;
mod plugin;

use crate::config::Config;
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "ringmaster",
    version,
    about = "Run many coding agents at once, with live-reloadable WebAssembly policies"
)]
pub struct Cli {
    /// Configuration file [default: ./ringmaster.yaml when present]
    #[arg(long, global = true, env = "RINGMASTER_CONFIG")]
    pub config: Option<PathBuf>,
    /// State directory (compiled-plugin cache, database) [default: .ringmaster]
    #[arg(long, global = true, env = "RINGMASTER_STATE_DIR")]
    pub state: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve MCP over stdio (what Claude Code starts after `claude mcp add`)
    Serve {
        /// Plugin directory to load and watch, in addition to the configured ones (repeatable)
        #[arg(long = "plugins")]
        plugins: Vec<PathBuf>,
        /// Command directory, before the configured ones (repeatable) [default, when none is set: PROJECT/commands]
        #[arg(long = "commands")]
        commands: Vec<PathBuf>,
        /// Hook config directory, before the configured ones (repeatable) [default, when none is set: PROJECT/hooks]
        #[arg(long = "hooks")]
        hooks: Vec<PathBuf>,
    },
    /// Submit, run, wait for, inspect and cancel jobs of a running ringmaster (inside a job: sub-jobs)
    #[command(subcommand)]
    Job(job::JobCommand),
    /// Hook command for agents: relays a Claude Code hook event (JSON on stdin) to ringmaster's hooks
    HookRelay {
        /// The event, e.g. PreToolUse
        event: String,
    },
    /// Inspect and validate plugins
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Load plugins, call every extension point, and hot-swap a scheduler live
    Demo {
        /// Directory holding the plugins to show (e.g. target/plugins after `cargo xtask plugins`)
        #[arg(long)]
        plugins: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Validate one plugin as the server would load it, and show what it provides
    Check {
        /// The plugin file, NAME.wasm (its manifest NAME.yaml is read from beside it)
        path: PathBuf,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Show the plugins the configured directories (or DIR) would load, and their status
    List {
        /// Look in DIR instead of the configured plugin directories (repeatable)
        #[arg(long = "dir")]
        dirs: Vec<PathBuf>,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
}

/// Logs go to stderr, filtered by `RUST_LOG` (default: warnings and errors;
/// `plugin` subcommands report load results themselves, so not those). For
/// `serve`, plugin log lines are also captured for MCP clients, whatever
/// `RUST_LOG` says.
pub fn init_logging(cli: &Cli) {
    use tracing_subscriber::prelude::*;
    let default = match cli.command {
        Command::Plugin(_) => "warn,ringmaster::plugin::registry=off",
        Command::Demo { .. } | Command::Job(_) | Command::HookRelay { .. } => "warn",
        Command::Serve { .. } => "info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let stderr = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(ansi).with_filter(filter);
    let capture = matches!(cli.command, Command::Serve { .. }).then(crate::mcp::logs::layer);
    tracing_subscriber::registry().with(stderr).with(capture).init();
}

/// The configuration in force: `--config`, else `./ringmaster.yaml` when it
/// exists, else the defaults; `--state` overrides its state directory.
/// Returns it with the file it came from and the state directory.
fn load_config(cli: &Cli) -> anyhow::Result<(Config, Option<PathBuf>, PathBuf)> {
    let cwd = std::env::current_dir().context("cannot determine the current directory")?;
    let file = match &cli.config {
        Some(path) => Some(cwd.join(path)),
        None => Some(cwd.join("ringmaster.yaml")).filter(|p| p.is_file()),
    };
    let mut config = match &file {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(state) = &cli.state {
        config.state_dir = Some(cwd.join(state));
    }
    let state_dir = config.state_dir(&cwd);
    Ok((config, file, state_dir))
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let (Command::Serve { .. }, Some(socket)) = (&cli.command, std::env::var_os(crate::job::env::SOCKET)) {
        // Inside a job the root ringmaster serves this session; this
        // process only carries bytes, whatever config lies around here.
        let job = std::env::var(crate::job::env::JOB_ID).ok();
        tokio::runtime::Runtime::new()?.block_on(crate::mcp::forward(Path::new(&socket), job))?;
        return Ok(ExitCode::SUCCESS);
    }
    let (config, config_file, state_dir) = load_config(&cli)?;
    let cache_dir = Some(state_dir.join("plugin-cache"));
    // Past this point `state_dir` is only used by `serve`.
    match cli.command {
        Command::Plugin(PluginCommand::Check { path, json }) => plugin::check(config, cache_dir, &path, json),
        Command::Plugin(PluginCommand::List { dirs, json }) => plugin::list(config, cache_dir, dirs, json),
        Command::Demo { plugins } => demo::run(config, cache_dir, &plugins),
        Command::Job(command) => job::run(command, &state_dir),
        Command::HookRelay { event } => hook_relay::run(&event, &state_dir),
        Command::Serve { plugins, commands, hooks } => {
            let mut config = config;
            let cwd = std::env::current_dir()?;
            config.plugins.dirs.extend(plugins.iter().map(|dir| cwd.join(dir)));
            let first = |given: Vec<PathBuf>, configured: &mut Vec<PathBuf>| {
                let mut dirs: Vec<PathBuf> = given.iter().map(|dir| cwd.join(dir)).collect();
                dirs.append(configured);
                *configured = dirs;
            };
            first(commands, &mut config.commands.dirs);
            first(hooks, &mut config.hooks.dirs);
            let project = std::env::var_os("CLAUDE_PROJECT_DIR").map(PathBuf::from).unwrap_or(cwd);
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(crate::mcp::serve(config, config_file, project, state_dir))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
