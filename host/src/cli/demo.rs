//! `ringmaster demo`: ringmaster at work with no account needed. It loads the
//! example plugins, runs a batch of jobs from three job trees through the
//! engine with `fake-claude` as the agent, printing each start live, drops
//! the fair-share scheduler plugin in mid-run (hot reload) so the start order
//! changes from first-come-first-served to fair across trees, then calls the
//! other extension points.

use crate::config::{Config, EngineConfig, PolicySelection};
use crate::contract::{CommandOutcome, ExtensionPoint, HookCall, JobInfo};
use crate::contract::{Decision, Failure, FailureKind, History, SimilarJobs};
use crate::engine::{Engine, EngineOptions};
use crate::executor::agent::AgentProfile;
use crate::job::{JobSpec, JobStatus};
use crate::plugin::registry::{PluginEvent, PluginHost};
use crate::plugin::reload::watch;
use crate::policy::{Policies, Source};
use crate::store::Store;
use anyhow::{Context, bail};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

/// The plugin name the demo selects as scheduler; the swap writes this file.
const SWAPPED: &str = "scheduler";

pub fn run(mut config: Config, cache_dir: Option<std::path::PathBuf>, plugins: &Path) -> anyhow::Result<ExitCode> {
    if !plugins.join("fair-share.wasm").is_file() {
        bail!("{} has no fair-share.wasm; build the example plugins first: cargo xtask plugins", plugins.display());
    }
    let live = tempfile::Builder::new().prefix("ringmaster-demo-").tempdir()?;
    for entry in std::fs::read_dir(plugins)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "wasm" || e == "yaml") {
            std::fs::copy(&path, live.path().join(path.file_name().unwrap()))?;
        }
    }
    config.plugins.dirs = vec![live.path().to_path_buf()];
    config.plugins.policies = PolicySelection {
        scheduler: Some(SWAPPED.into()),
        timeout_estimator: Some("p95-timeout".into()),
        retry_policy: Some("backoff-retry".into()),
    };
    let host = PluginHost::new(config.plugins, cache_dir)?;
    let started = Instant::now();
    host.load_all();
    say(&format!(
        "Loaded {} plugins from {} in {} ms:",
        host.list().len(),
        plugins.display(),
        started.elapsed().as_millis()
    ));
    for info in host.list() {
        let points: Vec<&str> = info.extension_points.iter().map(|p| p.interface()).collect();
        say(&format!("  {:<16} {:<8} {}", info.name, info.status.as_str(), points.join(", ")));
    }
    let events = host.subscribe();
    let _watcher = watch(host.clone())?;
    let policies = Arc::new(Policies::new(host.clone()));

    let runtime = tokio::runtime::Runtime::new()?;
    let events = runtime.block_on(batch(policies.clone(), events, live.path(), plugins))?;

    std::fs::remove_file(live.path().join(format!("{SWAPPED}.wasm")))?;
    wait_for(&events, |e| matches!(e, PluginEvent::Unloaded { name } if name == SWAPPED))?;
    say(&format!(
        "\nRemoved {SWAPPED}.wasm: scheduling is back to the {}.",
        source(&policies, ExtensionPoint::Scheduler)
    ));

    other_extension_points(&host, &policies);
    Ok(ExitCode::SUCCESS)
}

/// `fake-claude`, built beside this binary.
fn fake_claude() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let fake = exe.with_file_name("fake-claude");
    if !fake.is_file() {
        bail!("{} is missing; build it with `cargo build -p ringmaster`", fake.display());
    }
    Ok(fake)
}

/// Runs a batch of fake-claude jobs from three job trees through the engine,
/// printing each start live, and swaps the fair-share scheduler in mid-run.
async fn batch(
    policies: Arc<Policies>,
    events: mpsc::Receiver<PluginEvent>,
    live: &Path,
    plugins: &Path,
) -> anyhow::Result<mpsc::Receiver<PluginEvent>> {
    let state = tempfile::Builder::new().prefix("ringmaster-demo-state-").tempdir()?;
    let agent = AgentProfile { command: Some(fake_claude()?), ..Default::default() };
    let engine = Engine::start(EngineOptions {
        config: EngineConfig { max_concurrent: Some(3), ..Default::default() },
        agents: BTreeMap::from([("claude".to_string(), agent)]),
        project_dir: state.path().to_path_buf(),
        tokens: Vec::new(),
        credential_vars: crate::credentials::credential_vars(&[]),
        policies,
        hooks: None,
        store: Store::open(&state.path().join("jobs.db"))?,
        wiring: Default::default(),
        state_dir: state.path().to_path_buf(),
    })
    .await?;

    say("\nRunning a batch through the engine with fake-claude (no account needed), 3 at a time:");
    say("three job trees; `big` submits 10 sub-jobs first, then `alpha` and `beta` 4 each.\n");
    let mut roots = HashMap::new();
    for tree in ["big", "alpha", "beta"] {
        let record = engine.submit(JobSpec { prompt: format!("plan the {tree} task"), ..Default::default() }).await?;
        roots.insert(tree, record.job_id);
    }
    engine.wait(&roots.values().cloned().collect::<Vec<_>>(), Duration::from_secs(60)).await?;
    // In submission order, so starts in the same round print in that order.
    let mut names = Vec::new();
    for (tree, count) in [("big", 10), ("alpha", 4), ("beta", 4)] {
        for i in 1..=count {
            let spec = JobSpec {
                prompt: format!("{tree}-{i} @sleep:0.4 @cost:0.01"),
                parent_job_id: Some(roots[tree].clone()),
                tags: vec!["demo".into()],
                ..Default::default()
            };
            names.push((engine.submit(spec).await?.job_id, format!("{tree}-{i}"), tree));
        }
    }

    let clock = Instant::now();
    let mut changes = engine.subscribe();
    let mut started: HashMap<String, u64> = HashMap::new();
    let mut swapped_at_ms: Option<u64> = None;
    let mut events = Some(events);
    let mut done = 0;
    while done < names.len() {
        done = 0;
        for (id, name, tree) in &names {
            let record = engine.status(id).await?;
            done += usize::from(record.status.is_terminal());
            if let Some(at) = record.started_at_ms.filter(|_| !started.contains_key(id)) {
                started.insert(id.clone(), at);
                let slot = record.token_slot.unwrap_or(0);
                say(&format!(
                    "  {:>5.2}s  started {name:<9} tree {tree:<6} slot {slot}",
                    clock.elapsed().as_secs_f64()
                ));
            }
        }
        if started.len() >= 6 && swapped_at_ms.is_none() {
            let swap = Instant::now();
            for ext in ["wasm", "yaml"] {
                let tmp = live.join(format!(".{SWAPPED}.{ext}.tmp"));
                std::fs::copy(plugins.join(format!("fair-share.{ext}")), &tmp)?;
                std::fs::rename(&tmp, live.join(format!("{SWAPPED}.{ext}")))?;
            }
            let receiver = events.take().expect("swapped once");
            let receiver = tokio::task::spawn_blocking(move || {
                wait_for(&receiver, |e| matches!(e, PluginEvent::Loaded { name, .. } if name == SWAPPED))
                    .map(|()| receiver)
            })
            .await??;
            events = Some(receiver);
            swapped_at_ms = Some(crate::job::now_ms());
            say(&format!(
                "  -- saved fair-share.wasm as {SWAPPED}.wasm: hot-reloaded and answering in {} ms, no restart --",
                swap.elapsed().as_millis()
            ));
        }
        if done < names.len() {
            tokio::time::timeout(Duration::from_secs(60), changes.changed()).await.context("the batch stalled")??;
        }
    }

    // Which scheduler started each job follows from when it started.
    let mut order: Vec<(u64, &str)> = names.iter().map(|(id, _, tree)| (started[id], *tree)).collect();
    order.sort();
    let swapped_at_ms = swapped_at_ms.unwrap_or(u64::MAX);
    let (before, after): (Vec<_>, Vec<_>) = order.into_iter().partition(|(at, _)| *at < swapped_at_ms);
    say("\nStart order by tree:");
    for (phase, starts) in [("built-in scheduler", before), ("fair-share plugin", after)] {
        say(&format!("  {phase:<19} {}", starts.iter().map(|(_, tree)| *tree).collect::<Vec<_>>().join(" ")));
    }
    let mut cost = 0.0;
    let mut succeeded = 0;
    for (id, ..) in &names {
        let record = engine.status(id).await?;
        cost += record.cost_usd;
        succeeded += usize::from(record.status == JobStatus::Succeeded);
    }
    say(&format!(
        "{succeeded} of {} jobs succeeded in {:.1} s, total cost ${cost:.2}.",
        names.len(),
        clock.elapsed().as_secs_f64()
    ));
    engine.shutdown();
    Ok(events.expect("returned after the swap"))
}

fn source(policies: &Policies, point: ExtensionPoint) -> String {
    match policies.source(point) {
        Source::Builtin => "built-in policy".into(),
        Source::Plugin(name) => format!("{name} plugin"),
    }
}

fn say(line: &str) {
    println!("{line}"); // stdout-ok: the demo's output
}

fn wait_for(events: &mpsc::Receiver<PluginEvent>, want: impl Fn(&PluginEvent) -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = events.recv_timeout(left).context("the plugin watcher did not report the change within 30 s")?;
        if let PluginEvent::Rejected { error, .. } = &event {
            bail!("the swapped plugin was rejected: {error}");
        }
        if want(&event) {
            return Ok(());
        }
    }
}

fn other_extension_points(host: &PluginHost, policies: &Policies) {
    say("\nThe other extension points:");
    let job = &JobInfo {
        id: "00000000-0000-0000-0000-000000000001".into(),
        prompt_preview: "refactor the parser".into(),
        prompt_bytes: 19,
        agent: "claude".into(),
        model: None,
        priority: 0,
        tags: vec!["demo".into()],
        depth: 0,
        root_id: "00000000-0000-0000-0000-000000000001".into(),
        parent_id: None,
        attempt: 2,
        submitted_at_ms: 0,
    };
    let history = History { count: 40, p50_ms: 90_000, p95_ms: 240_000, timeout_rate: 0.05 };
    let similar = SimilarJobs {
        by_tag: vec![("demo".into(), history)],
        by_agent: history,
        by_model: history,
        by_prompt_size: history,
        overall: history,
    };
    let timeouts = policies.estimate(job, &similar, None);
    say(&format!(
        "  timeout estimator ({}): p95 of similar jobs 240 s -> hard timeout {} s, idle timeout {} s",
        source(policies, ExtensionPoint::TimeoutEstimator),
        timeouts.hard_ms / 1000,
        timeouts.idle_ms / 1000
    ));
    let failure = Failure {
        kind: FailureKind::Timeout,
        exit_code: None,
        signal: Some(15),
        stderr_tail: String::new(),
        message: "ran past its 480 s timeout".into(),
        has_session: true,
        rate_limit_resets_at_ms: None,
    };
    let decision = match policies.decide(job, 2, 3, &failure) {
        Decision::Retry(retry) => format!(
            "retry in {:.1} s{}",
            retry.delay_ms as f64 / 1000.0,
            if retry.resume_session { ", resuming the agent's session" } else { "" }
        ),
        Decision::GiveUp(reason) => format!("give up: {reason}"),
    };
    say(&format!(
        "  retry policy ({}) after a timeout on attempt 2: {decision}",
        source(policies, ExtensionPoint::RetryPolicy)
    ));
    for name in host.providers(ExtensionPoint::HookHandler) {
        let event = HookCall {
            name: "JobSubmit".into(),
            payload_json: r#"{"hook_event_name":"JobSubmit","prompt":"clean up: rm -rf / --no-preserve-root"}"#.into(),
            job: Some(job.clone()),
        };
        match host.call(&name, ExtensionPoint::HookHandler, |p| p.handle_hook(&event)) {
            Ok(response) => say(&format!(
                "  hook {name} on a JobSubmit with `rm -rf /`: {}, {}",
                response.permission.map_or("no say", |p| p.as_str()),
                response.reason.unwrap_or_default()
            )),
            Err(err) => say(&format!("  hook {name} failed: {err}")),
        }
    }
    for name in host.providers(ExtensionPoint::Commands) {
        match host.call(&name, ExtensionPoint::Commands, |p| p.run_command("review", "v1.2 error handling")) {
            Ok(Ok(CommandOutcome::Submit(request))) => say(&format!(
                "  command /review v1.2 error handling ({name}) would submit a job tagged {:?}: {}",
                request.options.tags, request.prompt
            )),
            Ok(Ok(CommandOutcome::Text(text))) => say(&format!("  command /review ({name}) answered: {text}")),
            Ok(Err(message)) => say(&format!("  command /review from {name} refused: {message}")),
            Err(err) => say(&format!("  command plugin {name} failed: {err}")),
        }
    }
}
