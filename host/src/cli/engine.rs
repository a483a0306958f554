//! `ringmaster engine`: runs the engine of a state directory (detached, as
//! clients start it, or in the foreground, as under systemd), and
//! `engine status` / `engine stop [--drain]` for the running one.

use super::{Command, EngineAction, LogTo, Setup, init_logging};
use crate::daemon::Daemon;
use crate::daemon::process::{self, Detached};
use crate::remote::client::{Client, ClientError};
use crate::remote::launch::LaunchError;
use crate::remote::{EngineStatus, lock, socket_path};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// Exit status of `engine status` when no engine runs.
const NOT_RUNNING: u8 = 3;

/// Runs the engine until it ends (see `daemon::lifetime`).
pub fn run(command: &Command, setup: Setup, foreground: bool) -> anyhow::Result<ExitCode> {
    let readiness = match foreground {
        true => {
            init_logging(command, LogTo::Stderr);
            None
        }
        false => {
            lock::state_dir(&setup.state_dir)?;
            let log = setup.state_dir.join(process::LOG_NAME);
            match process::detach(&log)? {
                Detached::Starter(code) => return Ok(code),
                Detached::Engine(ready) => {
                    init_logging(command, LogTo::File(log));
                    Some(ready)
                }
            }
        }
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let result = runtime.block_on(async {
        match Daemon::start(setup.daemon_options(true)).await {
            Ok(daemon) => {
                if let Some(readiness) = readiness {
                    readiness.ready();
                }
                daemon.run().await;
                Ok(())
            }
            Err(err) => {
                if let Some(readiness) = readiness {
                    readiness.failed(&format!("{err:#}"));
                }
                Err(err)
            }
        }
    });
    // Blocking work still going (a plugin compiling) is not waited for long.
    runtime.shutdown_timeout(Duration::from_secs(5));
    result.map(|()| ExitCode::SUCCESS)
}

/// `engine status` and `engine stop`: never start an engine.
pub fn act(action: &EngineAction, state_dir: &Path) -> anyhow::Result<ExitCode> {
    let socket = socket_path(state_dir);
    let client = Client::connect(&socket, None);
    match (action, client) {
        (_, Err(ClientError::Launch(LaunchError::NotRunning { .. }))) => {
            eprintln!("no engine runs for {}", state_dir.display());
            Ok(ExitCode::from(if matches!(action, EngineAction::Status { .. }) { NOT_RUNNING } else { 0 }))
        }
        (EngineAction::Stop { drain: false }, Err(ClientError::Launch(LaunchError::Refused(why)))) => {
            // An engine of another protocol still stops on SIGTERM.
            let pid = lock::holder(state_dir).ok_or_else(|| anyhow::anyhow!("{why}"))?;
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGTERM)?;
            eprintln!("stopping the engine (pid {pid}, another build) with SIGTERM");
            lock::wait_until_gone(state_dir)?;
            eprintln!("stopped");
            Ok(ExitCode::SUCCESS)
        }
        (_, Err(err)) => Err(err.into()),
        (EngineAction::Status { json }, Ok(mut client)) => {
            let status = client.engine()?;
            match json {
                true => println!("{}", serde_json::to_string_pretty(&status)?),
                false => print!("{}", describe(&status)),
            }
            Ok(ExitCode::SUCCESS)
        }
        (EngineAction::Stop { drain }, Ok(mut client)) => {
            let status = client.engine()?;
            client.stop(*drain)?;
            match drain {
                true => eprintln!(
                    "draining the engine (pid {}): nothing new starts; waiting for its running jobs to end",
                    status.pid
                ),
                false => eprintln!("stopping the engine (pid {})", status.pid),
            }
            lock::wait_until_gone(state_dir)?;
            eprintln!("stopped");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `engine status` for people.
fn describe(status: &EngineStatus) -> String {
    let list = |dirs: &[std::path::PathBuf]| match dirs.is_empty() {
        true => "none".to_string(),
        false => dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", "),
    };
    let jobs = match status.jobs.is_empty() {
        true => "none".to_string(),
        false => status.jobs.iter().map(|(s, n)| format!("{s} {n}")).collect::<Vec<_>>().join(", "),
    };
    let idle = match status.idle_exit_s {
        0 => "never (runs until stopped)".to_string(),
        s => format!("after {s} s without clients or unfinished jobs"),
    };
    let settings = &status.settings;
    let mut text = format!(
        "engine pid {}, build {}, protocol {}, up {}\n",
        status.pid,
        status.build,
        status.protocol,
        humantime::format_duration(Duration::from_secs(status.uptime_s))
    );
    if let Some(stopping) = &status.stopping {
        text.push_str(&format!("stopping: {stopping}\n"));
    }
    text.push_str(&format!(
        "clients: {}\njobs: {jobs}\nstate: {}\nproject: {}\nconfig: {}\nplugins: {}\ncommands: {}\nhooks: {}\nidle exit: {idle}\n",
        status.clients,
        status.state_dir.display(),
        settings.project_dir.display(),
        settings.config_file.as_ref().map_or("none".to_string(), |f| f.display().to_string()),
        list(&settings.plugin_dirs),
        list(&settings.command_dirs),
        list(&settings.hook_dirs),
    ));
    text
}
