//! The `engine.isolation` section: what becomes of jobs' worktrees (see
//! [`crate::job::workspace`]).

use serde::Deserialize;

/// `engine.isolation`: what becomes of jobs' worktrees.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct IsolationConfig {
    /// How long the worktree of a finished job neither merged nor
    /// discarded is kept (its branch is kept regardless), e.g. `7d`.
    pub keep: String,
    /// The message of the commit made of what an agent left uncommitted;
    /// `{job_id}` and `{prompt}` (its first line) are filled in.
    pub commit_message: String,
}

impl Default for IsolationConfig {
    fn default() -> Self {
        IsolationConfig {
            keep: "7d".into(),
            commit_message: "ringmaster: what job {job_id} left uncommitted\n\n{prompt}".into(),
        }
    }
}

impl IsolationConfig {
    /// `keep` as a duration (checked when the configuration was read).
    pub fn keep(&self) -> Result<std::time::Duration, String> {
        let keep = humantime::parse_duration(&self.keep)
            .map_err(|e| format!("engine.isolation.keep {:?} is not a duration such as `7d` ({e})", self.keep))?;
        if keep.as_secs() > 3650 * 86_400 {
            return Err(format!("engine.isolation.keep {:?} is more than 10 years", self.keep));
        }
        Ok(keep)
    }

    /// The commit message for what job `id` (prompt `prompt`) left uncommitted.
    pub fn commit_message(&self, id: &str, prompt: &str) -> String {
        let first_line = prompt.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
        self.commit_message.replace("{job_id}", id).replace("{prompt}", &crate::job::preview(first_line, 200))
    }
}
