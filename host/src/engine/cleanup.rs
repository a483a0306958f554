//! Worktrees no longer wanted are removed: a merged or discarded job's at
//! once (normally done by the merge or discard itself; this catches what
//! failed), any other finished job's `engine.isolation.keep` after it ended,
//! a pruned job's; never one a live job works in (its own, or inherited by a
//! sub-job), and never a branch. One task, woken by changes (gathered for a
//! second) and otherwise when the next worktree is due, at most hourly; it
//! also measures what the rest take on disk, for `engine_stats`.

use super::Inner;
use super::isolation::in_use;
use crate::job::workspace::WorkspaceState;
use crate::job::{JobRecord, now_ms};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How often the cleanup looks when nothing wakes it.
const LOOK_EVERY: Duration = Duration::from_secs(3600);
/// How long the cleanup lets wake-ups gather before it looks.
const GATHER: Duration = Duration::from_secs(1);

impl Inner {
    /// Removes the worktrees no longer wanted, until shutdown (see the module doc).
    pub(super) async fn workspaces_loop(self: Arc<Self>) {
        loop {
            let next = self.clean_up_worktrees().await;
            tokio::select! {
                () = tokio::time::sleep(next) => {}
                () = async {
                    self.workspaces.changed.notified().await;
                    tokio::time::sleep(GATHER).await;
                } => {}
                () = self.shutdown.cancelled() => return,
            }
        }
    }

    /// One look at the worktrees: removes those due, measures the rest;
    /// returns when the next is due (at most [`LOOK_EVERY`]).
    async fn clean_up_worktrees(&self) -> Duration {
        let workspaces = &self.workspaces;
        let Ok(entries) = std::fs::read_dir(&workspaces.worktrees) else { return LOOK_EVERY };
        let keep = self.settings.load().config.isolation.keep().unwrap_or(Duration::from_secs(7 * 86_400));
        let (mut next, mut kept) = (LOOK_EVERY, Vec::new());
        for entry in entries.flatten() {
            let (path, id) = (entry.path(), entry.file_name().to_string_lossy().into_owned());
            if in_use(&self.state.lock(), &id) {
                kept.push(path);
                continue;
            }
            let record = match self.writes.pending_record(&id) {
                Some(record) => Some(record),
                None => self.store.record(&id).ok().flatten(),
            };
            let due_ms = match record.as_ref().and_then(|r| r.workspace.as_ref().map(|w| (r, w))) {
                Some((record, workspace)) if workspace.state == WorkspaceState::Ready => {
                    record.finished_at_ms.unwrap_or(0).saturating_add(keep.as_millis() as u64)
                }
                // Merged, discarded or removed already, or a job the store no longer has.
                _ => 0,
            };
            let now = now_ms();
            if due_ms > now {
                next = next.min(Duration::from_millis(due_ms - now));
                kept.push(path);
                continue;
            }
            match self.remove_worktree(&id, &path, record).await {
                Ok(()) => {
                    tracing::info!(job = %id, path = %path.display(), "removed a worktree no longer wanted (engine.isolation.keep)")
                }
                Err(err) => {
                    tracing::warn!(job = %id, error = %err, "cannot remove a worktree");
                    kept.push(path);
                }
            }
        }
        let count = kept.len() as u64;
        let bytes = tokio::task::spawn_blocking(move || kept.iter().map(|p| disk_usage(p)).sum()).await.unwrap_or(0);
        workspaces.count.store(count, Ordering::Relaxed);
        workspaces.disk_bytes.store(bytes, Ordering::Relaxed);
        next
    }

    /// Removes finished job `id`'s worktree at `path`; its record (if any)
    /// says so unless it was merged or discarded.
    async fn remove_worktree(&self, id: &str, path: &Path, record: Option<JobRecord>) -> Result<(), String> {
        let workspaces = &self.workspaces;
        let _project = workspaces.project.lock().await;
        // Looked at again under the lock: a merge may have just happened.
        if in_use(&self.state.lock(), id) {
            return Ok(());
        }
        let repo = workspaces.repo("removing a worktree").await?;
        workspaces.git.remove_worktree(&repo.top, path).await.map_err(|err| err.to_string())?;
        if let Some(mut record) = record
            && let Some(workspace) = record.workspace.as_mut().filter(|w| w.state == WorkspaceState::Ready)
        {
            workspace.state = WorkspaceState::Removed;
            self.persist(&record);
        }
        Ok(())
    }
}

/// Bytes on disk under `path` (not following links).
fn disk_usage(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else { return 0 };
    let own = meta.blocks() * 512;
    if !meta.is_dir() {
        return own;
    }
    let children = std::fs::read_dir(path).map(|entries| entries.flatten().map(|e| disk_usage(&e.path())).sum());
    own + children.unwrap_or(0)
}
