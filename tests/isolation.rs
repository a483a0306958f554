//! Jobs that don't trample each other: worktrees per job (`isolation:
//! worktree`) with diff, merge and discard, and checkpoints of the project
//! (`checkpoint: true`) with restore; on throwaway repositories, with
//! fake-claude making real edits (`@write`, `@append`, `@delete`, `@commit`).

use crate::support::{self, WAIT};
use ringmaster::config::{EngineConfig, PluginsConfig};
use ringmaster::engine::{Engine, EngineError};
use ringmaster::job::workspace::{DiffRequest, Isolation, MergeStrategy, Which, WorkspaceState};
use ringmaster::job::{JobRecord, JobSpec, JobStatus};
use ringmaster::plugin::registry::PluginHost;
use ringmaster::remote;
use std::path::Path;

/// Runs git in `dir` for a test, failing it on an error; its output.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@t")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@t")
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// A repository in `dir` on `main` with `files` committed.
pub fn init_repo(dir: &Path, files: &[(&str, &str)]) {
    git(dir, &["init", "-q", "-b", "main"]);
    for (path, text) in files {
        std::fs::write(dir.join(path), text).unwrap();
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "start"]);
}

/// A project (a git repository unless `plain`) and its engine, which
/// answers agents on a socket outside the project.
struct Project {
    dir: tempfile::TempDir,
    engine: Engine,
    _socket: (tempfile::TempDir, remote::server::Listening),
}

impl Project {
    async fn start(files: &[(&str, &str)], config: EngineConfig) -> Project {
        let dir = tempfile::tempdir().unwrap();
        if !files.is_empty() {
            init_repo(dir.path(), files);
        }
        let socket_dir = tempfile::tempdir().unwrap();
        let socket = remote::socket_path(socket_dir.path());
        let bound = remote::server::bind(&socket).await.unwrap();
        let wiring = remote::wiring(Path::new(env!("CARGO_BIN_EXE_ringmaster")), &socket, false);
        let plugins = PluginHost::new(PluginsConfig::default(), None).unwrap();
        let engine = support::fake_engine(dir.path(), config, plugins, None, wiring).await;
        let listening = bound.serve(remote::server::Services {
            engine: engine.clone(),
            hooks: None,
            mcp: None,
            control: None,
            plugins: None,
            settings: Default::default(),
        });
        Project { dir, engine, _socket: (socket_dir, listening) }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.path().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    async fn submit(&self, spec: JobSpec) -> String {
        self.engine.submit(spec).await.unwrap().job_id
    }

    async fn wait(&self, ids: &[String]) -> Vec<JobRecord> {
        let records = self.engine.wait(ids, WAIT).await.unwrap();
        assert!(records.iter().all(|r| r.status == JobStatus::Succeeded), "{records:#?}");
        records
    }

    async fn until(&self, what: &str, mut ready: impl FnMut(&Engine) -> bool) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !ready(&self.engine) {
            assert!(tokio::time::Instant::now() < deadline, "{what} did not happen within {WAIT:?}");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

fn worktree_job(prompt: &str) -> JobSpec {
    JobSpec { prompt: prompt.into(), isolation: Some(Isolation::Worktree), ..JobSpec::default() }
}

fn refusal<T: std::fmt::Debug>(result: Result<T, EngineError>) -> String {
    result.expect_err("refused").to_string()
}

#[tokio::test]
async fn eight_jobs_writing_one_file_at_once_leave_eight_branches_to_merge_squash_rebase_or_discard() {
    let config = EngineConfig { per_token_concurrency: 8, ..Default::default() };
    let project = Project::start(&[("shared.txt", "base\n")], config).await;
    let go = tempfile::tempdir().unwrap();
    let go = go.path().join("go");
    let mut ids = Vec::new();
    for i in 0..8 {
        let prompt = format!("@wait-for:{} @write:shared.txt=job+{i} @write:own/{i}.txt=mine job {i}", go.display());
        ids.push(project.submit(worktree_job(&prompt)).await);
    }
    // All eight at once, then they write.
    project.until("eight running", |engine| engine.stats().unwrap().running == 8).await;
    std::fs::write(&go, "").unwrap();
    let records = project.wait(&ids).await;

    let mut branches: Vec<&str> = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let workspace = record.workspace.as_ref().expect("a worktree");
        assert_eq!(workspace.state, WorkspaceState::Ready);
        let tail = &record.job_id[record.job_id.len() - 8..];
        assert!(workspace.branch.starts_with(&format!("ringmaster/{tail}")), "{workspace:?}");
        assert_eq!(workspace.clean, Some(false), "fake-claude commits nothing: ringmaster did");
        assert!(workspace.leftovers.is_some() && workspace.head == workspace.leftovers);
        assert!(!workspace.project_had_changes);
        let files: Vec<(&str, Option<u64>, Option<u64>)> =
            workspace.files.iter().map(|f| (f.path.as_str(), f.added, f.deleted)).collect();
        let own = format!("own/{i}.txt");
        assert_eq!(files, [(own.as_str(), Some(1), Some(0)), ("shared.txt", Some(1), Some(1))]);
        assert_eq!(std::fs::read_to_string(workspace.path.join("shared.txt")).unwrap(), format!("job {i}\n"));
        branches.push(&workspace.branch);
    }
    branches.sort();
    branches.dedup();
    assert_eq!(branches.len(), 8);
    assert_eq!(git(project.path(), &["branch", "--list", "ringmaster/*"]).lines().count(), 8);
    // The project is untouched: same commit, same file, nothing to commit.
    assert_eq!(project.read("shared.txt"), "base\n");
    assert_eq!(git(project.path(), &["status", "--porcelain"]), "", "the state directory is hidden from git");

    // Diff of one: its branch against the base.
    let diff = project.engine.diff(&ids[0], DiffRequest::default()).await.unwrap();
    assert!(diff.text.contains("-base\n+job 0\n") && diff.text.contains("+++ b/own/0.txt"), "{}", diff.text);
    let only = DiffRequest { path: Some("own".into()), ..DiffRequest::default() };
    assert!(!project.engine.diff(&ids[0], only).await.unwrap().text.contains("shared.txt"));
    // Paged: the pages put together are the whole diff.
    let (mut whole, mut offset) = (String::new(), 0);
    loop {
        let request = DiffRequest { offset, max_bytes: Some(40), ..DiffRequest::default() };
        let page = project.engine.diff(&ids[0], request).await.unwrap();
        whole.push_str(&page.text);
        match page.next_offset {
            Some(next) => offset = next,
            None => break,
        }
    }
    assert_eq!(whole, diff.text);

    // Merge one: the project's branch and files have it; its worktree is gone.
    let merged = project.engine.merge(&ids[0], MergeStrategy::Merge, None).await.unwrap();
    let workspace = merged.workspace.unwrap();
    assert_eq!(workspace.state, WorkspaceState::Merged);
    assert_eq!(workspace.merged.as_ref().unwrap().into, "main");
    assert_eq!(git(project.path(), &["rev-parse", "HEAD"]), workspace.merged.unwrap().commit);
    assert_eq!(project.read("shared.txt"), "job 0\n");
    assert_eq!(project.read("own/0.txt"), "mine\n");
    assert!(!workspace.path.exists());
    let again = refusal(project.engine.merge(&ids[0], MergeStrategy::Merge, None).await);
    assert!(again.contains("merged into main already"), "{again}");

    // The next conflicts: refused with the file, nothing changed.
    let head = git(project.path(), &["rev-parse", "HEAD"]);
    let conflict = refusal(project.engine.merge(&ids[1], MergeStrategy::Merge, None).await);
    assert!(
        conflict.contains("conflicts with main in shared.txt") && conflict.contains("nothing was changed"),
        "{conflict}"
    );
    assert_eq!(git(project.path(), &["rev-parse", "HEAD"]), head);
    assert_eq!(git(project.path(), &["status", "--porcelain"]), "");
    assert_eq!(project.engine.status(&ids[1]).await.unwrap().workspace.unwrap().state, WorkspaceState::Ready);

    // Discarded: worktree and branch gone.
    let discarded = project.engine.discard(&ids[1]).await.unwrap().workspace.unwrap();
    assert_eq!(discarded.state, WorkspaceState::Discarded);
    assert!(!discarded.path.exists());
    assert!(git(project.path(), &["branch", "--list", &discarded.branch]).is_empty());
    let gone = refusal(project.engine.merge(&ids[1], MergeStrategy::Merge, None).await);
    assert!(gone.contains("discarded"), "{gone}");

    // Squash of a job that touched other files: one commit, one parent.
    let docs = project.submit(worktree_job("@write:docs/notes.md=notes write the notes")).await;
    // Rebase of one whose agent committed itself: its commit replayed, message kept.
    let tidy = project.submit(worktree_job("@write:tidy.txt=tidy @commit:agent+tidied tidy up")).await;
    let records = project.wait(&[docs.clone(), tidy.clone()]).await;
    assert_eq!(records[1].workspace.as_ref().unwrap().clean, Some(true), "{records:?}");
    assert_eq!(records[1].workspace.as_ref().unwrap().leftovers, None);
    project.engine.merge(&docs, MergeStrategy::Squash, None).await.unwrap();
    assert_eq!(git(project.path(), &["rev-list", "--parents", "-1", "HEAD"]).split(' ').count(), 2);
    assert_eq!(git(project.path(), &["log", "-1", "--format=%s"]), "@write:docs/notes.md=notes write the notes");
    project.engine.merge(&tidy, MergeStrategy::Rebase, None).await.unwrap();
    assert_eq!(git(project.path(), &["log", "-1", "--format=%s %an"]), "agent tidied fake-claude");
    assert_eq!((project.read("docs/notes.md"), project.read("tidy.txt")), ("notes\n".into(), "tidy\n".into()));

    // Six worktrees remain (two merged, one discarded... of ten), measured.
    project
        .until("the worktrees measured", |engine| {
            let stats = engine.stats().unwrap().worktrees;
            stats.count == 6 && stats.disk_bytes > 0
        })
        .await;
}

#[tokio::test]
async fn a_sub_job_works_in_its_parents_worktree_unless_it_asks_for_its_own() {
    let project = Project::start(&[("log.txt", "start\n")], EngineConfig::default()).await;
    // The parent spawns one sub-job with its own prompt less `@spawn`: both append.
    let parent = project.submit(worktree_job("@spawn:1 @append:log.txt=line")).await;
    let records = project.wait(std::slice::from_ref(&parent)).await;
    let workspace = records[0].workspace.clone().unwrap();
    let tree = project.engine.list(&Default::default(), 10).unwrap();
    let child = tree.iter().find(|r| r.parent_job_id.as_deref() == Some(parent.as_str())).expect("a sub-job");
    let inherited = child.workspace.as_ref().expect("its parent's worktree");
    assert_eq!((inherited.owner.as_deref(), &inherited.path), (Some(parent.as_str()), &workspace.path));
    let log = git(&workspace.path, &["show", "HEAD:log.txt"]);
    assert_eq!(log, "start\nline\nline", "both wrote in the parent's worktree");
    assert_eq!(project.read("log.txt"), "start\n");
    let told = refusal(project.engine.merge(&child.job_id, MergeStrategy::Merge, None).await);
    assert!(told.contains(&format!("merge job {parent}")), "{told}");
}

#[tokio::test]
async fn checkpoints_record_the_project_before_and_after_and_restore_either() {
    let project = Project::start(&[("a.txt", "one\n"), (".gitignore", "*.log\n")], EngineConfig::default()).await;
    std::fs::write(project.path().join("notes.md"), "untracked draft\n").unwrap();
    std::fs::write(project.path().join("build.log"), "ignored\n").unwrap();
    let status_before = git(project.path(), &["status", "--porcelain"]);
    let spec = JobSpec {
        prompt: "@write:a.txt=two @delete:notes.md @write:src/new.rs=fn+main()+{} rework".into(),
        checkpoint: Some(true),
        ..JobSpec::default()
    };
    let id = project.submit(spec).await;
    let record = project.wait(std::slice::from_ref(&id)).await.remove(0);
    let checkpoints = record.checkpoints.expect("checkpoints");
    let (before, after) = (checkpoints.before.unwrap(), checkpoints.after.unwrap());
    let paths: Vec<&str> = checkpoints.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["a.txt", "notes.md", "src/new.rs"]);
    let refs = git(project.path(), &["for-each-ref", "--format=%(objectname) %(refname)", "refs/ringmaster/"]);
    assert_eq!(
        refs,
        format!("{after} refs/ringmaster/checkpoints/{id}/after\n{before} refs/ringmaster/checkpoints/{id}/before")
    );
    // The job's own edits are there; the index was never touched.
    assert_eq!(project.read("a.txt"), "two\n");
    assert_eq!(git(project.path(), &["diff", "--cached", "--name-only"]), "");
    let diff = project.engine.diff(&id, DiffRequest::default()).await.unwrap();
    assert!(diff.text.contains("-untracked draft") && diff.text.contains("+fn main() {}"), "{}", diff.text);

    // Before: the job undone, the untracked file back, the new one gone, the ignored one left.
    let restored = project.engine.restore(&id, Which::Before, false).await.unwrap();
    assert_eq!(restored.paths.len(), 3);
    assert_eq!((project.read("a.txt"), project.read("notes.md")), ("one\n".into(), "untracked draft\n".into()));
    assert!(!project.path().join("src").exists());
    assert_eq!(project.read("build.log"), "ignored\n");
    assert_eq!(git(project.path(), &["status", "--porcelain"]), status_before);
    // And after again.
    project.engine.restore(&id, Which::After, false).await.unwrap();
    assert_eq!(project.read("src/new.rs"), "fn main() {}\n");

    // Changed since: refused, naming the file, nothing touched; with force, restored.
    std::fs::write(project.path().join("a.txt"), "mine\n").unwrap();
    let refused = refusal(project.engine.restore(&id, Which::Before, false).await);
    assert!(refused.contains("changed since") && refused.contains("a.txt") && refused.contains("force"), "{refused}");
    assert_eq!(project.read("a.txt"), "mine\n");
    project.engine.restore(&id, Which::Before, true).await.unwrap();
    assert_eq!(project.read("a.txt"), "one\n");

    // A worktree job has no checkpoints, a checkpointed one no branch.
    let told = refusal(project.engine.merge(&id, MergeStrategy::Merge, None).await);
    assert!(told.contains("without a worktree"), "{told}");
}

#[tokio::test]
async fn outside_a_git_repository_isolation_and_checkpoints_are_refused_saying_why() {
    let project = Project::start(&[], EngineConfig::default()).await;
    for spec in
        [worktree_job("isolated"), JobSpec { prompt: "saved".into(), checkpoint: Some(true), ..JobSpec::default() }]
    {
        let refused = project.engine.submit(spec).await.expect_err("refused").to_string();
        assert!(
            refused.contains("needs the project to be a git repository") && refused.contains("git init"),
            "{refused}"
        );
    }
    // Also: a base that is no commit, a base without a worktree, both at once.
    let project = Project::start(&[("a.txt", "a\n")], EngineConfig::default()).await;
    let bad_base = JobSpec { base: Some("no-such-branch".into()), ..worktree_job("x") };
    assert!(
        project.engine.submit(bad_base).await.unwrap_err().to_string().contains("\"no-such-branch\" is not a commit")
    );
    let stray_base = JobSpec { prompt: "x".into(), base: Some("main".into()), ..JobSpec::default() };
    assert!(project.engine.submit(stray_base).await.unwrap_err().to_string().contains("needs isolation: worktree"));
    let both = JobSpec { checkpoint: Some(true), ..worktree_job("x") };
    assert!(
        project.engine.submit(both).await.unwrap_err().to_string().contains("checkpoint is for jobs without isolation")
    );
    assert!(project.engine.list(&Default::default(), 10).unwrap().is_empty(), "nothing was queued");
    let plain = project.submit(JobSpec { prompt: "plain".into(), ..JobSpec::default() }).await;
    project.wait(std::slice::from_ref(&plain)).await;
    let told = refusal(project.engine.diff(&plain, DiffRequest::default()).await);
    assert!(told.contains("no record of what it changed"), "{told}");
}

/// A worktree job's base may be any commit; the project's uncommitted changes are noted, not copied.
#[tokio::test]
async fn a_worktree_starts_from_the_base_asked_for_and_notes_uncommitted_changes_it_left_behind() {
    let project = Project::start(&[("v.txt", "1\n")], EngineConfig::default()).await;
    let first = git(project.path(), &["rev-parse", "HEAD"]);
    std::fs::write(project.path().join("v.txt"), "2\n").unwrap();
    git(project.path(), &["commit", "-q", "-am", "two"]);
    std::fs::write(project.path().join("v.txt"), "3, uncommitted\n").unwrap();
    let old = project.submit(JobSpec { base: Some(first.clone()), ..worktree_job("@append:v.txt=old") }).await;
    let now = project.submit(worktree_job("@append:v.txt=now")).await;
    let records = project.wait(&[old, now]).await;
    let (old, now) = (records[0].workspace.clone().unwrap(), records[1].workspace.clone().unwrap());
    assert_eq!((old.base.as_str(), old.base_ref.as_str()), (first.as_str(), first.as_str()));
    assert!(!old.project_had_changes, "a base asked for is taken as it is");
    assert_eq!(git(&old.path, &["show", "HEAD:v.txt"]), "1\nold");
    assert!(now.project_had_changes);
    assert_eq!(git(&now.path, &["show", "HEAD:v.txt"]), "2\nnow", "committed HEAD, not the uncommitted edit");
    assert_eq!(project.read("v.txt"), "3, uncommitted\n");
}

#[tokio::test]
async fn a_failed_worktree_job_has_nothing_to_merge_and_once_discarded_cannot_be_retried() {
    let project = Project::start(&[("a.txt", "a\n")], EngineConfig::default()).await;
    let id = project.submit(JobSpec { max_retries: Some(0), ..worktree_job("@fail broken") }).await;
    let record = project.engine.wait(std::slice::from_ref(&id), WAIT).await.unwrap().remove(0);
    assert_eq!(record.status, JobStatus::Failed);
    let workspace = record.workspace.unwrap();
    assert_eq!((workspace.clean, workspace.files.len()), (Some(true), 0), "sealed, with nothing in it");
    let nothing = refusal(project.engine.merge(&id, MergeStrategy::Merge, None).await);
    assert!(nothing.contains("nothing to merge"), "{nothing}");
    // Retried, it works in its worktree again; discarded, it cannot be.
    let retried = project.engine.retry(&id, false).await.unwrap();
    assert_eq!(retried.workspace.unwrap().path, workspace.path);
    let record = project.engine.wait(std::slice::from_ref(&id), WAIT).await.unwrap().remove(0);
    assert_eq!((record.status, record.attempts), (JobStatus::Failed, 2));
    project.engine.discard(&id).await.unwrap();
    let refused = project.engine.retry(&id, false).await.unwrap_err().to_string();
    assert!(refused.contains("was discarded"), "{refused}");
}

#[tokio::test]
async fn finished_worktrees_are_removed_after_keep_never_while_a_job_works_there_and_branches_stay() {
    let mut config = EngineConfig::default();
    config.isolation.keep = "0s".into();
    let project = Project::start(&[("a.txt", "a\n")], config).await;
    let go = tempfile::tempdir().unwrap();
    let go = go.path().join("go");
    let held = project.submit(worktree_job(&format!("@wait-for:{} @write:held.txt=h held", go.display()))).await;
    let quick = project.submit(worktree_job("@write:quick.txt=q quick")).await;
    let quick = project.wait(std::slice::from_ref(&quick)).await.remove(0);
    let held_path = project.path().join(".ringmaster/worktrees").join(&held);
    project
        .until("the finished job's worktree removed", |engine| {
            let stats = engine.stats().unwrap().worktrees;
            stats.count == 1 && !quick.workspace.as_ref().unwrap().path.exists()
        })
        .await;
    assert!(held_path.join("a.txt").exists(), "the running job's worktree stays");
    let record = project.engine.status(&quick.job_id).await.unwrap();
    let workspace = record.workspace.unwrap();
    assert_eq!(workspace.state, WorkspaceState::Removed);
    assert_eq!(git(project.path(), &["show", &format!("{}:quick.txt", workspace.branch)]), "q", "the branch stays");
    // Its diff still reads from the branch; a merge still works.
    assert!(project.engine.diff(&quick.job_id, DiffRequest::default()).await.unwrap().text.contains("+q"));
    project.engine.merge(&quick.job_id, MergeStrategy::Merge, None).await.unwrap();
    assert_eq!(project.read("quick.txt"), "q\n");

    std::fs::write(&go, "").unwrap();
    project.wait(std::slice::from_ref(&held)).await;
    project.until("the last worktree removed", |engine| engine.stats().unwrap().worktrees.count == 0).await;
    assert!(!held_path.exists());
    assert_eq!(git(project.path(), &["branch", "--list", "ringmaster/*"]).lines().count(), 2);
}
