//! `ringmaster demo`: the plugin runtime at work, with no agent and no
//! account needed. It loads the example plugins, schedules a small queue
//! with the built-in scheduler, drops the fair-share plugin in as the
//! scheduler while running (hot reload) and schedules the same queue again,
//! then calls the other extension points.

use crate::config::{Config, PolicySelection};
use crate::plugin::contract::{ExtensionPoint, JobInfo, commands::Outcome, hook_handler};
use crate::plugin::registry::{PluginEvent, PluginHost};
use crate::plugin::watch::watch;
use crate::policy::{
    Candidate, Decision, Failure, FailureKind, History, Policies, RootLoad, ScheduleInput, SimilarJobs, Slot, Source,
};
use anyhow::{Context, bail};
use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::mpsc;
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
        say(&format!("  {:<16} {:<8} {}", info.name, info.status, points.join(", ")));
    }
    let events = host.subscribe();
    let _watcher = watch(host.clone())?;
    let policies = Policies::new(host.clone());

    let queue = demo_queue();
    say("\nA queue of 12 jobs: one tree `big` of 8 sub-jobs, trees `alpha` and `beta` of 2, one urgent job.");
    say("Capacity: 2 token slots x 2 concurrent jobs. Each line is one scheduling round.\n");
    say("Scheduler: built-in (priority, then first come first served)");
    simulate(&policies, &queue);

    let swap = Instant::now();
    for ext in ["wasm", "yaml"] {
        let tmp = live.path().join(format!(".{SWAPPED}.{ext}.tmp"));
        std::fs::copy(plugins.join(format!("fair-share.{ext}")), &tmp)?;
        std::fs::rename(&tmp, live.path().join(format!("{SWAPPED}.{ext}")))?;
    }
    wait_for(&events, |e| matches!(e, PluginEvent::Loaded { name, .. } if name == SWAPPED))?;
    say(&format!(
        "\nSaved fair-share.wasm as {SWAPPED}.wasm; hot-reloaded and answering in {} ms, no restart.",
        swap.elapsed().as_millis()
    ));
    say("Scheduler: fair-share plugin (priority, then the tree running the fewest jobs)");
    simulate(&policies, &queue);

    std::fs::remove_file(live.path().join(format!("{SWAPPED}.wasm")))?;
    wait_for(&events, |e| matches!(e, PluginEvent::Unloaded { name } if name == SWAPPED))?;
    say(&format!(
        "\nRemoved {SWAPPED}.wasm: scheduling is back to the {}.",
        source(&policies, ExtensionPoint::Scheduler)
    ));

    other_extension_points(&host, &policies, &queue[0]);
    Ok(ExitCode::SUCCESS)
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

fn job(id: String, root: &str, priority: i32, submitted_at_ms: u64) -> JobInfo {
    JobInfo {
        prompt_preview: format!("demo job {id}"),
        prompt_bytes: 12,
        agent: "claude".into(),
        model: None,
        priority,
        tags: vec!["demo".into()],
        depth: u32::from(root != id),
        root_id: root.into(),
        parent_id: (root != id).then(|| root.to_string()),
        attempt: 1,
        submitted_at_ms,
        id,
    }
}

fn demo_queue() -> Vec<JobInfo> {
    let mut queue: Vec<JobInfo> = (1..=8).map(|i| job(format!("big-{i}"), "big", 0, i)).collect();
    queue.extend((1..=2).map(|i| job(format!("alpha-{i}"), "alpha", 0, 10 + i)));
    queue.extend((1..=2).map(|i| job(format!("beta-{i}"), "beta", 0, 20 + i)));
    queue.push(job("urgent".into(), "urgent", 5, 30));
    queue
}

/// Runs scheduling rounds until the queue is empty; every started job
/// finishes by the next round.
fn simulate(policies: &Policies, queue: &[JobInfo]) {
    let ranks = policies.rank(queue);
    let mut waiting: Vec<(i64, &JobInfo)> = ranks.into_iter().zip(queue).collect();
    waiting.sort_by_key(|(rank, job)| (std::cmp::Reverse(*rank), job.submitted_at_ms));
    for round in 1.. {
        if waiting.is_empty() {
            break;
        }
        let mut roots: HashMap<&str, u32> = HashMap::new();
        for (_, job) in &waiting {
            roots.entry(job.root_id.as_str()).or_default();
        }
        let input = ScheduleInput {
            candidates: waiting
                .iter()
                .take(64)
                .map(|(rank, job)| Candidate { job: (*job).clone(), rank: *rank, waited_ms: 100 - job.submitted_at_ms })
                .collect(),
            slots: (0..2)
                .map(|index| Slot {
                    index,
                    running: 0,
                    free: 2,
                    cooling_until_ms: None,
                    recent_started: 0,
                    recent_failed: 0,
                    recent_rate_limited: 0,
                })
                .collect(),
            capacity: 4,
            roots: roots.keys().map(|r| RootLoad { root_id: r.to_string(), running: 0 }).collect(),
            queued_total: waiting.len() as u32,
            now_ms: 0,
        };
        let chosen = policies.select(&input);
        if chosen.is_empty() {
            say("  (the scheduler started nothing; stopping)");
            break;
        }
        let names: Vec<String> = chosen.iter().map(|a| format!("{}@slot{}", a.job_id, a.slot)).collect();
        say(&format!("  round {round}: {}", names.join("  ")));
        waiting.retain(|(_, job)| !chosen.iter().any(|a| a.job_id == job.id));
    }
}

fn other_extension_points(host: &PluginHost, policies: &Policies, job: &JobInfo) {
    say("\nThe other extension points:");
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
        let event = hook_handler::Event {
            name: "JobSubmit".into(),
            payload_json: r#"{"hook_event_name":"JobSubmit","prompt":"clean up: rm -rf / --no-preserve-root"}"#.into(),
            job: Some(job.clone()),
        };
        match host.call(&name, ExtensionPoint::HookHandler, |p| p.handle_hook(&event)) {
            Ok(response) => say(&format!(
                "  hook {name} on a JobSubmit with `rm -rf /`: {:?}, {}",
                response.permission,
                response.reason.unwrap_or_default()
            )),
            Err(err) => say(&format!("  hook {name} failed: {err}")),
        }
    }
    for name in host.providers(ExtensionPoint::Commands) {
        match host.call(&name, ExtensionPoint::Commands, |p| p.run_command("review", "v1.2 error handling")) {
            Ok(Ok(Outcome::Submit(request))) => say(&format!(
                "  command /review v1.2 error handling ({name}) would submit a job tagged {:?}: {}",
                request.options.tags, request.prompt
            )),
            Ok(Ok(Outcome::Text(text))) => say(&format!("  command /review ({name}) answered: {text}")),
            Ok(Err(message)) => say(&format!("  command /review from {name} refused: {message}")),
            Err(err) => say(&format!("  command plugin {name} failed: {err}")),
        }
    }
}
