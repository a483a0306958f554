//! Where a job works and what it changed there: its own git worktree
//! ([`Workspace`], with `isolation: worktree`), or the project itself with
//! its state recorded before and after ([`Checkpoints`], with
//! `checkpoint: true`). Plain data on the job's record; the git work is in
//! `crate::git`, the engine's part in `engine/isolation.rs`.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Where a job's agent runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Isolation {
    /// In the project directory, as it is (the default).
    #[default]
    None,
    /// In a git worktree of its own, on a branch of its own.
    Worktree,
}

/// Where a worktree stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkspaceState {
    /// Planned at submission; made when the job first starts.
    Pending,
    /// The worktree exists (the job runs there, or ran and waits for review).
    Ready,
    /// Merged into the project; the worktree is gone, the branch kept.
    Merged,
    /// Discarded: worktree and branch removed.
    Discarded,
    /// The worktree was removed after `isolation.keep`; the branch is kept.
    Removed,
}

/// How a job's branch goes into the project (`job_merge`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MergeStrategy {
    /// A merge commit with both histories.
    #[default]
    Merge,
    /// One commit with all the job's changes.
    Squash,
    /// The job's commits replayed on top of the target.
    Rebase,
}

/// A file the job changed, with its line counts (none for a binary file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangedFile {
    pub path: String,
    pub added: Option<u64>,
    pub deleted: Option<u64>,
}

/// A merge done by `job_merge`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Merged {
    /// The branch merged into.
    pub into: String,
    pub strategy: MergeStrategy,
    /// The commit the branch `into` points at after the merge.
    pub commit: String,
    pub at_ms: u64,
}

/// A job's git worktree (`isolation: worktree`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workspace {
    pub state: WorkspaceState,
    /// The worktree's directory.
    pub path: PathBuf,
    /// `ringmaster/<short id>-<slug>`.
    pub branch: String,
    /// What was asked for as the base (`HEAD` unless given).
    pub base_ref: String,
    /// The commit the branch started from.
    pub base: String,
    /// The project had uncommitted changes when the base was taken: they
    /// are not in the worktree (and were not touched).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub project_had_changes: bool,
    /// A sub-job working in its parent's worktree names the job that owns it;
    /// what it changes is reported on that job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The branch's commit when the job ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    /// What the branch changed against `base`, when the job ended (the
    /// first 1,000 files; `more_files` counts the rest).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<ChangedFile>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub more_files: u64,
    /// Whether the agent left every change committed (when it did not,
    /// ringmaster committed the rest, see `leftovers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clean: Option<bool>,
    /// The commit ringmaster made of what the agent left uncommitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leftovers: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<Merged>,
}

impl Workspace {
    /// Whether this job made the worktree (rather than inheriting its parent's).
    pub fn is_own(&self) -> bool {
        self.owner.is_none()
    }
}

/// The project's state around a job run with `checkpoint: true`, as commits
/// on `refs/ringmaster/checkpoints/<job>/{before,after}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoints {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// What the job changed between them (the first 1,000 files;
    /// `more_files` counts the rest).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<ChangedFile>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub more_files: u64,
}

/// Which checkpoint `checkpoint_restore` restores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Which {
    Before,
    After,
}

impl Which {
    pub fn as_str(self) -> &'static str {
        match self {
            Which::Before => "before",
            Which::After => "after",
        }
    }
}

/// What `job_diff` asks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DiffRequest {
    /// Only this file or directory (relative to the repository's top).
    pub path: Option<String>,
    /// Lines of context (default 3).
    pub context: Option<u32>,
    /// Byte of the whole diff the page starts at.
    pub offset: u64,
    /// Bytes in the page (default 64 KiB, at most 1 MiB).
    pub max_bytes: Option<usize>,
}

/// A page of what a job changed (`job_diff`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diff {
    pub job_id: String,
    /// The commit compared from: the worktree's base, or the `before` checkpoint.
    pub from: String,
    /// The commit compared to; none while the job runs (its files as they are).
    pub to: Option<String>,
    /// Unified diff text, from byte `offset` of the whole diff.
    pub text: String,
    pub offset: u64,
    /// Where the next page starts, when there is more.
    pub next_offset: Option<u64>,
}

/// What `checkpoint_restore` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restored {
    pub job_id: String,
    pub which: Which,
    /// The checkpoint's commit.
    pub commit: String,
    /// The paths written or removed.
    pub paths: Vec<String>,
}

/// The branch name of job `id`'s worktree: `ringmaster/<first 8 of id>-<slug
/// of the prompt>` (at most 40 characters of lowercase words; `@` mentions,
/// such as files, left out).
pub fn branch_name(id: &str, prompt: &str) -> String {
    let mut slug = String::new();
    let words = prompt.split_whitespace().filter(|w| !w.starts_with('@'));
    for word in words.flat_map(|w| w.split(|c: char| !c.is_ascii_alphanumeric())).filter(|w| !w.is_empty()) {
        if slug.len() + word.len() + 1 > 40 {
            break;
        }
        if !slug.is_empty() {
            slug.push('-');
        }
        slug.push_str(&word.to_ascii_lowercase());
    }
    // The end of the id: job ids are UUIDv7, whose start is the time of
    // submission (alike for a batch) and whose end is random.
    let alphanumeric: Vec<char> = id.chars().filter(char::is_ascii_alphanumeric).collect();
    let short: String = alphanumeric[alphanumeric.len().saturating_sub(8)..].iter().collect();
    match slug.is_empty() {
        true => format!("ringmaster/{short}"),
        false => format!("ringmaster/{short}-{slug}"),
    }
}

#[cfg(test)]
mod tests {
    use super::branch_name;

    #[test]
    fn a_branch_is_named_by_the_job_and_the_first_words_of_its_prompt() {
        let id = "019ad3f2-0000-7000-8000-00001f2e3d4c";
        assert_eq!(
            branch_name(id, "Fix the flaky login test, then run CI"),
            "ringmaster/1f2e3d4c-fix-the-flaky-login-test-then-run-ci"
        );
        assert_eq!(branch_name(id, "Ünïcode ... !!"), "ringmaster/1f2e3d4c-n-code");
        assert_eq!(branch_name(id, "???"), "ringmaster/1f2e3d4c");
        assert_eq!(branch_name(id, "@src/main.rs tidy @README.md"), "ringmaster/1f2e3d4c-tidy");
        let long = branch_name(id, &"word ".repeat(100));
        assert!(long.len() <= "ringmaster/1f2e3d4c-".len() + 40, "{long}");
    }

    #[test]
    fn jobs_submitted_together_get_distinct_branches() {
        let ids: Vec<String> = (0..100).map(|_| uuid::Uuid::now_v7().to_string()).collect();
        let branches: std::collections::BTreeSet<String> =
            ids.iter().map(|id| branch_name(id, "same prompt")).collect();
        assert_eq!(branches.len(), ids.len());
    }
}
