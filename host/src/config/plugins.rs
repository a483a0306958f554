//! The `plugins:` section: where plugins are found, which ones answer the
//! policies, the limits and grants they run under.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The `plugins:` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct PluginsConfig {
    /// Directories scanned (and watched) for `NAME.wasm` plus optional `NAME.yaml`.
    pub dirs: Vec<PathBuf>,
    /// Which loaded plugin provides each policy; unset means the built-in one.
    pub policies: PolicySelection,
    pub limits: Limits,
    /// Capabilities granted to each plugin, by plugin name. A plugin gets what
    /// its manifest requests *and* this grants; nothing by default.
    pub grants: BTreeMap<String, Capabilities>,
    /// Per-plugin config values overriding those in the plugin's manifest.
    pub config: BTreeMap<String, BTreeMap<String, ConfigValue>>,
    /// Quiet period after the last change to a plugin file before it is
    /// reloaded, in milliseconds.
    pub reload_debounce_ms: u64,
    pub circuit: CircuitConfig,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        PluginsConfig {
            dirs: Vec::new(),
            policies: PolicySelection::default(),
            limits: Limits::default(),
            grants: BTreeMap::new(),
            config: BTreeMap::new(),
            reload_debounce_ms: 40,
            circuit: CircuitConfig::default(),
        }
    }
}

/// Plugin names chosen for each policy extension point.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct PolicySelection {
    pub scheduler: Option<String>,
    pub timeout_estimator: Option<String>,
    pub retry_policy: Option<String>,
}

/// Per-call resource limits: defaults, and the ceilings a plugin's manifest
/// may raise them to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Limits {
    /// Deadline of a scheduler, timeout-estimator or retry-policy call.
    pub policy_deadline_ms: u64,
    /// Deadline of a hook-handler or command call.
    pub hook_deadline_ms: u64,
    /// The most a manifest may ask for, for either kind of call.
    pub max_deadline_ms: u64,
    /// Linear memory a plugin instance may grow to.
    pub memory_mib: u64,
    /// The most a manifest may ask for.
    pub max_memory_mib: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            policy_deadline_ms: 20,
            hook_deadline_ms: 500,
            max_deadline_ms: 5_000,
            memory_mib: 64,
            max_memory_mib: 512,
        }
    }
}

/// When a failing plugin is set aside, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct CircuitConfig {
    /// Consecutive failed calls that open the circuit.
    pub failures: u32,
    /// How long the first opening lasts; each reopening doubles it.
    pub backoff_ms: u64,
    pub max_backoff_ms: u64,
}

impl Default for CircuitConfig {
    fn default() -> Self {
        CircuitConfig { failures: 3, backoff_ms: 1_000, max_backoff_ms: 60_000 }
    }
}

/// WASI capabilities: requested by a manifest, granted by the host's config.
/// The effective set is what both name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Capabilities {
    /// Directories the plugin may read (preopened read-only at the same path).
    pub filesystem: Vec<PathBuf>,
    /// Environment variables passed through from the host's environment.
    pub env: Vec<String>,
    /// Outbound TCP/UDP and name lookups.
    pub network: bool,
    /// Forward what the plugin prints on stdout/stderr to the log. Without
    /// it, prints are dropped (stderr is still quoted when the plugin traps).
    pub stdio: bool,
}

impl Capabilities {
    /// What is both requested and granted.
    pub fn intersect(&self, grant: &Capabilities) -> Capabilities {
        Capabilities {
            filesystem: self.filesystem.iter().filter(|p| grant.filesystem.contains(p)).cloned().collect(),
            env: self.env.iter().filter(|v| grant.env.contains(v)).cloned().collect(),
            network: self.network && grant.network,
            stdio: self.stdio && grant.stdio,
        }
    }

    pub(super) fn resolve_paths(&mut self, base: &Path) {
        for path in &mut self.filesystem {
            *path = base.join(&*path);
        }
    }
}

/// A configuration value handed to a plugin. Plugins see strings; YAML
/// numbers and booleans are accepted and turned into their text.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum ConfigValue {
    String(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
}

impl fmt::Display for ConfigValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigValue::String(s) => f.write_str(s),
            ConfigValue::Integer(n) => write!(f, "{n}"),
            ConfigValue::Float(x) => write!(f, "{x}"),
            ConfigValue::Bool(b) => write!(f, "{b}"),
        }
    }
}
