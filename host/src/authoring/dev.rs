//! `ringmaster plugin dev`: the plugin author's loop. It watches a plugin
//! project, rebuilds on save (the compiler's messages appear as they come),
//! checks each build exactly as the engine will load it, installs it into
//! the engine's plugin directory (manifest, then component, each through a
//! rename), and says what the engine made of it. A build that does not
//! compile or does not pass the checks is never installed: the previous one
//! keeps serving.
//!
//! The engine's verdict is asked over its socket ([`Client::plugin`]): the
//! number of loads that ended before the install, then a wait for the next
//! one, which is either this build (loaded) or a rejection with its reason.
//! No engine running is no error: the build is checked and installed, and
//! the next engine loads it. With `--simulate W`, each checked build is
//! also compared with the built-in policies on workload W (see
//! [`crate::simulate`]) before it is installed.
//!
//! Length: a little over 400 lines, one round's steps (build, stage, check,
//! simulate, install, verdict) kept together in the order they run.

use crate::config::PluginsConfig;
use crate::plugin::registry::PluginHost;
use crate::remote::client::{Client, ClientError};
use crate::remote::{PluginState, socket_path};
use crate::simulate::{self, Policy, metrics, workload::Workload};
use crate::watch::{DirWatcher, Watched, watch_dirs};
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

/// How long the engine may take to load a build before `dev` stops waiting.
const VERDICT_WAIT: Duration = Duration::from_secs(30);
/// Quiet time after the last save before a rebuild (editors write in steps).
const DEBOUNCE: Duration = Duration::from_millis(150);

pub struct Options {
    /// The plugin project (Rust, Python or JavaScript, as `plugin new` makes them).
    pub project: PathBuf,
    /// Where to install; default: the engine's first plugin directory.
    pub plugins_dir: Option<PathBuf>,
    /// The engine's state directory (its socket).
    pub state_dir: PathBuf,
    /// The configuration the checks load with (grants, limits, config values).
    pub plugins: PluginsConfig,
    pub cache_dir: Option<PathBuf>,
    /// A workload to replay under each checked build and the built-in
    /// policies (`ringmaster simulate`), the comparison printed.
    pub simulate: Option<PathBuf>,
}

/// How a project builds, by its language.
enum Build {
    /// `cargo build --release --target wasm32-wasip2`.
    Cargo,
    /// componentize-py on `src/app.py` for `world` (from pyproject.toml's
    /// `[tool.ringmaster]`).
    Python { world: String },
    /// `npm run build` (package.json's script).
    Npm,
}

/// A plugin project: what `plugin new` makes, in any of its languages.
struct Project {
    dir: PathBuf,
    /// The package name: the plugin's name.
    name: String,
    build: Build,
    /// What the build makes.
    artifact: PathBuf,
    /// `NAME.yaml` beside the project file, if there is one.
    manifest: Option<PathBuf>,
}

impl Project {
    fn describe(dir: &Path) -> anyhow::Result<Project> {
        // Canonical, as cargo names manifests (`../plugin` included).
        let dir = dir.canonicalize().with_context(|| format!("no plugin project at {}", dir.display()))?;
        let (name, build, artifact) = if dir.join("Cargo.toml").is_file() {
            Self::cargo(&dir)?
        } else if dir.join("pyproject.toml").is_file() {
            let text = std::fs::read_to_string(dir.join("pyproject.toml"))?;
            let project: toml::Table = text.parse().context("pyproject.toml")?;
            let name = project.get("project").and_then(|p| p.get("name")).and_then(|n| n.as_str());
            let name = name.context("pyproject.toml names no project (`[project] name = ...`)")?.to_string();
            let world = project.get("tool").and_then(|t| t.get("ringmaster")).and_then(|r| r.get("world"));
            let world = world.and_then(|w| w.as_str()).context(
                "pyproject.toml does not say which world the plugin implements: add `[tool.ringmaster] world = \
                 \"scheduler-plugin\"` (or another world of sdk/wit/worlds.wit)",
            )?;
            let artifact = dir.join(format!("{name}.wasm"));
            (name, Build::Python { world: world.to_string() }, artifact)
        } else if dir.join("package.json").is_file() {
            let package: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dir.join("package.json"))?).context("package.json")?;
            let name = package["name"].as_str().context("package.json has no name")?.to_string();
            anyhow::ensure!(package["scripts"]["build"].is_string(), "package.json has no build script");
            let artifact = dir.join(format!("{name}.wasm"));
            (name, Build::Npm, artifact)
        } else {
            anyhow::bail!(
                "no plugin project at {}: expected Cargo.toml, pyproject.toml or package.json \
                 (`ringmaster plugin new` makes one)",
                dir.display()
            );
        };
        let manifest = Some(dir.join(format!("{name}.yaml"))).filter(|path| path.is_file());
        Ok(Project { dir, name, build, artifact, manifest })
    }

    /// Name and artifact of a Cargo project, as cargo describes it.
    fn cargo(dir: &Path) -> anyhow::Result<(String, Build, PathBuf)> {
        let cargo_toml = dir.join("Cargo.toml");
        let out = std::process::Command::new(cargo())
            .args(["metadata", "--no-deps", "--format-version", "1", "--manifest-path"])
            .arg(&cargo_toml)
            .stderr(Stdio::inherit())
            .output()
            .context("cannot run cargo")?;
        anyhow::ensure!(out.status.success(), "{} is not a Cargo project cargo can read", dir.display());
        let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).context("cargo metadata")?;
        let package = metadata["packages"]
            .as_array()
            .and_then(|packages| packages.iter().find(|p| p["manifest_path"].as_str() == cargo_toml.to_str()))
            .context("cargo metadata names no package for the project's Cargo.toml")?;
        let name = package["name"].as_str().context("a package without a name")?.to_string();
        let target = PathBuf::from(metadata["target_directory"].as_str().context("no target directory")?);
        let artifact = target.join("wasm32-wasip2/release").join(format!("{}.wasm", name.replace('-', "_")));
        Ok((name, Build::Cargo, artifact))
    }

    /// The command that builds the project, run from its directory.
    fn build_command(&self) -> tokio::process::Command {
        match &self.build {
            Build::Cargo => {
                let mut cmd = tokio::process::Command::new(cargo());
                cmd.args(["build", "--release", "--target", "wasm32-wasip2"]);
                cmd
            }
            Build::Python { world } => {
                let mut cmd = tokio::process::Command::new("componentize-py");
                cmd.args(["-d", "sdk/wit", "-w", world, "componentize", "app", "-p", "src", "-p", "sdk", "-o"]);
                cmd.arg(&self.artifact);
                cmd
            }
            Build::Npm => {
                let mut cmd = tokio::process::Command::new("npm");
                cmd.args(["run", "--silent", "build"]);
                cmd
            }
        }
    }
}

fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// The engine, when one serves the state directory, and what it watches.
struct Engine {
    client: Client,
    plugin_dirs: Vec<PathBuf>,
    pid: u32,
}

impl Engine {
    fn find(state_dir: &Path) -> Option<Engine> {
        let mut client = Client::connect(&socket_path(state_dir), None).ok()?;
        let status = client.engine().ok()?;
        Some(Engine { client, plugin_dirs: status.settings.plugin_dirs, pid: status.pid })
    }
}

/// Runs the loop until SIGINT or SIGTERM.
pub fn run(options: Options) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(dev(options))
}

async fn dev(options: Options) -> anyhow::Result<()> {
    let project = Project::describe(&options.project)?;
    // A bad workload is said at once, not after the first build.
    let workload = options.simulate.as_deref().map(Workload::load).transpose()?;
    let mut engine = Engine::find(&options.state_dir);
    let plugins_dir = match (&options.plugins_dir, &engine) {
        (Some(dir), _) => std::path::absolute(dir)?,
        (None, Some(engine)) => engine.plugin_dirs.first().cloned().context(
            "the engine has no plugin directory; pass --plugins DIR (and add it to plugins.dirs in ringmaster.yaml)",
        )?,
        (None, None) => anyhow::bail!(
            "no engine serves {}; pass --plugins DIR to install there, or run where the project's engine serves",
            options.state_dir.display()
        ),
    };
    match &engine {
        Some(running) if !running.plugin_dirs.iter().any(|dir| same_dir(dir, &plugins_dir)) => {
            say(&format!(
                "the engine (pid {}) does not watch {}: builds go there, but it will not load them",
                running.pid,
                plugins_dir.display()
            ));
            engine = None;
        }
        Some(running) => {
            say(&format!("installing into {} for the engine (pid {})", plugins_dir.display(), running.pid))
        }
        None => say(&format!("no engine runs: installing into {} for the next one", plugins_dir.display())),
    }

    // The checks: the engine's own loader, on a staging directory.
    let staging = tempfile::tempdir().context("cannot make a staging directory")?;
    let simulation = workload.map(|workload| {
        Arc::new(Simulation { workload, plugins: options.plugins.clone(), cache_dir: options.cache_dir.clone() })
    });
    let config = PluginsConfig { dirs: vec![staging.path().to_path_buf()], ..options.plugins };
    let checker = PluginHost::new(config, options.cache_dir)?;
    let staging_dir = staging.path().to_path_buf();
    let mut dev = Dev { project, checker, staging: staging_dir, plugins_dir, engine, simulation };

    let (changed, mut changes) = mpsc::unbounded_channel();
    let _watchers = watch(&dev.project, changed)?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut since = Instant::now();
    loop {
        tokio::select! {
            // Dropping a round midway kills its build (see `build`).
            () = dev.round(since) => {}
            _ = interrupt.recv() => break,
            _ = terminate.recv() => break,
        }
        say(&format!("watching {} (Ctrl-C to stop)", dev.project.dir.display()));
        tokio::select! {
            Some(at) = changes.recv() => {
                since = at;
                // Saves that came during the build are in this round too.
                while changes.try_recv().is_ok() {}
            }
            _ = interrupt.recv() => break,
            _ = terminate.recv() => break,
        }
    }
    say("stopped");
    Ok(())
}

struct Dev {
    project: Project,
    checker: Arc<PluginHost>,
    staging: PathBuf,
    plugins_dir: PathBuf,
    engine: Option<Engine>,
    simulation: Option<Arc<Simulation>>,
}

/// `--simulate`: the workload, and what its plugin runs load with.
struct Simulation {
    workload: Workload,
    plugins: PluginsConfig,
    cache_dir: Option<PathBuf>,
}

impl Simulation {
    /// The comparison table of the built-in policies and `build`.
    fn compare(&self, build: &Path) -> anyhow::Result<String> {
        let jobs = self.workload.jobs();
        let mut summaries = Vec::new();
        for policy in [Policy::Builtin, Policy::Plugin(build.to_path_buf())] {
            let run = simulate::run(&self.workload, &jobs, &policy, &self.plugins, self.cache_dir.clone())?;
            summaries.push(metrics::summarise(&self.workload, &jobs, &run));
        }
        Ok(metrics::table(&summaries))
    }
}

impl Dev {
    /// One build, check, install and verdict; `since`: the save it is for.
    async fn round(&mut self, since: Instant) {
        let name = self.project.name.clone();
        say(&format!("building {name}"));
        match build(&self.project).await {
            Ok(true) => {}
            Ok(false) => return say("build failed (see the compiler above); the engine keeps its current build"),
            Err(err) => return say(&format!("cannot build: {err:#}")),
        }
        let files = match self.stage() {
            Ok(files) => files,
            Err(err) => return say(&format!("cannot stage the build: {err:#}")),
        };
        // Off the runtime: a plugin's calls block on wasmtime's own.
        let (checker, staged) = (self.checker.clone(), self.staging.join(format!("{name}.wasm")));
        let checked = blocking(move || checker.load(&staged).map(|()| checker.get(&name))).await;
        let identity = match checked {
            Ok(plugin) => plugin.expect("a plugin that loaded is active").identity.clone(),
            Err(err) => {
                return say(&format!(
                    "rejected by the checks: {err}; not installed, the engine keeps its current build"
                ));
            }
        };
        say(&format!("checked: {identity}"));
        self.simulate().await;

        let name = self.project.name.clone();
        let before = match self.engine.take() {
            Some(mut engine) => {
                let (engine, before) = blocking(move || {
                    let before = engine.client.plugin(&name, None, Duration::ZERO).map(|s| attempts(&s));
                    (engine, before)
                })
                .await;
                self.engine = Some(engine);
                before.ok()
            }
            None => None,
        };
        match super::write_all(&self.plugins_dir, &files, true) {
            Ok(changed) if changed.is_empty() => return say("unchanged: this build is installed already"),
            Ok(_) => {
                say(&format!("installed {}", self.plugins_dir.join(format!("{}.wasm", self.project.name)).display()))
            }
            Err(err) => return say(&format!("cannot install: {err:#}")),
        }
        let (Some(engine), Some(before)) = (self.engine.take(), before) else { return };
        let (engine, verdict) = blocking(move || {
            let mut engine = engine;
            let verdict = verdict(&mut engine.client, &identity.name, &identity.hash, before);
            (engine, verdict)
        })
        .await;
        self.engine = Some(engine);
        let elapsed = since.elapsed().as_secs_f64();
        match verdict {
            Ok(Verdict::Loaded(state)) => say(&format!(
                "engine: loaded {}{} (sha256:{}), {elapsed:.2} s after the change",
                state.name,
                state.version.map(|v| format!("@{v}")).unwrap_or_default(),
                short(state.active_hash.as_deref().unwrap_or_default())
            )),
            Ok(Verdict::Rejected(state)) => say(&format!(
                "engine: rejected: {}; it keeps {}",
                state.load_error.unwrap_or_default(),
                state.active_hash.map_or("no build of it".into(), |h| format!("sha256:{}", short(&h)))
            )),
            Ok(Verdict::NoAnswer) => say(&format!("engine: no load within {} s", VERDICT_WAIT.as_secs())),
            Err(err) => {
                say(&format!("engine: {err}; no more verdicts"));
                self.engine = None;
            }
        }
    }

    /// With `--simulate`, the staged build against the built-in policies.
    async fn simulate(&self) {
        let Some(simulation) = self.simulation.clone() else { return };
        let build = self.staging.join(format!("{}.wasm", self.project.name));
        match blocking(move || simulation.compare(&build)).await {
            Ok(table) => say(&format!("simulated:\n{}", table.trim_end())),
            Err(err) => say(&format!("cannot simulate: {err:#}")),
        }
    }

    /// Copies the build and its manifest into the staging directory as the
    /// engine will see them; returns them as files to install.
    fn stage(&self) -> anyhow::Result<Vec<(PathBuf, Vec<u8>)>> {
        let name = &self.project.name;
        let mut files = Vec::new();
        if let Some(manifest) = &self.project.manifest {
            files.push((format!("{name}.yaml").into(), std::fs::read(manifest)?));
        }
        let wasm = std::fs::read(&self.project.artifact)
            .with_context(|| format!("cannot read {}", self.project.artifact.display()))?;
        files.push((format!("{name}.wasm").into(), wasm));
        super::write_all(&self.staging, &files, true)?;
        Ok(files)
    }
}

fn attempts(state: &Option<PluginState>) -> u64 {
    state.as_ref().map_or(0, |state| state.load_attempts)
}

enum Verdict {
    Loaded(PluginState),
    Rejected(PluginState),
    NoAnswer,
}

/// Waits for the engine's first load, after `before` ended, that took
/// build `hash` or rejected what it found. A load that took something else
/// (the new manifest with the old build, say) is not the verdict: the next one is.
fn verdict(client: &mut Client, name: &str, hash: &str, mut before: u64) -> Result<Verdict, ClientError> {
    let deadline = Instant::now() + VERDICT_WAIT;
    loop {
        let wait = deadline.saturating_duration_since(Instant::now());
        let state = client.plugin(name, Some(before), wait)?;
        match state {
            Some(state) if state.load_attempts > before => {
                if state.load_error.is_some() {
                    return Ok(Verdict::Rejected(state));
                }
                if state.active_hash.as_deref() == Some(hash) {
                    return Ok(Verdict::Loaded(state));
                }
                before = state.load_attempts;
            }
            _ => return Ok(Verdict::NoAnswer),
        }
    }
}

/// Builds the project, the compiler's output going straight to stderr.
/// The build runs in a process group of its own, killed whole if the round
/// is dropped (Ctrl-C): no rustc (or node) is left behind.
async fn build(project: &Project) -> anyhow::Result<bool> {
    let mut command = project.build_command();
    let program = command.as_std().get_program().to_string_lossy().into_owned();
    let child = command.current_dir(&project.dir).stdin(Stdio::null()).stdout(Stdio::null()).process_group(0).spawn();
    let mut child = match child {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
            "{program} is not installed (on PATH); {}",
            match project.build {
                Build::Cargo => "install Rust with rustup".to_string(),
                Build::Python { .. } => format!("pip install {}", super::new::COMPONENTIZE_PY),
                Build::Npm => "install Node.js and npm".to_string(),
            }
        ),
        child => child.with_context(|| format!("cannot run {program}"))?,
    };
    let group = child.id().map(|pid| nix::unistd::Pid::from_raw(pid as i32));
    let guard = scopeguard::guard(group, |group| {
        if let Some(group) = group {
            let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        }
    });
    let status = child.wait().await?;
    scopeguard::ScopeGuard::into_inner(guard);
    Ok(status.success())
}

/// The files beside `src/` a build reads: the project file and the manifest.
const PROJECT_FILES: [&str; 3] = ["Cargo.toml", "pyproject.toml", "package.json"];

/// Watches what a build reads: the project file and the manifest, and `src/`.
fn watch(project: &Project, changed: mpsc::UnboundedSender<Instant>) -> anyhow::Result<Vec<DirWatcher>> {
    let mut watchers = Vec::new();
    for (dir, recursive) in [(project.dir.clone(), false), (project.dir.join("src"), true)] {
        let changed = changed.clone();
        let watched = Watched {
            thread: "plugin-dev-watch",
            dirs: std::slice::from_ref(&dir),
            recursive,
            create_missing: false,
            debounce: DEBOUNCE,
        };
        // Not `Cargo.lock`, `target/` or `NAME.wasm`, which the build itself
        // writes, nor what running tests leaves in `src/` (`__pycache__`).
        let relevant = move |path: &Path| {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let read = if recursive {
                !name.starts_with('.') && !path.components().any(|c| c.as_os_str() == "__pycache__")
            } else {
                PROJECT_FILES.contains(&name.as_str()) || name.ends_with(".yaml")
            };
            read.then_some(())
        };
        let watcher = watch_dirs(watched, relevant, move |()| {
            let _ = changed.send(Instant::now());
        })
        .with_context(|| format!("cannot watch {}", dir.display()))?;
        watchers.push(watcher);
    }
    Ok(watchers)
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(work).await.expect("a blocking engine call panicked")
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

fn short(hash: &str) -> &str {
    &hash[..12.min(hash.len())]
}

/// One line of what `dev` does, on stdout (the compiler has stderr).
fn say(line: &str) {
    println!("{line}"); // stdout-ok: CLI output
}
