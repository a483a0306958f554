//! git, for jobs that must not trample each other: worktrees
//! ([`worktree`]), snapshots of a working tree ([`checkpoint`]), diffs and
//! merges ([`merge`]).
//!
//! Through the `git` command line, not a library. The operations needed are
//! the ones a library does least well or not at all: `gix` has no
//! `worktree add` nor a tree merge with git's rename detection and conflict
//! rules, and `git2` would bring libgit2 (C, another implementation of the
//! same formats) for the same gap. The CLI is the implementation users
//! already trust with their repository, honours their configuration (hooks,
//! attributes, filters, `core.*`), and Claude Code itself needs it. Each
//! call costs a process (a few milliseconds), which is small next to an
//! agent's run; the benchmark measures it.
//!
//! Every call gets a built environment (as hook commands do: no
//! credentials, no `GIT_*` from ringmaster's own environment that could
//! point it at another repository), never prompts, and is killed with its
//! process group past its timeout. Messages are in English (`LC_ALL=C`), so
//! what git says can be read.

pub mod checkpoint;
mod diff;
pub mod merge;
pub mod worktree;

pub use diff::DiffPage;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

/// How long one git call may take (a checkout of a large repository is the
/// longest).
pub(crate) const TIMEOUT: Duration = Duration::from_secs(600);
/// Most changed files listed on a record (see [`Git::changed_files`]).
pub const MAX_LISTED: usize = 1000;
/// Most bytes of output a call may give (a diff is read in pages instead).
const MAX_OUTPUT: usize = 64 * 1024 * 1024;

/// Why a git operation did not happen.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GitError {
    #[error("{} is not in a git repository (git says: {message})", .dir.display())]
    NotARepository { dir: PathBuf, message: String },
    #[error("cannot run git: {0}")]
    Spawn(String),
    #[error("`git {args}` failed: {message}")]
    Failed { args: String, message: String },
    #[error("`git {args}` did not finish within {} s and was stopped", TIMEOUT.as_secs())]
    Timeout { args: String },
    /// The operation was refused before anything changed (a conflict, a
    /// changed working tree): the message says why and what to do.
    #[error("{0}")]
    Refused(String),
}

/// What a git call printed.
pub struct Output {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Output {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).trim_end().to_string()
    }
}

/// The repository a directory is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    /// The top of its working tree.
    pub top: PathBuf,
    /// The directory, relative to `top`.
    pub prefix: PathBuf,
}

/// Runs git; one per engine.
#[derive(Debug, Clone)]
pub struct Git {
    env: Vec<(String, String)>,
}

impl Git {
    /// git with the variables `allowed` keeps from `vars` (see the module doc).
    pub fn new(vars: impl IntoIterator<Item = (String, String)>, allowed: impl Fn(&str) -> bool) -> Git {
        let mut env: Vec<(String, String)> = vars.into_iter().filter(|(name, _)| allowed(name)).collect();
        env.extend([
            ("LC_ALL".to_string(), "C".to_string()),
            ("GIT_TERMINAL_PROMPT".to_string(), "0".to_string()),
            ("GIT_OPTIONAL_LOCKS".to_string(), "0".to_string()),
        ]);
        Git { env }
    }

    /// Starts `git args` in `dir` with `extra` variables set (stdin piped
    /// when `input`), stdout and stderr piped, in a process group of its
    /// own that the returned guard kills when dropped.
    fn spawn(
        &self,
        dir: &Path,
        args: &[&str],
        extra: &[(&str, &str)],
        input: bool,
    ) -> Result<(tokio::process::Child, impl Drop), GitError> {
        let child = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(extra.iter().copied())
            .stdin(if input { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|err| GitError::Spawn(format!("{err} (is git installed and on PATH?)")))?;
        let group = child.id().map(|pid| Pid::from_raw(pid as i32));
        let guard = scopeguard::guard(group, |group| {
            if let Some(group) = group {
                let _ = killpg(group, Signal::SIGKILL);
            }
        });
        Ok((child, guard))
    }

    /// Runs `git args` in `dir` with `extra` variables set, feeding it `stdin`.
    pub async fn call(
        &self,
        dir: &Path,
        args: &[&str],
        extra: &[(&str, &str)],
        stdin: &[u8],
    ) -> Result<Output, GitError> {
        let args_text = args.join(" ");
        let (mut child, _group) = self.spawn(dir, args, extra, !stdin.is_empty())?;
        let mut input = child.stdin.take();
        let (mut out, mut err) = (child.stdout.take().expect("piped"), child.stderr.take().expect("piped"));
        let run = async {
            let feed = async {
                if let Some(mut input) = input.take() {
                    let _ = tokio::io::AsyncWriteExt::write_all(&mut input, stdin).await;
                }
            };
            let (stdout, stderr, ()) =
                tokio::join!(read_capped(&mut out, MAX_OUTPUT), read_capped(&mut err, 64 * 1024), feed);
            let status = child.wait().await;
            (stdout, stderr, status)
        };
        let (stdout, stderr, status) =
            tokio::time::timeout(TIMEOUT, run).await.map_err(|_| GitError::Timeout { args: args_text.clone() })?;
        let status = status.map_err(|err| GitError::Spawn(err.to_string()))?;
        let Some(stdout) = stdout else {
            return Err(GitError::Failed {
                args: args_text,
                message: format!("more than {MAX_OUTPUT} bytes of output"),
            });
        };
        let stderr = String::from_utf8_lossy(&stderr.unwrap_or_default()).trim().to_string();
        Ok(Output { code: status.code(), stdout, stderr })
    }

    /// Runs `git args` in `dir`; its output, or an error with what git said.
    pub async fn run(&self, dir: &Path, args: &[&str]) -> Result<Output, GitError> {
        self.run_with(dir, args, &[]).await
    }

    /// As [`Git::run`] with `extra` variables.
    pub async fn run_with(&self, dir: &Path, args: &[&str], extra: &[(&str, &str)]) -> Result<Output, GitError> {
        let output = self.call(dir, args, extra, b"").await?;
        match output.code {
            Some(0) => Ok(output),
            _ => Err(failed(args, &output)),
        }
    }

    /// The repository `dir` is in.
    pub async fn repo(&self, dir: &Path) -> Result<Repo, GitError> {
        let output = self.call(dir, &["rev-parse", "--show-toplevel", "--show-prefix"], &[], b"").await?;
        if output.code != Some(0) {
            return Err(GitError::NotARepository { dir: dir.to_path_buf(), message: output.stderr });
        }
        let text = output.text();
        let mut lines = text.lines();
        let top = PathBuf::from(lines.next().unwrap_or_default());
        let prefix = PathBuf::from(lines.next().unwrap_or_default().trim_end_matches('/'));
        Ok(Repo { top, prefix })
    }

    /// The commit `rev` names in the repository at `top`.
    pub async fn commit_of(&self, top: &Path, rev: &str) -> Result<String, GitError> {
        let spec = format!("{rev}^{{commit}}");
        let output = self.call(top, &["rev-parse", "--verify", "--quiet", "--end-of-options", &spec], &[], b"").await?;
        match output.code {
            Some(0) => Ok(output.text()),
            _ => Err(GitError::Refused(format!("{rev:?} is not a commit in {}", top.display()))),
        }
    }

    /// Whether the working tree at `dir` has changes not committed (tracked
    /// or untracked, not ignored).
    pub async fn has_changes(&self, dir: &Path) -> Result<bool, GitError> {
        Ok(!self.run(dir, &["status", "--porcelain", "-z", "--untracked-files=normal"]).await?.stdout.is_empty())
    }

    /// Variables naming who commits, when the repository's configuration
    /// names nobody (git would refuse to commit): ringmaster.
    pub async fn identity(&self, dir: &Path) -> Vec<(&'static str, &'static str)> {
        let configured = self.call(dir, &["config", "user.email"], &[], b"").await.is_ok_and(|o| o.code == Some(0));
        match configured {
            true => Vec::new(),
            false => vec![
                ("GIT_AUTHOR_NAME", "ringmaster"),
                ("GIT_AUTHOR_EMAIL", "ringmaster@localhost"),
                ("GIT_COMMITTER_NAME", "ringmaster"),
                ("GIT_COMMITTER_EMAIL", "ringmaster@localhost"),
            ],
        }
    }

    /// What changed between commits (or trees) `from` and `to`, with line
    /// counts: the first [`MAX_LISTED`] files, and how many more there are
    /// (a record stays small whatever an agent did).
    pub async fn changed_files(
        &self,
        dir: &Path,
        from: &str,
        to: &str,
    ) -> Result<(Vec<crate::job::workspace::ChangedFile>, u64), GitError> {
        let output = self.run(dir, &["diff", "--numstat", "-z", "--no-renames", from, to, "--"]).await?;
        let mut files = parse_numstat(&output.stdout);
        let more = files.len().saturating_sub(MAX_LISTED) as u64;
        files.truncate(MAX_LISTED);
        Ok((files, more))
    }
}

/// The error for a git call that exited with a failure.
pub fn failed(args: &[&str], output: &Output) -> GitError {
    let message = match output.stderr.is_empty() {
        true => format!("exit status {}", output.code.map_or("(signal)".into(), |c| c.to_string())),
        false => output.stderr.clone(),
    };
    GitError::Failed { args: args.join(" "), message }
}

/// Reads `reader` to the end; `None` past `max` bytes (the rest is drained).
pub(crate) async fn read_capped(reader: &mut (impl tokio::io::AsyncRead + Unpin), max: usize) -> Option<Vec<u8>> {
    let mut kept = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut over = false;
    loop {
        match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) if kept.len() + n <= max => kept.extend_from_slice(&chunk[..n]),
            Ok(_) => over = true,
        }
    }
    (!over).then_some(kept)
}

/// `git diff --numstat -z` output: `ADDED\tDELETED\tPATH\0` per file, `-`
/// for the counts of a binary file.
fn parse_numstat(bytes: &[u8]) -> Vec<crate::job::workspace::ChangedFile> {
    bytes
        .split(|b| *b == 0)
        .filter(|entry| !entry.is_empty())
        .filter_map(|entry| {
            let text = String::from_utf8_lossy(entry);
            let mut fields = text.splitn(3, '\t');
            let (added, deleted, path) = (fields.next()?, fields.next()?, fields.next()?);
            Some(crate::job::workspace::ChangedFile {
                path: path.to_string(),
                added: added.parse().ok(),
                deleted: deleted.parse().ok(),
            })
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod testing {
    //! Throwaway repositories for the git tests.
    use super::Git;
    use std::path::Path;

    pub fn git() -> Git {
        Git::new(std::env::vars(), |name| crate::executor::shell::BASE_ENV.contains(&name))
    }

    /// Runs git in `dir` for a test's set-up (as `t`), failing the test on an error.
    pub async fn sh(dir: &Path, args: &[&str]) -> String {
        let identity = [
            ("GIT_AUTHOR_NAME", "t"),
            ("GIT_AUTHOR_EMAIL", "t@t"),
            ("GIT_COMMITTER_NAME", "t"),
            ("GIT_COMMITTER_EMAIL", "t@t"),
        ];
        git().run_with(dir, args, &identity).await.unwrap_or_else(|err| panic!("{err}")).text()
    }

    /// A repository in `dir` with `files` committed on `main`.
    pub async fn repo(dir: &Path, files: &[(&str, &str)]) {
        sh(dir, &["init", "-q", "-b", "main"]).await;
        for (path, text) in files {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        sh(dir, &["add", "-A"]).await;
        sh(dir, &["commit", "-q", "-m", "start"]).await;
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{git, repo};

    #[tokio::test]
    async fn a_directory_outside_a_repository_is_said_to_be_so() {
        let dir = tempfile::tempdir().unwrap();
        let err = git().repo(dir.path()).await.unwrap_err();
        assert!(err.to_string().contains("is not in a git repository"), "{err}");
    }

    #[tokio::test]
    async fn the_repository_of_a_subdirectory_is_its_top_with_the_prefix() {
        let dir = tempfile::tempdir().unwrap();
        repo(dir.path(), &[("app/src/main.rs", "fn main() {}\n")]).await;
        let found = git().repo(&dir.path().join("app/src")).await.unwrap();
        assert_eq!(found.top, dir.path().canonicalize().unwrap());
        assert_eq!(found.prefix, std::path::Path::new("app/src"));
        let err = git().commit_of(&found.top, "no-such-branch").await.unwrap_err();
        assert!(err.to_string().contains("is not a commit"), "{err}");
    }
}
