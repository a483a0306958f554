//! The wasmtime engine every plugin runs in, its epoch clock, and the on-disk
//! cache of compiled code.
//!
//! Instances come from a pool: every call instantiates its plugin afresh,
//! and mapping a new linear memory for each (then unmapping it) cost more
//! than the call itself. The pooling allocator keeps slots mapped and resets
//! them between uses, so an instantiation is a few microseconds. The pool is
//! reserved address space, not memory: slots are only backed as plugins
//! touch them.
//!
//! Deadlines use epoch interruption rather than fuel: a ticker thread bumps
//! the engine's epoch every [`TICK`] while calls are being made, and each
//! call's store is given a deadline in ticks. That costs one load and compare
//! per loop back-edge in the plugin, where fuel costs a counter update per
//! basic block. After [`TICKER_REST`] without a call the ticker sleeps (a
//! waiting server uses no CPU) until the next call wakes it; between calls in
//! a busy period it keeps ticking, since waking it costs a call more than the
//! call itself.
//!
//! Compiling a component takes tens of milliseconds (seconds for one that
//! carries a Python or JavaScript runtime); loading a precompiled copy takes
//! a fraction of one. The cache is keyed by the component's
//! SHA-256 and by the engine's compatibility hash (wasmtime version,
//! compiler settings, CPU features), so a restart or a reload of an
//! unchanged file skips compilation, and a wasmtime upgrade never loads
//! stale code.

use parking_lot::{Condvar, Mutex};
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Resolution of call deadlines.
pub const TICK: Duration = Duration::from_millis(2);
/// How long the epoch ticker goes on after the last call before it sleeps.
const TICKER_REST: Duration = Duration::from_secs(1);

/// Plugin instances alive at once, at most: calls in flight, each on a
/// blocking thread. A call beyond fails (and its caller falls back, as for
/// any failed call).
const POOLED_INSTANCES: u32 = 1000;
/// Linear memory of an instance kept mapped between uses (reset by writing
/// zeros rather than by unmapping): what a typical plugin touches per call.
const KEEP_RESIDENT: usize = 0;

/// Creates the engine all plugins share. `max_memory_mib` is the most any
/// plugin may be given (`plugins.limits.max-memory-mib`).
pub fn new_engine(max_memory_mib: u64) -> wasmtime::Result<Engine> {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(POOLED_INSTANCES)
        .total_core_instances(4 * POOLED_INSTANCES)
        .total_memories(POOLED_INSTANCES)
        .total_tables(POOLED_INSTANCES)
        .max_memory_size((max_memory_mib.min(4096) << 20) as usize)
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(KEEP_RESIDENT);
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config)
}

/// Deadline in epoch ticks for a call allowed to run `ms` milliseconds. The
/// extra tick covers the partial tick already under way when the call starts.
pub fn deadline_ticks(ms: u64) -> u64 {
    ms.div_ceil(TICK.as_millis() as u64) + 1
}

/// Advances the engine's epoch every [`TICK`] while calls are being made
/// ([`EpochTicker::call`]), and for [`TICKER_REST`] after. Clones share the
/// ticker; its thread ends when the last one is dropped.
#[derive(Clone)]
pub struct EpochTicker {
    handle: Arc<TickerHandle>,
}

/// Calls in flight, and whether the ticker should end.
struct Calls {
    in_flight: usize,
    /// When the last call ended.
    last: Instant,
    /// The ticker waits for a call.
    asleep: bool,
    stopped: bool,
}

struct Ticking {
    calls: Mutex<Calls>,
    changed: Condvar,
}

/// Held by the ticker's users; ends the thread when dropped.
struct TickerHandle {
    ticking: Arc<Ticking>,
}

impl Drop for TickerHandle {
    fn drop(&mut self) {
        self.ticking.calls.lock().stopped = true;
        self.ticking.changed.notify_one();
    }
}

/// A call in flight: the epoch advances while one is alive.
pub struct InFlight<'a> {
    ticking: &'a Ticking,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut calls = self.ticking.calls.lock();
        calls.in_flight -= 1;
        calls.last = Instant::now();
    }
}

impl EpochTicker {
    /// Ticks `engine`'s epoch.
    pub fn start(engine: &Engine) -> EpochTicker {
        let engine = engine.clone();
        Self::start_with(move || engine.increment_epoch())
    }

    fn start_with(tick: impl Fn() + Send + 'static) -> EpochTicker {
        let calls = Calls { in_flight: 0, last: Instant::now(), asleep: false, stopped: false };
        let ticking = Arc::new(Ticking { calls: Mutex::new(calls), changed: Condvar::new() });
        let shared = ticking.clone();
        std::thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn(move || {
                let mut calls = shared.calls.lock();
                while !calls.stopped {
                    if calls.in_flight == 0 && calls.last.elapsed() >= TICKER_REST {
                        calls.asleep = true;
                        shared.changed.wait(&mut calls);
                        calls.asleep = false;
                        continue;
                    }
                    let _ = shared.changed.wait_for(&mut calls, TICK);
                    tick();
                }
            })
            .expect("spawning the epoch thread");
        EpochTicker { handle: Arc::new(TickerHandle { ticking }) }
    }

    /// Marks a call in flight until the guard is dropped. Its deadline counts
    /// from here: the epoch may have stood still before.
    pub fn call(&self) -> InFlight<'_> {
        let ticking = &*self.handle.ticking;
        let mut calls = ticking.calls.lock();
        calls.in_flight += 1;
        if calls.asleep {
            ticking.changed.notify_one();
        }
        InFlight { ticking }
    }
}

/// Hex SHA-256 of a plugin's bytes: the identity of a build.
pub fn content_hash(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// How a component was obtained, for logs and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded from the cache: no compilation.
    Hit,
    /// Compiled (and stored, when there is a cache).
    Compiled,
}

/// Compiles components, through a cache directory when one is configured.
#[derive(Clone)]
pub struct Compiler {
    engine: Engine,
    cache_dir: Option<PathBuf>,
    compat: String,
}

impl Compiler {
    pub fn new(engine: Engine, cache_dir: Option<PathBuf>) -> Compiler {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let compat = format!("{:016x}", hasher.finish());
        Compiler { engine, cache_dir, compat }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles `bytes` (whose SHA-256 is `hash`), or loads the cached result.
    /// Cache trouble never fails a load: it only costs a compilation.
    pub fn compile(&self, bytes: &[u8], hash: &str) -> wasmtime::Result<(Component, CacheOutcome)> {
        let Some(dir) = &self.cache_dir else {
            return Ok((Component::new(&self.engine, bytes)?, CacheOutcome::Compiled));
        };
        let entry = dir.join(format!("{hash}-{}.cwasm", self.compat));
        if entry.exists() {
            // SAFETY: the entry was written by `store` below from a component
            // this engine compiled, into a directory only ringmaster writes;
            // wasmtime also checks the header and engine compatibility.
            match unsafe { Component::deserialize_file(&self.engine, &entry) } {
                Ok(component) => return Ok((component, CacheOutcome::Hit)),
                Err(err) => {
                    tracing::warn!(entry = %entry.display(), error = %err, "discarding unusable compiled-code cache entry");
                    let _ = std::fs::remove_file(&entry);
                }
            }
        }
        let component = Component::new(&self.engine, bytes)?;
        if let Err(err) = store(dir, &entry, &component) {
            tracing::warn!(dir = %dir.display(), error = %err, "cannot write the compiled-code cache");
        }
        Ok((component, CacheOutcome::Compiled))
    }
}

/// Writes a cache entry atomically, so a concurrent reader never sees half of
/// one. The temporary file is unique to this write: two threads (or hosts)
/// compiling the same component at once each write their own.
fn store(dir: &Path, entry: &Path, component: &Component) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, &component.serialize()?)?;
    tmp.persist(entry)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn the_epoch_ticker_rests_when_no_call_is_made() {
        let ticks = Arc::new(AtomicU64::new(0));
        let counter = ticks.clone();
        let ticker = EpochTicker::start_with(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        // A waiting server uses no CPU: once rested, the ticker sleeps.
        std::thread::sleep(TICKER_REST + TICK * 100);
        let asleep = ticks.load(Ordering::SeqCst);
        std::thread::sleep(TICK * 20);
        assert_eq!(ticks.load(Ordering::SeqCst), asleep, "ticked with no call for longer than its rest");
        {
            let _call = ticker.call();
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while ticks.load(Ordering::SeqCst) < 3 {
                assert!(std::time::Instant::now() < deadline, "no tick during a call");
                std::thread::sleep(TICK);
            }
        }
        std::thread::sleep(TICKER_REST + TICK * 100);
        let after = ticks.load(Ordering::SeqCst);
        std::thread::sleep(TICK * 20);
        assert_eq!(ticks.load(Ordering::SeqCst), after, "kept ticking after its rest");
    }

    #[test]
    fn deadlines_round_up_and_cover_the_current_tick() {
        assert_eq!(deadline_ticks(20), 11);
        assert_eq!(deadline_ticks(1), 2);
    }

    #[test]
    fn content_hash_is_hex_sha256() {
        assert_eq!(content_hash(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
