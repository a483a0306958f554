//! A job's branch into a branch of the project: the result is computed as
//! git objects first (`git merge-tree`, needing git 2.40), so a conflict is
//! found before anything changes and refused with the conflicting paths;
//! only a clean result moves the target branch, and when the project has
//! that branch checked out, through `git merge --ff-only`, which refuses
//! rather than overwrite uncommitted changes. Either way the project is as
//! it was unless the merge happened.

use super::{Git, GitError};
use crate::job::workspace::{ChangedFile, MergeStrategy};
use std::path::Path;

/// A merge that happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeOutcome {
    pub into: String,
    /// Where `into` points now.
    pub commit: String,
    /// What the merge changed on `into` (the first [`super::MAX_LISTED`]).
    pub files: Vec<ChangedFile>,
}

/// What to merge: the branch's commits `base..head`, described by `message`.
pub struct MergeRequest<'a> {
    pub head: &'a str,
    pub base: &'a str,
    pub branch: &'a str,
    /// A branch of the project; its current branch when `None`.
    pub into: Option<&'a str>,
    pub strategy: MergeStrategy,
    /// The message of the merge (or squashed) commit.
    pub message: &'a str,
}

impl Git {
    /// Merges as `request` says into the repository at `top` (see the module doc).
    pub async fn merge(&self, top: &Path, request: MergeRequest<'_>) -> Result<MergeOutcome, GitError> {
        let into = match request.into {
            Some(into) => into.to_string(),
            None => {
                let output = self.call(top, &["symbolic-ref", "--quiet", "--short", "HEAD"], &[], b"").await?;
                if output.code != Some(0) {
                    return Err(GitError::Refused(
                        "the project is not on a branch (detached HEAD): name the branch to merge into".into(),
                    ));
                }
                output.text()
            }
        };
        let target = self
            .commit_of(top, &format!("refs/heads/{into}"))
            .await
            .map_err(|_| GitError::Refused(format!("the project has no branch {into:?} to merge into")))?;
        let checked_out = self.checked_out_at(top, &into).await?;
        if let Some(at) = checked_out.as_deref().filter(|at| !same_dir(at, top)) {
            return Err(GitError::Refused(format!(
                "branch {into} is checked out in another worktree, {}; merge into it there, or into another branch",
                at.display()
            )));
        }
        let contained = self.call(top, &["merge-base", "--is-ancestor", request.head, &target], &[], b"").await?;
        if contained.code == Some(0) {
            return Err(GitError::Refused(format!(
                "nothing to merge: {into} already has everything of {}",
                request.branch
            )));
        }
        let identity = self.identity(top).await;
        let commit = match request.strategy {
            MergeStrategy::Merge | MergeStrategy::Squash => {
                let tree = self.merged_tree(top, None, &target, request.head, request.branch, &into).await?;
                let mut args = vec!["commit-tree", tree.as_str(), "-p", target.as_str()];
                if request.strategy == MergeStrategy::Merge {
                    args.extend(["-p", request.head]);
                }
                args.extend(["-m", request.message]);
                self.run_with(top, &args, &identity).await?.text()
            }
            MergeStrategy::Rebase => self.replay(top, &request, &target, &into).await?,
        };
        match checked_out {
            // The project's working tree follows; git refuses rather than
            // overwrite changes there, and then nothing has moved.
            Some(_) => {
                let output = self.call(top, &["merge", "--ff-only", "--quiet", &commit], &[], b"").await?;
                if output.code != Some(0) {
                    return Err(GitError::Refused(format!(
                        "the merge is clean, but the project's working tree could not take it (nothing was \
                         changed): {}",
                        output.stderr
                    )));
                }
            }
            None => {
                self.run(top, &["update-ref", &format!("refs/heads/{into}"), &commit, &target]).await?;
            }
        }
        let (files, _) = self.changed_files(top, &target, &commit).await?;
        Ok(MergeOutcome { into, commit, files })
    }

    /// The tree of `ours` and `theirs` merged (from `merge_base`, or their
    /// own); refused with the conflicting paths.
    async fn merged_tree(
        &self,
        top: &Path,
        merge_base: Option<&str>,
        ours: &str,
        theirs: &str,
        branch: &str,
        into: &str,
    ) -> Result<String, GitError> {
        let mut args = vec!["merge-tree", "--write-tree", "--name-only", "--no-messages"];
        if let Some(base) = merge_base {
            args.extend(["--merge-base", base]);
        }
        args.extend([ours, theirs]);
        let output = self.call(top, &args, &[], b"").await?;
        let text = output.text();
        let mut lines = text.lines();
        match output.code {
            Some(0) => Ok(lines.next().unwrap_or_default().to_string()),
            Some(1) => {
                // After the tree: the conflicted paths, up to a blank line.
                let mut paths: Vec<&str> = lines.skip(1).take_while(|l| !l.is_empty()).collect();
                paths.dedup();
                Err(GitError::Refused(format!(
                    "{branch} conflicts with {into} in {}; nothing was changed. Merge it by hand, or discard it",
                    paths.join(", ")
                )))
            }
            _ => Err(super::failed(&args, &output)),
        }
    }

    /// The branch's commits replayed on `target`, each keeping its author
    /// and message; returns the last.
    async fn replay(
        &self,
        top: &Path,
        request: &MergeRequest<'_>,
        target: &str,
        into: &str,
    ) -> Result<String, GitError> {
        let range = format!("{}..{}", request.base, request.head);
        let merges = self.run(top, &["rev-list", "--min-parents=2", &range]).await?.text();
        if !merges.is_empty() {
            return Err(GitError::Refused(format!(
                "{} has merge commits, which a rebase would flatten; use merge or squash",
                request.branch
            )));
        }
        let commits = self.run(top, &["rev-list", "--reverse", &range]).await?.text();
        let committer = self.identity(top).await;
        let mut onto = target.to_string();
        for commit in commits.lines() {
            let parent = format!("{commit}^");
            let tree = self.merged_tree(top, Some(&parent), &onto, commit, request.branch, into).await?;
            let about = self.run(top, &["log", "-1", "--format=%an%x00%ae%x00%aD%x00%B", commit]).await?;
            let about = String::from_utf8_lossy(&about.stdout).into_owned();
            let mut fields = about.splitn(4, '\0');
            let (name, email, date, message) = (
                fields.next().unwrap_or(""),
                fields.next().unwrap_or(""),
                fields.next().unwrap_or(""),
                fields.next().unwrap_or(""),
            );
            let mut env: Vec<(&str, &str)> =
                vec![("GIT_AUTHOR_NAME", name), ("GIT_AUTHOR_EMAIL", email), ("GIT_AUTHOR_DATE", date)];
            env.extend(committer.iter().filter(|(name, _)| name.starts_with("GIT_COMMITTER")).copied());
            onto =
                self.run_with(top, &["commit-tree", &tree, "-p", &onto, "-m", message.trim_end()], &env).await?.text();
        }
        Ok(onto)
    }

    /// Where branch `name` is checked out, if it is (the project or another worktree).
    async fn checked_out_at(&self, top: &Path, name: &str) -> Result<Option<std::path::PathBuf>, GitError> {
        let output = self.run(top, &["worktree", "list", "--porcelain", "-z"]).await?;
        let wanted = format!("branch refs/heads/{name}");
        let mut at = None;
        for field in output.stdout.split(|b| *b == 0) {
            let field = String::from_utf8_lossy(field);
            if let Some(path) = field.strip_prefix("worktree ") {
                at = Some(std::path::PathBuf::from(path));
            } else if field == wanted {
                return Ok(at);
            }
        }
        Ok(None)
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{git, repo, sh};
    use super::*;

    /// A project on `main` and, in worktrees, two branches from it that
    /// change `shared.txt` differently and one that adds `other.txt`.
    async fn project(dir: &Path) -> (std::path::PathBuf, String, Vec<(String, String)>) {
        let project = dir.join("p");
        std::fs::create_dir(&project).unwrap();
        repo(&project, &[("shared.txt", "base\n")]).await;
        let git = git();
        let base = git.commit_of(&project, "HEAD").await.unwrap();
        let mut branches = Vec::new();
        for (name, file, text) in
            [("one", "shared.txt", "one\n"), ("two", "shared.txt", "two\n"), ("three", "other.txt", "3\n")]
        {
            let tree = dir.join(name);
            let branch = format!("ringmaster/{name}");
            git.add_worktree(&project, &tree, &branch, &base).await.unwrap();
            std::fs::write(tree.join(file), text).unwrap();
            let sealed = git.seal(&tree, &base, &format!("job {name}")).await.unwrap();
            branches.push((branch, sealed.head));
        }
        (project, base, branches)
    }

    fn request<'a>(branch: &'a (String, String), base: &'a str, strategy: MergeStrategy) -> MergeRequest<'a> {
        MergeRequest { head: &branch.1, base, branch: &branch.0, into: None, strategy, message: "merged" }
    }

    #[tokio::test]
    async fn a_clean_merge_lands_a_conflict_is_refused_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (project, base, branches) = project(dir.path()).await;
        let git = git();
        let merged = git.merge(&project, request(&branches[0], &base, MergeStrategy::Merge)).await.unwrap();
        assert_eq!(merged.into, "main");
        assert_eq!(std::fs::read_to_string(project.join("shared.txt")).unwrap(), "one\n");
        assert_eq!(
            sh(&project, &["rev-list", "--parents", "-1", "HEAD"]).await.split(' ').count(),
            3,
            "a merge commit"
        );
        assert_eq!(sh(&project, &["status", "--porcelain"]).await, "");

        // The second conflicts: refused, naming the file; nothing moved.
        std::fs::write(project.join("untracked.txt"), "mine\n").unwrap();
        let head = sh(&project, &["rev-parse", "HEAD"]).await;
        let refused = git.merge(&project, request(&branches[1], &base, MergeStrategy::Merge)).await.unwrap_err();
        assert!(matches!(&refused, GitError::Refused(why) if why.contains("with main in shared.txt;")), "{refused}");
        assert_eq!(sh(&project, &["rev-parse", "HEAD"]).await, head);
        assert_eq!(sh(&project, &["status", "--porcelain"]).await, "?? untracked.txt");

        // Squash: one commit with one parent.
        let squashed = git.merge(&project, request(&branches[2], &base, MergeStrategy::Squash)).await.unwrap();
        assert_eq!(sh(&project, &["rev-list", "--parents", "-1", "HEAD"]).await.split(' ').count(), 2);
        assert_eq!(squashed.files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(), ["other.txt"]);
        assert_eq!(std::fs::read_to_string(project.join("other.txt")).unwrap(), "3\n");
        let again = git.merge(&project, request(&branches[0], &base, MergeStrategy::Merge)).await.unwrap_err();
        assert!(again.to_string().contains("nothing to merge"), "{again}");
    }

    #[tokio::test]
    async fn a_rebase_replays_the_commits_and_a_dirty_project_refuses_the_update() {
        let dir = tempfile::tempdir().unwrap();
        let (project, base, branches) = project(dir.path()).await;
        let git = git();
        // A commit on main meanwhile.
        std::fs::write(project.join("later.txt"), "later\n").unwrap();
        sh(&project, &["add", "later.txt"]).await;
        sh(&project, &["commit", "-q", "-m", "later"]).await;
        let rebased = git.merge(&project, request(&branches[2], &base, MergeStrategy::Rebase)).await.unwrap();
        assert_eq!(sh(&project, &["log", "--format=%s", "-2"]).await, "job three\nlater", "linear, message kept");
        assert_eq!(rebased.commit, sh(&project, &["rev-parse", "HEAD"]).await);

        // Uncommitted changes to the file the merge brings: refused, all as it was.
        std::fs::write(project.join("shared.txt"), "local edit\n").unwrap();
        let head = sh(&project, &["rev-parse", "HEAD"]).await;
        let refused = git.merge(&project, request(&branches[0], &base, MergeStrategy::Merge)).await.unwrap_err();
        assert!(refused.to_string().contains("could not take it"), "{refused}");
        assert_eq!(sh(&project, &["rev-parse", "HEAD"]).await, head);
        assert_eq!(std::fs::read_to_string(project.join("shared.txt")).unwrap(), "local edit\n");
    }
}
