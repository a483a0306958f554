//! Short shell commands: hook handlers and a command file's `` !`cmd` ``.
//!
//! Each runs through `sh -c` in its own process group with a timeout, so a
//! hook script that starts a pipeline or a background job and then hangs
//! leaves nothing behind: at the timeout the whole group is killed.

use super::kill_group;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// Most bytes kept of each of stdout and stderr.
const MAX_OUTPUT: usize = 256 * 1024;

/// A shell command that ran to the end.
#[derive(Debug, Clone)]
pub struct ShellOutput {
    /// The exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Why a shell command has no output to report.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ShellError {
    #[error("cannot start `sh -c {command}`: {message}")]
    Spawn { command: String, message: String },
    #[error("`{command}` did not finish within {} s and was killed", .timeout.as_secs_f32())]
    Timeout { command: String, timeout: Duration },
}

/// Runs `command` through `sh -c` in `cwd` with `env` added and `stdin`
/// written to it; kills its process group at `timeout`.
pub async fn run_shell(
    command: &str,
    cwd: &Path,
    env: &[(String, String)],
    stdin: &[u8],
    timeout: Duration,
) -> Result<ShellOutput, ShellError> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(cwd)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|err| ShellError::Spawn { command: command.to_string(), message: err.to_string() })?;
    // Whatever the script leaves in its group (background jobs) goes with it,
    // also when this future is dropped half-way (shutdown).
    let _group = GroupGuard(child.id().map(|pid| Pid::from_raw(pid as i32)));
    let mut input = child.stdin.take().expect("piped stdin");
    let stdin = stdin.to_vec();
    // A script that never reads its stdin must not block us: write on the side.
    let writer = tokio::spawn(async move {
        let _ = input.write_all(&stdin).await;
    });
    let result = tokio::time::timeout(timeout, child.wait_with_output()).await;
    writer.abort();
    match result {
        Ok(Ok(output)) => {
            Ok(ShellOutput { code: output.status.code(), stdout: lossy(&output.stdout), stderr: lossy(&output.stderr) })
        }
        Ok(Err(err)) => Err(ShellError::Spawn { command: command.to_string(), message: err.to_string() }),
        Err(_) => Err(ShellError::Timeout { command: command.to_string(), timeout }),
    }
}

/// Kills a process group when dropped.
struct GroupGuard(Option<Pid>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        kill_group(self.0, Signal::SIGKILL);
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_OUTPUT)]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passes_stdin_and_env_and_reports_exit_codes() {
        let env = [("GREETING".to_string(), "hi".to_string())];
        let out = run_shell(
            "read x; echo \"$GREETING $x\"; echo oops >&2; exit 2",
            Path::new("/"),
            &env,
            b"there\n",
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        assert_eq!((out.code, out.stdout.as_str(), out.stderr.as_str()), (Some(2), "hi there\n", "oops\n"));
    }

    #[tokio::test]
    async fn a_hanging_pipeline_is_killed_whole_at_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let command = format!("sleep 300 & echo $! > {}; wait", pidfile.display());
        let err = run_shell(&command, dir.path(), &[], b"", Duration::from_millis(300)).await.unwrap_err();
        assert!(matches!(err, ShellError::Timeout { .. }), "{err}");
        let pid: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
        // The background sleep was in the group: it dies (signal delivery is
        // asynchronous, so wait for it with a generous bound).
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            if state.is_empty() || state.contains(") Z") {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "sleep {pid} survived: {state}");
            std::thread::yield_now();
        }
    }
}
