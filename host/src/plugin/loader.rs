//! Turning a `NAME.wasm` file into a [`LoadedPlugin`] ready to call:
//! read, check the header, compile (through the cache), inspect exports and
//! imports against the contract and the grants, pre-instantiate, and finally
//! make one smoke call of every exported extension point. A file that fails
//! any step is rejected with a [`LoadError`]; nothing half-loaded is returned.

use super::engine::{CacheOutcome, Compiler, EpochTicker, content_hash, new_engine};
use super::error::{CallError, LoadError};
use super::inspect::{Inspection, check_grants, inspect};
use super::manifest::Manifest;
use super::sandbox::{CallLimits, HostState, Identity, IdleInstances, Sandbox, linker};
use super::wit::Exports;
use crate::config::PluginsConfig;
use crate::contract::{
    Assignment, Candidate, CommandOutcome, Decision, ExtensionPoint, Failure, FailureKind, History, HookCall,
    HookResponse, JobInfo, PluginCommand, ScheduleInput, SimilarJobs, SlotLoad, Timeouts,
};
use crate::untrusted;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;
use wasmtime::Store;
use wasmtime::component::{Instance, InstancePre, Linker};

/// The manifest path for a plugin file: `NAME.wasm` -> `NAME.yaml`.
pub fn manifest_path(wasm: &Path) -> PathBuf {
    wasm.with_extension("yaml")
}

/// The plugin name for a plugin file: its stem.
pub fn plugin_name(wasm: &Path) -> String {
    wasm.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Loads plugins. One per host: it owns the engine, its epoch ticker, the
/// compiled-code cache and the linker.
pub struct Loader {
    compiler: Compiler,
    linker: Linker<HostState>,
    config: PluginsConfig,
    ticker: EpochTicker,
}

impl Loader {
    pub fn new(config: PluginsConfig, cache_dir: Option<PathBuf>) -> anyhow::Result<Loader> {
        let engine = new_engine(config.limits.max_memory_mib)?;
        let linker = linker(&engine)?;
        let ticker = EpochTicker::start(&engine);
        Ok(Loader { compiler: Compiler::new(engine, cache_dir), linker, config, ticker })
    }

    pub fn config(&self) -> &PluginsConfig {
        &self.config
    }

    /// Loads the plugin at `path` (and its manifest beside it).
    pub fn load(&self, path: &Path) -> Result<LoadedPlugin, LoadError> {
        let name = plugin_name(path);
        let manifest_file = manifest_path(path);
        let manifest = Manifest::load(&manifest_file, &self.config.dirs)
            .map_err(|err| LoadError::Manifest { path: manifest_file.clone(), message: err.to_string() })?;
        let granted = self.config.grants.get(&name).cloned().unwrap_or_default();
        let capabilities = manifest.capabilities.intersect(&granted);
        check_grants(path, &name, &manifest.capabilities, &capabilities)?;
        let bytes = untrusted::read(path, Some(&self.config.dirs), untrusted::MAX_PLUGIN_BYTES)
            .map_err(|message| LoadError::Read { path: path.into(), message })?;
        check_header(path, &bytes)?;

        let hash = content_hash(&bytes);
        let (component, cache) = self
            .compiler
            .compile(&bytes, &hash)
            .map_err(|err| LoadError::Compile { path: path.into(), message: format!("{err:#}") })?;

        let inspection = inspect(self.compiler.engine(), &component, path)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|err| LoadError::Link { path: path.into(), message: format!("{err:#}") })?;

        let mut config: std::collections::BTreeMap<String, String> =
            manifest.config.iter().map(|(k, v)| (k.clone(), v.to_string())).collect();
        if let Some(overrides) = self.config.config.get(&name) {
            config.extend(overrides.iter().map(|(k, v)| (k.clone(), v.to_string())));
        }
        let identity = Arc::new(Identity { name, version: manifest.version.clone(), hash });
        let limits = self.limits_for(&identity, &manifest);
        let sandbox = Sandbox {
            identity: identity.clone(),
            config: Arc::new(config),
            capabilities,
            limits,
            ticker: self.ticker.clone(),
            peak_memory: Default::default(),
            idle: IdleInstances::new(manifest.instances),
        };

        let exports = Exports::new(&pre, &inspection.extension_points).map_err(|(point, err)| LoadError::Link {
            path: path.into(),
            message: format!("its {point} export does not match the contract: {err:#}"),
        })?;
        let mut plugin = LoadedPlugin {
            exports,
            identity,
            path: path.to_path_buf(),
            manifest,
            inspection,
            loaded_at: SystemTime::now(),
            cache,
            sandbox,
            pre,
            hook_events: Vec::new(),
        };
        for point in plugin.extension_points() {
            plugin.smoke(point).map_err(|error| LoadError::Smoke { path: path.into(), point, error })?;
        }
        if plugin.provides(ExtensionPoint::HookHandler) {
            let point = ExtensionPoint::HookHandler;
            plugin.hook_events =
                plugin.call_events().map_err(|error| LoadError::Smoke { path: path.into(), point, error })?;
        }
        Ok(plugin)
    }

    fn limits_for(&self, plugin: &Identity, manifest: &Manifest) -> CallLimits {
        let host = &self.config.limits;
        let capped = |what: &str, asked: Option<u64>, default: u64, ceiling: u64| {
            let value = asked.unwrap_or(default);
            if value > ceiling {
                tracing::warn!(%plugin, what, asked = value, ceiling, "manifest limit above the host's ceiling; capped");
            }
            value.min(ceiling)
        };
        CallLimits {
            policy_deadline_ms: capped(
                "policy-deadline-ms",
                manifest.limits.policy_deadline_ms,
                host.policy_deadline_ms,
                host.max_deadline_ms,
            ),
            hook_deadline_ms: capped(
                "hook-deadline-ms",
                manifest.limits.hook_deadline_ms,
                host.hook_deadline_ms,
                host.max_deadline_ms,
            ),
            memory_mib: capped("memory-mib", manifest.limits.memory_mib, host.memory_mib, host.max_memory_mib),
        }
    }
}

/// Tells a component from a core module or from something else entirely,
/// before the compiler gives a less helpful message.
fn check_header(path: &Path, bytes: &[u8]) -> Result<(), LoadError> {
    const MAGIC: &[u8] = b"\0asm";
    const CORE_MODULE: [u8; 4] = [1, 0, 0, 0];
    if !bytes.starts_with(MAGIC) {
        return Err(LoadError::NotWasm { path: path.into() });
    }
    if bytes.get(4..8) == Some(&CORE_MODULE) {
        return Err(LoadError::CoreModule { path: path.into() });
    }
    Ok(())
}

/// A plugin ready to be called. Immutable: a reload builds a new one, and
/// calls holding an `Arc` to the old one finish on it.
pub struct LoadedPlugin {
    pub identity: Arc<Identity>,
    pub path: PathBuf,
    pub manifest: Manifest,
    pub inspection: Inspection,
    pub loaded_at: SystemTime,
    pub cache: CacheOutcome,
    sandbox: Sandbox,
    pre: InstancePre<HostState>,
    exports: Exports,
    /// A hook handler's answer to `events()`, asked once at load (the answer
    /// can only change with the plugin or its config, which reload it).
    pub hook_events: Vec<String>,
}

fn not_exported(plugin: &LoadedPlugin, point: ExtensionPoint) -> CallError {
    CallError::NotExported { plugin: plugin.identity.to_string(), point }
}

impl LoadedPlugin {
    pub fn name(&self) -> &str {
        &self.identity.name
    }

    pub fn extension_points(&self) -> Vec<ExtensionPoint> {
        self.inspection.extension_points.clone()
    }

    pub fn provides(&self, point: ExtensionPoint) -> bool {
        self.inspection.extension_points.contains(&point)
    }

    /// Whether this hook handler asked for `event` (by name, or `*`).
    pub fn wants_event(&self, event: &str) -> bool {
        self.hook_events.iter().any(|e| e == event || e == "*")
    }

    pub fn limits(&self) -> CallLimits {
        self.sandbox.limits
    }

    pub fn capabilities(&self) -> &crate::config::Capabilities {
        &self.sandbox.capabilities
    }

    /// The most linear memory any call of this build held (a language
    /// runtime's heap included), against its `memory_mib` cap.
    pub fn peak_memory_bytes(&self) -> u64 {
        self.sandbox.peak_memory.load(std::sync::atomic::Ordering::Relaxed) as u64
    }

    /// Creates a fresh instance and drops it: what every call costs before
    /// the plugin's own code runs.
    pub fn instantiate_only(&self) -> Result<(), CallError> {
        let point = self.inspection.extension_points[0];
        self.sandbox.run(&self.pre, point, None, |_, _| Ok(()))
    }

    /// Calls `point` in a fresh instance, under the plugin's limits.
    fn call<R>(
        &self,
        point: ExtensionPoint,
        job_id: Option<&str>,
        call: impl FnOnce(&Exports, &mut Store<HostState>, &Instance) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        if !self.provides(point) {
            return Err(not_exported(self, point));
        }
        self.sandbox.run(&self.pre, point, job_id, |store, instance| call(&self.exports, store, instance))
    }

    /// Ranks for `jobs`, one each.
    pub fn rank(&self, jobs: &[JobInfo]) -> Result<Vec<i64>, CallError> {
        let job_id = (jobs.len() == 1).then(|| jobs[0].id.as_str());
        let ranks = self.call(ExtensionPoint::Scheduler, job_id, |e, store, at| e.rank(store, at, jobs))?;
        if ranks.len() != jobs.len() {
            return Err(CallError::Invalid {
                plugin: self.identity.to_string(),
                message: format!("rank returned {} ranks for {} jobs", ranks.len(), jobs.len()),
            });
        }
        Ok(ranks)
    }

    pub fn select(&self, input: &ScheduleInput) -> Result<Vec<Assignment>, CallError> {
        self.call(ExtensionPoint::Scheduler, None, |e, store, at| e.select(store, at, input))
    }

    pub fn estimate(
        &self,
        job: &JobInfo,
        similar: &SimilarJobs,
        requested_ms: Option<u64>,
        fallback: Timeouts,
    ) -> Result<Timeouts, CallError> {
        self.call(ExtensionPoint::TimeoutEstimator, Some(&job.id), |e, store, at| {
            e.estimate(store, at, job, similar, requested_ms, fallback)
        })
    }

    pub fn decide(
        &self,
        job: &JobInfo,
        attempt: u32,
        max_retries: u32,
        failure: &Failure,
    ) -> Result<Decision, CallError> {
        self.call(ExtensionPoint::RetryPolicy, Some(&job.id), |e, store, at| {
            e.decide(store, at, job, attempt, max_retries, failure)
        })
    }

    /// Calls the hook handler's `events()`; [`LoadedPlugin::hook_events`]
    /// holds the answer it gave at load.
    pub fn call_events(&self) -> Result<Vec<String>, CallError> {
        self.call(ExtensionPoint::HookHandler, None, |e, store, at| e.events(store, at))
    }

    pub fn handle_hook(&self, event: &HookCall) -> Result<HookResponse, CallError> {
        let job_id = event.job.as_ref().map(|j| j.id.as_str());
        self.call(ExtensionPoint::HookHandler, job_id, |e, store, at| e.handle(store, at, event))
    }

    pub fn list_commands(&self) -> Result<Vec<PluginCommand>, CallError> {
        self.call(ExtensionPoint::Commands, None, |e, store, at| e.list_commands(store, at))
    }

    /// Runs command `name`; the inner `Err` is the plugin's own message for the user.
    pub fn run_command(&self, name: &str, arguments: &str) -> Result<Result<CommandOutcome, String>, CallError> {
        self.call(ExtensionPoint::Commands, None, |e, store, at| e.run_command(store, at, name, arguments))
    }

    /// One representative call of `point`, made before a plugin is accepted.
    fn smoke(&self, point: ExtensionPoint) -> Result<(), CallError> {
        let job = smoke_job();
        match point {
            ExtensionPoint::Scheduler => {
                self.rank(std::slice::from_ref(&job))?;
                self.select(&ScheduleInput {
                    candidates: vec![Candidate { job, rank: 0, waited_ms: 0 }],
                    slots: vec![SlotLoad::idle(0, 1)],
                    capacity: 1,
                    roots: Vec::new(),
                    queued_total: 1,
                    now_ms: 0,
                })?;
            }
            ExtensionPoint::TimeoutEstimator => {
                let empty = History { count: 0, p50_ms: 0, p95_ms: 0, timeout_rate: 0.0 };
                let similar = SimilarJobs {
                    by_tag: Vec::new(),
                    by_agent: empty,
                    by_model: empty,
                    by_prompt_size: empty,
                    overall: empty,
                };
                let fallback = Timeouts { hard_ms: 600_000, idle_ms: 300_000 };
                self.estimate(&job, &similar, None, fallback)?;
            }
            ExtensionPoint::RetryPolicy => {
                let failure = Failure {
                    kind: FailureKind::Crashed,
                    exit_code: Some(1),
                    signal: None,
                    stderr_tail: String::new(),
                    message: "ringmaster smoke test".into(),
                    has_session: false,
                    rate_limit_resets_at_ms: None,
                };
                self.decide(&job, 1, 3, &failure)?;
            }
            ExtensionPoint::HookHandler => {
                self.handle_hook(&HookCall {
                    name: "Notification".into(),
                    payload_json: r#"{"hook_event_name":"Notification","message":"ringmaster smoke test"}"#.into(),
                    job: None,
                })?;
            }
            ExtensionPoint::Commands => {
                self.list_commands()?;
            }
        }
        Ok(())
    }
}

/// A harmless job for smoke calls.
fn smoke_job() -> JobInfo {
    JobInfo {
        id: "00000000-0000-0000-0000-000000000000".into(),
        prompt_preview: "ringmaster smoke test".into(),
        prompt_bytes: 21,
        agent: "claude".into(),
        model: None,
        priority: 0,
        tags: Vec::new(),
        depth: 0,
        root_id: "00000000-0000-0000-0000-000000000000".into(),
        parent_id: None,
        attempt: 1,
        submitted_at_ms: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_tells_components_from_modules_and_other_files() {
        let path = Path::new("p.wasm");
        assert!(matches!(check_header(path, b"hello"), Err(LoadError::NotWasm { .. })));
        assert!(matches!(check_header(path, b"\0asm\x01\0\0\0"), Err(LoadError::CoreModule { .. })));
        assert!(check_header(path, b"\0asm\x0d\0\x01\0").is_ok());
    }
}
