//! Where jobs work, the engine's part (the git work is in [`crate::git`]):
//!
//! * At submission the place is planned ([`Inner::plan_workspace`]): a
//!   worktree's base commit is fixed then (the project's `HEAD` as it is
//!   when the job is taken, uncommitted changes noted, never copied), and a
//!   job that cannot have what it asks (no repository, an unknown base) is
//!   refused with nothing queued.
//! * At each attempt's start ([`Inner::prepare_workspace`]) the worktree is
//!   made (first attempt), made again from its branch when its directory
//!   went missing, or reused (a retry, or a job recovered after a restart);
//!   a checkpointed job's `before` is taken once. The agent's working
//!   directory is set in the live spec, so hooks see it too.
//! * When the job ends ([`Inner::seal_workspace`]) what the agent left
//!   uncommitted is committed and the branch's changes are listed on the
//!   record; a checkpointed job's `after` is taken.
//! * Afterwards the cleanup (`cleanup.rs`) removes worktrees no longer
//!   wanted: merged or discarded at once, the others `keep` after their job
//!   ended; never one a live job works in; branches never.
//!
//! What changes the project's repository as a whole (merges, restores,
//! checkpoints, the sweep) holds `Workspaces::project`, one at a time.

use super::state::State;
use super::{Inner, SubmitError};
use crate::executor::agent::AgentProfile;
use crate::git::{Git, GitError, Repo};
use crate::job::workspace::{Checkpoints, Isolation, Which, Workspace, WorkspaceState, branch_name};
use crate::job::{JobRecord, JobSpec};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Notify;

/// The worktrees on disk, as `engine_stats` shows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct WorktreeStats {
    pub count: u64,
    pub disk_bytes: u64,
}

/// The engine's worktrees and checkpoints.
pub(super) struct Workspaces {
    pub(super) git: Git,
    state_dir: PathBuf,
    /// `<state>/worktrees/<job id>`.
    pub(super) worktrees: PathBuf,
    /// Scratch index files of snapshots.
    scratch: PathBuf,
    project_dir: PathBuf,
    /// The project's repository, once found.
    repo: tokio::sync::OnceCell<Repo>,
    /// Held while the project's repository, or a finished job's worktree
    /// and its record, is changed (see the module doc).
    pub(super) project: tokio::sync::Mutex<()>,
    pub(super) count: AtomicU64,
    pub(super) disk_bytes: AtomicU64,
    /// Wakes the sweep: a worktree was made, sealed, merged or discarded.
    pub(super) changed: Notify,
}

impl Workspaces {
    pub(super) fn new(state_dir: &Path, project_dir: &Path, git: Git) -> Workspaces {
        Workspaces {
            git,
            state_dir: state_dir.to_path_buf(),
            worktrees: state_dir.join("worktrees"),
            scratch: state_dir.join("tmp"),
            project_dir: project_dir.to_path_buf(),
            repo: tokio::sync::OnceCell::new(),
            project: tokio::sync::Mutex::new(()),
            count: AtomicU64::new(0),
            disk_bytes: AtomicU64::new(0),
            changed: Notify::new(),
        }
    }

    /// The project's repository; `what` says what needs it in the error.
    pub(super) async fn repo(&self, what: &str) -> Result<&Repo, String> {
        self.repo.get_or_try_init(|| self.git.repo(&self.project_dir)).await.map_err(|err| match err {
            GitError::NotARepository { .. } => format!(
                "{what} needs the project to be a git repository, and {} is not in one (`git init` makes one)",
                self.project_dir.display()
            ),
            other => format!("{what}: {other}"),
        })
    }

    /// The scratch directory, and the state directory hidden from git (a
    /// `.gitignore` of `*` in it), so that neither snapshots nor the
    /// project's `git status` see the worktrees and the store when the
    /// state directory is inside the project.
    fn prepare_dirs(&self) -> Result<(), String> {
        let made = std::fs::create_dir_all(&self.worktrees).and_then(|()| std::fs::create_dir_all(&self.scratch));
        made.map_err(|err| format!("cannot make {}: {err}", self.worktrees.display()))?;
        let ignore = self.state_dir.join(".gitignore");
        // Never in the project itself (a state directory configured there).
        if !self.project_dir.starts_with(&self.state_dir) && std::fs::symlink_metadata(&ignore).is_err() {
            std::fs::write(&ignore, "# ringmaster's state: not part of the project\n*\n")
                .map_err(|err| format!("cannot write {}: {err}", ignore.display()))?;
        }
        Ok(())
    }

    pub(super) fn stats(&self) -> WorktreeStats {
        WorktreeStats { count: self.count.load(Ordering::Relaxed), disk_bytes: self.disk_bytes.load(Ordering::Relaxed) }
    }

    pub(super) fn scratch(&self) -> &Path {
        &self.scratch
    }
}

/// `dir` relative to the top of `repo`, when it is inside it.
fn inside(repo: &Repo, dir: &Path) -> Option<PathBuf> {
    let dir = dir.canonicalize().ok()?;
    dir.strip_prefix(&repo.top).ok().map(Path::to_path_buf)
}

/// The reference of job `id`'s checkpoint `which`.
pub(super) fn checkpoint_ref(id: &str, which: Which) -> String {
    format!("refs/ringmaster/checkpoints/{id}/{}", which.as_str())
}

impl Inner {
    /// Where job `id` will work (see the module doc): its worktree, planned,
    /// or its parent's; or checkpoints; or neither.
    pub(super) async fn plan_workspace(
        &self,
        id: &str,
        spec: &JobSpec,
        profile: Option<&AgentProfile>,
        parent: Option<&JobRecord>,
    ) -> Result<(Option<Workspace>, Option<Checkpoints>), SubmitError> {
        let invalid = SubmitError::Invalid;
        let parents = parent.and_then(|p| p.workspace.as_ref()).filter(|w| w.state == WorkspaceState::Ready);
        let isolation = match (spec.isolation, parents) {
            (Some(isolation), _) => isolation,
            (None, Some(_)) => {
                let parent = parent.expect("has a workspace");
                let inherited = parents.expect("checked").clone();
                if spec.checkpoint == Some(true) || spec.base.is_some() {
                    return Err(invalid(format!(
                        "this sub-job works in the worktree of its parent {}: checkpoint and base are for a job \
                         with a place of its own (ask for isolation: worktree)",
                        parent.job_id
                    )));
                }
                let owner = inherited.owner.clone().unwrap_or_else(|| parent.job_id.clone());
                let workspace = Workspace {
                    owner: Some(owner),
                    head: None,
                    files: Vec::new(),
                    clean: None,
                    leftovers: None,
                    ..inherited
                };
                return Ok((Some(workspace), None));
            }
            (None, None) => profile.map(|p| p.isolation).unwrap_or_default(),
        };
        let checkpoint = spec.checkpoint.or(profile.map(|p| p.checkpoint)).unwrap_or(false);
        if isolation == Isolation::None {
            if spec.base.is_some() {
                return Err(invalid("base is the commit a worktree starts from: it needs isolation: worktree".into()));
            }
            if !checkpoint {
                return Ok((None, None));
            }
            self.workspaces.repo("checkpoint: true").await.map_err(invalid)?;
            return Ok((None, Some(Checkpoints::default())));
        }
        if spec.checkpoint == Some(true) {
            return Err(invalid(
                "checkpoint is for jobs without isolation: a worktree job's branch already holds what it changed"
                    .into(),
            ));
        }
        let workspaces = &self.workspaces;
        let repo = workspaces.repo("isolation: worktree").await.map_err(invalid)?;
        let cwd = spec.cwd.as_deref().unwrap_or(&self.project_dir);
        if inside(repo, cwd).is_none() {
            return Err(invalid(format!(
                "cwd {} is outside the repository at {}, so it has no place in a worktree",
                cwd.display(),
                repo.top.display()
            )));
        }
        // A sub-job asking for its own worktree starts from its parent's branch.
        let base_ref = spec.base.clone().or_else(|| parents.map(|w| w.branch.clone())).unwrap_or_else(|| "HEAD".into());
        let base =
            workspaces.git.commit_of(&repo.top, &base_ref).await.map_err(|err| invalid(format!("base: {err}")))?;
        // Hidden first: the state directory is no change of the project's.
        workspaces.prepare_dirs().map_err(invalid)?;
        let project_had_changes = base_ref == "HEAD"
            && workspaces.git.has_changes(&repo.top).await.map_err(|err| invalid(err.to_string()))?;
        Ok((
            Some(Workspace {
                state: WorkspaceState::Pending,
                path: workspaces.worktrees.join(id),
                branch: branch_name(id, &spec.prompt),
                base_ref,
                base,
                project_had_changes,
                owner: None,
                head: None,
                files: Vec::new(),
                more_files: 0,
                clean: None,
                leftovers: None,
                merged: None,
            }),
            None,
        ))
    }

    /// Readies job `id`'s place for an attempt (see the module doc) and
    /// points `spec.cwd` (and the live spec's) at it; an error is why the
    /// attempt cannot start.
    pub(super) async fn prepare_workspace(&self, id: &str, spec: &mut JobSpec) -> Result<(), String> {
        let (workspace, checkpoints) = {
            let state = self.state.lock();
            let Some(live) = state.live.get(id) else { return Ok(()) };
            (live.record.workspace.clone(), live.record.checkpoints.clone())
        };
        if let Some(workspace) = workspace {
            let workspaces = &self.workspaces;
            let repo = workspaces.repo("isolation: worktree").await?.clone();
            let git = &workspaces.git;
            let failed = |err: GitError| format!("cannot make the job's worktree: {err}");
            if workspace.is_own() && workspace.state == WorkspaceState::Pending {
                workspaces.prepare_dirs()?;
                // Made already when an engine died before it stored that.
                if !workspace.path.join(".git").exists() {
                    git.add_worktree(&repo.top, &workspace.path, &workspace.branch, &workspace.base)
                        .await
                        .map_err(failed)?;
                }
                // Stored before the agent runs: a restart finds it and reuses it.
                let stored = self.update_live(id, |record| {
                    if let Some(w) = &mut record.workspace {
                        w.state = WorkspaceState::Ready;
                    }
                });
                if let Some(generation) = stored {
                    self.writes.wait_written(generation).await?;
                }
                workspaces.changed.notify_one();
            } else if workspace.is_own() && !workspace.path.exists() {
                tracing::warn!(job = %id, path = %workspace.path.display(), "the job's worktree was gone: made again from its branch");
                workspaces.prepare_dirs()?;
                git.restore_worktree(&repo.top, &workspace.path, &workspace.branch).await.map_err(failed)?;
            } else if !workspace.path.exists() {
                return Err(format!(
                    "the worktree of job {} that this job works in is gone ({})",
                    workspace.owner.as_deref().unwrap_or(id),
                    workspace.path.display()
                ));
            }
            let cwd = spec.cwd.as_deref().unwrap_or(&self.project_dir);
            let relative = inside(&repo, cwd).unwrap_or_else(|| repo.prefix.clone());
            // Already mapped (a retry): the spec points into the worktree.
            if !cwd.starts_with(&workspace.path) {
                spec.cwd = Some(workspace.path.join(relative));
            }
        } else if let Some(checkpoints) = checkpoints.filter(|c| c.before.is_none()) {
            let before = self.checkpoint(id, Which::Before).await?;
            let stored = self.update_live(id, |record| {
                record.checkpoints = Some(Checkpoints { before: Some(before), ..checkpoints })
            });
            // Stored before the agent runs, or a restart would take it again, after.
            if let Some(generation) = stored {
                self.writes.wait_written(generation).await?;
            }
        }
        if let Some(live) = self.state.lock().live.get_mut(id) {
            live.spec.cwd = spec.cwd.clone();
        }
        Ok(())
    }

    /// Records the project as it is now as job `id`'s checkpoint `which`.
    async fn checkpoint(&self, id: &str, which: Which) -> Result<String, String> {
        let workspaces = &self.workspaces;
        let repo = workspaces.repo("checkpoint: true").await?;
        workspaces.prepare_dirs()?;
        let _project = workspaces.project.lock().await;
        let message = format!("ringmaster checkpoint: the project {} job {id}", which.as_str());
        workspaces
            .git
            .checkpoint(&repo.top, workspaces.scratch(), &checkpoint_ref(id, which), &message)
            .await
            .map_err(|err| format!("cannot take the checkpoint {}: {err}", which.as_str()))
    }

    /// Changes live job `id`'s record and queues it for the store; the
    /// store write's generation, when the job is live.
    fn update_live(&self, id: &str, update: impl FnOnce(&mut JobRecord)) -> Option<u64> {
        let generation = {
            let mut state = self.state.lock();
            let live = state.live.get_mut(id)?;
            update(&mut live.record);
            self.writes.record(&live.record)
        };
        self.changed.send_modify(|n| *n += 1);
        Some(generation)
    }

    /// What job `record` left in its place, onto the record (see the module
    /// doc); what fails is noted on it, and changes nothing else.
    pub(super) async fn seal_workspace(&self, record: &mut JobRecord) {
        let workspaces = &self.workspaces;
        if let Some(workspace) = record.workspace.as_mut().filter(|w| w.is_own() && w.state == WorkspaceState::Ready) {
            let message = self.settings.load().config.isolation.commit_message(&record.job_id, &record.prompt);
            match workspaces.git.seal(&workspace.path, &workspace.base, &message).await {
                Ok(sealed) => {
                    workspace.head = Some(sealed.head);
                    (workspace.files, workspace.more_files) = (sealed.files, sealed.more_files);
                    workspace.clean = Some(sealed.clean);
                    workspace.leftovers = sealed.leftovers;
                }
                Err(err) => record.notes.push(format!("ringmaster could not seal the job's worktree: {err}")),
            }
            workspaces.changed.notify_one();
        }
        let id = record.job_id.clone();
        if let Some(checkpoints) = record.checkpoints.as_mut().filter(|c| c.before.is_some()) {
            match self.checkpoint(&id, Which::After).await {
                Ok(after) => {
                    let repo = workspaces.repo("checkpoint").await.ok();
                    let before = checkpoints.before.as_deref().expect("filtered");
                    if let Some(repo) = repo {
                        (checkpoints.files, checkpoints.more_files) =
                            workspaces.git.changed_files(&repo.top, before, &after).await.unwrap_or_default();
                    }
                    checkpoints.after = Some(after);
                }
                Err(err) => record.notes.push(err),
            }
        }
    }

    /// Seals what job `id` left, after it ended without an attempt's end
    /// (cancelled while waiting for a retry): its stored record is updated.
    pub(super) fn seal_later(self: &Arc<Self>, record: &JobRecord) {
        let needs = record.workspace.as_ref().is_some_and(|w| w.is_own() && w.state == WorkspaceState::Ready)
            || record.checkpoints.as_ref().is_some_and(|c| c.before.is_some() && c.after.is_none());
        if !needs {
            return;
        }
        let (inner, mut record) = (self.clone(), record.clone());
        tokio::spawn(async move {
            inner.seal_workspace(&mut record).await;
            inner.persist(&record);
        });
    }
}

/// Whether a live job works in job `id`'s worktree (its own, or inherited).
pub(super) fn in_use(state: &State, id: &str) -> bool {
    state.live.contains_key(id)
        || state.live.values().any(|l| l.record.workspace.as_ref().is_some_and(|w| w.owner.as_deref() == Some(id)))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{WAIT, script_engine};
    use crate::config::EngineConfig;
    use crate::git::testing::{repo, sh};
    use crate::job::workspace::{Isolation, WorkspaceState};
    use crate::job::{JobSpec, JobStatus};

    #[tokio::test]
    async fn a_worktree_made_by_an_engine_that_died_before_storing_it_is_taken_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        repo(dir.path(), &[("a.txt", "a\n")]).await;
        let engine = script_engine(dir.path(), EngineConfig::default()).await;
        engine.set_paused(None, true).await.unwrap();
        let spec = JobSpec { prompt: "p".into(), isolation: Some(Isolation::Worktree), ..JobSpec::default() };
        let record = engine.submit(spec).await.unwrap();
        let planned = record.workspace.unwrap();
        assert_eq!(planned.state, WorkspaceState::Pending);
        // What the engine that died had done: the worktree, not yet its record.
        let path = planned.path.to_string_lossy().into_owned();
        sh(dir.path(), &["worktree", "add", "-q", "-b", &planned.branch, &path, &planned.base]).await;
        engine.set_paused(None, false).await.unwrap();
        let done = engine.wait(std::slice::from_ref(&record.job_id), WAIT).await.unwrap().remove(0);
        assert_eq!(done.status, JobStatus::Succeeded, "{done:?}");
        assert_eq!(done.workspace.unwrap().state, WorkspaceState::Ready);
        engine.shutdown();
    }
}
