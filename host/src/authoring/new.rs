//! `ringmaster plugin new`: a plugin project outside this repository that
//! builds with one command, passes `ringmaster plugin check` untouched, and
//! carries a test and a README. The SDK and the WIT are written into the
//! project (`sdk/`) from what the binary carries, which pins the project to
//! the contract this binary speaks and needs nothing but crates.io.

use super::embedded;
use crate::contract::ExtensionPoint;
use std::path::{Path, PathBuf};

/// The languages a project can be made in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
}

/// What `plugin new` was asked for.
#[derive(Debug, Clone)]
pub struct Project {
    /// The plugin's name: the crate, the installed `NAME.wasm` and `NAME.yaml`.
    pub name: String,
    pub kind: ExtensionPoint,
    pub lang: Lang,
}

/// The longest plugin name accepted.
const MAX_NAME: usize = 64;

impl Project {
    pub fn new(name: &str, kind: ExtensionPoint, lang: Lang) -> anyhow::Result<Project> {
        let valid = name.len() <= MAX_NAME
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !name.ends_with('-')
            && !name.contains("--");
        if !valid {
            anyhow::bail!(
                "{name:?} is not a plugin name: use lowercase letters, digits and single dashes, starting with a \
                 letter, at most {MAX_NAME} characters (e.g. `fair-share`)"
            );
        }
        Ok(Project { name: name.to_string(), kind, lang })
    }

    /// The file `cargo build` makes (dashes become underscores).
    pub fn artifact(&self) -> String {
        format!("{}.wasm", self.name.replace('-', "_"))
    }

    /// Every file of the project, relative to its directory.
    pub fn files(&self) -> Vec<(PathBuf, String)> {
        match self.lang {
            Lang::Rust => self.rust_files(),
        }
    }

    fn rust_files(&self) -> Vec<(PathBuf, String)> {
        let (source, description, config) = match self.kind {
            ExtensionPoint::Scheduler => (
                include_str!("templates/rust/scheduler.rs"),
                "Starts the best-ranked jobs, at most max-starts per round.",
                "\n  max-starts: \"4\"",
            ),
            ExtensionPoint::TimeoutEstimator => (
                include_str!("templates/rust/timeout-estimator.rs"),
                "Limits a job to a multiple of the slow runs of similar jobs.",
                "\n  factor: \"2.0\"\n  min-samples: \"5\"",
            ),
            ExtensionPoint::RetryPolicy => (
                include_str!("templates/rust/retry-policy.rs"),
                "Retries after a delay that grows with each attempt.",
                "\n  delay-ms: \"5000\"\n  give-up-on: could-not-start",
            ),
            ExtensionPoint::HookHandler => (
                include_str!("templates/rust/hook-handler.rs"),
                "Denies jobs whose prompt is too long.",
                "\n  events: JobSubmit\n  max-prompt-bytes: \"100000\"",
            ),
            ExtensionPoint::Commands => {
                (include_str!("templates/rust/commands.rs"), "Adds /explain, which explains code in a job.", " {}")
            }
        };
        let select = if self.kind.is_policy() {
            format!(
                "\nThe engine uses a {kind} once `ringmaster.yaml` selects it:\n\n```yaml\nplugins:\n  policies:\n    \
                 {kind}: {name}\n```\n",
                kind = self.kind,
                name = self.name
            )
        } else {
            format!("\nEvery loaded {} plugin takes part; there is nothing to select.\n", self.kind)
        };
        let fill = |template: &str| {
            template
                .replace("{{name}}", &self.name)
                .replace("{{Type}}", &type_name(&self.name))
                .replace("{{crate}}", self.artifact().trim_end_matches(".wasm"))
                .replace("{{kind}}", self.kind.interface())
                .replace("{{contract}}", &embedded::contract())
                .replace("{{description}}", description)
                .replace("{{config}}", config)
                .replace("{{select}}", &select)
        };
        let mut files = vec![
            ("Cargo.toml".into(), fill(include_str!("templates/rust/Cargo.toml"))),
            (format!("{}.yaml", self.name).into(), fill(include_str!("templates/rust/manifest.yaml"))),
            ("src/lib.rs".into(), fill(source)),
            ("README.md".into(), fill(include_str!("templates/rust/README.md"))),
            (".gitignore".into(), include_str!("templates/rust/gitignore").to_string()),
        ];
        files.extend(embedded::SDK.iter().map(|(path, text)| (Path::new("sdk").join(path), text.to_string())));
        files.extend(embedded::WIT.iter().map(|(name, text)| (Path::new("sdk/wit").join(name), text.to_string())));
        files
    }

    /// Writes the project into `dir`, which must not exist or be empty.
    pub fn create(&self, dir: &Path) -> anyhow::Result<()> {
        if dir.exists() && std::fs::read_dir(dir).map(|mut entries| entries.next().is_some()).unwrap_or(true) {
            anyhow::bail!("{} exists and is not empty; choose another directory", dir.display());
        }
        super::write_all(dir, &self.files(), false).map(drop)
    }
}

/// `fair-share` -> `FairShare`.
fn type_name(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|first| first.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_make_types() {
        for bad in ["", "Fair", "9lives", "a_b", "a--b", "a-", "a b", &"a".repeat(65)] {
            assert!(Project::new(bad, ExtensionPoint::Scheduler, Lang::Rust).is_err(), "{bad:?}");
        }
        let project = Project::new("fair-share2", ExtensionPoint::Scheduler, Lang::Rust).unwrap();
        assert_eq!(project.artifact(), "fair_share2.wasm");
        assert_eq!(type_name("fair-share2"), "FairShare2");
    }

    #[test]
    fn every_kind_fills_every_placeholder_and_parses_its_manifest() {
        for &kind in ExtensionPoint::ALL {
            let project = Project::new("my-plugin", kind, Lang::Rust).unwrap();
            let files = project.files();
            for (path, text) in &files {
                assert!(!text.contains("{{"), "{kind}: {} keeps a placeholder", path.display());
            }
            let manifest = &files.iter().find(|(path, _)| path == Path::new("my-plugin.yaml")).unwrap().1;
            let parsed: crate::plugin::manifest::Manifest =
                crate::config::parse_yaml(Path::new("my-plugin.yaml"), manifest).unwrap();
            assert!(parsed.description.is_some(), "{kind}");
            let readme = &files.iter().find(|(path, _)| path == Path::new("README.md")).unwrap().1;
            assert_eq!(readme.contains("policies:"), kind.is_policy(), "{kind}");
        }
    }

    #[test]
    fn a_project_is_never_written_over_another() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes"), "mine").unwrap();
        let project = Project::new("p", ExtensionPoint::Commands, Lang::Rust).unwrap();
        let err = project.create(dir.path()).unwrap_err().to_string();
        assert!(err.contains("is not empty"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
