//! Plugin runtime benchmark: compile, cached load, instantiate, per-call
//! latency of every extension point (against the built-in policy and a
//! process spawn as baselines), and hot-reload latency.
//!
//! Run with `cargo xtask bench` (builds the plugins first). Prints medians and
//! tails; numbers vary with the machine, ratios much less.

use ringmaster::config::PluginsConfig;
use ringmaster::contract::{
    Candidate, ExtensionPoint, Failure, FailureKind, History, HookCall, JobInfo, ScheduleInput, SimilarJobs, SlotLoad,
    Timeouts,
};
use ringmaster::plugin::engine::{Compiler, content_hash, new_engine};
use ringmaster::plugin::registry::{PluginEvent, PluginHost};
use ringmaster::plugin::reload::watch;
use ringmaster::policy::builtin;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn plugins_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plugins")
}

fn built(name: &str) -> PathBuf {
    let path = plugins_dir().join(format!("{name}.wasm"));
    assert!(path.is_file(), "{} missing: run `cargo xtask bench`", path.display());
    path
}

/// The Python and JavaScript examples, built by `cargo xtask plugins`.
fn guest(name: &str) -> PathBuf {
    let path = plugins_dir().join("../guest-plugins").join(format!("{name}.wasm"));
    assert!(path.is_file(), "{} missing: run `cargo xtask bench`", path.display());
    path
}

/// Median, p95 and p99 of `samples`.
fn summary(mut samples: Vec<Duration>) -> (Duration, Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95), at(0.99))
}

fn measure(iterations: usize, mut f: impl FnMut()) -> (Duration, Duration, Duration) {
    for _ in 0..iterations / 10 {
        f(); // warm-up
    }
    summary(
        (0..iterations)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .collect(),
    )
}

/// Keeps the optimiser from dropping the measured work.
fn keep<T>(value: T) {
    std::hint::black_box(value);
}

fn us(d: Duration) -> String {
    format!("{:.2} us", d.as_secs_f64() * 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn row(what: &str, (p50, _, p99): (Duration, Duration, Duration), baseline: Option<Duration>) {
    let ratio =
        baseline.map(|b| format!("  ({:.1}x baseline)", p50.as_secs_f64() / b.as_secs_f64())).unwrap_or_default();
    println!("  {what:<44} p50 {:>12}  p99 {:>12}{ratio}", us(p50), us(p99));
}

fn job(i: usize) -> JobInfo {
    JobInfo {
        id: format!("00000000-0000-0000-0000-{i:012}"),
        prompt_preview: "Refactor the parser and add tests for the error paths".into(),
        prompt_bytes: 4_000,
        agent: "claude".into(),
        model: Some("sonnet".into()),
        priority: (i % 3) as i32,
        tags: vec!["refactor".into(), "parser".into()],
        depth: 1,
        root_id: format!("root-{}", i % 5),
        parent_id: Some(format!("root-{}", i % 5)),
        attempt: 1,
        submitted_at_ms: i as u64,
    }
}

/// Store data of the bare baseline: WASI and nothing else of ringmaster's.
struct Bare {
    ctx: wasmtime_wasi::WasiCtx,
    table: wasmtime::component::ResourceTable,
}

impl wasmtime_wasi::WasiView for Bare {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        wasmtime_wasi::WasiCtxView { ctx: &mut self.ctx, table: &mut self.table }
    }
}

/// `scheduler.rank` of one job, called the barest way wasmtime offers: a new
/// store with a default WASI context, `InstancePre::instantiate`, a dynamic
/// call; the host functions answer nothing. What ringmaster's sandbox adds
/// (limits, deadline, log capture, typed bindings) is measured against this.
fn bare_rank(engine: &wasmtime::Engine, component: &wasmtime::component::Component) -> impl FnMut() {
    use wasmtime::component::{Linker, Val};
    let mut linker: Linker<Bare> = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).unwrap();
    let mut host = linker.instance("ringmaster:plugin/host@0.1.0").unwrap();
    host.func_new("log", |_, _, _, _| Ok(())).unwrap();
    host.func_new("config-get", |_, _, _, results| {
        results[0] = Val::Option(None);
        Ok(())
    })
    .unwrap();
    host.func_new("config-all", |_, _, _, results| {
        results[0] = Val::List(Vec::new());
        Ok(())
    })
    .unwrap();
    host.func_new("now-ms", |_, _, _, results| {
        results[0] = Val::U64(0);
        Ok(())
    })
    .unwrap();
    let pre = linker.instantiate_pre(component).unwrap();
    let scheduler = component.get_export_index(None, "ringmaster:plugin/scheduler@0.1.0").unwrap();
    let rank = component.get_export_index(Some(&scheduler), "rank").unwrap();
    let text = |s: &str| Val::String(s.into());
    let job = Val::Record(vec![
        ("id".into(), text("00000000-0000-0000-0000-000000000000")),
        ("prompt-preview".into(), text("Refactor the parser and add tests for the error paths")),
        ("prompt-bytes".into(), Val::U32(4_000)),
        ("agent".into(), text("claude")),
        ("model".into(), Val::Option(Some(Box::new(text("sonnet"))))),
        ("priority".into(), Val::S32(0)),
        ("tags".into(), Val::List(vec![text("refactor"), text("parser")])),
        ("depth".into(), Val::U32(1)),
        ("root-id".into(), text("root-0")),
        ("parent-id".into(), Val::Option(Some(Box::new(text("root-0"))))),
        ("attempt".into(), Val::U32(1)),
        ("submitted-at-ms".into(), Val::U64(0)),
    ]);
    let engine = engine.clone();
    move || {
        let data = Bare { ctx: wasmtime_wasi::WasiCtx::builder().build(), table: Default::default() };
        let mut store = wasmtime::Store::new(&engine, data);
        // The engine interrupts at epoch deadlines; this one never comes.
        store.set_epoch_deadline(u64::MAX / 2);
        let instance = pre.instantiate(&mut store).unwrap();
        let func = instance.get_func(&mut store, rank).unwrap();
        let mut results = [Val::Bool(false)];
        func.call(&mut store, &[Val::List(vec![job.clone()])], &mut results).unwrap();
        keep(results);
    }
}

fn main() {
    println!(
        "ringmaster plugin runtime benchmark ({} build)",
        if cfg!(debug_assertions) { "debug" } else { "release" }
    );

    // -- compile and load --------------------------------------------------
    let bytes = std::fs::read(built("fair-share")).unwrap();
    let hash = content_hash(&bytes);
    let engine = new_engine(PluginsConfig::default().limits.max_memory_mib).unwrap();
    let uncached = Compiler::new(engine.clone(), None);
    let compile = measure(20, || keep(uncached.compile(&bytes, &hash).unwrap()));
    let cache = tempfile::tempdir().unwrap();
    let cached = Compiler::new(engine.clone(), Some(cache.path().into()));
    cached.compile(&bytes, &hash).unwrap();
    let load = measure(200, || keep(cached.compile(&bytes, &hash).unwrap()));
    println!("\nfair-share.wasm ({} KiB)", bytes.len() / 1024);
    println!("  compile (Cranelift)                          p50 {:>12}", ms(compile.0));
    println!(
        "  load from the compiled-code cache            p50 {:>12}  ({:.0}x faster)",
        ms(load.0),
        compile.0.as_secs_f64() / load.0.as_secs_f64()
    );

    let host =
        PluginHost::new(PluginsConfig { dirs: vec![plugins_dir()], ..Default::default() }, Some(cache.path().into()))
            .unwrap();
    let full = measure(20, || host.load(&built("fair-share")).unwrap());
    println!("  full load, cached (validate + smoke calls)   p50 {:>12}", ms(full.0));
    host.load_all();

    // -- per call ----------------------------------------------------------
    let spawn = measure(200, || {
        std::process::Command::new("/bin/true").status().unwrap();
    });
    println!(
        "\nper call (fair-share reuses idle instances, as its manifest says; the others get a fresh one each call)"
    );
    row("baseline: spawn and wait for /bin/true", spawn, None);
    let sched = host.get("fair-share").unwrap();
    row("instantiate only", measure(2000, || sched.instantiate_only().unwrap()), Some(spawn.0));

    let one = [job(0)];
    let native_rank = measure(2000, || keep(builtin::rank(&one)));
    row("baseline: built-in rank, 1 job", native_rank, None);
    let (component, _) = cached.compile(&bytes, &hash).unwrap();
    let bare = measure(2000, bare_rank(&engine, &component));
    row("baseline: bare instantiate + rank, 1 job", bare, None);
    row("scheduler.rank, 1 job", measure(2000, || keep(sched.rank(&one).unwrap())), Some(bare.0));
    let hundred: Vec<JobInfo> = (0..100).map(job).collect();
    row("scheduler.rank, 100 jobs", measure(1000, || keep(sched.rank(&hundred).unwrap())), Some(spawn.0));
    let input = ScheduleInput {
        candidates: (0..64).map(|i| Candidate { job: job(i), rank: 0, waited_ms: 64 - i as u64 }).collect(),
        slots: (0..4)
            .map(|index| SlotLoad {
                index,
                running: 1,
                free: 2,
                cooling_until_ms: None,
                recent_started: 9,
                recent_failed: 1,
                recent_rate_limited: 0,
            })
            .collect(),
        capacity: 8,
        roots: Vec::new(),
        queued_total: 100_000,
        now_ms: 0,
    };
    row("baseline: built-in select, window of 64", measure(2000, || keep(builtin::select(&input))), None);
    row("scheduler.select, window of 64", measure(2000, || keep(sched.select(&input).unwrap())), Some(spawn.0));

    let estimator = host.get("p95-timeout").unwrap();
    let h = History { count: 40, p50_ms: 60_000, p95_ms: 200_000, timeout_rate: 0.01 };
    let similar =
        SimilarJobs { by_tag: vec![("refactor".into(), h)], by_agent: h, by_model: h, by_prompt_size: h, overall: h };
    let fallback = Timeouts { hard_ms: 3_600_000, idle_ms: 600_000 };
    row(
        "timeout-estimator.estimate",
        measure(2000, || keep(estimator.estimate(&one[0], &similar, None, fallback).unwrap())),
        Some(spawn.0),
    );

    let retry = host.get("backoff-retry").unwrap();
    let failure = Failure {
        kind: FailureKind::Timeout,
        exit_code: None,
        signal: Some(15),
        stderr_tail: "x".repeat(2048),
        message: "ran past its timeout".into(),
        has_session: true,
        rate_limit_resets_at_ms: None,
    };
    row("retry-policy.decide", measure(2000, || keep(retry.decide(&one[0], 1, 3, &failure).unwrap())), Some(spawn.0));

    let hooks = host.get("deny-patterns").unwrap();
    let event = HookCall {
        name: "JobSubmit".into(),
        payload_json: format!(r#"{{"hook_event_name":"JobSubmit","prompt":"{}"}}"#, "refactor the parser ".repeat(50)),
        job: Some(one[0].clone()),
    };
    row(
        "hook-handler.handle, 1 KiB payload",
        measure(2000, || keep(hooks.handle_hook(&event).unwrap())),
        Some(spawn.0),
    );
    let commands = host.get("team-commands").unwrap();
    row(
        "commands.run",
        measure(2000, || keep(commands.run_command("review", "main error handling").unwrap())),
        Some(spawn.0),
    );

    guest_languages(&input, &spawn);

    // -- hot reload --------------------------------------------------------
    println!("\nhot reload: rename of a new build into the watched directory -> new build answering");
    let dir = tempfile::tempdir().unwrap();
    let config = PluginsConfig { dirs: vec![dir.path().into()], ..Default::default() };
    let debounce = config.reload_debounce_ms;
    let host = PluginHost::new(config, Some(cache.path().into())).unwrap();
    let events = host.subscribe();
    let _watcher = watch(host.clone()).unwrap();
    let mut samples = Vec::new();
    for round in 0..30u32 {
        // A custom section makes every round a new build: a cache miss and a real compile.
        let mut build = bytes.clone();
        let name = b"bench-round";
        let payload = round.to_le_bytes();
        build.push(0);
        build.push((1 + name.len() + payload.len()) as u8);
        build.push(name.len() as u8);
        build.extend_from_slice(name);
        build.extend_from_slice(&payload);
        let expected = content_hash(&build);
        let tmp = dir.path().join(".sched.tmp");
        std::fs::write(&tmp, &build).unwrap();
        let written = Instant::now();
        std::fs::rename(&tmp, dir.path().join("sched.wasm")).unwrap();
        loop {
            if host.get("sched").is_some_and(|p| p.identity.hash == expected) {
                break;
            }
            match events.recv_timeout(Duration::from_secs(30)).expect("reload within 30 s") {
                PluginEvent::Rejected { error, .. } => panic!("rejected: {error}"),
                _ => continue,
            }
        }
        host.call("sched", ExtensionPoint::Scheduler, |p| p.rank(&one)).unwrap();
        samples.push(written.elapsed());
    }
    let (p50, p95, _) = summary(samples);
    println!("  reload latency (debounce {debounce} ms included)   p50 {:>12}  p95 {:>12}", ms(p50), ms(p95));
}

/// The fair-share scheduler in Rust, Python and JavaScript: what a language
/// runtime inside the component costs at load and per call.
fn guest_languages(input: &ScheduleInput, spawn: &(Duration, Duration, Duration)) {
    println!("\nguest languages: fair-share in Rust, Python (componentize-py), JavaScript (componentize-js)");
    let cache = tempfile::tempdir().unwrap();
    let engine = new_engine(PluginsConfig::default().limits.max_memory_mib).unwrap();
    let mut rust_select = None;
    for (label, path) in
        [("rust", built("fair-share")), ("python", guest("fair-share-py")), ("javascript", guest("fair-share-js"))]
    {
        let bytes = std::fs::read(&path).unwrap();
        let hash = content_hash(&bytes);
        let uncached = Compiler::new(engine.clone(), None);
        let compile = measure(3, || keep(uncached.compile(&bytes, &hash).unwrap()));
        let cached = Compiler::new(engine.clone(), Some(cache.path().into()));
        cached.compile(&bytes, &hash).unwrap();
        let load = measure(20, || keep(cached.compile(&bytes, &hash).unwrap()));
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(&path, dir.path().join("sched.wasm")).unwrap();
        std::fs::copy(&path, dir.path().join("warm.wasm")).unwrap();
        // Deadlines for the measurement, not the default's 20 ms: a fresh
        // instance of a language runtime can take longer on a busy machine.
        let limits = "limits: { policy-deadline-ms: 1000 }";
        std::fs::write(dir.path().join("sched.yaml"), limits).unwrap();
        std::fs::write(dir.path().join("warm.yaml"), format!("{limits}\ninstances: reused")).unwrap();
        let config = PluginsConfig { dirs: vec![dir.path().into()], ..Default::default() };
        let host = PluginHost::new(config, Some(cache.path().into())).unwrap();
        host.load_all();
        let (sched, warm) = (host.get("sched").unwrap(), host.get("warm").unwrap());
        println!("  {label}: {:.1} MiB component", bytes.len() as f64 / (1 << 20) as f64);
        println!("    compile (Cranelift)                        p50 {:>12}", ms(compile.0));
        println!("    load from the compiled-code cache          p50 {:>12}", ms(load.0));
        row("  instantiate only", measure(200, || sched.instantiate_only().unwrap()), Some(spawn.0));
        let one = [job(0)];
        row("  scheduler.rank, 1 job", measure(200, || keep(sched.rank(&one).unwrap())), Some(spawn.0));
        row("  ... reused instance", measure(200, || keep(warm.rank(&one).unwrap())), Some(spawn.0));
        let select = measure(200, || keep(sched.select(input).unwrap()));
        let baseline = *rust_select.get_or_insert(select.0);
        row("  scheduler.select, window of 64", select, Some(baseline));
        row("  ... reused instance", measure(200, || keep(warm.select(input).unwrap())), Some(baseline));
        let memory = sched.peak_memory_bytes().max(warm.peak_memory_bytes());
        println!("    linear memory per call (peak)              {:>12.1} MiB", memory as f64 / (1 << 20) as f64);
    }
}
