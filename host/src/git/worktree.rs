//! A job's worktree: made on a new branch from its base, sealed when the job
//! ends (what the agent left uncommitted is committed, so nothing is lost,
//! and what the branch changed is listed), removed when no longer wanted.

use super::{Git, GitError};
use crate::job::workspace::ChangedFile;
use std::path::Path;

/// A worktree as its job left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub head: String,
    pub files: Vec<ChangedFile>,
    /// Changed files beyond those listed.
    pub more_files: u64,
    /// Whether the agent had committed everything.
    pub clean: bool,
    /// The commit of what it had not.
    pub leftovers: Option<String>,
}

impl Git {
    /// Makes a worktree at `path` on a new branch `branch` from commit `base`
    /// of the repository at `top`.
    pub async fn add_worktree(&self, top: &Path, path: &Path, branch: &str, base: &str) -> Result<(), GitError> {
        let path = path.to_string_lossy();
        self.run(top, &["worktree", "add", "--quiet", "--no-track", "-b", branch, &path, base]).await?;
        Ok(())
    }

    /// Makes the worktree at `path` again, on its existing `branch` (after
    /// its directory was lost).
    pub async fn restore_worktree(&self, top: &Path, path: &Path, branch: &str) -> Result<(), GitError> {
        self.run(top, &["worktree", "prune"]).await?;
        let path = path.to_string_lossy();
        self.run(top, &["worktree", "add", "--quiet", &path, branch]).await?;
        Ok(())
    }

    /// Commits what the agent left uncommitted in the worktree at `path`
    /// (with `message`), then lists what its branch changed since `base`.
    pub async fn seal(&self, path: &Path, base: &str, message: &str) -> Result<Sealed, GitError> {
        let clean = !self.has_changes(path).await?;
        let leftovers = match clean {
            true => None,
            false => {
                let identity = self.identity(path).await;
                self.run(path, &["add", "-A"]).await?;
                // No hooks: the agent's work is saved as it is.
                self.run_with(path, &["commit", "--quiet", "--no-verify", "-m", message], &identity).await?;
                Some(self.commit_of(path, "HEAD").await?)
            }
        };
        let head = self.commit_of(path, "HEAD").await?;
        let (files, more_files) = self.changed_files(path, base, &head).await?;
        Ok(Sealed { head, files, more_files, clean, leftovers })
    }

    /// Removes the worktree at `path` of the repository at `top`, whatever
    /// it holds (it was sealed); a directory already gone is pruned.
    pub async fn remove_worktree(&self, top: &Path, path: &Path) -> Result<(), GitError> {
        if path.exists() {
            let path = path.to_string_lossy();
            let removed = self.run(top, &["worktree", "remove", "--force", "--force", &path]).await;
            if removed.is_err() && Path::new(path.as_ref()).exists() {
                // Not (or no longer) a worktree git knows: just a directory of ours.
                std::fs::remove_dir_all(path.as_ref()).map_err(|err| GitError::Failed {
                    args: format!("worktree remove {path}"),
                    message: err.to_string(),
                })?;
            }
        }
        self.run(top, &["worktree", "prune"]).await?;
        Ok(())
    }

    /// Deletes `branch` (merged or not).
    pub async fn delete_branch(&self, top: &Path, branch: &str) -> Result<(), GitError> {
        let exists = self.commit_of(top, &format!("refs/heads/{branch}")).await.is_ok();
        if exists {
            self.run(top, &["branch", "--quiet", "-D", "--", branch]).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{git, repo, sh};

    #[tokio::test]
    async fn a_worktree_is_made_sealed_with_the_leftovers_committed_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("project");
        std::fs::create_dir(&project).unwrap();
        repo(&project, &[("a.txt", "one\n"), ("b.txt", "keep\n")]).await;
        let git = git();
        let base = git.commit_of(&project, "HEAD").await.unwrap();
        let tree = dir.path().join("wt");
        git.add_worktree(&project, &tree, "ringmaster/job-1", &base).await.unwrap();
        assert_eq!(std::fs::read_to_string(tree.join("a.txt")).unwrap(), "one\n");

        // The agent edits, adds and deletes, committing nothing.
        std::fs::write(tree.join("a.txt"), "one\ntwo\n").unwrap();
        std::fs::write(tree.join("new.txt"), "x\ny\n").unwrap();
        std::fs::remove_file(tree.join("b.txt")).unwrap();
        let sealed = git.seal(&tree, &base, "leftovers of job 1").await.unwrap();
        assert!(!sealed.clean);
        assert_eq!(sealed.leftovers.as_deref(), Some(sealed.head.as_str()));
        let summary: Vec<(&str, Option<u64>, Option<u64>)> =
            sealed.files.iter().map(|f| (f.path.as_str(), f.added, f.deleted)).collect();
        assert_eq!(summary, [("a.txt", Some(1), Some(0)), ("b.txt", Some(0), Some(1)), ("new.txt", Some(2), Some(0))]);
        assert_eq!(sh(&tree, &["log", "-1", "--format=%s"]).await, "leftovers of job 1");
        // The project is untouched.
        assert_eq!(sh(&project, &["status", "--porcelain"]).await, "");
        assert_eq!(std::fs::read_to_string(project.join("a.txt")).unwrap(), "one\n");

        // Sealed again with nothing new: clean, same head.
        let again = git.seal(&tree, &base, "unused").await.unwrap();
        assert!(again.clean && again.leftovers.is_none() && again.head == sealed.head);

        git.remove_worktree(&project, &tree).await.unwrap();
        assert!(!tree.exists());
        // The branch and its work remain until deleted.
        assert_eq!(git.commit_of(&project, "ringmaster/job-1").await.unwrap(), sealed.head);
        git.delete_branch(&project, "ringmaster/job-1").await.unwrap();
        assert!(git.commit_of(&project, "ringmaster/job-1").await.is_err());
    }

    #[tokio::test]
    async fn a_change_of_many_files_lists_the_first_thousand_and_counts_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        repo(dir.path(), &[("a.txt", "a\n")]).await;
        let git = git();
        let base = git.commit_of(dir.path(), "HEAD").await.unwrap();
        for i in 0..super::super::MAX_LISTED + 5 {
            std::fs::write(dir.path().join(format!("f{i:04}.txt")), "x\n").unwrap();
        }
        let sealed = git.seal(dir.path(), &base, "many").await.unwrap();
        assert_eq!((sealed.files.len(), sealed.more_files), (super::super::MAX_LISTED, 5));
        assert_eq!(sealed.files[0].path, "f0000.txt");
    }
}
