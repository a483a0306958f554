//! `NAME.yaml`, the optional manifest beside `NAME.wasm`.
//!
//! ```yaml
//! description: Honours priority, then shares capacity between job trees.
//! version: 0.1.0
//! config:
//!   max-per-root: 8
//! limits:
//!   policy-deadline-ms: 50
//! capabilities:
//!   env: [HOME]
//! instances: reused
//! ```
//!
//! Without a manifest a plugin has no description, no config, the host's
//! default limits and no capabilities.

use crate::config::{Capabilities, ConfigError, ConfigValue, parse_yaml};
use crate::untrusted;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Manifest {
    pub description: Option<String>,
    /// The author's version label; the host also identifies every build by
    /// its content hash.
    pub version: Option<String>,
    /// Values the plugin reads through `host.config-get`.
    pub config: BTreeMap<String, ConfigValue>,
    pub limits: ManifestLimits,
    /// WASI capabilities the plugin asks for; the host's config must grant them.
    pub capabilities: Capabilities,
    /// Whether calls may share instances (see [`Instances`]).
    pub instances: Instances,
}

/// How a plugin's calls get their instance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Instances {
    /// A fresh instance per call: nothing a call leaves in memory reaches
    /// the next. Microseconds for a compiled plugin.
    #[default]
    PerCall,
    /// An instance that ended a call cleanly may serve later calls of the
    /// same build, so module-level state persists between them. For plugins
    /// that carry a language runtime (Python, JavaScript), whose fresh
    /// instance costs a millisecond of page faults before the plugin's code
    /// runs. The author declares it safe: the plugin keeps nothing between
    /// calls that changes its answers.
    Reused,
}

/// Limits a plugin asks for instead of the host's defaults. The host caps
/// them at its configured ceilings.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct ManifestLimits {
    pub policy_deadline_ms: Option<u64>,
    pub hook_deadline_ms: Option<u64>,
    pub memory_mib: Option<u64>,
}

impl Manifest {
    /// Reads the manifest at `path` (as [`untrusted`] input, symlinks
    /// followed only within `roots`); a missing file is an empty manifest.
    pub fn load(path: &Path, roots: &[PathBuf]) -> Result<Manifest, ConfigError> {
        if std::fs::symlink_metadata(path).is_err_and(|err| err.kind() == std::io::ErrorKind::NotFound) {
            return Ok(Manifest::default());
        }
        let text = untrusted::read_text(path, Some(roots), untrusted::MAX_TEXT_BYTES)
            .map_err(|message| ConfigError::Invalid { path: path.to_path_buf(), message })?;
        parse_yaml(path, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_manifest_is_empty() {
        let manifest = Manifest::load(Path::new("/nonexistent/x.yaml"), &[]).unwrap();
        assert!(manifest.config.is_empty() && manifest.description.is_none());
    }

    #[test]
    fn full_manifest_parses() {
        let text =
            "description: d\nversion: 1.2.0\nconfig: {a: 1}\nlimits: {memory-mib: 8}\ncapabilities: {env: [HOME]}\n";
        let manifest: Manifest = parse_yaml(Path::new("p.yaml"), text).unwrap();
        assert_eq!(manifest.limits.memory_mib, Some(8));
        assert_eq!(manifest.capabilities.env, ["HOME"]);
        assert_eq!(manifest.config["a"].to_string(), "1");
    }

    #[test]
    fn broken_manifest_names_file_and_line() {
        let err = parse_yaml::<Manifest>(Path::new("p.yaml"), "config:\n  a: [1\n").unwrap_err();
        assert!(err.to_string().starts_with("p.yaml: line"), "{err}");
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_text_gives_a_manifest_or_an_error_naming_the_file(text in "[ -~\n]{0,300}") {
                if let Err(err) = parse_yaml::<Manifest>(Path::new("p.yaml"), &text) {
                    prop_assert!(err.to_string().starts_with("p.yaml: "));
                }
                if let Ok(config) = parse_yaml::<crate::config::Config>(Path::new("r.yaml"), &text) {
                    let _ = config.validate();
                }
            }
        }
    }
}
