//! Snapshots of a working tree as git objects, and restoring one.
//!
//! A snapshot is what `git add -A` would stage (tracked files as they are
//! now, untracked files that are not ignored) written as a tree, through a
//! scratch index file: the repository's own index and the working tree are
//! never touched, so a snapshot is invisible to the user's `git status`.
//! The scratch index starts as a copy of the real one, whose stat cache
//! spares hashing every file again. The copy keeps the index's modification
//! time: git hashes again an entry whose file looks unchanged but may have
//! changed in the same second the index was written ("racily clean"),
//! judging by that time; a copy dated now would pass such an edit for
//! unchanged, and the snapshot would miss it.

use super::{Git, GitError};
use std::path::{Path, PathBuf};

/// Most changed paths named in a refusal.
const NAMED: usize = 10;

/// Removes a scratch index file when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl Git {
    /// A scratch index in `scratch_dir` for the repository at `top`, a copy of its index.
    async fn scratch_index(&self, top: &Path, scratch_dir: &Path) -> Result<Scratch, GitError> {
        let index = scratch_dir.join(format!("index-{}", uuid::Uuid::new_v4().simple()));
        let real = top.join(self.run(top, &["rev-parse", "--git-path", "index"]).await?.text());
        let copied = std::fs::create_dir_all(scratch_dir).and_then(|()| match std::fs::metadata(&real) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(err),
            Ok(meta) => {
                std::fs::copy(&real, &index)?;
                std::fs::File::options().write(true).open(&index)?.set_modified(meta.modified()?)
            }
        });
        copied.map_err(|err| GitError::Failed {
            args: "checkpoint".into(),
            message: format!("cannot copy the index: {err}"),
        })?;
        Ok(Scratch(index))
    }

    /// The tree of the working tree at `top` as it is (see the module doc).
    pub async fn snapshot(&self, top: &Path, scratch_dir: &Path) -> Result<String, GitError> {
        let scratch = self.scratch_index(top, scratch_dir).await?;
        let index = scratch.0.to_string_lossy().into_owned();
        let env = [("GIT_INDEX_FILE", index.as_str())];
        self.run_with(top, &["add", "--all", "--", "."], &env).await?;
        Ok(self.run_with(top, &["write-tree"], &env).await?.text())
    }

    /// Records the working tree at `top` as a commit on `reference` (child
    /// of `HEAD`, when there is one); returns the commit.
    pub async fn checkpoint(
        &self,
        top: &Path,
        scratch_dir: &Path,
        reference: &str,
        message: &str,
    ) -> Result<String, GitError> {
        let tree = self.snapshot(top, scratch_dir).await?;
        let head = self.commit_of(top, "HEAD").await.ok();
        let mut args = vec!["commit-tree", tree.as_str(), "-m", message];
        if let Some(head) = &head {
            args.extend(["-p", head.as_str()]);
        }
        let identity = self.identity(top).await;
        let commit = self.run_with(top, &args, &identity).await?.text();
        self.run(top, &["update-ref", reference, &commit]).await?;
        Ok(commit)
    }

    /// Makes the working tree at `top` hold exactly the files of commit
    /// `target` (tracked and untracked alike; ignored files are left
    /// alone). Unless `force`, refused when the working tree is in none of
    /// the states `known` (commits) — it changed since — naming what changed
    /// against the first. Returns the paths written or removed.
    pub async fn restore(
        &self,
        top: &Path,
        scratch_dir: &Path,
        target: &str,
        known: &[&str],
        force: bool,
    ) -> Result<Vec<String>, GitError> {
        let current = self.snapshot(top, scratch_dir).await?;
        let target_tree = self.run(top, &["rev-parse", &format!("{target}^{{tree}}")]).await?.text();
        if !force {
            let mut known_trees = Vec::with_capacity(known.len());
            for commit in known {
                known_trees.push(self.run(top, &["rev-parse", &format!("{commit}^{{tree}}")]).await?.text());
            }
            if !known_trees.contains(&current) {
                let since = known_trees.first().map_or(target_tree.as_str(), String::as_str);
                let changed = self.tree_changes(top, since, &current).await?;
                let mut named: Vec<&str> = changed.iter().map(|(_, path)| path.as_str()).take(NAMED).collect();
                if changed.len() > NAMED {
                    named.push("...");
                }
                return Err(GitError::Refused(format!(
                    "the working tree has changed since the checkpoint ({} paths: {}); restoring would lose \
                     that; pass force to restore anyway",
                    changed.len(),
                    named.join(", ")
                )));
            }
        }
        let changes = self.tree_changes(top, &current, &target_tree).await?;
        // Removed first: a file may give way to a directory of the same name.
        for (_, path) in changes.iter().filter(|(status, _)| *status == 'D') {
            let file = top.join(path);
            if std::fs::symlink_metadata(&file).is_ok() {
                std::fs::remove_file(&file).map_err(|err| io_failed(path, err))?;
            }
            remove_empty_parents(top, &file);
        }
        let written: Vec<&str> =
            changes.iter().filter(|(status, _)| *status != 'D').map(|(_, path)| path.as_str()).collect();
        if !written.is_empty() {
            let scratch = self.scratch_index(top, scratch_dir).await?;
            let index = scratch.0.to_string_lossy().into_owned();
            let env = [("GIT_INDEX_FILE", index.as_str())];
            self.run_with(top, &["read-tree", &target_tree], &env).await?;
            let mut paths = Vec::new();
            for path in &written {
                paths.extend_from_slice(path.as_bytes());
                paths.push(0);
            }
            let args = ["checkout-index", "--force", "-z", "--stdin"];
            let output = self.call(top, &args, &env, &paths).await?;
            if output.code != Some(0) {
                return Err(super::failed(&args, &output));
            }
        }
        Ok(changes.into_iter().map(|(_, path)| path).collect())
    }

    /// What turns tree `from` into tree `to`: `(status, path)` with status
    /// `A` (added), `D` (deleted), `M` (modified) or `T` (type changed).
    async fn tree_changes(&self, top: &Path, from: &str, to: &str) -> Result<Vec<(char, String)>, GitError> {
        let output = self.run(top, &["diff-tree", "-r", "-z", "--no-renames", "--name-status", from, to]).await?;
        let mut fields = output.stdout.split(|b| *b == 0).filter(|f| !f.is_empty());
        let mut changes = Vec::new();
        while let (Some(status), Some(path)) = (fields.next(), fields.next()) {
            changes.push((status.first().map_or('M', |b| *b as char), String::from_utf8_lossy(path).into_owned()));
        }
        Ok(changes)
    }
}

fn io_failed(path: &str, err: std::io::Error) -> GitError {
    GitError::Failed { args: "restore".into(), message: format!("cannot remove {path}: {err}") }
}

/// Removes the directories above `file` that are left empty, up to `top`.
fn remove_empty_parents(top: &Path, file: &Path) {
    let mut dir = file.parent();
    while let Some(current) = dir.filter(|d| *d != top && d.starts_with(top)) {
        if std::fs::remove_dir(current).is_err() {
            break;
        }
        dir = current.parent();
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{git, repo, sh};

    #[tokio::test]
    async fn an_edit_in_the_second_the_index_was_written_is_in_the_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let (project, scratch) = (dir.path().join("p"), dir.path().join("scratch"));
        std::fs::create_dir(&project).unwrap();
        repo(&project, &[("a.txt", "one\n")]).await;
        sh(&project, &["config", "core.trustctime", "false"]).await;
        // Staged at `then`, the index written in that second, and the file
        // edited in it too, to the same size: only its content tells.
        let then = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
        let touch = |path: &std::path::Path| {
            std::fs::File::options().write(true).open(path).unwrap().set_modified(then).unwrap();
        };
        let file = project.join("a.txt");
        touch(&file);
        sh(&project, &["add", "a.txt"]).await;
        touch(&project.join(".git/index"));
        std::fs::write(&file, "two\n").unwrap();
        touch(&file);

        let tree = git().snapshot(&project, &scratch).await.unwrap();
        assert_eq!(sh(&project, &["show", &format!("{tree}:a.txt")]).await, "two");
    }

    #[tokio::test]
    async fn a_checkpoint_holds_untracked_files_and_restores_without_touching_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let (project, scratch) = (dir.path().join("p"), dir.path().join("scratch"));
        std::fs::create_dir(&project).unwrap();
        repo(&project, &[("a.txt", "one\n"), (".gitignore", "*.log\n")]).await;
        // Before: a staged change, an untracked file and an ignored one.
        std::fs::write(project.join("a.txt"), "one, edited\n").unwrap();
        sh(&project, &["add", "a.txt"]).await;
        std::fs::write(project.join("notes.md"), "draft\n").unwrap();
        std::fs::write(project.join("build.log"), "log\n").unwrap();
        let status_before = sh(&project, &["status", "--porcelain"]).await;
        let git = git();
        let before =
            git.checkpoint(&project, &scratch, "refs/ringmaster/checkpoints/j/before", "before").await.unwrap();
        assert_eq!(sh(&project, &["status", "--porcelain"]).await, status_before, "index and files untouched");
        let listed = sh(&project, &["ls-tree", "-r", "--name-only", &before]).await;
        assert_eq!(listed.lines().collect::<Vec<_>>(), [".gitignore", "a.txt", "notes.md"], "ignored file left out");

        // The job: edits, deletes the untracked file, adds a file in a new directory.
        std::fs::write(project.join("a.txt"), "rewritten\n").unwrap();
        std::fs::remove_file(project.join("notes.md")).unwrap();
        std::fs::create_dir(project.join("src")).unwrap();
        std::fs::write(project.join("src/new.rs"), "// new\n").unwrap();
        let after = git.checkpoint(&project, &scratch, "refs/ringmaster/checkpoints/j/after", "after").await.unwrap();

        let restored = git.restore(&project, &scratch, &before, &[&after, &before], false).await.unwrap();
        assert_eq!(restored.len(), 3, "{restored:?}");
        assert_eq!(std::fs::read_to_string(project.join("a.txt")).unwrap(), "one, edited\n");
        assert_eq!(std::fs::read_to_string(project.join("notes.md")).unwrap(), "draft\n");
        assert!(!project.join("src").exists(), "the new file and its directory are gone");
        assert_eq!(std::fs::read_to_string(project.join("build.log")).unwrap(), "log\n");
        assert_eq!(sh(&project, &["status", "--porcelain"]).await, status_before);

        // Changed since: refused with the path, nothing touched; forced: restored.
        std::fs::write(project.join("a.txt"), "mine\n").unwrap();
        let refused = git.restore(&project, &scratch, &after, &[&after, &before], false).await.unwrap_err();
        assert!(refused.to_string().contains("a.txt") && refused.to_string().contains("force"), "{refused}");
        assert_eq!(std::fs::read_to_string(project.join("a.txt")).unwrap(), "mine\n");
        git.restore(&project, &scratch, &after, &[&after, &before], true).await.unwrap();
        assert_eq!(std::fs::read_to_string(project.join("src/new.rs")).unwrap(), "// new\n");
        assert!(!project.join("notes.md").exists());
        assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0, "no scratch index left behind");
    }
}
