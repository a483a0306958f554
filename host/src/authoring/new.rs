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
    /// Built with componentize-py.
    Python,
    /// Built with componentize-js.
    Js,
}

/// The guest toolchains a Python or JavaScript project names, at the
/// versions this binary was tested with (`cargo xtask plugins` installs
/// the same).
pub const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";
pub const COMPONENTIZE_JS: &str = "0.23.0";

/// What `plugin new` was asked for.
#[derive(Debug, Clone)]
pub struct Project {
    /// The plugin's name: the package, the installed `NAME.wasm` and `NAME.yaml`.
    pub name: String,
    pub kind: ExtensionPoint,
    pub lang: Lang,
}

/// The longest plugin name accepted.
const MAX_NAME: usize = 64;

/// One kind's template: the plugin and its test in each language, what the
/// manifest says and configures.
struct Template {
    rust: &'static str,
    python: (&'static str, &'static str),
    js: (&'static str, &'static str),
    description: &'static str,
    config: &'static str,
}

fn template(kind: ExtensionPoint) -> Template {
    macro_rules! files {
        ($kind:literal) => {
            (
                include_str!(concat!("templates/rust/", $kind, ".rs")),
                (
                    include_str!(concat!("templates/python/", $kind, ".py")),
                    include_str!(concat!("templates/python/", $kind, "_test.py")),
                ),
                (
                    include_str!(concat!("templates/js/", $kind, ".js")),
                    include_str!(concat!("templates/js/", $kind, ".test.js")),
                ),
            )
        };
    }
    let ((rust, python, js), description, config) = match kind {
        ExtensionPoint::Scheduler => {
            (files!("scheduler"), "Starts the best-ranked jobs, at most max-starts per round.", "\n  max-starts: \"4\"")
        }
        ExtensionPoint::TimeoutEstimator => (
            files!("timeout-estimator"),
            "Limits a job to a multiple of the slow runs of similar jobs.",
            "\n  factor: \"2.0\"\n  min-samples: \"5\"",
        ),
        ExtensionPoint::RetryPolicy => (
            files!("retry-policy"),
            "Retries after a delay that grows with each attempt.",
            "\n  delay-ms: \"5000\"\n  give-up-on: could-not-start",
        ),
        ExtensionPoint::HookHandler => (
            files!("hook-handler"),
            "Denies jobs whose prompt is too long.",
            "\n  events: JobSubmit\n  max-prompt-bytes: \"100000\"",
        ),
        ExtensionPoint::Commands => (files!("commands"), "Adds /explain, which explains code in a job.", " {}"),
    };
    Template { rust, python, js, description, config }
}

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

    /// The contract's world the plugin targets, e.g. `scheduler-plugin`.
    fn world(&self) -> String {
        format!("{}-plugin", self.kind.interface())
    }

    /// The commands that build, test and check the project, from its directory.
    pub fn steps(&self) -> Vec<String> {
        let (name, world) = (&self.name, self.world());
        match self.lang {
            Lang::Rust => vec![
                "cargo build --release --target wasm32-wasip2".into(),
                "cargo test".into(),
                format!("ringmaster plugin check target/wasm32-wasip2/release/{}", self.artifact()),
            ],
            Lang::Python => vec![
                format!("componentize-py -d sdk/wit -w {world} componentize app -p src -p sdk -o {name}.wasm"),
                format!("componentize-py -d sdk/wit -w {world} bindings bindings"),
                "PYTHONPATH=bindings:sdk:src python3 -m unittest discover -s src".into(),
                format!("ringmaster plugin check {name}.wasm"),
            ],
            Lang::Js => vec![
                "npm install".into(),
                "npm run build".into(),
                "npm test".into(),
                format!("ringmaster plugin check {name}.wasm"),
            ],
        }
    }

    /// Every file of the project, relative to its directory.
    pub fn files(&self) -> Vec<(PathBuf, String)> {
        let template = template(self.kind);
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
        // A language runtime answers in milliseconds, not microseconds.
        let limits = match self.lang {
            Lang::Rust => "",
            Lang::Python | Lang::Js => {
                "\nlimits:\n  # A language runtime answers slower than compiled Rust.\n  policy-deadline-ms: 200\n# A fresh \
                 instance costs a millisecond before the plugin's code runs: calls reuse\n# idle ones. Keep nothing \
                 between calls that changes an answer.\ninstances: reused"
            }
        };
        let fill = |text: &str| {
            text.replace("{{name}}", &self.name)
                .replace("{{Type}}", &type_name(&self.name))
                .replace("{{crate}}", self.artifact().trim_end_matches(".wasm"))
                .replace("{{kind}}", self.kind.interface())
                .replace("{{world}}", &self.world())
                .replace("{{contract}}", &embedded::contract())
                .replace("{{description}}", template.description)
                .replace("{{config}}", template.config)
                .replace("{{limits}}", limits)
                .replace("{{select}}", &select)
                .replace("{{componentize_py}}", COMPONENTIZE_PY)
                .replace("{{componentize_js}}", COMPONENTIZE_JS)
        };
        let manifest = (format!("{}.yaml", self.name).into(), fill(include_str!("templates/manifest.yaml")));
        let mut files: Vec<(PathBuf, String)> = match self.lang {
            Lang::Rust => vec![
                ("Cargo.toml".into(), fill(include_str!("templates/rust/Cargo.toml"))),
                ("src/lib.rs".into(), fill(template.rust)),
                ("README.md".into(), fill(include_str!("templates/rust/README.md"))),
                (".gitignore".into(), include_str!("templates/rust/gitignore").to_string()),
            ],
            Lang::Python => vec![
                ("pyproject.toml".into(), fill(include_str!("templates/python/pyproject.toml"))),
                ("src/app.py".into(), fill(template.python.0)),
                ("src/test_app.py".into(), fill(template.python.1)),
                ("README.md".into(), fill(include_str!("templates/python/README.md"))),
                (".gitignore".into(), include_str!("templates/python/gitignore").to_string()),
            ],
            Lang::Js => vec![
                ("package.json".into(), fill(include_str!("templates/js/package.json"))),
                ("src/plugin.js".into(), fill(template.js.0)),
                ("src/plugin.test.js".into(), fill(template.js.1)),
                ("README.md".into(), fill(include_str!("templates/js/README.md"))),
                (".gitignore".into(), include_str!("templates/js/gitignore").to_string()),
            ],
        };
        files.push(manifest);
        let sdk = match self.lang {
            Lang::Rust => embedded::SDK,
            Lang::Python => embedded::PYTHON_SDK,
            Lang::Js => embedded::JS_SDK,
        };
        files.extend(sdk.iter().map(|(path, text)| (Path::new("sdk").join(path), text.to_string())));
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
        for (&kind, lang) in
            ExtensionPoint::ALL.iter().flat_map(|k| [Lang::Rust, Lang::Python, Lang::Js].map(|l| (k, l)))
        {
            let project = Project::new("my-plugin", kind, lang).unwrap();
            let files = project.files();
            for (path, text) in &files {
                assert!(!text.contains("{{"), "{kind}: {} keeps a placeholder", path.display());
            }
            let manifest = &files.iter().find(|(path, _)| path == Path::new("my-plugin.yaml")).unwrap().1;
            let parsed: crate::plugin::manifest::Manifest =
                crate::config::parse_yaml(Path::new("my-plugin.yaml"), manifest).unwrap();
            assert!(parsed.description.is_some(), "{kind}");
            assert_eq!(parsed.limits.policy_deadline_ms.is_some(), lang != Lang::Rust, "{kind} {lang:?}");
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
