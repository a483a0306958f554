//! [`PluginHost`]: the set of loaded plugins, keyed by name, and the one place
//! calls into them go through.
//!
//! Each name has an entry holding its last good build behind an `ArcSwap`.
//! A call clones the `Arc` and runs on that build even if a reload swaps the
//! entry meanwhile; new calls see the new build. A failed load leaves the entry
//! as it was and records the error, so a bad build never replaces a good one.

use super::error::{CallError, LoadError};
use super::loader::{LoadedPlugin, Loader, plugin_name};
use super::stats::{CallStats, Circuit};
use crate::config::{Capabilities, PluginsConfig};
use crate::contract::ExtensionPoint;
use arc_swap::ArcSwapOption;
use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant, SystemTime};

/// Something that happened to a plugin, for subscribers (tests, the MCP layer's
/// list-changed notifications, the demo).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginEvent {
    /// A build was loaded and is now answering calls.
    Loaded { name: String, hash: String },
    /// A build was rejected; the previous one (if any) stays active.
    Rejected { name: String, error: String },
    /// The plugin's file is gone; its extension points fall back to the built-ins.
    Unloaded { name: String },
    /// Repeated failures set the plugin aside for `backoff`.
    CircuitOpened { name: String, backoff: Duration },
}

/// Where a plugin stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PluginStatus {
    Active,
    /// No good build.
    Failed,
    /// Repeated failures set it aside for a while.
    CircuitOpen,
}

impl PluginStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PluginStatus::Active => "active",
            PluginStatus::Failed => "failed",
            PluginStatus::CircuitOpen => "circuit-open",
        }
    }
}

/// Status of one plugin, as `plugin_list` and `ringmaster plugin list` show it.
#[derive(Debug, Clone, Serialize)]
pub struct PluginInfo {
    pub name: String,
    pub path: PathBuf,
    pub status: PluginStatus,
    /// Why the last load failed, or why the circuit opened.
    pub error: Option<String>,
    pub version: Option<String>,
    pub hash: Option<String>,
    pub description: Option<String>,
    pub extension_points: Vec<ExtensionPoint>,
    pub imports: Vec<String>,
    pub capabilities: Option<Capabilities>,
    pub loaded_at: Option<String>,
    pub calls: u64,
    pub failures: u64,
    pub latency_p50_us: Option<u64>,
    pub latency_p99_us: Option<u64>,
    /// The most linear memory a call of the active build held, in bytes
    /// (against `memory_mib` of its limits).
    pub peak_memory_bytes: Option<u64>,
    /// Loads of this plugin's file that ended (loaded or rejected): a tool
    /// that installed a build waits for this to grow (`plugin dev`).
    pub load_attempts: u64,
    /// Why the last load was rejected; none when it loaded.
    pub load_error: Option<String>,
}

#[derive(Default)]
struct EntryState {
    path: PathBuf,
    /// The last load error; cleared by a successful load.
    load_error: Option<String>,
    /// Loads that ended, either way.
    load_attempts: u64,
    /// The last call error, for the circuit's report.
    call_error: Option<String>,
    stats: CallStats,
    circuit: Circuit,
}

#[derive(Default)]
struct Entry {
    current: ArcSwapOption<LoadedPlugin>,
    state: Mutex<EntryState>,
}

/// The plugin runtime's front door. Cheap to share (`Arc<PluginHost>`);
/// every method is safe to call from any thread.
pub struct PluginHost {
    loader: Loader,
    entries: RwLock<BTreeMap<String, Arc<Entry>>>,
    subscribers: Mutex<Vec<mpsc::Sender<PluginEvent>>>,
    /// Bumped whenever a load ends, either way: who waits for one watches
    /// it (a watch, unlike a subscription, leaves nothing behind).
    loads: tokio::sync::watch::Sender<u64>,
}

impl PluginHost {
    /// A host with no plugins loaded yet; `cache_dir` holds compiled code.
    pub fn new(config: PluginsConfig, cache_dir: Option<PathBuf>) -> anyhow::Result<Arc<PluginHost>> {
        Ok(Arc::new(PluginHost {
            loader: Loader::new(config, cache_dir)?,
            entries: RwLock::default(),
            subscribers: Mutex::default(),
            loads: tokio::sync::watch::Sender::new(0),
        }))
    }

    pub fn config(&self) -> &PluginsConfig {
        self.loader.config()
    }

    /// Events from now on.
    pub fn subscribe(&self) -> mpsc::Receiver<PluginEvent> {
        let (tx, rx) = mpsc::channel();
        self.subscribers.lock().push(tx);
        rx
    }

    fn publish(&self, event: PluginEvent) {
        self.subscribers.lock().retain(|tx| tx.send(event.clone()).is_ok());
    }

    fn entry(&self, name: &str) -> Arc<Entry> {
        if let Some(entry) = self.entries.read().get(name) {
            return entry.clone();
        }
        self.entries.write().entry(name.to_string()).or_default().clone()
    }

    /// The file that provides plugin `name`: the first configured directory
    /// holding `name.wasm` wins.
    pub fn resolve(&self, name: &str) -> Option<PathBuf> {
        self.config().dirs.iter().map(|dir| dir.join(format!("{name}.wasm"))).find(|path| path.is_file())
    }

    /// Plugin files in the configured directories, first directory winning a name clash.
    pub fn discover(&self) -> Vec<PathBuf> {
        let mut found: BTreeMap<String, PathBuf> = BTreeMap::new();
        for dir in &self.config().dirs {
            let Ok(entries) = std::fs::read_dir(dir) else {
                tracing::debug!(dir = %dir.display(), "plugin directory does not exist (yet)");
                continue;
            };
            let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            paths.sort();
            for path in paths.into_iter().filter(|p| is_plugin_file(p)) {
                found.entry(plugin_name(&path)).or_insert(path);
            }
        }
        found.into_values().collect()
    }

    /// Loads every plugin in the configured directories. Failures are recorded
    /// per plugin (see [`PluginHost::list`]) and logged; they never stop the others.
    pub fn load_all(&self) {
        for path in self.discover() {
            let _ = self.load(&path);
        }
    }

    /// Loads or reloads the plugin at `path`. On failure the previous build
    /// of the same name stays active.
    pub fn load(&self, path: &Path) -> Result<(), LoadError> {
        let name = plugin_name(path);
        let entry = self.entry(&name);
        let started = Instant::now();
        let before = file_version(path);
        match self.loader.load(path) {
            Ok(plugin) => {
                let hash = plugin.identity.hash.clone();
                tracing::info!(
                    plugin = %plugin.identity,
                    provides = ?plugin.extension_points(),
                    cache = ?plugin.cache,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "plugin loaded"
                );
                {
                    let mut state = entry.state.lock();
                    state.path = path.to_path_buf();
                    state.load_error = None;
                    state.load_attempts += 1;
                    state.call_error = None;
                    state.circuit = Circuit::default();
                }
                entry.current.store(Some(Arc::new(plugin)));
                self.publish(PluginEvent::Loaded { name, hash });
                self.loads.send_modify(|n| *n += 1);
                Ok(())
            }
            Err(err) if file_version(path) != before => {
                // Still being written: the watcher sees the next write and tries again.
                tracing::debug!(%name, error = %err, "plugin file changed while loading; waiting for it to settle");
                Err(err)
            }
            Err(err) => {
                let keeps = entry.current.load().as_ref().map(|p| p.identity.to_string());
                match &keeps {
                    Some(previous) => {
                        tracing::error!(%name, error = %err, keeps = %previous, "plugin rejected; keeping the previous build")
                    }
                    None => tracing::error!(%name, error = %err, "plugin rejected"),
                }
                {
                    let mut state = entry.state.lock();
                    state.path = path.to_path_buf();
                    state.load_error = Some(err.to_string());
                    state.load_attempts += 1;
                }
                self.publish(PluginEvent::Rejected { name, error: err.to_string() });
                self.loads.send_modify(|n| *n += 1);
                Err(err)
            }
        }
    }

    /// Forgets plugin `name`; its extension points fall back to the built-ins.
    pub fn unload(&self, name: &str) {
        if self.entries.write().remove(name).is_some() {
            tracing::info!(plugin = name, "plugin removed");
            self.publish(PluginEvent::Unloaded { name: name.to_string() });
        }
    }

    /// Brings plugin `name` in line with the disk: load the file that provides
    /// it, or unload it when there is none. Used by the watcher.
    pub fn refresh(&self, name: &str) -> Result<(), LoadError> {
        match self.resolve(name) {
            Some(path) => self.load(&path),
            None => {
                self.unload(name);
                Ok(())
            }
        }
    }

    /// The active build of plugin `name`, if any.
    pub fn get(&self, name: &str) -> Option<Arc<LoadedPlugin>> {
        self.entries.read().get(name).and_then(|entry| entry.current.load_full())
    }

    /// Names of the active plugins that export `point`, sorted.
    pub fn providers(&self, point: ExtensionPoint) -> Vec<String> {
        let entries = self.entries.read();
        entries
            .iter()
            .filter(|(_, entry)| entry.current.load().as_ref().is_some_and(|p| p.provides(point)))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Calls plugin `name` through `call`, with accounting and the circuit
    /// breaker. Errors are logged here once; callers only choose a fallback.
    pub fn call<R>(
        &self,
        name: &str,
        point: ExtensionPoint,
        call: impl FnOnce(&LoadedPlugin) -> Result<R, CallError>,
    ) -> Result<R, CallError> {
        let entry = self.entries.read().get(name).cloned();
        let Some((entry, plugin)) = entry.and_then(|s| s.current.load_full().map(|p| (s, p))) else {
            return Err(CallError::NotLoaded { name: name.to_string() });
        };
        if !plugin.provides(point) {
            return Err(CallError::NotExported { plugin: plugin.identity.to_string(), point });
        }
        {
            let state = entry.state.lock();
            if let Some(remaining) = state.circuit.open_for(Instant::now()) {
                return Err(CallError::CircuitOpen {
                    plugin: plugin.identity.to_string(),
                    remaining_ms: remaining.as_millis() as u64,
                    last_error: state.call_error.clone().unwrap_or_default(),
                });
            }
        }
        let started = Instant::now();
        let result = call(&plugin);
        let elapsed = started.elapsed();

        let opened = {
            let mut state = entry.state.lock();
            state.stats.record(elapsed, result.is_err());
            match &result {
                Ok(_) => {
                    state.circuit.on_success();
                    None
                }
                Err(err) => {
                    state.call_error = Some(err.to_string());
                    state.circuit.on_failure(&self.config().circuit, Instant::now())
                }
            }
        };
        if let Err(err) = &result {
            tracing::warn!(%point, error = %err, "plugin call failed; using the built-in behaviour");
        }
        if let Some(backoff) = opened {
            tracing::error!(plugin = %plugin.identity, backoff_ms = backoff.as_millis() as u64, "plugin set aside after repeated failures");
            self.publish(PluginEvent::CircuitOpened { name: name.to_string(), backoff });
        }
        result
    }

    /// Status of every known plugin, including ones that failed to load.
    pub fn list(&self) -> Vec<PluginInfo> {
        let entries = self.entries.read();
        entries.iter().map(|(name, entry)| info(name, entry)).collect()
    }

    /// Where plugin `name` stands, if a load of it was ever attempted.
    pub fn info(&self, name: &str) -> Option<PluginInfo> {
        self.entries.read().get(name).map(|entry| info(name, entry))
    }

    /// Plugin `name` once more than `after` loads of it have ended, or as it
    /// stands after `timeout`.
    pub async fn wait_for_load(&self, name: &str, after: u64, timeout: Duration) -> Option<PluginInfo> {
        // Watched before looking: a load ending in between is not missed.
        let mut loads = self.loads.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let info = self.info(name);
            if info.as_ref().is_some_and(|info| info.load_attempts > after) {
                return info;
            }
            match tokio::time::timeout_at(deadline, loads.changed()).await {
                Ok(Ok(())) => continue,
                _ => return info,
            }
        }
    }
}

fn info(name: &str, entry: &Entry) -> PluginInfo {
    let plugin = entry.current.load_full();
    let state = entry.state.lock();
    let circuit_open = state.circuit.open_for(Instant::now()).is_some();
    let (status, error) = match (&plugin, circuit_open) {
        (None, _) => (PluginStatus::Failed, state.load_error.clone()),
        (Some(_), true) => (PluginStatus::CircuitOpen, state.call_error.clone()),
        // A rejected reload leaves the old build active; say why the new one was refused.
        (Some(_), false) => (PluginStatus::Active, state.load_error.clone()),
    };
    PluginInfo {
        name: name.to_string(),
        path: state.path.clone(),
        status,
        error,
        version: plugin.as_ref().and_then(|p| p.identity.version.clone()),
        hash: plugin.as_ref().map(|p| p.identity.hash.clone()),
        description: plugin.as_ref().and_then(|p| p.manifest.description.clone()),
        extension_points: plugin.as_ref().map(|p| p.extension_points()).unwrap_or_default(),
        imports: plugin.as_ref().map(|p| p.inspection.imports.clone()).unwrap_or_default(),
        capabilities: plugin.as_ref().map(|p| p.capabilities().clone()),
        loaded_at: plugin.as_ref().map(|p| rfc3339(p.loaded_at)),
        calls: state.stats.calls,
        failures: state.stats.failures,
        latency_p50_us: state.stats.latency_us(0.5),
        latency_p99_us: state.stats.latency_us(0.99),
        peak_memory_bytes: plugin.as_ref().map(|p| p.peak_memory_bytes()),
        load_attempts: state.load_attempts,
        load_error: state.load_error.clone(),
    }
}

/// Size and modification time: enough to notice a file changing under us.
fn file_version(path: &Path) -> Option<(u64, SystemTime)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}

fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}

/// `NAME.wasm` or `NAME.yaml`, ignoring hidden and temporary files.
pub fn is_plugin_file(path: &Path) -> bool {
    !crate::watch::is_hidden_or_backup(path) && path.extension().is_some_and(|ext| ext == "wasm")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiting_for_a_load_wakes_when_one_ends_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let config = PluginsConfig { dirs: vec![dir.path().to_path_buf()], ..PluginsConfig::default() };
        let host = PluginHost::new(config, None).unwrap();
        // A peer asking again and again holds nothing once its waits end.
        for _ in 0..100 {
            assert!(host.wait_for_load("x", 0, Duration::ZERO).await.is_none());
        }
        assert_eq!(host.subscribers.lock().len(), 0);

        let waiting = {
            let host = host.clone();
            tokio::spawn(async move { host.wait_for_load("x", 0, Duration::from_secs(60)).await })
        };
        let path = dir.path().join("x.wasm");
        std::fs::write(&path, b"not a component").unwrap();
        assert!(host.load(&path).is_err());
        let info = waiting.await.unwrap().expect("x was loaded once");
        assert_eq!(info.load_attempts, 1);
        assert!(info.load_error.is_some_and(|e| e.contains("x.wasm")));
    }
}
