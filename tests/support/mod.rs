//! Helpers shared by the integration tests.

pub mod hostile;
pub mod mcp_client;

use ringmaster::config::{Config, EngineConfig, parse_yaml};
use ringmaster::contract::JobInfo;
use ringmaster::contract::{Failure, FailureKind, History, SimilarJobs, SlotLoad};
use ringmaster::engine::{Engine, EngineOptions, Wiring};
use ringmaster::executor::agent::AgentProfile;
use ringmaster::hooks::{Hooks, HooksOptions};
use ringmaster::job::{JobRecord, JobSpec};
use ringmaster::plugin::registry::{PluginEvent, PluginHost};
use ringmaster::policy::Policies;
use ringmaster::store::Store;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

/// Every tool `ringmaster serve` offers.
pub const TOOLS: [&str; 26] = [
    "job_submit",
    "job_submit_batch",
    "job_run",
    "job_status",
    "job_wait",
    "job_result",
    "job_output",
    "job_list",
    "job_cancel",
    "job_retry",
    "job_diff",
    "job_merge",
    "job_discard",
    "checkpoint_restore",
    "queue_pause",
    "queue_resume",
    "schedule_create",
    "schedule_list",
    "schedule_delete",
    "schedule_pause",
    "schedule_resume",
    "engine_stats",
    "plugin_list",
    "command_list",
    "command_run",
    "hook_list",
];

/// Call deadline for tests that do not test deadlines.
pub const GENEROUS_DEADLINE_MS: u64 = 2_000;

/// Generous bound for anything we wait on: machines here are slow and busy.
pub const WAIT: Duration = Duration::from_secs(30);

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// A plugin built by `cargo xtask plugins`: an example (in Rust, Python or
/// JavaScript) or a test fixture.
pub fn built(name: &str) -> PathBuf {
    for dir in ["plugins", "guest-plugins", "test-plugins"] {
        let path = target_dir().join(dir).join(format!("{name}.wasm"));
        if path.is_file() {
            return path;
        }
    }
    panic!("plugin {name} is not built; run `cargo xtask plugins` (or `cargo xtask test`) first");
}

/// The compiled-code cache the tests' plugin hosts share: a Python or
/// JavaScript component takes seconds to compile, and the tests load each
/// many times. Entries are keyed by the component's hash and the engine's.
pub fn compile_cache() -> PathBuf {
    target_dir().join("test-compile-cache")
}

/// Copies `source` to `dir/NAME.wasm` through a rename, as a careful tool would.
pub fn install(dir: &Path, name: &str, source: &Path) -> PathBuf {
    let dest = dir.join(format!("{name}.wasm"));
    let tmp = dir.join(format!(".{name}.wasm.tmp"));
    std::fs::copy(source, &tmp).unwrap();
    std::fs::rename(&tmp, &dest).unwrap();
    dest
}

pub fn write_manifest(dir: &Path, name: &str, yaml: &str) {
    let tmp = dir.join(format!(".{name}.yaml.tmp"));
    std::fs::write(&tmp, yaml).unwrap();
    std::fs::rename(&tmp, dir.join(format!("{name}.yaml"))).unwrap();
}

/// A plugin host over a fresh temporary plugin directory.
pub struct TestHost {
    pub dir: tempfile::TempDir,
    pub host: Arc<PluginHost>,
    pub events: mpsc::Receiver<PluginEvent>,
}

impl TestHost {
    /// `plugins_yaml` is the `plugins:` section of a ringmaster.yaml (without
    /// `dirs`, which is the temporary directory).
    pub fn new(plugins_yaml: &str) -> TestHost {
        let dir = tempfile::tempdir().unwrap();
        let text = format!("plugins:\n{}", indent(plugins_yaml));
        let mut config: Config = parse_yaml(Path::new("test.yaml"), &text).unwrap();
        config.plugins.dirs = vec![dir.path().to_path_buf()];
        if !plugins_yaml.contains("limits:") {
            // Deadlines are wall-clock time: on a busy test machine a healthy
            // call can be descheduled past the 20 ms default. Tests of the
            // deadline itself set it in the plugin's manifest.
            config.plugins.limits.policy_deadline_ms = GENEROUS_DEADLINE_MS;
            config.plugins.limits.hook_deadline_ms = GENEROUS_DEADLINE_MS;
        }
        let host = PluginHost::new(config.plugins, Some(compile_cache())).unwrap();
        let events = host.subscribe();
        TestHost { dir, host, events }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Installs a built plugin under `name` (with an optional manifest) and loads it.
    pub fn load(&self, name: &str, built_as: &str, manifest: Option<&str>) -> Result<(), String> {
        if let Some(yaml) = manifest {
            write_manifest(self.path(), name, yaml);
        }
        let path = install(self.path(), name, &built(built_as));
        let result = self.host.load(&path).map_err(|e| e.to_string());
        // The load's own event was published before it returned: drop it so
        // `wait_for` sees only what happens next.
        while self.events.try_recv().is_ok() {}
        result
    }

    /// The next event matching `want`, skipping others; panics after [`WAIT`].
    pub fn wait_for(&self, want: impl Fn(&PluginEvent) -> bool) -> PluginEvent {
        wait_for(&self.events, want)
    }
}

pub fn wait_for(events: &mpsc::Receiver<PluginEvent>, want: impl Fn(&PluginEvent) -> bool) -> PluginEvent {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(event) if want(&event) => return event,
            Ok(_) => continue,
            Err(_) => panic!("no matching plugin event within {WAIT:?}"),
        }
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

/// An engine in `project` whose agent is `fake-claude` (with ringmaster as
/// its MCP server where `wiring` offers one), with no retries unless
/// `config` asks, and a store in memory.
pub async fn fake_engine(
    project: &Path,
    config: EngineConfig,
    plugins: Arc<PluginHost>,
    hooks: Option<Arc<Hooks>>,
    wiring: Wiring,
) -> Engine {
    let agent =
        AgentProfile { command: Some(env!("CARGO_BIN_EXE_fake-claude").into()), mcp: true, ..Default::default() };
    Engine::start(EngineOptions {
        config: EngineConfig { default_max_retries: 0, ..config },
        agents: BTreeMap::from([("claude".to_string(), agent)]),
        project_dir: project.to_path_buf(),
        tokens: Vec::new(),
        credential_vars: ringmaster::credentials::credential_vars(&[]),
        policies: Arc::new(Policies::new(plugins)),
        hooks,
        store: Store::in_memory().unwrap(),
        wiring,
        state_dir: project.join(".ringmaster"),
    })
    .await
    .unwrap()
}

/// Submits `spec` and waits for it to finish.
pub async fn run_job(engine: &Engine, spec: JobSpec) -> JobRecord {
    let id = engine.submit(spec).await.unwrap().job_id;
    let record = engine.wait(std::slice::from_ref(&id), WAIT).await.unwrap().remove(0);
    assert!(record.status.is_terminal(), "job did not finish: {record:#?}");
    record
}

/// A `hooks/` directory in `project` holding `files` (name, content), and
/// the hook pipeline over it.
pub fn hooks_in(project: &Path, files: &[(&str, &str)], plugins: Arc<PluginHost>) -> Arc<Hooks> {
    std::fs::create_dir(project.join("hooks")).unwrap();
    for (name, text) in files {
        std::fs::write(project.join("hooks").join(name), text).unwrap();
    }
    let options = HooksOptions {
        dirs: vec![project.join("hooks")],
        project_dir: project.to_path_buf(),
        command_timeout: Duration::from_secs(60),
        shell: Arc::new(ringmaster::executor::shell::Shell::new(32, &[])),
    };
    Hooks::new(options, plugins)
}

/// A job as policies see it.
pub fn job(id: &str, root: &str, priority: i32, tags: &[&str]) -> JobInfo {
    JobInfo {
        id: id.into(),
        prompt_preview: format!("prompt of {id}"),
        prompt_bytes: 100,
        agent: "claude".into(),
        model: None,
        priority,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        depth: u32::from(id != root),
        root_id: root.into(),
        parent_id: (id != root).then(|| root.to_string()),
        attempt: 1,
        submitted_at_ms: 0,
    }
}

pub fn slot(index: u32, free: u32) -> SlotLoad {
    SlotLoad::idle(index, free)
}

pub fn history(count: u32, p95_ms: u64) -> History {
    History { count, p50_ms: p95_ms / 2, p95_ms, timeout_rate: 0.0 }
}

pub fn similar(by_tag: Vec<(String, History)>, overall: History) -> SimilarJobs {
    let none = history(0, 0);
    SimilarJobs { by_tag, by_agent: none, by_model: none, by_prompt_size: none, overall }
}

pub fn failure(kind: FailureKind, has_session: bool) -> Failure {
    Failure {
        kind,
        exit_code: Some(1),
        signal: None,
        stderr_tail: String::new(),
        message: "attempt failed".into(),
        has_session,
        rate_limit_resets_at_ms: None,
    }
}

/// The first line a client sends on the engine socket.
pub fn hello_line() -> String {
    serde_json::to_string(&ringmaster::remote::HelloLine { hello: ringmaster::remote::Hello::new(None) }).unwrap()
}
