//! Job engine benchmark: throughput against spawning the agent directly,
//! submit-to-start latency, memory with a deep queue, how long fifty
//! stubborn agents timing out together take to clean up, and what
//! `JobSubmit` hooks (a command, a WASM plugin) add to a submission, and
//! what dependencies (`after`) cost: submitting a pipeline, handing over
//! from one step to the next, and many waiting jobs beside a busy queue;
//! and what isolation costs in a repository of 10,000 files: a worktree
//! made and removed, a checkpoint, a job in a worktree or with checkpoints.
//!
//! Run with `cargo xtask bench`. `RINGMASTER_BENCH_ONLY=throughput` runs the
//! first section alone, for a profiler (`=dependencies`, `=isolation` others). The agent is `fake-claude` (built by the same
//! command); both sides of each comparison run in the same process.

use ringmaster::config::{EngineConfig, PluginsConfig};
use ringmaster::engine::{Engine, EngineOptions};
use ringmaster::executor::agent::AgentProfile;
use ringmaster::hooks::{Hooks, HooksOptions};
use ringmaster::job::{JobSpec, JobStatus};
use ringmaster::plugin::registry::PluginHost;
use ringmaster::policy::Policies;
use ringmaster::store::Store;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

const JOBS: usize = 1000;
const CONCURRENCY: u32 = 8;
/// Rounds of each comparison but the throughput one.
const ROUNDS: usize = 5;
/// Rounds of the throughput comparison: more, as its rounds vary most
/// (from 0.65x to 0.95x within one run on a 2-core machine).
const THROUGHPUT_ROUNDS: usize = 20;

fn fake_claude() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_fake-claude"));
    assert!(path.is_file());
    path
}

async fn engine(config: EngineConfig, dir: &std::path::Path) -> Engine {
    engine_with(config, dir, PluginHost::new(PluginsConfig::default(), None).unwrap(), None).await
}

async fn engine_with(
    config: EngineConfig,
    dir: &std::path::Path,
    plugins: Arc<PluginHost>,
    hooks: Option<Arc<Hooks>>,
) -> Engine {
    let agent = AgentProfile { command: Some(fake_claude()), ..Default::default() };
    let state = dir.join(".ringmaster");
    std::fs::create_dir_all(&state).unwrap();
    Engine::start(EngineOptions {
        config,
        agents: BTreeMap::from([("claude".to_string(), agent)]),
        project_dir: dir.to_path_buf(),
        tokens: Vec::new(),
        credential_vars: ringmaster::credentials::credential_vars(&[]),
        policies: Arc::new(Policies::new(plugins)),
        hooks,
        store: Store::open(&state.join("jobs.db")).unwrap(),
        wiring: Default::default(),
        state_dir: state,
    })
    .await
    .unwrap()
}

fn job(prompt: &str) -> JobSpec {
    JobSpec { prompt: prompt.into(), max_retries: Some(0), ..Default::default() }
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// CPU time this process (the host, not its children) has used so far.
fn host_cpu() -> Duration {
    Cpu::now().host
}

/// Where CPU time went, so far: this process (the host), its reaped
/// children (the agents), and the machine's idle time.
#[derive(Clone, Copy)]
struct Cpu {
    host: Duration,
    children: Duration,
    idle: Duration,
}

impl Cpu {
    fn now() -> Cpu {
        let ticks = |t: u64| Duration::from_millis(t * 10); // 100 per second here
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        // Fields after the command (which may hold spaces): utime, stime,
        // cutime and cstime are the 14th to 17th fields overall.
        let fields: Vec<u64> =
            stat.rsplit_once(')').unwrap().1.split_whitespace().skip(11).take(4).map(|f| f.parse().unwrap()).collect();
        let machine = std::fs::read_to_string("/proc/stat").unwrap();
        // `cpu  user nice system idle iowait ...`: idle is the 4th number.
        let idle = machine.lines().next().unwrap().split_whitespace().nth(4).unwrap().parse().unwrap();
        Cpu { host: ticks(fields[0] + fields[1]), children: ticks(fields[2] + fields[3]), idle: ticks(idle) }
    }

    /// Per job, since `start`.
    fn per_job_since(start: Cpu, jobs: usize) -> Cpu {
        let now = Cpu::now();
        let jobs = jobs as u32;
        Cpu {
            host: (now.host - start.host) / jobs,
            children: (now.children - start.children) / jobs,
            idle: (now.idle - start.idle) / jobs,
        }
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn percentile(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort();
    samples[((samples.len() - 1) as f64 * q).round() as usize]
}

#[tokio::main]
async fn main() {
    println!("ringmaster engine benchmark ({} build)", if cfg!(debug_assertions) { "debug" } else { "release" });
    let dir = tempfile::tempdir().unwrap();
    // `RINGMASTER_BENCH_ONLY=dependencies` runs the last section alone.
    if std::env::var("RINGMASTER_BENCH_ONLY").is_ok_and(|only| only == "dependencies") {
        dependencies().await;
        return;
    }
    if std::env::var("RINGMASTER_BENCH_ONLY").is_ok_and(|only| only == "isolation") {
        isolation().await;
        return;
    }

    // Throughput: the same agent spawned directly, CONCURRENCY at a time (the
    // baseline), then through the engine; in alternating rounds, so that
    // both sides see the same machine, and the medians are reported.
    let config =
        EngineConfig { max_concurrent: Some(CONCURRENCY), max_concurrent_per_depth: CONCURRENCY, ..Default::default() };
    let engine_a = engine(config.clone(), dir.path()).await;
    let (mut direct, mut through, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let (mut direct_cpu, mut engine_cpu) = (Vec::new(), Vec::new());
    let (mut one_by_one, mut one_by_one_ratios) = (Vec::new(), Vec::new());
    for round in 0..THROUGHPUT_ROUNDS {
        let cpu = Cpu::now();
        let started = Instant::now();
        let semaphore = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY as usize));
        let mut tasks = Vec::new();
        for i in 0..JOBS {
            let permit = semaphore.clone().acquire_owned().await.unwrap();
            tasks.push(tokio::spawn(async move {
                let out = tokio::process::Command::new(fake_claude())
                    .args(["-p", &format!("direct {round}.{i}"), "--output-format", "stream-json", "--verbose"])
                    .output()
                    .await
                    .unwrap();
                assert!(out.status.success());
                drop(permit);
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        direct.push(JOBS as f64 / started.elapsed().as_secs_f64());
        direct_cpu.push(Cpu::per_job_since(cpu, JOBS));

        // The batch in one call, as `job_submit_batch` queues it.
        let cpu = Cpu::now();
        let started = Instant::now();
        let specs = (0..JOBS).map(|i| job(&format!("engine {round}.{i}"))).collect();
        let (queued, refused) = engine_a.submit_all(specs).await;
        assert!(refused.is_none(), "{refused:?}");
        let ids: Vec<String> = queued.into_iter().map(|r| r.job_id).collect();
        let records = engine_a.wait(&ids, Duration::from_secs(600)).await.unwrap();
        through.push(JOBS as f64 / started.elapsed().as_secs_f64());
        engine_cpu.push(Cpu::per_job_since(cpu, JOBS));
        if let Some(failed) = records.iter().find(|r| r.status != JobStatus::Succeeded) {
            panic!("a job did not succeed: {failed:#?}");
        }
        ratios.push(through[round] / direct[round]);

        // One `job_submit` call per job, each answered once stored.
        let started = Instant::now();
        let mut ids = Vec::new();
        for i in 0..JOBS {
            ids.push(engine_a.submit(job(&format!("engine one by one {round}.{i}"))).await.unwrap().job_id);
        }
        engine_a.wait(&ids, Duration::from_secs(600)).await.unwrap();
        one_by_one.push(JOBS as f64 / started.elapsed().as_secs_f64());
        one_by_one_ratios.push(one_by_one[round] / direct[round]);
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("\n{JOBS} trivial jobs, {CONCURRENCY} at a time (medians of {THROUGHPUT_ROUNDS} alternating rounds)");
    println!("  spawning fake-claude directly       {:>8.1} jobs/s", median(&direct));
    let rounds = |ratios: &[f64]| ratios.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>().join(" ");
    println!(
        "  through the engine, one batch       {:>8.1} jobs/s   ({:.2}x the direct rate; rounds {})",
        median(&through),
        median(&ratios),
        rounds(&ratios)
    );
    println!(
        "  through the engine, one by one      {:>8.1} jobs/s   ({:.2}x; rounds {})",
        median(&one_by_one),
        median(&one_by_one_ratios),
        rounds(&one_by_one_ratios)
    );
    // Where a job's time went (medians; ticks of 10 ms over 1,000 jobs).
    let cpu = |samples: &[Cpu], of: fn(&Cpu) -> Duration| {
        let mut values: Vec<Duration> = samples.iter().map(of).collect();
        ms(percentile(&mut values, 0.5))
    };
    for (what, of) in [
        ("host CPU per job", (|c: &Cpu| c.host) as fn(&Cpu) -> Duration),
        ("agent CPU per job", |c: &Cpu| c.children),
        ("idle CPU per job (all cores)", |c: &Cpu| c.idle),
    ] {
        println!(
            "  {what:<36}{:>8.2} ms directly, {:.2} ms through the engine (batch)",
            cpu(&direct_cpu, of),
            cpu(&engine_cpu, of)
        );
    }

    // `RINGMASTER_BENCH_ONLY=throughput` stops here (for a profiler).
    if std::env::var("RINGMASTER_BENCH_ONLY").is_ok_and(|only| only == "throughput") {
        engine_a.shutdown();
        return;
    }

    // Submit-to-start at idle: submit one job, wait for it to be running.
    let mut to_start = Vec::new();
    let mut to_end = Vec::new();
    let mut changes = engine_a.subscribe();
    for i in 0..200 {
        let begin = Instant::now();
        let id = engine_a.submit(job(&format!("latency {i}"))).await.unwrap().job_id;
        let mut seen_start = false;
        loop {
            let record = engine_a.status(&id).await.unwrap();
            if !seen_start && record.status != JobStatus::Queued {
                to_start.push(begin.elapsed());
                seen_start = true;
            }
            if record.status.is_terminal() {
                to_end.push(begin.elapsed());
                break;
            }
            changes.changed().await.unwrap();
        }
    }
    println!("\nidle engine, one job at a time (200 jobs)");
    println!(
        "  submit -> started (agent spawning)   p50 {:>8.2} ms   p99 {:>8.2} ms",
        percentile(&mut to_start, 0.5).as_secs_f64() * 1e3,
        percentile(&mut to_start, 0.99).as_secs_f64() * 1e3
    );
    println!(
        "  submit -> finished (whole job)       p50 {:>8.2} ms   p99 {:>8.2} ms",
        percentile(&mut to_end, 0.5).as_secs_f64() * 1e3,
        percentile(&mut to_end, 0.99).as_secs_f64() * 1e3
    );
    engine_a.shutdown();

    // Memory with a deep queue: one job holds the only place, 10,000 wait.
    let deep = tempfile::tempdir().unwrap();
    let engine_b = engine(EngineConfig { max_concurrent: Some(1), ..Default::default() }, deep.path()).await;
    let blocker = engine_b.submit(job("@hang")).await.unwrap().job_id;
    let before = rss_kib();
    let started = Instant::now();
    for i in 0..10_000 {
        engine_b.submit(job(&format!("queued job {i}: refactor module {i} and add tests"))).await.unwrap();
    }
    let submit_rate = 10_000.0 / started.elapsed().as_secs_f64();
    let after = rss_kib();
    println!("\n10,000 queued jobs");
    println!("  submit rate                          {submit_rate:>8.0} jobs/s");
    println!(
        "  host RSS                             {:>8.1} MiB  (+{:.1} MiB for the queue)",
        after as f64 / 1024.0,
        (after - before) as f64 / 1024.0
    );
    engine_b.cancel(&blocker).await.unwrap();
    engine_b.shutdown();

    // Fifty agents that ignore SIGTERM, timing out together.
    let grace = Duration::from_secs(2);
    let many = tempfile::tempdir().unwrap();
    let config = EngineConfig {
        max_concurrent: Some(50),
        max_concurrent_per_depth: 50,
        kill_grace_ms: grace.as_millis() as u64,
        ..Default::default()
    };
    let engine_c = engine(config, many.path()).await;
    let mut ids = Vec::new();
    for _ in 0..50 {
        ids.push(engine_c.submit(JobSpec { timeout_s: Some(1), ..job("@hang:stubborn") }).await.unwrap().job_id);
    }
    let records = engine_c.wait(&ids, Duration::from_secs(120)).await.unwrap();
    assert!(records.iter().all(|r| r.status == JobStatus::TimedOut));
    let cleanup = records.iter().map(|r| r.finished_at_ms.unwrap() - r.history[0].started_at_ms - 1000).max().unwrap();
    println!("\n50 agents ignoring SIGTERM, all timing out at 1 s, kill grace {} s", grace.as_secs());
    println!(
        "  timeout -> all killed and reaped     {:>8.2} s   ({:.2} grace periods)",
        cleanup as f64 / 1e3,
        cleanup as f64 / grace.as_millis() as f64
    );
    engine_c.shutdown();

    transcripts(dir.path()).await;
    submit_with_hooks().await;
    dependencies().await;
    isolation().await;
}

/// Transcript lines into the store: 8 agents at once, each printing 5,000
/// lines as fast as it can. Baseline: the same agents spawned directly, their
/// output read to the end and dropped.
async fn transcripts(dir: &std::path::Path) {
    const AGENTS: usize = 8;
    const LINES: usize = 5000;
    let prompt = format!("@lines:{LINES}");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..AGENTS {
        let prompt = prompt.clone();
        tasks.push(tokio::spawn(async move {
            let out = tokio::process::Command::new(fake_claude())
                .args(["-p", &prompt, "--output-format", "stream-json", "--verbose"])
                .output()
                .await
                .unwrap();
            assert!(out.status.success() && out.stdout.len() > LINES * 100);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let direct = (AGENTS * LINES) as f64 / started.elapsed().as_secs_f64();

    let config = EngineConfig {
        max_concurrent: Some(AGENTS as u32),
        max_concurrent_per_depth: AGENTS as u32,
        ..Default::default()
    };
    std::fs::create_dir_all(dir.join("transcripts")).unwrap();
    let engine = engine(config, &dir.join("transcripts")).await;
    let started = Instant::now();
    let mut ids = Vec::new();
    for _ in 0..AGENTS {
        ids.push(engine.submit(job(&prompt)).await.unwrap().job_id);
    }
    let records = engine.wait(&ids, Duration::from_secs(600)).await.unwrap();
    let through = (AGENTS * LINES) as f64 / started.elapsed().as_secs_f64();
    assert!(records.iter().all(|r| r.status == JobStatus::Succeeded));
    let stored = engine.transcript(&ids[0], 0, 2 * LINES).await.unwrap().len();
    assert!(stored > LINES, "every line is in the store once the job has finished ({stored})");
    println!("\n{AGENTS} agents printing {LINES} transcript lines each");
    println!("  read directly and dropped            {direct:>8.0} lines/s");
    println!(
        "  through the engine into the store    {through:>8.0} lines/s   ({:.2}x the direct rate)",
        through / direct
    );
    engine.shutdown();
}

/// `engine.submit` while one job holds the only place (so submissions only
/// queue): without hooks, with a `JobSubmit` command hook, with a WASM one.
async fn submit_with_hooks() {
    let plugins_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plugins");
    let mut plugins_config = PluginsConfig { dirs: vec![plugins_dir.clone()], ..Default::default() };
    plugins_config.config.insert(
        "deny-patterns".into(),
        BTreeMap::from([("patterns".to_string(), ringmaster::config::ConfigValue::String("rm -rf /".into()))]),
    );
    // Only the WASM row has the plugin: a loaded hook plugin runs on its own
    // for the events it asks for, and would be measured in the other rows too.
    let no_plugins = PluginHost::new(PluginsConfig::default(), None).unwrap();
    let plugins = PluginHost::new(plugins_config, None).unwrap();
    plugins.load(&plugins_dir.join("deny-patterns.wasm")).expect("deny-patterns is built by `cargo xtask bench`");
    let configs = [
        ("no hooks", None, &no_plugins),
        (
            "a command hook (sh: read stdin, exit 0)",
            Some(r#"{"hooks":{"JobSubmit":[{"hooks":[{"type":"command","command":"cat > /dev/null"}]}]}}"#),
            &no_plugins,
        ),
        (
            "a WASM hook (deny-patterns)",
            Some(r#"{"hooks":{"JobSubmit":[{"hooks":[{"type":"wasm","plugin":"deny-patterns"}]}]}}"#),
            &plugins,
        ),
    ];
    println!(
        "
JobSubmit hooks, 300 submissions each (the job only queues)"
    );
    let mut baseline = None;
    for (what, config, plugins) in configs {
        let dir = tempfile::tempdir().unwrap();
        let hooks = config.map(|text| {
            std::fs::create_dir(dir.path().join("hooks")).unwrap();
            std::fs::write(dir.path().join("hooks/bench.json"), text).unwrap();
            Hooks::new(
                HooksOptions {
                    dirs: vec![dir.path().join("hooks")],
                    project_dir: dir.path().to_path_buf(),
                    command_timeout: Duration::from_secs(60),
                    shell: Arc::new(ringmaster::executor::shell::Shell::new(32, &[])),
                },
                plugins.clone(),
            )
        });
        let engine = engine_with(
            EngineConfig { max_concurrent: Some(1), ..Default::default() },
            dir.path(),
            plugins.clone(),
            hooks,
        )
        .await;
        let blocker = engine.submit(job("@hang")).await.unwrap().job_id;
        let mut samples = Vec::new();
        for i in 0..300 {
            let begin = Instant::now();
            engine.submit(job(&format!("queued {i}"))).await.unwrap();
            samples.push(begin.elapsed());
        }
        let p50 = percentile(&mut samples, 0.5);
        let p99 = percentile(&mut samples, 0.99);
        let base = *baseline.get_or_insert(p50);
        println!(
            "  {what:<40} p50 {:>8.3} ms   p99 {:>8.3} ms   ({:.1}x)",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            p50.as_secs_f64() / base.as_secs_f64()
        );
        engine.cancel(&blocker).await.unwrap();
        engine.shutdown();
    }
}

/// Dependencies: a 1,000-job batch (a chain of 500 and a fan-in of 499 into
/// one) against the same batch without `after`, submitted into a paused
/// queue; a chain of 100 run through against the same 100 jobs submitted
/// one after another by a client waiting for each; and the engine's cost per
/// job while 100, 1,000 and 10,000 jobs wait. Each in [`ROUNDS`] alternating
/// rounds; medians.
async fn dependencies() {
    use ringmaster::job::After;
    const BATCH: usize = 1000;
    const CHAIN: usize = 100;
    const QUICK: usize = 300;
    const WAITING: [usize; 3] = [100, 1_000, 10_000];
    let pipeline = |with_after: bool| -> Vec<JobSpec> {
        (0..BATCH)
            .map(|i| {
                let after = match (with_after, i) {
                    (false, _) | (_, 0) | (_, 500) => vec![],
                    (true, 1..500) => vec![After::Entry(i - 1)],
                    (true, 501..999) => vec![],
                    (true, _) => (500..999).map(After::Entry).collect(),
                };
                let prompt = match after.is_empty() {
                    true => format!("step {i}"),
                    false => format!("step {i}, after: {{{{after.0.result}}}}"),
                };
                JobSpec { after, ..job(&prompt) }
            })
            .collect()
    };
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (mut submit, mut submit_rss) = ([Vec::new(), Vec::new()], [Vec::new(), Vec::new()]);
    let (mut sequential, mut chained) = (Vec::new(), Vec::new());
    let (mut per_job, mut cpu_per_job) = ([Vec::new(), Vec::new(), Vec::new()], [Vec::new(), Vec::new(), Vec::new()]);
    for _ in 0..ROUNDS {
        for (side, with_after) in [false, true].into_iter().enumerate() {
            let dir = tempfile::tempdir().unwrap();
            let paused = engine(EngineConfig { max_queue: 20_000, ..Default::default() }, dir.path()).await;
            paused.set_paused(None, true).await.unwrap();
            let rss = rss_kib();
            let started = Instant::now();
            let (queued, refused) = paused.submit_all(pipeline(with_after)).await;
            submit[side].push(ms(started.elapsed()));
            submit_rss[side].push(rss_kib().saturating_sub(rss) as f64 / 1024.0);
            assert!(refused.is_none() && queued.len() == BATCH, "{refused:?}");
            paused.shutdown();
        }

        // Hand-over from step to step.
        let dir = tempfile::tempdir().unwrap();
        let steps = engine(EngineConfig::default(), dir.path()).await;
        let started = Instant::now();
        for i in 0..CHAIN {
            let id = steps.submit(job(&format!("sequential {i}"))).await.unwrap().job_id;
            steps.wait(&[id], Duration::from_secs(60)).await.unwrap();
        }
        sequential.push(ms(started.elapsed()) / CHAIN as f64);
        let started = Instant::now();
        let chain = (0..CHAIN)
            .map(|i| JobSpec {
                after: if i == 0 { vec![] } else { vec![After::Entry(i - 1)] },
                ..job(&format!("chained {i}"))
            })
            .collect();
        let (queued, _) = steps.submit_all(chain).await;
        let last = queued.last().unwrap().job_id.clone();
        let record = steps.wait(&[last], Duration::from_secs(600)).await.unwrap().remove(0);
        assert_eq!(record.status, JobStatus::Succeeded);
        chained.push(ms(started.elapsed()) / CHAIN as f64);
        steps.shutdown();

        // Waiting jobs beside a busy queue: quick jobs, 7 at a time, while
        // N jobs wait for one that never ends.
        for (at, waiting) in WAITING.into_iter().enumerate() {
            let dir = tempfile::tempdir().unwrap();
            let config = EngineConfig { max_concurrent: Some(CONCURRENCY), max_queue: 20_000, ..Default::default() };
            let busy = engine(config, dir.path()).await;
            let blocker = busy.submit(job("@hang")).await.unwrap().job_id;
            let specs = (0..waiting)
                .map(|i| JobSpec { after: vec![After::Job(blocker.clone())], ..job(&format!("waits {i}")) })
                .collect();
            let (queued, refused) = busy.submit_all(specs).await;
            assert!(refused.is_none() && queued.len() == waiting, "{refused:?}");
            let cpu = host_cpu();
            let started = Instant::now();
            let (queued, _) = busy.submit_all((0..QUICK).map(|i| job(&format!("quick {i}"))).collect()).await;
            let ids: Vec<String> = queued.into_iter().map(|r| r.job_id).collect();
            busy.wait(&ids, Duration::from_secs(600)).await.unwrap();
            per_job[at].push(ms(started.elapsed()) / QUICK as f64);
            cpu_per_job[at].push(ms(host_cpu() - cpu) / QUICK as f64);
            let cancelled = busy.cancel(&blocker).await.unwrap();
            assert_eq!(cancelled.cancelled_dependants.len(), waiting);
            busy.shutdown();
        }
    }
    println!("\ndependencies (after), medians of {ROUNDS} rounds");
    for (side, what) in ["1,000 independent jobs (baseline)", "chain of 500 + fan-in of 499"].iter().enumerate() {
        // The most RSS grew by: later rounds reuse what the first freed.
        let rss = submit_rss[side].iter().copied().fold(0.0, f64::max);
        println!(
            "  submit {what:<36} {:>8.1} ms   ({:.2}x the baseline; RSS +{rss:.1} MiB at most)",
            median(&submit[side]),
            median(&submit[side]) / median(&submit[0]),
        );
    }
    println!(
        "  chain of {CHAIN}, run through           {:>8.2} ms per step   ({:.2}x a client submitting each after the last: {:.2} ms)",
        median(&chained),
        median(&chained) / median(&sequential),
        median(&sequential)
    );
    for (at, waiting) in WAITING.into_iter().enumerate() {
        println!(
            "  {QUICK} jobs beside {waiting:>6} waiting      {:>8.2} ms per job   ({:.2}x with 100 waiting; host CPU {:.2} ms per job)",
            median(&per_job[at]),
            median(&per_job[at]) / median(&per_job[0]),
            median(&cpu_per_job[at])
        );
    }
}

/// Isolation in a repository of 10,000 files (100 directories of 100): a
/// worktree made and removed as the engine does it, against copying the
/// same files (the cheapest isolation there is); a checkpoint (what
/// `checkpoint: true` adds at a job's start, and again at its end), against
/// spawning the agent; and whole jobs, plain, with checkpoints, in a worktree.
async fn isolation() {
    const FILES: usize = 10_000;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    for i in 0..FILES {
        let path = project.join(format!("src/m{:02}/f{:03}.rs", i / 100, i % 100));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, format!("// file {i}\npub fn f{i}() -> usize {{ {i} }}\n")).unwrap();
    }
    let git_cli = |args: &[&str]| {
        let status = std::process::Command::new("git")
            .args(args)
            .current_dir(&project)
            .env("GIT_AUTHOR_NAME", "b")
            .env("GIT_AUTHOR_EMAIL", "b@b")
            .env("GIT_COMMITTER_NAME", "b")
            .env("GIT_COMMITTER_EMAIL", "b@b")
            .output()
            .unwrap();
        assert!(status.status.success(), "git {args:?}: {status:?}");
    };
    git_cli(&["init", "-q", "-b", "main"]);
    git_cli(&["add", "-A"]);
    git_cli(&["commit", "-q", "-m", "10,000 files"]);
    let git = ringmaster::git::Git::new(std::env::vars(), |name| {
        ringmaster::executor::shell::BASE_ENV.contains(&name) || name.starts_with("LC_")
    });
    let base = git.commit_of(&project, "HEAD").await.unwrap();
    let scratch = dir.path().join("scratch");

    let (mut worktree, mut copy, mut checkpoint, mut spawn) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let tree = dir.path().join(format!("wt{round}"));
        let started = Instant::now();
        git.add_worktree(&project, &tree, &format!("bench/{round}"), &base).await.unwrap();
        git.remove_worktree(&project, &tree).await.unwrap();
        worktree.push(ms(started.elapsed()));

        let copied = dir.path().join(format!("copy{round}"));
        let started = Instant::now();
        let out = tokio::process::Command::new("cp").arg("-r").arg(project.join("src")).arg(&copied).output().await;
        assert!(out.unwrap().status.success());
        tokio::fs::remove_dir_all(&copied).await.unwrap();
        copy.push(ms(started.elapsed()));

        let started = Instant::now();
        git.checkpoint(&project, &scratch, &format!("refs/bench/{round}"), "bench").await.unwrap();
        checkpoint.push(ms(started.elapsed()));

        let started = Instant::now();
        let out = tokio::process::Command::new(fake_claude())
            .args(["-p", "spawn", "--output-format", "stream-json", "--verbose"])
            .output()
            .await
            .unwrap();
        assert!(out.status.success());
        spawn.push(ms(started.elapsed()));
    }
    let (worktree, copy, checkpoint, spawn) = (median(&worktree), median(&copy), median(&checkpoint), median(&spawn));
    println!("\nIsolation, a repository of {FILES} files (medians of {ROUNDS} rounds)");
    println!(
        "  worktree made + removed              {worktree:>8.1} ms   ({:.2}x copying the files: {copy:.1} ms)",
        worktree / copy
    );
    println!(
        "  one checkpoint (tracked + untracked) {checkpoint:>8.1} ms   ({:.2}x spawning the agent: {spawn:.1} ms)",
        checkpoint / spawn
    );

    // Whole jobs, one at a time: submit to end.
    let engine = engine(EngineConfig::default(), &project).await;
    let mut runs = [Vec::new(), Vec::new(), Vec::new()];
    for round in 0..ROUNDS {
        for (side, runs) in runs.iter_mut().enumerate() {
            let spec = JobSpec {
                isolation: (side == 2).then_some(ringmaster::job::workspace::Isolation::Worktree),
                checkpoint: (side == 1).then_some(true),
                ..job(&format!("@write:src/m00/f000.rs=edit job {round}.{side}"))
            };
            let started = Instant::now();
            let id = engine.submit(spec).await.unwrap().job_id;
            let record = engine.wait(std::slice::from_ref(&id), Duration::from_secs(600)).await.unwrap().remove(0);
            assert_eq!(record.status, JobStatus::Succeeded, "{record:?}");
            runs.push(ms(started.elapsed()));
        }
    }
    engine.shutdown();
    let [plain, checkpointed, isolated] = runs.map(|r| median(&r));
    println!("  a job, plain                         {plain:>8.1} ms");
    println!("  a job with checkpoints (before+after){checkpointed:>8.1} ms   ({:.2}x plain)", checkpointed / plain);
    println!("  a job in a worktree (made + sealed)  {isolated:>8.1} ms   ({:.2}x plain)", isolated / plain);
}
