//! What is submitted: [`JobSpec`], and the checks it passes before anything
//! else sees it.

use super::after::{self, After, MAX_AFTER};
use super::workspace::Isolation;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

/// A job to run, as submitted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobSpec {
    pub prompt: String,
    /// Working directory of the agent; default: the engine's project directory.
    pub cwd: Option<PathBuf>,
    /// Agent profile name; default: the configured default agent.
    pub agent: Option<String>,
    pub model: Option<String>,
    /// Higher starts earlier. Default 0.
    pub priority: i32,
    pub tags: Vec<String>,
    /// Hard timeout for each attempt, overriding the estimator.
    pub timeout_s: Option<u64>,
    /// Retries after the first attempt; default from the configuration.
    pub max_retries: Option<u32>,
    /// Agent session to resume on the first attempt.
    pub resume_session: Option<String>,
    pub max_turns: Option<u32>,
    pub allowed_tools: Vec<String>,
    /// Extra environment for the agent.
    pub env: BTreeMap<String, String>,
    /// The job this one was spawned from, for jobs submitted by jobs.
    pub parent_job_id: Option<String>,
    /// Who submitted it, as the front-end names it (the MCP client and its
    /// session, e.g. `claude-code/3f0c9a1e`; `cli`); none for sub-jobs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// A submission with the key of a job the engine still has (live, or
    /// finished and not yet pruned) gets that job instead of a new one, so a
    /// client that retries a submission whose answer it lost runs it once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Jobs this one runs after (see [`super::after`]): it waits until they
    /// have ended, and runs if they all succeeded.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<After>,
    /// Run after the jobs in `after` whatever they ended with.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub after_any_outcome: bool,
    /// A budget for the tree this root job starts (see [`super::budget`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_usd: Option<f64>,
    /// Where the agent works (see [`super::workspace`]); default: the
    /// agent profile's, else in the project as it is. A sub-job works in its
    /// parent's worktree unless it asks for one of its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolation: Option<Isolation>,
    /// The commit (any ref) a worktree starts from; default: the project's `HEAD`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// Record the project's files before and after the job (without
    /// isolation); default: the agent profile's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<bool>,
}

/// Ranges of a job's numbers and sizes, checked at submission (see [`JobSpec::validate`]).
pub mod bounds {
    /// Hard timeout per attempt, seconds: up to a day (the host's ceiling for
    /// any estimate too).
    pub const TIMEOUT_S: std::ops::RangeInclusive<u64> = 1..=86_400;
    pub const MAX_RETRIES: u32 = 100;
    pub const MAX_TURNS: std::ops::RangeInclusive<u32> = 1..=10_000;
    pub const MAX_TAGS: usize = 64;
    pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 256;
    pub const MAX_TAG_CHARS: usize = 128;
    pub const MAX_TOOLS: usize = 256;
    pub const MAX_TOOL_CHARS: usize = 1024;
    pub const MAX_ENV: usize = 256;
    pub const MAX_ENV_VALUE_BYTES: usize = 128 * 1024;
    /// Names in the job's `env` that only ringmaster sets.
    pub const RESERVED_ENV_PREFIX: &str = "RINGMASTER_";
    pub const MAX_CLIENT_CHARS: usize = 256;
    pub const MAX_BUDGET_USD: f64 = 1_000_000.0;
}

impl JobSpec {
    /// Checks everything about the spec that needs no engine state: numbers
    /// within [`bounds`], no NUL bytes anywhere (they cannot reach a process),
    /// and the values handed to the agent's command line in a form that can
    /// never be read as an option. `max_prompt_bytes` is the configured limit.
    pub fn validate(&self, max_prompt_bytes: usize) -> Result<(), String> {
        if self.prompt.trim().is_empty() {
            return Err("the prompt is empty".into());
        }
        if self.prompt.len() > max_prompt_bytes {
            return Err(format!(
                "the prompt is {} bytes, more than the {max_prompt_bytes} allowed (engine.max-prompt-bytes)",
                self.prompt.len()
            ));
        }
        no_nul("prompt", &self.prompt)?;
        if let Some(client) = &self.client
            && client.chars().count() > bounds::MAX_CLIENT_CHARS
        {
            return Err(format!("client is longer than {} characters", bounds::MAX_CLIENT_CHARS));
        }
        if let Some(s) = self.timeout_s.filter(|s| !bounds::TIMEOUT_S.contains(s)) {
            return Err(format!(
                "timeout_s is {s}; it must be between {} and {} seconds",
                bounds::TIMEOUT_S.start(),
                bounds::TIMEOUT_S.end()
            ));
        }
        if let Some(n) = self.max_retries.filter(|n| *n > bounds::MAX_RETRIES) {
            return Err(format!("max_retries is {n}; it must be between 0 and {}", bounds::MAX_RETRIES));
        }
        if let Some(n) = self.max_turns.filter(|n| !bounds::MAX_TURNS.contains(n)) {
            return Err(format!(
                "max_turns is {n}; it must be between {} and {}",
                bounds::MAX_TURNS.start(),
                bounds::MAX_TURNS.end()
            ));
        }
        if let Some(agent) = &self.agent {
            word("agent", agent, 64, |c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))?;
        }
        if let Some(model) = &self.model {
            // Model names and aliases: `sonnet`, `claude-opus-4-1[1m]`, `us.anthropic.claude-...:0`.
            word("model", model, 128, |c| c.is_ascii_alphanumeric() || "._:/@[]-".contains(c))?;
        }
        if let Some(session) = &self.resume_session {
            word("resume_session", session, 128, |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))?;
        }
        if let Some(cwd) = &self.cwd {
            no_nul("cwd", &cwd.to_string_lossy())?;
        }
        if let Some(parent) = &self.parent_job_id {
            no_nul("parent_job_id", parent)?;
        }
        if let Some(base) = &self.base {
            // Refs, commits, `HEAD~2`, `main@{1}`: never an option, no spaces.
            word("base", base, 256, |c| !c.is_whitespace() && !c.is_control())?;
        }
        if let Some(key) = &self.idempotency_key
            && (key.trim().is_empty()
                || key.chars().count() > bounds::MAX_IDEMPOTENCY_KEY_CHARS
                || key.chars().any(char::is_control))
        {
            return Err(format!(
                "idempotency_key {key:?} is not allowed: keys are 1 to {} characters, not blank, no control characters",
                bounds::MAX_IDEMPOTENCY_KEY_CHARS
            ));
        }
        self.validate_after()?;
        if let Some(usd) = self.budget_usd {
            if !(usd.is_finite() && usd > 0.0 && usd <= bounds::MAX_BUDGET_USD) {
                return Err(format!(
                    "budget_usd is {usd}; it must be more than 0 and at most {}",
                    bounds::MAX_BUDGET_USD
                ));
            }
            if self.parent_job_id.is_some() {
                return Err("budget_usd is for a root job: a sub-job spends its tree's budget".into());
            }
        }
        if self.tags.len() > bounds::MAX_TAGS {
            return Err(format!("{} tags; at most {} are allowed", self.tags.len(), bounds::MAX_TAGS));
        }
        for tag in &self.tags {
            check_tag(tag)?;
        }
        if self.allowed_tools.len() > bounds::MAX_TOOLS {
            return Err(format!(
                "{} allowed_tools; at most {} are allowed",
                self.allowed_tools.len(),
                bounds::MAX_TOOLS
            ));
        }
        for tool in &self.allowed_tools {
            if tool.trim().is_empty() || tool.starts_with('-') || tool.len() > bounds::MAX_TOOL_CHARS {
                return Err(format!(
                    "allowed_tools entry {tool:?} is not a tool: give names like `Read` or `Bash(git diff:*)`"
                ));
            }
            no_nul("allowed_tools", tool)?;
        }
        if self.env.len() > bounds::MAX_ENV {
            return Err(format!("{} env variables; at most {} are allowed", self.env.len(), bounds::MAX_ENV));
        }
        for (name, value) in &self.env {
            let valid_name = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid_name {
                return Err(format!("env name {name:?} is not a variable name ([A-Za-z_][A-Za-z0-9_]*)"));
            }
            if name.starts_with(bounds::RESERVED_ENV_PREFIX) {
                return Err(format!("env may not set {name}: ringmaster sets the RINGMASTER_* variables itself"));
            }
            if value.len() > bounds::MAX_ENV_VALUE_BYTES {
                return Err(format!("env {name} is longer than {} bytes", bounds::MAX_ENV_VALUE_BYTES));
            }
            no_nul(name, value)?;
        }
        Ok(())
    }

    /// The `after` list: not too long, no job twice, and the prompt's
    /// placeholders within it.
    fn validate_after(&self) -> Result<(), String> {
        if self.after.len() > MAX_AFTER {
            return Err(format!("after lists {} jobs; at most {MAX_AFTER} are allowed", self.after.len()));
        }
        let mut seen = HashSet::with_capacity(self.after.len());
        for entry in &self.after {
            if let After::Job(id) = entry {
                if id.trim().is_empty() {
                    return Err("after lists an empty job id".into());
                }
                no_nul("after", id)?;
            }
            if !seen.insert(entry) {
                return Err(format!("after lists {entry} twice"));
            }
        }
        if self.after_any_outcome && self.after.is_empty() {
            return Err("after_any_outcome is set but after lists no job".into());
        }
        after::check_placeholders(&self.prompt, self.after.len())
    }
}

/// A tag: 1 to [`bounds::MAX_TAG_CHARS`] characters, no control characters.
pub fn check_tag(tag: &str) -> Result<(), String> {
    if tag.is_empty() || tag.chars().count() > bounds::MAX_TAG_CHARS || tag.chars().any(char::is_control) {
        return Err(format!(
            "tag {tag:?} is not allowed: tags are 1 to {} characters, no control characters",
            bounds::MAX_TAG_CHARS
        ));
    }
    Ok(())
}

fn no_nul(what: &str, value: &str) -> Result<(), String> {
    match value.contains('\0') {
        true => Err(format!("{what} contains a NUL byte, which no process can be given")),
        false => Ok(()),
    }
}

/// A value that goes to the agent's command line as an option's argument:
/// a short word from `allowed` characters that cannot be read as an option.
fn word(what: &str, value: &str, max: usize, allowed: impl Fn(char) -> bool) -> Result<(), String> {
    if value.is_empty() || value.len() > max || value.starts_with('-') || !value.chars().all(allowed) {
        return Err(format!(
            "{what} {value:?} is not valid: expected up to {max} letters, digits and punctuation such as \
             `-` and `.`, not starting with `-`"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(prompt: &str) -> JobSpec {
        JobSpec { prompt: prompt.into(), ..JobSpec::default() }
    }

    fn refused(spec: JobSpec) -> String {
        spec.validate(1 << 20).unwrap_err()
    }

    #[test]
    fn numbers_out_of_range_are_refused_with_the_range() {
        let err = refused(JobSpec { timeout_s: Some(u64::MAX), ..spec("p") });
        assert!(err.contains("18446744073709551615") && err.contains("between 1 and 86400"), "{err}");
        assert!(refused(JobSpec { timeout_s: Some(0), ..spec("p") }).contains("timeout_s"));
        assert!(refused(JobSpec { max_retries: Some(u32::MAX), ..spec("p") }).contains("max_retries"));
        assert!(refused(JobSpec { max_turns: Some(0), ..spec("p") }).contains("max_turns"));
        spec("p").validate(1 << 20).unwrap();
        JobSpec { timeout_s: Some(86_400), max_retries: Some(100), max_turns: Some(1), ..spec("p") }
            .validate(10)
            .unwrap();
    }

    #[test]
    fn values_for_the_command_line_cannot_be_options() {
        for (field, value) in [("model", "--dangerously-skip-permissions"), ("model", "a b"), ("agent", "-x")] {
            let mut job = spec("p");
            match field {
                "model" => job.model = Some(value.into()),
                _ => job.agent = Some(value.into()),
            }
            assert!(refused(job).contains(field), "{field} {value}");
        }
        let err = refused(JobSpec { resume_session: Some("--fork-session".into()), ..spec("p") });
        assert!(err.contains("resume_session"), "{err}");
        let ok = JobSpec {
            model: Some("claude-opus-4-1[1m]".into()),
            resume_session: Some("4b1c0f0e-8a7e-4c1e-9d1e-2f6c3a9b8d7e".into()),
            allowed_tools: vec!["Bash(git diff:*)".into()],
            ..spec("p")
        };
        ok.validate(10).unwrap();
        assert!(refused(JobSpec { allowed_tools: vec!["--bypass".into()], ..spec("p") }).contains("not a tool"));
    }

    #[test]
    fn nul_bytes_and_reserved_names_are_refused() {
        assert!(refused(spec("a\0b")).contains("NUL"));
        assert!(refused(JobSpec { tags: vec!["a\0".into()], ..spec("p") }).contains("tag"));
        let env = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        assert!(refused(JobSpec { env: env("X", "a\0b"), ..spec("p") }).contains("NUL"));
        assert!(refused(JobSpec { env: env("RINGMASTER_JOB_ID", "forged"), ..spec("p") }).contains("RINGMASTER_"));
        assert!(refused(JobSpec { env: env("A B", "x"), ..spec("p") }).contains("not a variable name"));
        assert!(refused(spec(" ")).contains("empty"));
        assert!(spec("x".repeat(11).as_str()).validate(10).unwrap_err().contains("engine.max-prompt-bytes"));
    }

    #[test]
    fn idempotency_keys_are_short_visible_text() {
        let key = |k: &str| JobSpec { idempotency_key: Some(k.into()), ..spec("p") };
        for bad in ["", "  ", "a\nb", &"k".repeat(257)] {
            assert!(refused(key(bad)).contains("idempotency_key"), "{bad:?}");
        }
        assert!(key("nightly-triage/2026-11-30").validate(100).is_ok());
        assert!(key(&"ß".repeat(256)).validate(100).is_ok());
    }
}
