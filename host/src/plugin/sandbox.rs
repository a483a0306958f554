//! One call into a plugin: a store and instance, a deadline, a memory cap,
//! and the host functions the plugin may use.
//!
//! By default every call instantiates the component anew from its
//! `InstancePre` (microseconds), so no state leaks between calls, a trap
//! poisons nothing, and a reload can swap the `InstancePre` while earlier
//! calls finish on the one they started with. A plugin whose manifest says
//! `instances: reused` (a Python or JavaScript runtime, whose fresh instance
//! costs a millisecond before its code runs) gets an idle instance of the
//! same build when there is one: only instances that ended their call
//! cleanly go back, a few at most, so a trap, a deadline or the memory cap
//! still leaves nothing behind, and idle memory stays bounded.

use super::engine::{EpochTicker, deadline_ticks};
use super::error::CallError;
use super::manifest::Instances;
use super::wit;
use crate::config::Capabilities;
use crate::contract::{ExtensionPoint, LogLevel};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use wasmtime::component::{Instance, InstancePre, Linker, ResourceTable};
use wasmtime::{Engine, ResourceLimiter, Store, Trap};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// Log lines a plugin may write in one call; the rest are counted and dropped.
const MAX_LOG_LINES: u32 = 64;
/// Longest log message kept, in bytes.
const MAX_LOG_BYTES: usize = 4096;
/// Captured stdout/stderr per call.
const PIPE_CAPACITY: usize = 64 * 1024;
/// The end of stderr quoted in a trap report (a Rust panic message lives there).
const STDERR_TAIL: usize = 1024;
/// Idle instances kept per build of a plugin with reused instances.
const IDLE_INSTANCES: usize = 4;

/// Which build of which plugin: used in every log line and error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    /// The manifest's version label, if any.
    pub version: Option<String>,
    /// SHA-256 of the `.wasm` file.
    pub hash: String,
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(version) = &self.version {
            write!(f, "@{version}")?;
        }
        write!(f, " (sha256:{})", &self.hash[..12.min(self.hash.len())])
    }
}

/// The limits one plugin's calls run under, after capping by the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CallLimits {
    pub policy_deadline_ms: u64,
    pub hook_deadline_ms: u64,
    pub memory_mib: u64,
}

impl CallLimits {
    pub fn deadline_ms(&self, point: ExtensionPoint) -> u64 {
        if point.is_policy() { self.policy_deadline_ms } else { self.hook_deadline_ms }
    }
}

/// Refuses memory growth past the cap, and remembers that it did so the
/// resulting trap can be reported as what it is.
struct MemoryCap {
    limit_bytes: usize,
    hit: bool,
    /// The most linear memory the call held (its initial size included).
    peak_bytes: usize,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let allowed = desired <= self.limit_bytes;
        self.hit |= !allowed;
        if allowed {
            self.peak_bytes = self.peak_bytes.max(desired);
        }
        Ok(allowed)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// A store's data for one call.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    memory: MemoryCap,
    plugin: Arc<Identity>,
    config: Arc<BTreeMap<String, String>>,
    job_id: Option<String>,
    log_lines: u32,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// Emits a plugin's log line on the `ringmaster::plugin` target, where the
/// MCP layer picks it up for clients.
fn emit(level: LogLevel, plugin: &Identity, job_id: Option<&str>, message: &str, fields: &str) {
    let plugin = plugin.to_string();
    let job = job_id.unwrap_or("-");
    macro_rules! at {
        ($lvl:expr) => {
            tracing::event!(target: "ringmaster::plugin", $lvl, plugin = %plugin, job = %job, fields = %fields, "{message}")
        };
    }
    match level {
        LogLevel::Trace => at!(tracing::Level::TRACE),
        LogLevel::Debug => at!(tracing::Level::DEBUG),
        LogLevel::Info => at!(tracing::Level::INFO),
        LogLevel::Warn => at!(tracing::Level::WARN),
        LogLevel::Error => at!(tracing::Level::ERROR),
    }
}

/// Whether anyone listens at `level`, so disabled lines cost no formatting.
fn log_enabled(level: LogLevel) -> bool {
    match level {
        LogLevel::Trace => tracing::enabled!(target: "ringmaster::plugin", tracing::Level::TRACE),
        LogLevel::Debug => tracing::enabled!(target: "ringmaster::plugin", tracing::Level::DEBUG),
        LogLevel::Info => tracing::enabled!(target: "ringmaster::plugin", tracing::Level::INFO),
        LogLevel::Warn => tracing::enabled!(target: "ringmaster::plugin", tracing::Level::WARN),
        LogLevel::Error => tracing::enabled!(target: "ringmaster::plugin", tracing::Level::ERROR),
    }
}

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The host functions, whatever the contract version that calls them.
impl HostState {
    pub(super) fn log(&mut self, level: LogLevel, message: &str, fields: &[(String, String)]) {
        self.log_lines += 1;
        if self.log_lines > MAX_LOG_LINES {
            return;
        }
        if !log_enabled(level) {
            return;
        }
        let fields: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
        emit(level, &self.plugin, self.job_id.as_deref(), truncate(message, MAX_LOG_BYTES), &fields.join(" "));
    }

    pub(super) fn config_value(&self, key: &str) -> Option<String> {
        self.config.get(key).cloned()
    }

    pub(super) fn config_values(&self) -> Vec<(String, String)> {
        self.config.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

/// The linker every plugin is instantiated with: WASI 0.2 plus the
/// `ringmaster:plugin/host` interface. What a plugin may actually use is
/// decided per plugin by `inspect` and by the `WasiCtx` of each call.
pub fn linker(engine: &Engine) -> wasmtime::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    wit::add_to_linker(&mut linker)?;
    Ok(linker)
}

/// An instance between calls, with what it writes to.
struct Idle {
    store: Store<HostState>,
    instance: Instance,
    stdout: Option<MemoryOutputPipe>,
    stderr: MemoryOutputPipe,
}

/// The idle instances of a plugin whose calls may reuse them (`None`:
/// every call gets a fresh one), at most [`IDLE_INSTANCES`].
pub struct IdleInstances(Option<Mutex<Vec<Idle>>>);

impl IdleInstances {
    pub fn new(instances: Instances) -> IdleInstances {
        IdleInstances((instances == Instances::Reused).then(Default::default))
    }
}

/// Everything needed to run calls of one loaded plugin.
pub struct Sandbox {
    pub identity: Arc<Identity>,
    pub config: Arc<BTreeMap<String, String>>,
    pub capabilities: Capabilities,
    pub limits: CallLimits,
    /// The engine's epoch clock, which runs while a call is in flight.
    pub ticker: EpochTicker,
    /// The most linear memory any call held, in bytes.
    pub peak_memory: AtomicUsize,
    pub idle: IdleInstances,
}

impl Sandbox {
    fn wasi_ctx(&self, stdout: Option<&MemoryOutputPipe>, stderr: &MemoryOutputPipe) -> WasiCtx {
        let mut builder = WasiCtxBuilder::new();
        builder.stderr(stderr.clone());
        if let Some(stdout) = stdout {
            builder.stdout(stdout.clone());
        }
        for var in &self.capabilities.env {
            if let Ok(value) = std::env::var(var) {
                builder.env(var, value);
            }
        }
        for dir in &self.capabilities.filesystem {
            let guest = dir.to_string_lossy();
            if let Err(err) = builder.preopened_dir(dir, guest.as_ref(), FsPerms::ReadOnly) {
                tracing::warn!(plugin = %self.identity, dir = %dir.display(), error = %err, "cannot open granted directory");
            }
        }
        if self.capabilities.network {
            builder.inherit_network().allow_ip_name_lookup(true);
        }
        builder.build()
    }

    /// A store for a new instance, with the pipes its stdout and stderr go to.
    fn new_store(&self, engine: &Engine) -> (Store<HostState>, Option<MemoryOutputPipe>, MemoryOutputPipe) {
        let stderr = MemoryOutputPipe::new(PIPE_CAPACITY);
        let stdout = self.capabilities.stdio.then(|| MemoryOutputPipe::new(PIPE_CAPACITY));
        let state = HostState {
            wasi: self.wasi_ctx(stdout.as_ref(), &stderr),
            table: ResourceTable::new(),
            memory: MemoryCap { limit_bytes: (self.limits.memory_mib << 20) as usize, hit: false, peak_bytes: 0 },
            plugin: self.identity.clone(),
            config: self.config.clone(),
            job_id: None,
            log_lines: 0,
        };
        let mut store = Store::new(engine, state);
        store.limiter(|state| &mut state.memory);
        store.epoch_deadline_trap();
        (store, stdout, stderr)
    }

    /// Runs `call` against a fresh instance (or an idle one, with
    /// `instances: reused`), under the deadline for `point`
    /// and the memory cap, and turns whatever went wrong into a [`CallError`].
    pub fn run<R>(
        &self,
        pre: &InstancePre<HostState>,
        point: ExtensionPoint,
        job_id: Option<&str>,
        call: impl FnOnce(&mut Store<HostState>, &Instance) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        let idle = self.idle.0.as_ref().and_then(|idle| idle.lock().pop());
        let (mut store, instance, stdout, stderr) = match idle {
            Some(idle) => (idle.store, Some(idle.instance), idle.stdout, idle.stderr),
            None => {
                let (store, stdout, stderr) = self.new_store(pre.engine());
                (store, None, stdout, stderr)
            }
        };
        let state = store.data_mut();
        state.job_id = job_id.map(str::to_string);
        state.log_lines = 0;
        // What a reused instance wrote in earlier calls is not this call's.
        let stdout_from = stdout.as_ref().map_or(0, |pipe| pipe.contents().len());
        let stderr_from = stderr.contents().len();
        let deadline_ms = self.limits.deadline_ms(point);
        let in_flight = self.ticker.call();
        store.set_epoch_deadline(deadline_ticks(deadline_ms));

        let result = match instance {
            Some(instance) => Ok(instance),
            None => pre.instantiate(&mut store),
        }
        .and_then(|instance| call(&mut store, &instance).map(|answer| (answer, instance)));
        drop(in_flight);
        let stderr_text = stderr.contents().split_off(stderr_from);

        let state = store.data();
        let memory_hit = state.memory.hit;
        self.peak_memory.fetch_max(state.memory.peak_bytes, Ordering::Relaxed);
        if state.log_lines > MAX_LOG_LINES {
            let dropped = (state.log_lines - MAX_LOG_LINES).to_string();
            emit(
                LogLevel::Warn,
                &self.identity,
                job_id,
                "further log lines of this call were dropped",
                &format!("dropped={dropped}"),
            );
        }
        if self.capabilities.stdio {
            let stdout_text = stdout.as_ref().map(|p| p.contents().split_off(stdout_from)).unwrap_or_default();
            for (stream, text) in [("stdout", &stdout_text), ("stderr", &stderr_text)] {
                for line in String::from_utf8_lossy(text).lines().filter(|l| !l.trim().is_empty()) {
                    emit(LogLevel::Info, &self.identity, job_id, line, &format!("stream={stream}"));
                }
            }
        }
        let plugin = self.identity.to_string();
        let result = match (result, &self.idle.0) {
            (Ok((answer, instance)), Some(idle)) => {
                // Pipes fill up across calls; an instance near their end is retired.
                let room = |pipe: &MemoryOutputPipe| pipe.contents().len() < PIPE_CAPACITY / 2;
                let mut idle = idle.lock();
                if idle.len() < IDLE_INSTANCES && room(&stderr) && stdout.as_ref().is_none_or(room) {
                    idle.push(Idle { store, instance, stdout, stderr });
                }
                Ok(answer)
            }
            (result, _) => result.map(|(answer, _)| answer),
        };
        result.map_err(|err| {
            if err.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
                CallError::Deadline { plugin, deadline_ms }
            } else if memory_hit {
                CallError::Memory { plugin, limit_mib: self.limits.memory_mib }
            } else {
                let mut message = match err.downcast_ref::<Trap>() {
                    Some(trap) => trap.to_string(),
                    None => err.to_string(),
                };
                let stderr = String::from_utf8_lossy(&stderr_text);
                let tail = stderr.trim();
                if !tail.is_empty() {
                    let start = tail.len().saturating_sub(STDERR_TAIL);
                    let start = (start..tail.len()).find(|&i| tail.is_char_boundary(i)).unwrap_or(0);
                    message.push_str(&format!("; stderr: {}", &tail[start..]));
                }
                CallError::Trap { plugin, message }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_shows_name_version_and_short_hash() {
        let id = Identity { name: "p".into(), version: Some("1.0.0".into()), hash: "0123456789abcdef".into() };
        assert_eq!(id.to_string(), "p@1.0.0 (sha256:0123456789ab)");
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
