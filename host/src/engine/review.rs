//! Reviewing what a job changed, once it has ended: [`Engine::diff`] (also
//! while it runs), [`Engine::merge`] and [`Engine::discard`] for a job's
//! worktree, [`Engine::restore`] for its checkpoints. Each refuses with the
//! reason and changes nothing when it cannot do all it is asked.

use super::isolation::in_use;
use super::{Engine, EngineError};
use crate::git::merge::MergeRequest;
use crate::job::workspace::{Diff, DiffRequest, MergeStrategy, Merged, Restored, Which, Workspace, WorkspaceState};
use crate::job::{JobRecord, now_ms, preview};

/// Bytes of diff in a page unless asked otherwise, and at most.
const DIFF_PAGE: usize = 64 * 1024;
const MAX_DIFF_PAGE: usize = 1024 * 1024;
/// Most lines of context around a change.
const MAX_CONTEXT: u32 = 1000;

fn invalid(message: impl Into<String>) -> EngineError {
    EngineError::Invalid(message.into())
}

/// A job's own worktree from its record, or why it has none.
fn own_workspace<'a>(record: &'a mut JobRecord, what: &str) -> Result<&'a mut Workspace, EngineError> {
    let id = record.job_id.clone();
    let Some(workspace) = record.workspace.as_mut() else {
        return Err(invalid(format!(
            "job {id} ran without a worktree (isolation: worktree): there is no branch to {what}"
        )));
    };
    if let Some(owner) = &workspace.owner {
        return Err(invalid(format!(
            "job {id} worked in the worktree of job {owner}: what it changed is on that job's branch; {what} job {owner}"
        )));
    }
    Ok(workspace)
}

impl Engine {
    /// A page of the diff of what job `id` changed: its branch against its
    /// base, or its checkpoints; while it runs, its files as they are.
    pub async fn diff(&self, id: &str, request: DiffRequest) -> Result<Diff, EngineError> {
        let context = request.context.unwrap_or(3);
        if context > MAX_CONTEXT {
            return Err(invalid(format!("context is {context}; at most {MAX_CONTEXT} lines")));
        }
        let max_bytes = request.max_bytes.unwrap_or(DIFF_PAGE);
        if !(1..=MAX_DIFF_PAGE).contains(&max_bytes) {
            return Err(invalid(format!("max_bytes is {max_bytes}; it must be between 1 and {MAX_DIFF_PAGE}")));
        }
        if let Some(path) = &request.path
            && (path.is_empty() || path.contains('\0') || path.starts_with('/'))
        {
            return Err(invalid(format!("path {path:?} must be a path relative to the repository's top")));
        }
        let mut record = self.status(id).await?;
        let workspaces = &self.inner.workspaces;
        let repo = workspaces.repo("job_diff").await.map_err(invalid)?;
        let (dir, from, to) = if record.workspace.is_some() {
            let workspace = own_workspace(&mut record, "diff")?;
            match (workspace.state, &workspace.head) {
                (WorkspaceState::Pending, _) => {
                    return Err(invalid(format!("job {id} has not started: its worktree is not made yet")));
                }
                (_, Some(head)) => (repo.top.clone(), workspace.base.clone(), Some(head.clone())),
                (_, None) => (workspace.path.clone(), workspace.base.clone(), None),
            }
        } else if let Some(checkpoints) = &record.checkpoints {
            let Some(before) = checkpoints.before.clone() else {
                return Err(invalid(format!("job {id} has not started: its checkpoint before is not taken yet")));
            };
            (repo.top.clone(), before, checkpoints.after.clone())
        } else {
            return Err(invalid(format!(
                "job {id} ran in the project as it was (no isolation, no checkpoint): ringmaster has no record of \
                 what it changed"
            )));
        };
        let path = request.path.map(|p| format!(":(literal){p}"));
        let page = workspaces
            .git
            .diff(&dir, (&from, to.as_deref()), path.as_deref(), context, (request.offset, max_bytes))
            .await
            .map_err(|err| invalid(err.to_string()))?;
        Ok(Diff {
            job_id: id.to_string(),
            from,
            to,
            text: page.text,
            offset: request.offset,
            next_offset: page.next_offset,
        })
    }

    /// Merges ended job `id`'s branch into the project's branch `into` (its
    /// current branch by default) as `strategy` says; refused on a conflict
    /// with everything as it was. Its worktree is removed; its branch kept.
    pub async fn merge(
        &self,
        id: &str,
        strategy: MergeStrategy,
        into: Option<String>,
    ) -> Result<JobRecord, EngineError> {
        if let Some(into) = &into
            && (into.is_empty() || into.starts_with('-') || into.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return Err(invalid(format!("into {into:?} is not a branch name")));
        }
        let workspaces = &self.inner.workspaces;
        let _project = workspaces.project.lock().await;
        let mut record = self.ended(id, "merge").await?;
        let prompt = record.prompt.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
        let workspace = own_workspace(&mut record, "merge")?;
        match (workspace.state, &workspace.merged, &workspace.head) {
            (_, Some(merged), _) => {
                return Err(invalid(format!("job {id} was merged into {} already ({})", merged.into, merged.commit)));
            }
            (WorkspaceState::Discarded, ..) => {
                return Err(invalid(format!("job {id} was discarded: its branch is gone")));
            }
            (_, _, None) => {
                return Err(invalid(format!("job {id} left no sealed branch to merge (see its notes)")));
            }
            _ => {}
        }
        let head = workspace.head.clone().expect("checked");
        let message = match strategy {
            MergeStrategy::Merge => {
                format!("Merge {}: {}\n\nringmaster job {id}", workspace.branch, preview(&prompt, 200))
            }
            _ => format!("{}\n\nringmaster job {id}, squashed from {}", preview(&prompt, 200), workspace.branch),
        };
        let repo = workspaces.repo("job_merge").await.map_err(invalid)?;
        let request = MergeRequest {
            head: &head,
            base: &workspace.base,
            branch: &workspace.branch,
            into: into.as_deref(),
            strategy,
            message: &message,
        };
        let merged = workspaces.git.merge(&repo.top, request).await.map_err(|err| invalid(err.to_string()))?;
        if let Err(err) = workspaces.git.remove_worktree(&repo.top, &workspace.path).await {
            tracing::warn!(job = %id, error = %err, "merged, but cannot remove the job's worktree; the sweep will");
        }
        workspace.state = WorkspaceState::Merged;
        workspace.merged = Some(Merged { into: merged.into, strategy, commit: merged.commit, at_ms: now_ms() });
        self.store_review(&record).await;
        Ok(record)
    }

    /// Removes ended job `id`'s worktree and branch.
    pub async fn discard(&self, id: &str) -> Result<JobRecord, EngineError> {
        let workspaces = &self.inner.workspaces;
        let _project = workspaces.project.lock().await;
        let mut record = self.ended(id, "discard").await?;
        let workspace = own_workspace(&mut record, "discard")?;
        if workspace.state == WorkspaceState::Discarded {
            return Ok(record);
        }
        if workspace.state != WorkspaceState::Pending {
            let repo = workspaces.repo("job_discard").await.map_err(invalid)?;
            let git = &workspaces.git;
            let failed = |err: crate::git::GitError| invalid(format!("cannot discard job {id}'s work: {err}"));
            git.remove_worktree(&repo.top, &workspace.path).await.map_err(failed)?;
            git.delete_branch(&repo.top, &workspace.branch).await.map_err(failed)?;
        }
        workspace.state = WorkspaceState::Discarded;
        self.store_review(&record).await;
        Ok(record)
    }

    /// Restores the project's files to ended job `id`'s checkpoint `which`;
    /// unless `force`, refused when they changed since the job's
    /// checkpoints (they are in neither state).
    pub async fn restore(&self, id: &str, which: Which, force: bool) -> Result<Restored, EngineError> {
        let workspaces = &self.inner.workspaces;
        let _project = workspaces.project.lock().await;
        let record = self.ended(id, "restore").await?;
        let Some(checkpoints) = &record.checkpoints else {
            return Err(invalid(format!(
                "job {id} has no checkpoints: jobs submitted with checkpoint: true (without isolation) have them"
            )));
        };
        let commit = match which {
            Which::Before => checkpoints.before.clone(),
            Which::After => checkpoints.after.clone(),
        };
        let Some(commit) = commit else {
            return Err(invalid(format!("job {id} has no checkpoint {} (see its notes)", which.as_str())));
        };
        let known: Vec<&str> =
            [&checkpoints.after, &checkpoints.before].into_iter().flatten().map(String::as_str).collect();
        let repo = workspaces.repo("checkpoint_restore").await.map_err(invalid)?;
        let paths = workspaces
            .git
            .restore(&repo.top, workspaces.scratch(), &commit, &known, force)
            .await
            .map_err(|err| invalid(err.to_string()))?;
        tracing::info!(job = %id, which = which.as_str(), paths = paths.len(), "restored a checkpoint");
        Ok(Restored { job_id: id.to_string(), which, commit, paths })
    }

    /// Job `id`'s record, refused while it (or a sub-job in its worktree) is live.
    async fn ended(&self, id: &str, what: &str) -> Result<JobRecord, EngineError> {
        let record = self.status(id).await?;
        if in_use(&self.inner.state.lock(), id) {
            return Err(invalid(format!(
                "job {id} (or a sub-job working in its worktree) has not ended: wait for it, or cancel it, then {what}"
            )));
        }
        Ok(record)
    }

    /// Stores a finished job's record after a review changed it.
    async fn store_review(&self, record: &JobRecord) {
        self.inner.persist(record);
        // What a client is told survives a crash (unless the store fails).
        let _ = self.inner.writes.flush().await;
        self.inner.workspaces.changed.notify_one();
    }
}
