//! `ringmaster.yaml`: the host's configuration.
//!
//! Every key is optional; an empty file (or none at all) gives a working
//! server with the built-in policies. Relative paths are resolved against the
//! directory holding the file, so a project's config works from any cwd.
//! Unknown keys are errors rather than silently ignored, because a typo in a
//! limit or a grant would otherwise change behaviour without a word.
//!
//! ```yaml
//! state-dir: .ringmaster
//! plugins:
//!   dirs: [target/plugins]
//!   policies:
//!     scheduler: fair-share
//!   grants:
//!     my-plugin: { env: [HOME] }
//! ```
//!
//! Length: about 350 lines of code (the sections, their validation against
//! [`ranges`], path resolution) and 100 of tests; the `plugins:` section is
//! in `plugins.rs`.

mod isolation;
pub mod live;
mod plugins;
pub mod ranges;

pub use isolation::IsolationConfig;

pub use plugins::{Capabilities, CircuitConfig, ConfigValue, Limits, PluginsConfig, PolicySelection};

use crate::executor::agent::AgentProfile;
use crate::job::budget::{Budget, Scope};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Config {
    /// Where ringmaster keeps its database and caches (default `.ringmaster`).
    pub state_dir: Option<PathBuf>,
    pub plugins: PluginsConfig,
    pub engine: EngineConfig,
    /// Agent profiles by name; `claude` exists even when not listed.
    pub agents: BTreeMap<String, AgentProfile>,
    pub commands: CommandsConfig,
    pub hooks: HooksConfig,
    pub shell: ShellConfig,
    /// Where to read agent tokens, before the environment's
    /// `CLAUDE_CODE_OAUTH_TOKEN`, `CLAUDE_CODE_TOKEN`, `CLAUDE_CODE_TOKEN1..10`.
    pub tokens: Vec<crate::credentials::TokenConfig>,
}

/// The `commands:` section: markdown slash commands.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct CommandsConfig {
    /// Command directories, earliest winning a name clash (default: the
    /// project's `commands/`). `~/` means the home directory, e.g.
    /// `[commands, .claude/commands, ~/.claude/commands]`.
    pub dirs: Vec<PathBuf>,
    /// Whether `` !`cmd` `` in a command file may run a shell command.
    pub allow_shell: bool,
    /// How long such a command may run.
    pub shell_timeout_s: u64,
}

impl Default for CommandsConfig {
    fn default() -> Self {
        CommandsConfig { dirs: Vec::new(), allow_shell: false, shell_timeout_s: 10 }
    }
}

/// The `hooks:` section: hook config directories and handler limits.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct HooksConfig {
    /// Directories of hook configs (`*.json`, `*.yaml`, `*.yml`); default:
    /// the project's `hooks/`.
    pub dirs: Vec<PathBuf>,
    /// Timeout of a command handler that sets none.
    pub command_timeout_s: u64,
    /// Start agents with a `--settings` whose `PreToolUse`, `PostToolUse`
    /// and `Stop` hooks relay to ringmaster's hooks (`ringmaster hook-relay`).
    pub in_agents: bool,
}

impl Default for HooksConfig {
    fn default() -> Self {
        HooksConfig { dirs: Vec::new(), command_timeout_s: 60, in_agents: false }
    }
}

/// The `shell:` section: how hook commands and `` !`cmd` `` snippets run
/// (see [`crate::executor::shell`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct ShellConfig {
    /// Commands running at once; more wait their turn.
    pub max_processes: u32,
    /// Variables of ringmaster's environment passed to commands, besides
    /// the always-passed ones (`PATH`, `HOME`, locale...). Credentials are
    /// refused here.
    pub pass_env: Vec<String>,
}

impl Default for ShellConfig {
    fn default() -> Self {
        ShellConfig { max_processes: 32, pass_env: Vec::new() }
    }
}

/// The `engine:` section: queue, limits and defaults for jobs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Jobs that may wait in the queue; a submission beyond it is refused.
    pub max_queue: usize,
    /// Deepest level of jobs spawned by jobs (a submitted job is depth 0).
    pub max_depth: u32,
    /// Jobs running at once at any one depth.
    pub max_concurrent_per_depth: u32,
    /// Jobs one root job's tree may submit over its whole life.
    pub max_jobs_per_root: u32,
    /// Jobs running at once per token slot.
    pub per_token_concurrency: u32,
    /// Jobs running at once overall; default: token slots x per-token concurrency.
    pub max_concurrent: Option<u32>,
    /// Starts per token per minute (0: no limit).
    pub token_starts_per_minute: u32,
    /// The agent profile of jobs that name none.
    pub default_agent: String,
    /// Retries after a failed first attempt, for jobs that set none.
    pub default_max_retries: u32,
    /// Hard timeout for jobs that set none, instead of the estimator's answer.
    pub default_timeout_s: Option<u64>,
    /// Between SIGTERM and SIGKILL when an agent is stopped.
    pub kill_grace_ms: u64,
    /// Longest prompt accepted.
    pub max_prompt_bytes: usize,
    /// Finished jobs older than this are deleted (with their transcripts).
    pub keep_days: u64,
    /// At most this many jobs are kept; the oldest finished ones go first.
    pub keep_jobs: usize,
    /// Seconds the engine process (`ringmaster engine`) stays up with no
    /// client connected and no job unfinished; 0: until stopped.
    pub idle_exit_s: u64,
    /// What jobs may spend (see [`crate::job::budget`]).
    pub budgets: Vec<BudgetConfig>,
    /// Jobs in worktrees (see [`crate::job::workspace`]).
    pub isolation: IsolationConfig,
}

/// One of `engine.budgets`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct BudgetConfig {
    pub name: String,
    /// Only the jobs with this tag (default: every job).
    pub tag: Option<String>,
    pub usd: Option<f64>,
    pub tokens: Option<u64>,
    /// A rolling window, e.g. `5h` (default: all the spending the engine knows of).
    pub window: Option<String>,
}

impl BudgetConfig {
    /// The budget it describes; an error says what is wrong.
    pub fn budget(&self) -> Result<Budget, String> {
        let name = &self.name;
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(format!("budget name {name:?}: 1 to 64 characters, no control characters"));
        }
        if let Some(tag) = &self.tag {
            crate::job::check_tag(tag).map_err(|e| format!("budget {name}: {e}"))?;
        }
        if self.usd.is_none() && self.tokens.is_none() {
            return Err(format!("budget {name} sets neither `usd` nor `tokens`"));
        }
        if let Some(usd) = self.usd.filter(|usd| !(usd.is_finite() && *usd > 0.0)) {
            return Err(format!("budget {name}: usd is {usd}; it must be more than 0"));
        }
        if self.tokens == Some(0) {
            return Err(format!("budget {name}: tokens must be more than 0"));
        }
        let window_s = match &self.window {
            None => None,
            Some(text) => {
                let window = humantime::parse_duration(text)
                    .map_err(|e| format!("budget {name}: window {text:?} is not a duration such as `5h` ({e})"))?;
                if !(1..=366 * 86_400).contains(&window.as_secs()) {
                    return Err(format!("budget {name}: window {text:?} must be between 1 s and 366 days"));
                }
                Some(window.as_secs())
            }
        };
        let scope = self.tag.clone().map_or(Scope::Global, Scope::Tag);
        Ok(Budget { name: name.clone(), scope, usd: self.usd, tokens: self.tokens, window_s })
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_queue: 10_000,
            max_depth: 4,
            max_concurrent_per_depth: 10,
            max_jobs_per_root: 50,
            per_token_concurrency: 5,
            max_concurrent: None,
            token_starts_per_minute: 0,
            default_agent: "claude".into(),
            default_max_retries: 2,
            default_timeout_s: None,
            kill_grace_ms: 5_000,
            max_prompt_bytes: 1 << 20,
            keep_days: 30,
            keep_jobs: 100_000,
            idle_exit_s: 600,
            budgets: Vec::new(),
            isolation: IsolationConfig::default(),
        }
    }
}

impl EngineConfig {
    /// Honours the older Python servers' variables, so their users can switch
    /// without rewriting their setup. A value that is not a number in its
    /// range is an error.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let number = |name: &str, range: RangeInclusive<u64>| -> Result<Option<u64>, ConfigError> {
            let Some(text) = get(name) else { return Ok(None) };
            let invalid = |message: String| ConfigError::Invalid { path: PathBuf::from(format!("${name}")), message };
            let n: u64 = text.trim().parse().map_err(|_| invalid(format!("expected a whole number, got {text:?}")))?;
            check(name, n, range).map_err(invalid)?;
            Ok(Some(n))
        };
        if let Some(n) = number("CLAUDE_MAX_RECURSION_DEPTH", ranges::MAX_DEPTH)? {
            self.max_depth = n as u32;
        }
        if let Some(n) = number("CLAUDE_MAX_CONCURRENT_AT_DEPTH", ranges::CONCURRENCY)? {
            self.max_concurrent_per_depth = n as u32;
        }
        if let Some(n) = number("CLAUDE_MAX_TOTAL_JOBS", ranges::JOBS_PER_ROOT)? {
            self.max_jobs_per_root = n as u32;
        }
        if let Some(n) = number("CLAUDE_TIMEOUT_SECONDS", ranges::TIMEOUT_S)? {
            self.default_timeout_s = Some(n);
        }
        Ok(())
    }
}

/// `Err` naming `key` and its range when `value` is outside it.
fn check(key: &str, value: u64, range: RangeInclusive<u64>) -> Result<(), String> {
    match range.contains(&value) {
        true => Ok(()),
        false => Err(format!("{key} is {value}; it must be between {} and {}", range.start(), range.end())),
    }
}

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Parses YAML into `T`, turning serde's error into one that names the file,
/// the line and what was wrong.
pub fn parse_yaml<T: serde::de::DeserializeOwned + Default>(path: &Path, text: &str) -> Result<T, ConfigError> {
    if text.trim().is_empty() {
        return Ok(T::default());
    }
    crate::untrusted::check_yaml_nesting(text)
        .map_err(|message| ConfigError::Invalid { path: path.to_path_buf(), message })?;
    serde_yaml::from_str(text).map_err(|err| ConfigError::Invalid {
        path: path.to_path_buf(),
        message: match err.location() {
            Some(loc) => format!("line {}, column {}: {err}", loc.line(), loc.column()),
            None => err.to_string(),
        },
    })
}

impl Config {
    /// The parts of `self` that differ from `other` and only take effect
    /// after a restart (everything but the engine's limits and defaults,
    /// the agent profiles and the policy selection).
    pub fn restart_only_changes(&self, other: &Config) -> Vec<&'static str> {
        let plugins_besides_policies =
            |c: &Config| PluginsConfig { policies: PolicySelection::default(), ..c.plugins.clone() };
        let token_limits = |c: &Config| (c.engine.per_token_concurrency, c.engine.token_starts_per_minute);
        let mut changed = Vec::new();
        for (differs, name) in [
            (self.state_dir != other.state_dir, "state-dir"),
            (plugins_besides_policies(self) != plugins_besides_policies(other), "plugins (other than policies)"),
            (self.commands != other.commands, "commands"),
            (self.hooks != other.hooks, "hooks"),
            (self.shell != other.shell, "shell"),
            (self.tokens != other.tokens, "tokens"),
            (token_limits(self) != token_limits(other), "engine.per-token-concurrency/token-starts-per-minute"),
        ] {
            if differs {
                changed.push(name);
            }
        }
        changed
    }

    /// Checks every number against its range in [`ranges`].
    pub fn validate(&self) -> Result<(), String> {
        use ranges::*;
        let (e, p) = (&self.engine, &self.plugins);
        let mut checks: Vec<(&str, u64, RangeInclusive<u64>)> = vec![
            ("engine.max-queue", e.max_queue as u64, MAX_QUEUE),
            ("engine.max-depth", e.max_depth.into(), MAX_DEPTH),
            ("engine.max-concurrent-per-depth", e.max_concurrent_per_depth.into(), CONCURRENCY),
            ("engine.max-jobs-per-root", e.max_jobs_per_root.into(), JOBS_PER_ROOT),
            ("engine.per-token-concurrency", e.per_token_concurrency.into(), CONCURRENCY),
            ("engine.token-starts-per-minute", e.token_starts_per_minute.into(), STARTS_PER_MINUTE),
            ("engine.default-max-retries", e.default_max_retries.into(), RETRIES),
            ("engine.kill-grace-ms", e.kill_grace_ms, KILL_GRACE_MS),
            ("engine.max-prompt-bytes", e.max_prompt_bytes as u64, PROMPT_BYTES),
            ("engine.keep-days", e.keep_days, KEEP_DAYS),
            ("engine.keep-jobs", e.keep_jobs as u64, KEEP_JOBS),
            ("engine.idle-exit-s", e.idle_exit_s, IDLE_EXIT_S),
            ("commands.shell-timeout-s", self.commands.shell_timeout_s, SHELL_TIMEOUT_S),
            ("hooks.command-timeout-s", self.hooks.command_timeout_s, TIMEOUT_S),
            ("shell.max-processes", self.shell.max_processes.into(), SHELL_PROCESSES),
            ("plugins.limits.policy-deadline-ms", p.limits.policy_deadline_ms, DEADLINE_MS),
            ("plugins.limits.hook-deadline-ms", p.limits.hook_deadline_ms, DEADLINE_MS),
            ("plugins.limits.max-deadline-ms", p.limits.max_deadline_ms, DEADLINE_MS),
            ("plugins.limits.memory-mib", p.limits.memory_mib, MEMORY_MIB),
            ("plugins.limits.max-memory-mib", p.limits.max_memory_mib, MEMORY_MIB),
            ("plugins.reload-debounce-ms", p.reload_debounce_ms, DEBOUNCE_MS),
            ("plugins.circuit.failures", p.circuit.failures.into(), CIRCUIT_FAILURES),
            ("plugins.circuit.backoff-ms", p.circuit.backoff_ms, BACKOFF_MS),
            ("plugins.circuit.max-backoff-ms", p.circuit.max_backoff_ms, BACKOFF_MS),
        ];
        if let Some(n) = e.max_concurrent {
            checks.push(("engine.max-concurrent", n.into(), CONCURRENCY));
        }
        if let Some(s) = e.default_timeout_s {
            checks.push(("engine.default-timeout-s", s, TIMEOUT_S));
        }
        for token in &self.tokens {
            if let Some(n) = token.concurrency {
                checks.push(("tokens[].concurrency", n.into(), CONCURRENCY));
            }
            if let Some(n) = token.starts_per_minute {
                checks.push(("tokens[].starts-per-minute", n.into(), STARTS_PER_MINUTE));
            }
        }
        checks.into_iter().try_for_each(|(key, value, range)| check(key, value, range))?;
        e.isolation.keep()?;
        if e.isolation.commit_message.trim().is_empty() || e.isolation.commit_message.contains('\0') {
            return Err("engine.isolation.commit-message must be some text".into());
        }
        for (i, budget) in e.budgets.iter().enumerate() {
            budget.budget().map_err(|e| format!("engine.budgets[{i}]: {e}"))?;
            if e.budgets[..i].iter().any(|b| b.name == budget.name) {
                return Err(format!("engine.budgets[{i}]: another budget is named {}", budget.name));
            }
        }
        let credentials = crate::credentials::credential_vars(&self.tokens);
        if let Some(name) = self.shell.pass_env.iter().find(|name| credentials.contains(name)) {
            return Err(format!("shell.pass-env names {name}, a credential; hook commands and snippets never get one"));
        }
        Ok(())
    }

    /// Reads and validates `path`, resolving relative paths against its directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = crate::untrusted::read_text(path, None, crate::untrusted::MAX_TEXT_BYTES)
            .map_err(|message| ConfigError::Invalid { path: path.to_path_buf(), message })?;
        let mut config: Config = parse_yaml(path, &text)?;
        config.validate().map_err(|message| ConfigError::Invalid { path: path.to_path_buf(), message })?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base);
        Ok(config)
    }

    /// Makes every relative path absolute against `base`.
    pub fn resolve_paths(&mut self, base: &Path) {
        if let Some(dir) = &mut self.state_dir {
            *dir = base.join(&*dir);
        }
        for dir in self.plugins.dirs.iter_mut().chain(&mut self.commands.dirs).chain(&mut self.hooks.dirs) {
            *dir = resolve(base, dir);
        }
        for grant in self.plugins.grants.values_mut() {
            grant.resolve_paths(base);
        }
        for file in self.tokens.iter_mut().filter_map(|t| t.file.as_mut()) {
            *file = resolve(base, file);
        }
    }

    /// The command directories, defaulting to `project/commands`.
    pub fn command_dirs(&self, project: &Path) -> Vec<PathBuf> {
        or_default_dir(&self.commands.dirs, project, "commands")
    }

    /// The hook config directories, defaulting to `project/hooks`.
    pub fn hook_dirs(&self, project: &Path) -> Vec<PathBuf> {
        or_default_dir(&self.hooks.dirs, project, "hooks")
    }

    /// The state directory, defaulting to `.ringmaster` under `project`.
    pub fn state_dir(&self, project: &Path) -> PathBuf {
        self.state_dir.clone().unwrap_or_else(|| project.join(".ringmaster"))
    }
}

/// `path` against `base`, with a leading `~/` meaning the home directory.
pub fn resolve(base: &Path, path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => base.join(path),
    }
}

fn or_default_dir(dirs: &[PathBuf], project: &Path, default: &str) -> Vec<PathBuf> {
    if dirs.is_empty() { vec![project.join(default)] } else { dirs.to_vec() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        let config: Config = parse_yaml(Path::new("r.yaml"), "  \n").unwrap();
        assert_eq!(config.plugins.limits, Limits::default());
        assert_eq!(config.plugins.policies, PolicySelection::default());
    }

    #[test]
    fn budgets_are_read_and_bad_ones_refused_saying_which() {
        let yaml = "engine:\n  budgets:\n    - { name: nightly, tag: nightly, usd: 20, window: 5h }\n    - { name: all, tokens: 1000000 }\n";
        let config: Config = parse_yaml(Path::new("r.yaml"), yaml).unwrap();
        config.validate().unwrap();
        let nightly = config.engine.budgets[0].budget().unwrap();
        assert_eq!(
            (nightly.scope, nightly.usd, nightly.window_s),
            (Scope::Tag("nightly".into()), Some(20.0), Some(18_000))
        );
        assert_eq!(config.engine.budgets[1].budget().unwrap().scope, Scope::Global);
        for (bad, says) in [
            ("{ name: x }", "neither `usd` nor `tokens`"),
            ("{ name: x, usd: -1 }", "usd is -1"),
            ("{ name: x, usd: 1, window: soon }", "not a duration"),
            ("{ name: x, tokens: 0 }", "more than 0"),
        ] {
            let yaml = format!("engine:\n  budgets:\n    - {bad}\n");
            let config: Config = parse_yaml(Path::new("r.yaml"), &yaml).unwrap();
            let err = config.validate().unwrap_err();
            assert!(err.starts_with("engine.budgets[0]: budget x") && err.contains(says), "{bad}: {err}");
        }
        let twice = "engine:\n  budgets:\n    - { name: x, usd: 1 }\n    - { name: x, usd: 2 }\n";
        let config: Config = parse_yaml(Path::new("r.yaml"), twice).unwrap();
        assert!(config.validate().unwrap_err().contains("another budget is named x"));
    }

    #[test]
    fn typo_is_an_error_naming_file_line_and_key() {
        let err = parse_yaml::<Config>(Path::new("r.yaml"), "plugins:\n  polices:\n    scheduler: x\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("r.yaml: line 2"), "{msg}");
        assert!(msg.contains("unknown field `polices`"), "{msg}");
    }

    #[test]
    fn relative_paths_resolve_against_the_config_dir() {
        let mut config: Config =
            parse_yaml(Path::new("r.yaml"), "plugins:\n  dirs: [p]\n  grants:\n    x: { filesystem: [data] }\n")
                .unwrap();
        config.resolve_paths(Path::new("/proj"));
        assert_eq!(config.plugins.dirs, vec![PathBuf::from("/proj/p")]);
        assert_eq!(config.plugins.grants["x"].filesystem, vec![PathBuf::from("/proj/data")]);
    }

    #[test]
    fn effective_capabilities_need_request_and_grant() {
        let request = Capabilities { env: vec!["HOME".into(), "PATH".into()], network: true, ..Default::default() };
        let grant = Capabilities { env: vec!["HOME".into()], stdio: true, ..Default::default() };
        let effective = request.intersect(&grant);
        assert_eq!(effective.env, vec!["HOME".to_string()]);
        assert!(!effective.network && !effective.stdio);
    }

    #[test]
    fn old_servers_variables_override_engine_limits() {
        let mut engine = EngineConfig::default();
        let env = |name: &str| match name {
            "CLAUDE_MAX_RECURSION_DEPTH" => Some("2".to_string()),
            "CLAUDE_MAX_TOTAL_JOBS" => Some("7".to_string()),
            "CLAUDE_TIMEOUT_SECONDS" => Some("900".to_string()),
            _ => None,
        };
        engine.apply_env(env).unwrap();
        assert_eq!((engine.max_depth, engine.max_jobs_per_root, engine.default_timeout_s), (2, 7, Some(900)));
        assert_eq!(engine.max_concurrent_per_depth, 10);
        let bad = |name: &str| (name == "CLAUDE_MAX_CONCURRENT_AT_DEPTH").then(|| "ten".to_string());
        let err = engine.apply_env(bad).unwrap_err().to_string();
        assert!(err.contains("$CLAUDE_MAX_CONCURRENT_AT_DEPTH") && err.contains("\"ten\""), "{err}");
        // 2^32 + 1 would wrap to 1 as a u32.
        let huge = |name: &str| (name == "CLAUDE_MAX_TOTAL_JOBS").then(|| "4294967297".to_string());
        let err = engine.apply_env(huge).unwrap_err().to_string();
        assert!(err.contains("between 1 and 1000000"), "{err}");
        assert_eq!(engine.max_jobs_per_root, 7);
    }

    #[test]
    fn numbers_out_of_range_are_errors_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.yaml");
        for (yaml, key) in [
            ("engine: { kill-grace-ms: 18446744073709551615 }", "engine.kill-grace-ms"),
            ("engine: { default-timeout-s: 0 }", "engine.default-timeout-s"),
            ("plugins: { limits: { memory-mib: 17592186044416 } }", "plugins.limits.memory-mib"),
            ("hooks: { command-timeout-s: 100000000 }", "hooks.command-timeout-s"),
            ("engine: { max-concurrent: 0 }", "engine.max-concurrent"),
        ] {
            std::fs::write(&path, yaml).unwrap();
            let err = Config::load(&path).unwrap_err().to_string();
            assert!(err.contains(key) && err.contains("must be between"), "{yaml}: {err}");
        }
        Config::default().validate().unwrap();
    }

    #[test]
    fn the_example_file_parses() {
        let config = Config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../ringmaster.yaml")).unwrap();
        assert_eq!(config.plugins.policies.scheduler.as_deref(), Some("fair-share"));
        let home = PathBuf::from(std::env::var_os("HOME").unwrap());
        assert_eq!(config.commands.dirs[2], home.join(".claude/commands"));
        assert!(config.hooks.dirs[0].ends_with("hooks") && !config.commands.allow_shell);
    }

    #[test]
    fn scalar_config_values_become_text() {
        let values: BTreeMap<String, ConfigValue> = serde_yaml::from_str("a: 3\nb: true\nc: x\nd: 1.5").unwrap();
        let text: Vec<String> = values.values().map(ToString::to_string).collect();
        assert_eq!(text, ["3", "true", "x", "1.5"]);
    }
}
