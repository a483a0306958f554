//! Agent profiles: which CLI a job runs, and with what arguments.
//!
//! The default profile, `claude`, runs Claude Code headless:
//! `claude -p --output-format stream-json --verbose [--model M]
//! [--resume S] [--max-turns N] [--allowedTools A,B] [--append-system-prompt T]`
//! with the prompt on its stdin. On stdin, a prompt can never be read as an
//! option (a prompt `--dangerously-skip-permissions` stays text) and is not
//! bound by the kernel's limit on arguments. It never goes through a shell.
//! A profile can point `command` at any other CLI that speaks the same
//! stream-json; one that does not read stdin takes the prompt as its last
//! argument, after `--` (`prompt: argument`).
//!
//! Credentials: an agent gets exactly the token of its slot, as
//! `CLAUDE_CODE_OAUTH_TOKEN`, and inherits no other credential ringmaster
//! knows of. A profile with `auth: api-key` instead inherits
//! `ANTHROPIC_API_KEY` / `ANTHROPIC_AUTH_TOKEN` and gets no slot token.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Overrides where the `claude` binary is, for the built-in profile.
pub const CLAUDE_BIN_ENV: &str = "RINGMASTER_CLAUDE_BIN";

/// A named agent: the CLI and what it is told.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct AgentProfile {
    /// Binary name (looked up on PATH) or path; default `claude`.
    pub command: Option<PathBuf>,
    /// Extra arguments, after the generated ones.
    pub args: Vec<String>,
    /// Passed as `--append-system-prompt`: what makes this agent this agent.
    pub append_system_prompt: Option<String>,
    /// Model when the job names none.
    pub model: Option<String>,
    /// Tools when the job names none.
    pub allowed_tools: Vec<String>,
    /// Turn limit when the job sets none.
    pub max_turns: Option<u32>,
    /// Extra environment for the agent.
    pub env: BTreeMap<String, String>,
    /// Give the agent ringmaster as an MCP server (`--mcp-config`), so it can
    /// submit sub-jobs itself; never at the maximum depth.
    pub mcp: bool,
    /// How the agent gets the prompt.
    pub prompt: PromptVia,
    /// Which credentials the agent runs with.
    pub auth: Auth,
    /// Where its jobs run when they do not say (`none` or `worktree`).
    pub isolation: crate::job::workspace::Isolation,
    /// Whether its jobs record checkpoints when they do not say.
    pub checkpoint: bool,
}

/// How an agent is given its prompt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PromptVia {
    /// On stdin (Claude Code's `-p` reads it there).
    #[default]
    Stdin,
    /// As the last argument, after `--`.
    Argument,
}

/// Which credentials an agent runs with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Auth {
    /// The token of its slot (`CLAUDE_CODE_OAUTH_TOKEN`), when there is one.
    #[default]
    Token,
    /// ringmaster's `ANTHROPIC_API_KEY` / `ANTHROPIC_AUTH_TOKEN`, and no slot token.
    ApiKey,
}

/// What one attempt asks of the agent.
#[derive(Debug, Clone, Default)]
pub struct Invocation<'a> {
    pub prompt: &'a str,
    pub model: Option<&'a str>,
    pub resume_session: Option<&'a str>,
    pub max_turns: Option<u32>,
    pub allowed_tools: &'a [String],
    /// `--settings` (JSON), e.g. hooks that relay to ringmaster.
    pub settings: Option<&'a str>,
    /// `--mcp-config` (JSON), e.g. ringmaster itself for sub-jobs.
    pub mcp_config: Option<&'a str>,
    /// `--max-budget-usd`: what remains of the budgets the job is under.
    pub max_budget_usd: Option<f64>,
}

impl AgentProfile {
    /// The argument list (without the program) for one attempt.
    pub fn args(&self, call: &Invocation<'_>) -> Vec<String> {
        let mut args: Vec<String> =
            vec!["-p".into(), "--output-format".into(), "stream-json".into(), "--verbose".into()];
        if let Some(model) = call.model.or(self.model.as_deref()) {
            args.extend(["--model".into(), model.into()]);
        }
        if let Some(session) = call.resume_session {
            args.extend(["--resume".into(), session.into()]);
        }
        if let Some(turns) = call.max_turns.or(self.max_turns) {
            args.extend(["--max-turns".into(), turns.to_string()]);
        }
        let tools = if call.allowed_tools.is_empty() { &self.allowed_tools } else { call.allowed_tools };
        if !tools.is_empty() {
            args.extend(["--allowedTools".into(), tools.join(",")]);
        }
        if let Some(text) = &self.append_system_prompt {
            args.extend(["--append-system-prompt".into(), text.clone()]);
        }
        if let Some(settings) = call.settings {
            args.extend(["--settings".into(), settings.into()]);
        }
        if let Some(config) = call.mcp_config {
            args.extend(["--mcp-config".into(), config.into()]);
        }
        if let Some(usd) = call.max_budget_usd {
            args.extend(["--max-budget-usd".into(), format!("{usd:.4}")]);
        }
        args.extend(self.args.iter().cloned());
        if self.prompt == PromptVia::Argument {
            args.extend(["--".into(), call.prompt.into()]);
        }
        args
    }

    /// What the agent reads on stdin: the prompt, unless it is an argument.
    pub fn stdin(&self, call: &Invocation<'_>) -> Option<String> {
        (self.prompt == PromptVia::Stdin).then(|| call.prompt.to_string())
    }

    /// Finds the agent's binary the way its users expect: an explicit path;
    /// for the `claude` default, `$RINGMASTER_CLAUDE_BIN`; then `PATH`; then
    /// the usual install locations of Claude Code.
    pub fn find_binary(&self, name: &str) -> Result<PathBuf, String> {
        let command = self.command.clone().unwrap_or_else(|| PathBuf::from("claude"));
        let mut looked = Vec::new();
        if self.command.is_none()
            && let Some(path) = std::env::var_os(CLAUDE_BIN_ENV)
        {
            let path = PathBuf::from(path);
            if path.is_file() {
                return Ok(path);
            }
            looked.push(format!("${CLAUDE_BIN_ENV} ({})", path.display()));
        }
        if command.components().count() > 1 {
            if command.is_file() {
                return Ok(command);
            }
            return Err(format!(
                "agent `{name}`: {} does not exist; fix `agents.{name}.command` in ringmaster.yaml",
                command.display()
            ));
        }
        if let Ok(path) = which::which(&command) {
            return Ok(path);
        }
        looked.push("PATH".into());
        if command == Path::new("claude") {
            for candidate in claude_install_locations() {
                if candidate.is_file() {
                    return Ok(candidate);
                }
                looked.push(candidate.display().to_string());
            }
        }
        Err(format!(
            "agent `{name}`: cannot find the `{}` binary (looked in {}); install Claude Code \
             (`npm install -g @anthropic-ai/claude-code`), or set `agents.{name}.command` in ringmaster.yaml \
             or ${CLAUDE_BIN_ENV} to its path",
            command.display(),
            looked.join(", ")
        ))
    }
}

/// Where Claude Code's installers put the binary.
fn claude_install_locations() -> Vec<PathBuf> {
    let mut paths = Vec::new();
    if let Some(home) = std::env::var_os("HOME").map(PathBuf::from) {
        for rel in [".claude/local/claude", ".local/bin/claude", ".npm-global/bin/claude", "node_modules/.bin/claude"] {
            paths.push(home.join(rel));
        }
    }
    paths.extend(["/usr/local/bin/claude", "/opt/homebrew/bin/claude"].map(PathBuf::from));
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prompt_goes_on_stdin_or_after_the_options() {
        let call = Invocation { prompt: "--dangerously-skip-permissions", ..Default::default() };
        let profile = AgentProfile::default();
        assert_eq!(profile.args(&call), ["-p", "--output-format", "stream-json", "--verbose"]);
        assert_eq!(profile.stdin(&call).as_deref(), Some("--dangerously-skip-permissions"));
        let profile = AgentProfile { prompt: PromptVia::Argument, args: vec!["--x".into()], ..Default::default() };
        let args = profile.args(&call);
        assert_eq!(args[args.len() - 3..], ["--x", "--", "--dangerously-skip-permissions"]);
        assert_eq!(profile.stdin(&call), None);
    }

    #[test]
    fn claude_arguments() {
        let profile = AgentProfile {
            append_system_prompt: Some("You review code.".into()),
            model: Some("sonnet".into()),
            ..Default::default()
        };
        let tools = vec!["Read".to_string(), "Bash(git diff:*)".to_string()];
        let call = Invocation {
            prompt: "fix it; rm -rf / $(x)",
            resume_session: Some("s-1"),
            max_turns: Some(3),
            allowed_tools: &tools,
            settings: Some("{\"hooks\":{}}"),
            mcp_config: Some("{\"mcpServers\":{}}"),
            ..Default::default()
        };
        assert_eq!(
            profile.args(&call),
            [
                "-p",
                "--output-format",
                "stream-json",
                "--verbose",
                "--model",
                "sonnet",
                "--resume",
                "s-1",
                "--max-turns",
                "3",
                "--allowedTools",
                "Read,Bash(git diff:*)",
                "--append-system-prompt",
                "You review code.",
                "--settings",
                "{\"hooks\":{}}",
                "--mcp-config",
                "{\"mcpServers\":{}}",
            ]
        );
    }

    #[test]
    fn a_missing_binary_says_where_it_looked_and_how_to_fix_it() {
        let profile = AgentProfile { command: Some("no-such-agent-xyz".into()), ..Default::default() };
        let error = profile.find_binary("helper").unwrap_err();
        assert!(error.contains("cannot find the `no-such-agent-xyz` binary (looked in PATH)"), "{error}");
        assert!(error.contains("agents.helper.command"), "{error}");
        let profile = AgentProfile { command: Some("/nonexistent/claude".into()), ..Default::default() };
        assert!(profile.find_binary("x").unwrap_err().contains("/nonexistent/claude does not exist"));
    }

    mod properties {
        use super::super::*;
        use crate::job::JobSpec;
        use proptest::prelude::*;

        proptest! {
            /// A spec that passes [`JobSpec::validate`] never hands the agent's command line a
            /// value that could be read as an option.
            #[test]
            fn valid_specs_put_no_option_in_a_value(
                model in ".{0,20}", session in ".{0,20}", tool in ".{0,20}", prompt in ".{1,40}",
            ) {
                let spec = JobSpec {
                    prompt,
                    model: Some(model),
                    resume_session: Some(session),
                    allowed_tools: vec![tool],
                    ..JobSpec::default()
                };
                if spec.validate(1 << 20).is_ok() {
                    let call = Invocation {
                        prompt: &spec.prompt,
                        model: spec.model.as_deref(),
                        resume_session: spec.resume_session.as_deref(),
                        allowed_tools: &spec.allowed_tools,
                        ..Default::default()
                    };
                    let args = AgentProfile::default().args(&call);
                    for pair in args.windows(2).filter(|w| matches!(w[0].as_str(), "--model" | "--resume" | "--allowedTools")) {
                        prop_assert!(!pair[1].starts_with('-'), "{:?}", args);
                    }
                    let stdin = AgentProfile::default().stdin(&call);
                    prop_assert_eq!(stdin.as_deref(), Some(spec.prompt.as_str()), "the prompt goes on stdin");
                }
            }
        }
    }
}
