//! `ringmaster serve`: MCP on stdio. By default a front-end to the engine of
//! the state directory (started when none runs; see [`crate::mcp::front`]);
//! with `--embedded`, the engine runs inside this process and ends with the
//! session; inside a job, a front-end to the root engine that runs the job.

use super::Setup;
use crate::daemon::Daemon;
use crate::mcp::front::{self, Target};
use crate::remote::{Hello, socket_path};
use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::ExitCode;

/// A front-end to the engine of `setup`'s state directory.
pub fn front_end(setup: Setup) -> anyhow::Result<ExitCode> {
    let target = Target {
        socket: socket_path(&setup.state_dir),
        hello: Hello::new(Some(setup.settings())).taking_over(),
        start: Some((setup.state_dir.clone(), setup.engine_command()?)),
        job_id: None,
    };
    front_end_runtime()?.block_on(front::serve(target))?;
    Ok(ExitCode::SUCCESS)
}

/// A front-end only carries lines: one thread does it with the fewest
/// hand-offs (a multi-threaded runtime wakes another thread per line).
fn front_end_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()
}

/// Inside a job: the root engine serves this session (its jobs are sub-jobs
/// of this job, under the tree's limits), whatever config lies around here.
pub fn inside_job(socket: &OsStr) -> anyhow::Result<ExitCode> {
    let target = Target {
        socket: PathBuf::from(socket),
        hello: Hello::inside_job(),
        start: None,
        job_id: std::env::var(crate::job::env::JOB_ID).ok(),
    };
    front_end_runtime()?.block_on(front::serve(target))?;
    Ok(ExitCode::SUCCESS)
}

/// The engine inside this process, ending with the session.
pub fn embedded(setup: Setup) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let daemon = Daemon::start(setup.daemon_options(false)).await?;
        tracing::info!("ringmaster serving MCP on stdio, engine embedded");
        daemon.serve_stdio().await
    })?;
    Ok(ExitCode::SUCCESS)
}
