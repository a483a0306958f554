//! Command-line interface: argument parsing and the subcommands.
//!
//! Subcommands print their results on stdout; logs always go to stderr.

mod demo;
mod engine;
mod hook_relay;
mod job;
mod plugin;
mod schedule;
mod serve;
mod simulate;

use crate::config::Config;
use crate::daemon::process::RotatingLog;
use crate::remote::launch::EngineCommand;
use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;
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
    /// Serve MCP over stdio (what Claude Code starts after `claude mcp add`): a front-end to the
    /// project's engine, started when none runs
    Serve {
        #[command(flatten)]
        dirs: Dirs,
        /// Run the engine inside this process, ending with the session (containers, CI)
        #[arg(long)]
        embedded: bool,
    },
    /// Run the engine of the state directory (what `serve` and `job` start when none runs), or
    /// show or stop it
    #[command(args_conflicts_with_subcommands = true)]
    Engine {
        #[command(subcommand)]
        action: Option<EngineAction>,
        #[command(flatten)]
        dirs: Dirs,
        /// Stay attached to the terminal and log to stderr (e.g. under systemd)
        #[arg(long)]
        foreground: bool,
    },
    /// Submit, run, wait for, inspect and cancel jobs of the project's engine, started when none runs
    /// (inside a job: sub-jobs, through the engine running the job)
    #[command(subcommand)]
    Job(Box<job::JobCommand>),
    /// Create, list, pause, resume and delete the project's schedules (jobs run when a cron pattern
    /// comes round)
    #[command(subcommand)]
    Schedule(schedule::ScheduleCommand),
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
    /// Replay a workload through the engine's scheduling under virtual time, once per policy, and compare
    Simulate {
        /// The workload (YAML; see docs/simulate.md)
        #[arg(long, required_unless_present = "history", conflicts_with = "history")]
        workload: Option<PathBuf>,
        /// Replay the jobs this project's engine ran (its last 10,000) instead
        #[arg(long)]
        history: bool,
        /// `builtin`, or a plugin file (NAME.wasm, its manifest beside it); repeat to compare
        #[arg(long = "policy", required = true)]
        policies: Vec<String>,
        /// Print the results as JSON
        #[arg(long)]
        json: bool,
        /// Also write a page with the figures, a timeline per policy and the waits' distributions
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
    },
}

/// Directories an engine loads besides the configured ones.
#[derive(Debug, Clone, Args)]
pub struct Dirs {
    /// Plugin directory to load and watch, in addition to the configured ones (repeatable)
    #[arg(long = "plugins")]
    plugins: Vec<PathBuf>,
    /// Command directory, before the configured ones (repeatable) [default, when none is set: PROJECT/commands]
    #[arg(long = "commands")]
    commands: Vec<PathBuf>,
    /// Hook config directory, before the configured ones (repeatable) [default, when none is set: PROJECT/hooks]
    #[arg(long = "hooks")]
    hooks: Vec<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum EngineAction {
    /// Show the running engine: pid, build, uptime, clients, jobs, settings (exit 3 when none runs)
    Status {
        /// Print the status as JSON
        #[arg(long)]
        json: bool,
    },
    /// Stop the running engine; its running jobs are interrupted and run again at the next start
    Stop {
        /// Start nothing more and wait for the running jobs to end first
        #[arg(long)]
        drain: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Create a plugin project (SDK, test, README) in ./NAME, pinned to the contract this binary speaks
    New {
        /// The plugin's name: lowercase letters, digits and dashes
        name: String,
        /// The extension point it implements
        #[arg(long)]
        kind: crate::contract::ExtensionPoint,
        #[arg(long, value_enum, default_value_t = crate::authoring::new::Lang::Rust)]
        lang: crate::authoring::new::Lang,
        /// Create it in DIR instead of ./NAME
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Rebuild a plugin project on every save, check it, install it for the engine, show its verdict
    Dev {
        /// The plugin project (default: the current directory)
        dir: Option<PathBuf>,
        /// Install into PLUGINS_DIR (default: the running engine's first plugin directory)
        #[arg(long = "plugins", value_name = "PLUGINS_DIR")]
        plugins: Option<PathBuf>,
        /// After each check, compare the build with the built-in policies on workload W (see `simulate`)
        #[arg(long, value_name = "W")]
        simulate: Option<PathBuf>,
    },
    /// Write the plugin contract (WIT) this binary speaks into DIR (default ./wit)
    Wit {
        dir: Option<PathBuf>,
        /// Overwrite files that exist with other content
        #[arg(long)]
        force: bool,
    },
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

/// Where log lines go.
enum LogTo {
    Stderr,
    /// A detached engine's log (see [`RotatingLog`]).
    File(PathBuf),
}

/// Logs go to stderr (or a detached engine's log), filtered by `RUST_LOG`
/// (default: warnings and errors; `plugin` subcommands report load results
/// themselves, so not those). Where an engine runs, plugin log lines are
/// also captured for MCP clients, whatever `RUST_LOG` says.
fn init_logging(command: &Command, to: LogTo) {
    use tracing_subscriber::prelude::*;
    let default = match command {
        Command::Plugin(_) | Command::Simulate { .. } => "warn,ringmaster::plugin::registry=off",
        Command::Demo { .. } | Command::Job(_) | Command::Schedule(_) | Command::HookRelay { .. } => "warn",
        Command::Serve { .. } | Command::Engine { .. } => "info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let capture =
        matches!(command, Command::Serve { embedded: true, .. } | Command::Engine { .. }).then(crate::mcp::logs::layer);
    let fmt = tracing_subscriber::fmt::layer();
    let output = match to {
        LogTo::Stderr => {
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
            fmt.with_writer(tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::io::stderr)).with_ansi(ansi)
        }
        LogTo::File(path) => fmt
            .with_writer(tracing_subscriber::fmt::writer::BoxMakeWriter::new(RotatingLog::new(path)))
            .with_ansi(false),
    };
    tracing_subscriber::registry().with(output.with_filter(filter)).with(capture).init();
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

/// What an engine runs with, resolved from the command line and the config.
struct Setup {
    config: Config,
    config_file: Option<PathBuf>,
    project_dir: PathBuf,
    state_dir: PathBuf,
    /// The directories given on the command line (absolute), for an engine
    /// started on this one's behalf.
    dirs: Dirs,
}

impl Setup {
    /// The configuration with the command line's directories: plugin
    /// directories added, command and hook directories first.
    fn new(cli: &Cli, dirs: &Dirs) -> anyhow::Result<Setup> {
        let (mut config, config_file, state_dir) = load_config(cli)?;
        let cwd = std::env::current_dir()?;
        let absolute = |given: &[PathBuf]| given.iter().map(|dir| cwd.join(dir)).collect::<Vec<_>>();
        let dirs =
            Dirs { plugins: absolute(&dirs.plugins), commands: absolute(&dirs.commands), hooks: absolute(&dirs.hooks) };
        config.plugins.dirs.extend(dirs.plugins.iter().cloned());
        let first = |given: &[PathBuf], configured: &mut Vec<PathBuf>| {
            let mut all = given.to_vec();
            all.append(configured);
            *configured = all;
        };
        first(&dirs.commands, &mut config.commands.dirs);
        first(&dirs.hooks, &mut config.hooks.dirs);
        let project_dir = std::env::var_os("CLAUDE_PROJECT_DIR").map(PathBuf::from).unwrap_or(cwd);
        Ok(Setup { config, config_file, project_dir, state_dir, dirs })
    }

    /// What the engine would report as its settings.
    fn settings(&self) -> crate::remote::Settings {
        crate::daemon::settings(&self.config, self.config_file.clone(), &self.project_dir)
    }

    /// `ringmaster engine` for the same setup.
    fn engine_command(&self) -> anyhow::Result<EngineCommand> {
        let mut args: Vec<OsString> = vec!["--state".into(), self.state_dir.clone().into()];
        if let Some(file) = &self.config_file {
            args.extend(["--config".into(), file.clone().into()]);
        }
        for (flag, dirs) in
            [("--plugins", &self.dirs.plugins), ("--commands", &self.dirs.commands), ("--hooks", &self.dirs.hooks)]
        {
            for dir in dirs {
                args.extend([flag.into(), dir.clone().into()]);
            }
        }
        Ok(EngineCommand { exe: std::env::current_exe()?, args, cwd: std::env::current_dir()? })
    }

    fn daemon_options(self, idle_exit: bool) -> crate::daemon::Options {
        crate::daemon::Options {
            config: self.config,
            config_file: self.config_file,
            project_dir: self.project_dir,
            state_dir: self.state_dir,
            idle_exit,
        }
    }
}

/// `ringmaster engine` for the CLI calls (`job`, `schedule`), which start
/// it with the configured directories only.
fn engine_command(cli: &Cli) -> anyhow::Result<EngineCommand> {
    Setup::new(cli, &Dirs { plugins: vec![], commands: vec![], hooks: vec![] })?.engine_command()
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Command::Engine { action: None, dirs, foreground } = &cli.command {
        // Logging starts once it is known where to.
        let setup = Setup::new(&cli, dirs)?;
        return engine::run(&cli.command, setup, *foreground);
    }
    init_logging(&cli.command, LogTo::Stderr);
    if let (Command::Serve { .. }, Some(socket)) = (&cli.command, std::env::var_os(crate::job::env::SOCKET)) {
        // Inside a job the root engine serves this session; this process
        // only carries bytes, whatever config lies around here.
        return serve::inside_job(&socket);
    }
    match &cli.command {
        // Authoring needs no configuration (and must work where it is broken).
        Command::Plugin(PluginCommand::New { name, kind, lang, dir }) => {
            return plugin::new(name, *kind, *lang, dir.as_deref());
        }
        Command::Plugin(PluginCommand::Wit { dir, force }) => return plugin::wit(dir.as_deref(), *force),
        _ => {}
    }
    let (config, _, state_dir) = load_config(&cli)?;
    let cache_dir = Some(state_dir.join("plugin-cache"));
    match &cli.command {
        Command::Plugin(PluginCommand::Check { path, json }) => plugin::check(config, cache_dir, path, *json),
        Command::Plugin(PluginCommand::List { dirs, json }) => plugin::list(config, cache_dir, dirs.clone(), *json),
        Command::Plugin(PluginCommand::Dev { dir, plugins, simulate }) => {
            crate::authoring::dev::run(crate::authoring::dev::Options {
                project: dir.clone().unwrap_or_else(|| PathBuf::from(".")),
                plugins_dir: plugins.clone(),
                state_dir,
                plugins: config.plugins,
                cache_dir,
                simulate: simulate.clone(),
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Plugin(PluginCommand::New { .. } | PluginCommand::Wit { .. }) => unreachable!("run above"),
        Command::Demo { plugins } => demo::run(config, cache_dir, plugins),
        Command::Simulate { workload, history, policies, json, html } => {
            let source = match workload {
                Some(path) => simulate::Source::File(path.clone()),
                None if *history => simulate::Source::History(
                    Setup::new(&cli, &Dirs { plugins: vec![], commands: vec![], hooks: vec![] })?.engine_command()?,
                ),
                None => unreachable!("clap requires one"),
            };
            simulate::run(&config, cache_dir, &state_dir, source, policies, (*json, html.as_deref()))
        }
        Command::Job(command) => job::run(command, &state_dir, &engine_command(&cli)?),
        Command::Schedule(command) => schedule::run(command, &state_dir, &engine_command(&cli)?),
        Command::HookRelay { event } => hook_relay::run(event, &state_dir),
        Command::Engine { action: Some(action), .. } => engine::act(action, &state_dir),
        Command::Engine { action: None, .. } => unreachable!("run above"),
        Command::Serve { dirs, embedded } => {
            let setup = Setup::new(&cli, dirs)?;
            match embedded {
                true => serve::embedded(setup),
                false => serve::front_end(setup),
            }
        }
    }
}
