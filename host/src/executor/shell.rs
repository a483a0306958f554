//! Short shell commands: hook handlers and a command file's `` !`cmd` ``.
//!
//! [`Shell::run`] runs one through `sh -c` in its own process group with a
//! timeout, so a script that starts a pipeline or a background job and then
//! hangs leaves nothing behind: the whole group is killed when it ends or
//! times out, and what escaped the group is swept up by its marker
//! ([`super::sweep`]). Three more rules hold for every command:
//!
//! * **No credentials.** A command's environment is built, not inherited:
//!   the variables in [`BASE_ENV`] (and `LC_*`, and ringmaster's own
//!   `RINGMASTER_*`) from ringmaster's environment, the names in
//!   `shell.pass-env`, and what the caller sets. Tokens and API keys are
//!   never among them.
//! * **Bounded output.** stdout and stderr are read as they arrive; past
//!   [`MAX_OUTPUT`] bytes each, the rest is read and dropped, so a command
//!   printing gigabytes costs no memory.
//! * **Bounded processes.** At most `max_processes` run at once; the
//!   rest wait their turn (a config with ten thousand handlers does not
//!   start ten thousand shells).

use super::{kill_group, sweep};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::sync::Semaphore;

/// Most bytes kept of each of stdout and stderr.
pub const MAX_OUTPUT: usize = 256 * 1024;

/// What a command gets from ringmaster's environment, besides `LC_*`,
/// `RINGMASTER_*` and `shell.pass-env`.
pub const BASE_ENV: [&str; 10] =
    ["PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TERM", "TMPDIR"];

/// The shell every command runs in.
const SH: &str = "/bin/sh";

/// The marker variable of every command's processes (see [`super::sweep`]).
const MARKER: &str = "RINGMASTER_SHELL_RUN";

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

/// One command to run.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    pub command: &'a str,
    /// Its positional parameters (`$1`...).
    pub args: &'a [String],
    pub cwd: &'a Path,
    /// Set on top of the built environment.
    pub env: &'a [(String, String)],
    /// Written to its stdin.
    pub stdin: &'a [u8],
    pub timeout: Duration,
}

/// Runs shell commands under the rules above. One per server, shared by the
/// hooks and the commands.
pub struct Shell {
    permits: Semaphore,
    /// The variables every command gets from ringmaster's environment.
    inherited: Vec<(String, String)>,
}

impl Shell {
    /// A shell running at most `max_processes` commands at once, which
    /// get the `pass_env` variables besides the usual ones, taken from this
    /// process's environment now.
    pub fn new(max_processes: u32, pass_env: &[String]) -> Shell {
        Shell::with_env(max_processes, pass_env, std::env::vars())
    }

    /// As [`Shell::new`], taking the allowed variables from `vars`.
    pub fn with_env(
        max_processes: u32,
        pass_env: &[String],
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Shell {
        let allowed = |name: &str| {
            BASE_ENV.contains(&name)
                || name.starts_with("LC_")
                || name.starts_with("RINGMASTER_")
                || pass_env.iter().any(|n| n == name)
        };
        let inherited = vars.into_iter().filter(|(name, _)| allowed(name)).collect();
        Shell { permits: Semaphore::new(max_processes as usize), inherited }
    }

    /// Runs `run`, waiting for a free place first; kills its process group
    /// (and what escaped it) when it ends or at its timeout.
    pub async fn run(&self, run: Run<'_>) -> Result<ShellOutput, ShellError> {
        let _permit = self.permits.acquire().await.expect("the semaphore is never closed");
        let spawn_error =
            |err: std::io::Error| ShellError::Spawn { command: run.command.into(), message: err.to_string() };
        let marker = uuid::Uuid::new_v4().to_string();
        // By absolute path: with a built environment that sets PATH, a bare
        // `sh` would make std look it up itself and fork the whole server
        // (copying its page tables) instead of using posix_spawn.
        let mut child = Command::new(SH)
            .arg("-c")
            .arg(run.command)
            .arg("sh")
            .args(run.args)
            .current_dir(run.cwd)
            .env_clear()
            .envs(self.inherited.iter().map(|(k, v)| (k, v)))
            .envs(run.env.iter().map(|(k, v)| (k, v)))
            .env(MARKER, &marker)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(spawn_error)?;
        // Whatever the script leaves in its group (background jobs) goes with
        // it, also when this future is dropped half-way (shutdown); what left
        // the group is swept up by its marker.
        let _group =
            GroupGuard { group: child.id().map(|pid| Pid::from_raw(pid as i32)), marker: format!("{MARKER}={marker}") };
        let mut input = child.stdin.take().expect("piped stdin");
        let stdin = run.stdin.to_vec();
        // A script that never reads its stdin must not block us: write on the side.
        let writer = tokio::spawn(async move {
            let _ = input.write_all(&stdin).await;
        });
        let stdout = tokio::spawn(read_capped(child.stdout.take().expect("piped stdout")));
        let stderr = tokio::spawn(read_capped(child.stderr.take().expect("piped stderr")));
        let finished = tokio::time::timeout(run.timeout, async {
            let status = child.wait().await?;
            // The script is done: its group goes now, closing the pipes its
            // background jobs may hold, so reading ends.
            kill_group(_group.group, Signal::SIGKILL);
            let (stdout, stderr) = (stdout.await.unwrap_or_default(), stderr.await.unwrap_or_default());
            Ok::<_, std::io::Error>(ShellOutput { code: status.code(), stdout: lossy(&stdout), stderr: lossy(&stderr) })
        })
        .await;
        writer.abort();
        match finished {
            Ok(output) => output.map_err(spawn_error),
            Err(_) => {
                // Killed now, not after the sweeper's batch: nothing of a
                // timed-out command outlives its timeout.
                let needle = _group.marker.clone();
                let _ = tokio::task::spawn_blocking(move || sweep::now(&[needle])).await;
                Err(ShellError::Timeout { command: run.command.to_string(), timeout: run.timeout })
            }
        }
    }
}

impl std::fmt::Debug for Shell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.inherited.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("Shell").field("free", &self.permits.available_permits()).field("inherited", &names).finish()
    }
}

/// Kills a process group when dropped, and has the sweeper look for what
/// escaped it.
struct GroupGuard {
    group: Option<Pid>,
    marker: String,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        kill_group(self.group, Signal::SIGKILL);
        sweep::soon(std::mem::take(&mut self.marker));
    }
}

/// Everything `stream` yields, keeping the first [`MAX_OUTPUT`] bytes.
async fn read_capped(mut stream: impl AsyncRead + Unpin) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let room = MAX_OUTPUT - kept.len();
        kept.extend_from_slice(&buf[..n.min(room)]);
    }
    kept
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell() -> Shell {
        Shell::new(32, &[])
    }

    fn run<'a>(command: &'a str, cwd: &'a Path, timeout: Duration) -> Run<'a> {
        Run { command, args: &[], cwd, env: &[], stdin: b"", timeout }
    }

    #[tokio::test]
    async fn passes_stdin_args_and_env_and_reports_exit_codes() {
        let env = [("GREETING".to_string(), "hi".to_string())];
        let args = ["arg one".to_string()];
        let command = "read x; echo \"$GREETING $x ($1)\"; echo oops >&2; exit 2";
        let run =
            Run { args: &args, env: &env, stdin: b"there\n", ..run(command, Path::new("/"), Duration::from_secs(10)) };
        let out = shell().run(run).await.unwrap();
        assert_eq!((out.code, out.stdout.as_str(), out.stderr.as_str()), (Some(2), "hi there (arg one)\n", "oops\n"));
    }

    #[tokio::test]
    async fn output_is_capped_as_it_arrives() {
        // 64 MiB of output: read and dropped past the cap.
        let command = "head -c 67108864 /dev/zero";
        let out = shell().run(run(command, Path::new("/"), Duration::from_secs(60))).await.unwrap();
        assert_eq!((out.code, out.stdout.len()), (Some(0), MAX_OUTPUT));
    }

    #[tokio::test]
    async fn a_background_job_holding_the_pipe_does_not_hold_the_answer() {
        let out = shell().run(run("sleep 300 & echo done", Path::new("/"), Duration::from_secs(60))).await.unwrap();
        assert_eq!(out.stdout, "done\n");
    }

    #[tokio::test]
    async fn a_hanging_pipeline_is_killed_whole_at_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let command = format!(
            "sleep 300 & echo $! > {}; setsid sleep 300 & echo $! >> {}; wait",
            pidfile.display(),
            pidfile.display()
        );
        let err = shell().run(run(&command, dir.path(), Duration::from_millis(500))).await.unwrap_err();
        assert!(matches!(err, ShellError::Timeout { .. }), "{err}");
        // Both sleeps die: the one in the group, and the one in a session of
        // its own (signal delivery is asynchronous: wait with a generous bound).
        for pid in std::fs::read_to_string(&pidfile).unwrap().lines() {
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

    #[tokio::test]
    async fn commands_get_no_credentials() {
        let vars = [
            ("ANTHROPIC_API_KEY", "sk-test-secret"),
            ("CLAUDE_CODE_TOKEN1", "oat-test-secret"),
            ("PASSED_ON", "yes"),
            ("PATH", "/usr/bin:/bin"),
            ("RINGMASTER_TEST_SUITE", "marker"),
        ];
        let shell = Shell::with_env(32, &["PASSED_ON".into()], vars.map(|(k, v)| (k.to_string(), v.to_string())));
        let out = shell.run(run("env", Path::new("/"), Duration::from_secs(10))).await.unwrap();
        assert!(!out.stdout.contains("secret"), "{}", out.stdout);
        for expected in ["PASSED_ON=yes", "PATH=/usr/bin:/bin", "RINGMASTER_TEST_SUITE=marker"] {
            assert!(out.stdout.contains(expected), "{expected} missing: {}", out.stdout);
        }
    }

    #[tokio::test]
    async fn at_most_max_processes_run_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let shell = Shell::new(2, &[]);
        // Each run counts the runs in progress a while after it started.
        let command = "touch running/$$; sleep 1; ls running | wc -l; rm running/$$";
        std::fs::create_dir(dir.path().join("running")).unwrap();
        let runs = (0..6).map(|_| shell.run(run(command, dir.path(), Duration::from_secs(60))));
        let outs = futures::future::join_all(runs).await;
        let most = outs.iter().map(|o| o.as_ref().unwrap().stdout.trim().parse::<u32>().unwrap()).max().unwrap();
        assert_eq!(most, 2, "runs in progress at once");
    }
}
