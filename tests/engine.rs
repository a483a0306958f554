//! The job engine end to end, with `fake-claude` as the agent.

use crate::support;

use ringmaster::config::{BudgetConfig, EngineConfig, PluginsConfig};
use ringmaster::credentials::Secret;
use ringmaster::engine::{Engine, EngineOptions};
use ringmaster::executor::agent::AgentProfile;
use ringmaster::job::{AttemptOutcome, JobRecord, JobSpec, JobStatus};
use ringmaster::plugin::registry::PluginHost;
use ringmaster::policy::Policies;
use ringmaster::store::Store;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

fn fake_claude() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_fake-claude"))
}

fn agents(command: PathBuf) -> BTreeMap<String, AgentProfile> {
    BTreeMap::from([("claude".to_string(), AgentProfile { command: Some(command), ..Default::default() })])
}

struct Setup {
    config: EngineConfig,
    tokens: Vec<&'static str>,
    store: Option<PathBuf>,
    agent: PathBuf,
}

impl Default for Setup {
    fn default() -> Self {
        Setup { config: EngineConfig::default(), tokens: vec![], store: None, agent: fake_claude() }
    }
}

async fn engine(setup: Setup) -> Engine {
    let plugins = PluginHost::new(PluginsConfig::default(), None).unwrap();
    let store = match &setup.store {
        Some(path) => Store::open(path).unwrap(),
        None => Store::in_memory().unwrap(),
    };
    Engine::start(EngineOptions {
        config: setup.config,
        agents: agents(setup.agent),
        project_dir: std::env::temp_dir(),
        tokens: setup.tokens.into_iter().map(|t| Secret::new(t.into()).into()).collect(),
        credential_vars: ringmaster::credentials::credential_vars(&[]),
        policies: Arc::new(Policies::new(plugins)),
        hooks: None,
        store,
        wiring: Default::default(),
        state_dir: std::env::temp_dir().join("ringmaster-tests-unused-state"),
    })
    .await
    .unwrap()
}

/// Waits until job `id`'s record satisfies `want`.
async fn wait_until(engine: &Engine, id: &str, want: impl Fn(&JobRecord) -> bool) -> JobRecord {
    let mut changes = engine.subscribe();
    let deadline = tokio::time::Instant::now() + support::WAIT;
    loop {
        let record = engine.status(id).await.unwrap();
        if want(&record) {
            return record;
        }
        tokio::time::timeout_at(deadline, changes.changed()).await.expect("state reached in time").unwrap();
    }
}

fn job(prompt: &str) -> JobSpec {
    JobSpec { prompt: prompt.into(), max_retries: Some(0), ..Default::default() }
}

async fn run_all(engine: &Engine, specs: Vec<JobSpec>) -> Vec<JobRecord> {
    let mut ids = Vec::new();
    for spec in specs {
        ids.push(engine.submit(spec).await.unwrap().job_id);
    }
    let records = engine.wait(&ids, support::WAIT).await.unwrap();
    assert!(records.iter().all(|r| r.status.is_terminal()), "jobs did not finish: {records:#?}");
    records
}

#[tokio::test]
async fn a_job_runs_and_its_result_cost_and_transcript_are_recorded() {
    let engine = engine(Setup::default()).await;
    let record = run_all(&engine, vec![job("summarise the design @cost:0.5")]).await.remove(0);
    assert_eq!(record.status, JobStatus::Succeeded, "{record:#?}");
    assert_eq!(record.result.as_deref(), Some("Done: summarise the design @cost:0.5"));
    assert_eq!(record.cost_usd, 0.5);
    assert_eq!(record.usage.as_ref().unwrap()["output_tokens"], 40);
    assert_eq!(record.attempts, 1);
    assert_eq!(record.depth, 0);
    assert_eq!(record.root_job_id, record.job_id);
    let session = record.session_id.clone().unwrap();
    let transcript = engine.transcript(&record.job_id, 0, 100).await.unwrap();
    assert!(transcript.first().unwrap().1.contains(&session), "init line first: {transcript:?}");
    assert!(transcript.last().unwrap().1.contains(r#""type":"result""#));
}

#[tokio::test]
async fn higher_priority_starts_first() {
    let config = EngineConfig { max_concurrent: Some(1), ..Default::default() };
    let engine = engine(Setup { config, ..Default::default() }).await;
    // The first job occupies the only place while the others queue.
    let blocker = engine.submit(job("@sleep:0.5")).await.unwrap();
    let mut specs = Vec::new();
    for (name, priority) in [("low", 0), ("high", 5), ("mid", 2), ("low2", 0)] {
        specs.push(JobSpec { priority, ..job(name) });
    }
    let records = run_all(&engine, specs).await;
    engine.wait(&[blocker.job_id], support::WAIT).await.unwrap();
    let mut order: Vec<(u64, &str)> = records.iter().map(|r| (r.started_at_ms.unwrap(), r.prompt.as_str())).collect();
    order.sort();
    let order: Vec<&str> = order.into_iter().map(|(_, p)| p).collect();
    assert_eq!(order, ["high", "mid", "low", "low2"]);
}

/// The most attempts that overlapped in time, from the recorded start and end times.
fn max_overlap(records: &[&JobRecord]) -> usize {
    let mut edges: Vec<(u64, i32)> = Vec::new();
    for record in records {
        for attempt in &record.history {
            edges.push((attempt.started_at_ms, 1));
            edges.push((attempt.finished_at_ms.unwrap(), -1));
        }
    }
    edges.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, delta) in edges {
        now += delta;
        most = most.max(now);
    }
    most as usize
}

#[tokio::test]
async fn concurrency_limits_are_never_exceeded_and_jobs_wait_instead_of_failing() {
    let config = EngineConfig { max_concurrent: Some(3), max_concurrent_per_depth: 2, ..Default::default() };
    let engine = engine(Setup { config, ..Default::default() }).await;
    let roots = run_all(&engine, (0..8).map(|_| job("@sleep:0.3")).collect()).await;
    let all: Vec<&JobRecord> = roots.iter().collect();
    assert!(roots.iter().all(|r| r.status == JobStatus::Succeeded));
    assert_eq!(max_overlap(&all), 2, "depth 0 is capped at 2 running");

    let parent = &roots[0].job_id;
    let children = run_all(
        &engine,
        (0..6).map(|_| JobSpec { parent_job_id: Some(parent.clone()), ..job("@sleep:0.3") }).collect(),
    )
    .await;
    assert!(children.iter().all(|r| r.depth == 1 && r.root_job_id == *parent && r.status == JobStatus::Succeeded));
    assert_eq!(max_overlap(&children.iter().collect::<Vec<_>>()), 2);
}

#[tokio::test]
async fn overall_concurrency_is_capped() {
    let config = EngineConfig { max_concurrent: Some(3), ..Default::default() };
    let engine = engine(Setup { config, ..Default::default() }).await;
    let records = run_all(&engine, (0..9).map(|_| job("@sleep:0.3")).collect()).await;
    let overlap = max_overlap(&records.iter().collect::<Vec<_>>());
    assert!((2..=3).contains(&overlap), "max overlap {overlap}");
}

#[tokio::test]
async fn depth_tree_size_and_queue_limits_refuse_with_the_limit_named() {
    let config = EngineConfig {
        max_depth: 1,
        max_jobs_per_root: 3,
        max_concurrent: Some(1),
        max_queue: 3,
        ..Default::default()
    };
    let engine = engine(Setup { config, ..Default::default() }).await;
    let root = engine.submit(job("@hang")).await.unwrap();
    wait_until(&engine, &root.job_id, |r| r.status == JobStatus::Running).await;
    let child = engine.submit(JobSpec { parent_job_id: Some(root.job_id.clone()), ..job("child") }).await.unwrap();
    assert_eq!(child.depth, 1);
    let error =
        engine.submit(JobSpec { parent_job_id: Some(child.job_id.clone()), ..job("deeper") }).await.unwrap_err();
    assert!(error.to_string().contains("depth 2, beyond the maximum depth of 1"), "{error}");

    engine.submit(JobSpec { parent_job_id: Some(root.job_id.clone()), ..job("second child") }).await.unwrap();
    let error = engine.submit(JobSpec { parent_job_id: Some(root.job_id.clone()), ..job("third") }).await.unwrap_err();
    assert!(error.to_string().contains("has already submitted 3 jobs"), "{error}");

    // The root hangs on the only slot; two children and one more job wait; the next is refused.
    engine.submit(job("waits")).await.unwrap();
    let error = engine.submit(job("one too many")).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "the queue is full: 3 jobs are waiting, the limit is 3 (engine.max-queue in ringmaster.yaml)"
    );
    assert_eq!(engine.cancel(&root.job_id).await.unwrap().record.status, JobStatus::Cancelled);
}

#[tokio::test]
async fn bad_submissions_say_what_is_wrong() {
    let config = EngineConfig { max_prompt_bytes: 10, ..Default::default() };
    let engine = engine(Setup { config, ..Default::default() }).await;
    let error = engine.submit(job("  ")).await.unwrap_err().to_string();
    assert!(error.contains("the prompt is empty"), "{error}");
    let error = engine.submit(job("a prompt far too long")).await.unwrap_err().to_string();
    assert!(error.contains("21 bytes, more than the 10 allowed"), "{error}");
    let error = engine.submit(JobSpec { agent: Some("ghost".into()), ..job("hi") }).await.unwrap_err().to_string();
    assert!(error.contains("unknown agent \"ghost\"; configured agents: claude"), "{error}");
    let error = engine.status("nope").await.unwrap_err().to_string();
    assert!(error.contains("no job nope"), "{error}");
}

#[tokio::test]
async fn a_batch_is_queued_in_order_up_to_the_first_refused_job_and_stored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jobs.db");
    let engine = engine(Setup { store: Some(path.clone()), ..Default::default() }).await;
    let specs = vec![job("first"), job("second"), job("  "), job("never")];
    let (queued, refused) = engine.submit_all(specs).await;
    let prompts: Vec<&str> = queued.iter().map(|r| r.prompt.as_str()).collect();
    assert_eq!(prompts, ["first", "second"]);
    assert!(refused.unwrap().to_string().contains("the prompt is empty"));
    // Answered means stored: another reader of the store sees them.
    let store = Store::open(&path).unwrap();
    for record in &queued {
        assert!(store.record(&record.job_id).unwrap().is_some(), "{} not stored", record.job_id);
    }
    assert_eq!(store.list(&Default::default(), 10).unwrap().len(), 2, "nothing of the rest was queued");
    let ids: Vec<String> = queued.into_iter().map(|r| r.job_id).collect();
    let done = engine.wait(&ids, support::WAIT).await.unwrap();
    assert!(done.iter().all(|r| r.status == JobStatus::Succeeded), "{done:#?}");
}

#[tokio::test]
async fn a_hanging_agent_times_out() {
    let engine = engine(Setup::default()).await;
    let record = run_all(&engine, vec![JobSpec { timeout_s: Some(1), ..job("@hang") }]).await.remove(0);
    assert_eq!(record.status, JobStatus::TimedOut, "{record:#?}");
    assert!(record.error.as_deref().unwrap().contains("ran past its 1 s timeout"), "{record:#?}");
    assert_eq!(record.history[0].outcome, Some(AttemptOutcome::TimedOut));
}

#[tokio::test]
async fn a_failed_attempt_is_retried_resuming_its_session() {
    let state = tempfile::tempdir().unwrap();
    let engine = engine(Setup::default()).await;
    let env = BTreeMap::from([("FAKE_CLAUDE_STATE_DIR".to_string(), state.path().display().to_string())]);
    let spec = JobSpec { max_retries: Some(2), env, ..job("@flaky:1 refactor") };
    let record = run_all(&engine, vec![spec]).await.remove(0);
    assert_eq!(record.status, JobStatus::Succeeded, "{record:#?}");
    assert_eq!(record.attempts, 2);
    assert_eq!(record.history[0].outcome, Some(AttemptOutcome::Crashed));
    let first = record.history[0].session_id.clone().unwrap();
    assert_eq!(record.history[1].session_id.as_deref(), Some(first.as_str()), "the retry resumed the session");
}

#[tokio::test]
async fn retries_stop_at_the_budget() {
    let engine = engine(Setup::default()).await;
    let spec = JobSpec { max_retries: Some(1), ..job("@crash") };
    let record = run_all(&engine, vec![spec]).await.remove(0);
    assert_eq!((record.status, record.attempts), (JobStatus::Failed, 2), "{record:#?}");
    assert!(record.error.as_deref().unwrap().contains("retry budget of 1 used up"), "{record:#?}");
}

#[tokio::test]
async fn cancel_stops_queued_and_running_jobs() {
    let config = EngineConfig { max_concurrent: Some(1), ..Default::default() };
    let engine = engine(Setup { config, ..Default::default() }).await;
    let running = engine.submit(job("@hang")).await.unwrap();
    wait_until(&engine, &running.job_id, |r| r.status == JobStatus::Running).await;
    let queued = engine.submit(job("never runs")).await.unwrap();
    assert_eq!(engine.queue_position(&queued.job_id), Some(1));
    assert_eq!(engine.cancel(&queued.job_id).await.unwrap().record.status, JobStatus::Cancelled);
    let record = engine.cancel(&running.job_id).await.unwrap().record;
    assert_eq!(record.status, JobStatus::Cancelled);
    assert_eq!(record.history[0].outcome, Some(AttemptOutcome::Cancelled));
}

#[tokio::test]
async fn a_missing_agent_binary_fails_the_job_with_how_to_fix_it() {
    let engine = engine(Setup { agent: PathBuf::from("/nonexistent/claude"), ..Default::default() }).await;
    let record = run_all(&engine, vec![JobSpec { max_retries: Some(3), ..job("hi") }]).await.remove(0);
    assert_eq!((record.status, record.attempts), (JobStatus::Failed, 1), "{record:#?}");
    let error = record.error.unwrap();
    assert!(error.contains("/nonexistent/claude does not exist") && error.contains("agents.claude.command"), "{error}");
}

fn fingerprint(token: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(token.as_bytes()).iter().take(6).map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn jobs_rotate_over_tokens_and_no_token_is_ever_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("jobs.db");
    let tokens = vec!["sk-ant-oat01-first-secret", "sk-ant-oat01-second-secret"];
    let config = EngineConfig { per_token_concurrency: 1, ..Default::default() };
    let engine = engine(Setup { config, tokens: tokens.clone(), store: Some(db.clone()), ..Default::default() }).await;
    let records = run_all(&engine, (0..4).map(|_| job("@whoami @sleep:0.2")).collect()).await;
    let mut seen = std::collections::BTreeSet::new();
    for record in &records {
        let result = record.result.as_deref().unwrap();
        let slot = record.token_slot.unwrap() as usize;
        assert!(result.contains(&format!("token={}", fingerprint(tokens[slot]))), "{result} on slot {slot}");
        assert!(result.contains(&format!("job={} depth=0", record.job_id)), "{result}");
        seen.insert(slot);
    }
    assert_eq!(seen.len(), 2, "both tokens were used");
    for token in &tokens {
        let everything = format!("{records:?}{:?}", engine.list(&Default::default(), 100).unwrap());
        assert!(!everything.contains(token), "a token leaked into a record");
        for file in std::fs::read_dir(dir.path()).unwrap() {
            let bytes = std::fs::read(file.unwrap().path()).unwrap();
            assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()), "a token leaked into the store");
        }
    }
}

#[tokio::test]
async fn unfinished_jobs_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("jobs.db");
    // A previous run: one job queued, one running when the host died.
    let (queued, running) = {
        let config = EngineConfig { max_concurrent: Some(1), ..Default::default() };
        let engine = engine(Setup { config, store: Some(db.clone()), ..Default::default() }).await;
        let running = engine.submit(JobSpec { max_retries: Some(1), ..job("@sleep:30 long task") }).await.unwrap();
        let queued = engine.submit(job("waiting task")).await.unwrap();
        wait_until(&engine, &running.job_id, |r| r.status == JobStatus::Running).await;
        engine.shutdown();
        (queued.job_id, running.job_id)
    };
    assert_eq!(Store::open(&db).unwrap().get(&running).unwrap().unwrap().record.status, JobStatus::Running);

    // The next run picks both up: the queued one runs, the interrupted one is retried.
    let engine = engine(Setup { store: Some(db), agent: fake_claude(), ..Default::default() }).await;
    let done = engine.wait(std::slice::from_ref(&queued), support::WAIT).await.unwrap().remove(0);
    assert_eq!(done.status, JobStatus::Succeeded, "{done:#?}");
    let retried = wait_until(&engine, &running, |r| r.attempts == 2 && r.status == JobStatus::Running).await;
    assert_eq!(retried.history[0].outcome, Some(AttemptOutcome::Interrupted));
    assert_eq!(engine.cancel(&running).await.unwrap().record.status, JobStatus::Cancelled);
}

#[tokio::test]
async fn a_token_at_its_usage_limit_rests_until_the_reset_while_its_jobs_go_on_elsewhere_spending_no_retry() {
    // Each way an agent says it: Claude Code's result text (with a Unix time,
    // or a wall-clock time), a rejected rate_limit_event, the API's 429s.
    for form in ["result", "wall", "event", "429"] {
        let tokens = vec!["sk-ant-oat01-first-secret", "sk-ant-oat01-second-secret"];
        let config = EngineConfig { per_token_concurrency: 1, default_max_retries: 0, ..Default::default() };
        let engine = engine(Setup { config, tokens: tokens.clone(), ..Default::default() }).await;
        // The first token is at its limit for the next hour.
        let limits = tempfile::tempdir().unwrap();
        let reset_s = ringmaster::job::now_ms() / 1000 + 3600;
        std::fs::write(limits.path().join(fingerprint(tokens[0])), reset_s.to_string()).unwrap();
        let prompt = format!("@limits:{}:{form} @whoami", limits.path().display());
        let records = run_all(&engine, (0..4).map(|_| job(&prompt)).collect()).await;

        for record in &records {
            assert_eq!(record.status, JobStatus::Succeeded, "{form}: {record:#?}");
            assert!(record.result.as_ref().unwrap().contains(&fingerprint(tokens[1])), "{form}");
        }
        let limited: Vec<_> = records.iter().filter(|r| r.limited_attempts > 0).collect();
        assert!(!limited.is_empty(), "{form}: some job started on the limited token");
        for record in limited {
            assert_eq!(record.history[0].outcome, Some(AttemptOutcome::RateLimited), "{form}");
            assert_eq!((record.history[0].token_slot, record.max_retries), (Some(0), 0), "{form}");
        }
        let stats = engine.stats().unwrap();
        let resting = stats.slots[0].cooling_for_s.unwrap_or(0);
        assert!((3000..=3600).contains(&resting), "{form}: rests until the reset: {stats:?}");
        engine.shutdown();
    }
}

#[tokio::test]
async fn statistics_break_jobs_down_by_tag_agent_depth_and_slot() {
    let engine = engine(Setup::default()).await;
    let mut specs: Vec<JobSpec> = (0..3).map(|_| JobSpec { tags: vec!["docs".into()], ..job("@cost:0.1") }).collect();
    specs.push(JobSpec { tags: vec!["build".into()], timeout_s: Some(1), ..job("@hang") });
    run_all(&engine, specs).await;
    let stats = engine.stats().unwrap();
    let docs = &stats.recent.by_tag["docs"];
    assert_eq!((docs.jobs, docs.by_status["succeeded"]), (3, 3));
    assert!((docs.cost_usd - 0.3).abs() < 1e-9);
    assert_eq!(docs.input_tokens, 360);
    assert!(docs.duration_p95_ms.is_some() && docs.wait_p50_ms.is_some());
    assert_eq!(stats.recent.by_tag["build"].timeouts, 1);
    assert_eq!(stats.recent.by_agent["claude"].jobs, 4);
    assert_eq!(stats.recent.by_depth[&0].jobs, 4);
    assert_eq!(stats.jobs_by_status["timed_out"], 1);
}

#[tokio::test]
async fn queued_jobs_get_an_estimated_start_from_the_queue_and_past_durations() {
    let config = EngineConfig { max_concurrent: Some(1), ..Default::default() };
    let engine = engine(Setup { config, ..Default::default() }).await;
    let first = engine.submit(job("@hang")).await.unwrap().job_id;
    wait_until(&engine, &first, |r| r.status == JobStatus::Running).await;
    let waiting = engine.submit(job("behind it")).await.unwrap().job_id;
    assert_eq!(engine.estimated_start(&waiting), None, "nothing has finished yet to go by");
    assert_eq!(engine.estimated_start(&first), None, "running, not queued");
    engine.cancel(&first).await.unwrap();
    engine.wait(std::slice::from_ref(&waiting), support::WAIT).await.unwrap();

    let busy = engine.submit(job("@hang")).await.unwrap().job_id;
    wait_until(&engine, &busy, |r| r.status == JobStatus::Running).await;
    let mut queued = Vec::new();
    for prompt in ["a", "b", "c"] {
        queued.push(engine.submit(job(prompt)).await.unwrap().job_id);
    }
    let estimates: Vec<Duration> = queued.iter().map(|id| engine.estimated_start(id).unwrap()).collect();
    assert!(estimates[0] > Duration::ZERO);
    assert_eq!((estimates[1], estimates[2]), (estimates[0] * 2, estimates[0] * 3), "one wave of the typical job each");
    engine.cancel(&busy).await.unwrap();
    engine.wait(&queued, support::WAIT).await.unwrap();
}

#[tokio::test]
async fn a_queued_job_says_which_limit_holds_it() {
    // No tokens: one slot of 5. Per-depth 8 alone would run 8; the slot runs 5.
    let config = EngineConfig { max_concurrent_per_depth: 8, max_concurrent: Some(20), ..EngineConfig::default() };
    let engine = engine(Setup { config, ..Default::default() }).await;
    let mut ids = Vec::new();
    for _ in 0..7 {
        ids.push(engine.submit(job("@hang")).await.unwrap().job_id);
    }
    for id in &ids[..5] {
        wait_until(&engine, id, |r| r.status == JobStatus::Running).await;
    }
    let waiting = engine.status(&ids[5]).await.unwrap();
    assert_eq!(waiting.status, JobStatus::Queued);
    assert_eq!(waiting.waiting_for.as_deref(), Some("slot 0: 5 of 5 running (per-token concurrency)"));
    assert_eq!(engine.status(&ids[0]).await.unwrap().waiting_for, None, "a running job waits for nothing");

    // Raise the slot: now depth holds them.
    let engine2 = self::engine(Setup {
        config: EngineConfig { max_concurrent_per_depth: 2, per_token_concurrency: 10, ..EngineConfig::default() },
        ..Default::default()
    })
    .await;
    let held: Vec<String> = {
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(engine2.submit(job("@hang")).await.unwrap().job_id);
        }
        ids
    };
    wait_until(&engine2, &held[1], |r| r.status == JobStatus::Running).await;
    let why = engine2.status(&held[2]).await.unwrap().waiting_for.unwrap();
    assert_eq!(why, "depth 0: 2 of 2 running (engine.max-concurrent-per-depth)");
    for (engine, ids) in [(&engine, &ids), (&engine2, &held)] {
        for id in ids {
            engine.cancel(id).await.unwrap();
        }
    }
}

#[tokio::test]
async fn concurrent_submissions_never_overshoot_the_queue_limit() {
    // Nothing starts (no place at depth 0), so every admitted job stays queued.
    let config = EngineConfig { max_queue: 50, max_concurrent_per_depth: 1, ..EngineConfig::default() };
    let engine = engine(Setup { config, ..Default::default() }).await;
    let blocker = engine.submit(job("@hang")).await.unwrap().job_id;
    wait_until(&engine, &blocker, |r| r.status == JobStatus::Running).await;
    let submits = (0..200).map(|_| {
        let engine = engine.clone();
        tokio::spawn(async move { engine.submit(job("wait")).await })
    });
    let results = futures::future::join_all(submits).await;
    let admitted = results.iter().filter(|r| r.as_ref().unwrap().is_ok()).count();
    assert_eq!(admitted, 50, "200 parallel submissions against max-queue 50");
    assert_eq!(engine.stats().unwrap().queued, 50);
    let refusal = results.iter().find_map(|r| r.as_ref().unwrap().as_ref().err()).unwrap().to_string();
    assert!(refusal.contains("the queue is full") && refusal.contains("limit is 50"), "{refusal}");
    engine.shutdown();
}

#[tokio::test]
async fn a_prompt_past_the_kernels_argument_limit_reaches_the_agent() {
    // One argument may hold 128 KiB; the prompt goes on stdin, so 300 KiB is fine.
    let engine = engine(Setup::default()).await;
    let prompt = format!("-p --dangerously-skip-permissions {}", "y".repeat(300 * 1024));
    // And characters of three bytes, which a pipe's 64 KiB split in the middle.
    let wide = "€".repeat(100 * 1024);
    let records = run_all(&engine, vec![job(&prompt), job(&wide)]).await;
    assert_eq!(records[0].status, JobStatus::Succeeded, "{:?}", records[0]);
    assert!(records[0].result.as_deref().unwrap().starts_with("Done: -p --dangerously-skip-permissions yyy"));
    assert_eq!(records[1].status, JobStatus::Succeeded, "{:?}", records[1]);
    assert!(records[1].result.as_deref().unwrap().starts_with("Done: €€€"));
}

/// The arguments fake-claude was started with, as `@argv` reports them.
fn argv(record: &JobRecord) -> Vec<String> {
    serde_json::from_str(record.result.as_deref().unwrap_or("[]")).unwrap()
}

/// The value of `--max-budget-usd` an agent was given.
fn max_budget(record: &JobRecord) -> Option<String> {
    let args = argv(record);
    args.iter().position(|a| a == "--max-budget-usd").map(|i| args[i + 1].clone())
}

#[tokio::test]
async fn a_budgeted_batch_of_twenty_stops_starting_when_its_budget_is_spent_and_goes_on_when_raised() {
    let budget = |usd: f64| BudgetConfig {
        name: "batch".into(),
        tag: Some("batch".into()),
        usd: Some(usd),
        tokens: None,
        window: None,
    };
    let config = EngineConfig { max_concurrent: Some(1), budgets: vec![budget(1.0)], ..Default::default() };
    let engine = engine(Setup { config: config.clone(), ..Default::default() }).await;
    let mut ids = Vec::new();
    for _ in 0..20 {
        let spec = JobSpec { tags: vec!["batch".into()], ..job("@cost:0.25 @argv") };
        ids.push(engine.submit(spec).await.unwrap().job_id);
    }
    // One at a time, each given what remains of the budget.
    let first = engine.wait(&ids[..4], support::WAIT).await.unwrap();
    let given: Vec<Option<String>> = first.iter().map(max_budget).collect();
    assert_eq!(given, ["1.0000", "0.7500", "0.5000", "0.2500"].map(|s| Some(s.to_string())));
    let held = engine.status(&ids[4]).await.unwrap();
    assert_eq!(held.status, JobStatus::Queued);
    assert_eq!(held.waiting_for.as_deref(), Some("budget batch is spent ($1.00 of $1.00)"));
    let stats = engine.stats().unwrap();
    assert_eq!((stats.budgets[0].spent, stats.budgets[0].spent_usd, stats.running), (true, 1.0, 0));

    // Raised, it lets four more start; an untagged job never waited.
    engine.reconfigure(EngineConfig { budgets: vec![budget(2.0)], ..config }, agents(fake_claude()));
    engine.wait(&ids[4..8], support::WAIT).await.unwrap();
    assert_eq!(engine.status(&ids[8]).await.unwrap().status, JobStatus::Queued);
    let free = run_all(&engine, vec![job("@argv")]).await.remove(0);
    assert_eq!((free.status, max_budget(&free)), (JobStatus::Succeeded, None));
    for id in &ids[8..] {
        engine.cancel(id).await.unwrap();
    }
}

#[tokio::test]
async fn a_tree_budget_holds_back_the_trees_sub_jobs_once_spent() {
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let engine = engine(Setup::default()).await;
    let root_spec = JobSpec { budget_usd: Some(0.5), ..job(&format!("@wait-for:{} @cost:0.25 @argv", go.display())) };
    let root = engine.submit(root_spec).await.unwrap().job_id;
    let child = || JobSpec { parent_job_id: Some(root.clone()), ..job("@cost:0.25 @argv") };
    let children = run_all(&engine, vec![child(), child()]).await;
    assert!(children.iter().all(|c| c.status == JobStatus::Succeeded));
    let third = engine.submit(child()).await.unwrap().job_id;
    let held = engine.status(&third).await.unwrap();
    assert_eq!(held.waiting_for, Some(format!("budget tree {root} is spent ($0.50 of $0.50)")));
    std::fs::write(&go, "").unwrap();
    let root = engine.wait(&[root], support::WAIT).await.unwrap().remove(0);
    assert_eq!(max_budget(&root).as_deref(), Some("0.5000"), "started with all of it");
    let refused = engine.submit(JobSpec { budget_usd: Some(-1.0), ..job("x") }).await.unwrap_err().to_string();
    assert!(refused.contains("budget_usd is -1"), "{refused}");
    engine.cancel(&third).await.unwrap();
}

#[tokio::test]
async fn what_a_budget_spent_is_still_spent_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let budget =
        BudgetConfig { name: "all".into(), tag: None, usd: Some(0.5), tokens: None, window: Some("5h".into()) };
    let setup = || Setup {
        config: EngineConfig { budgets: vec![budget.clone()], ..Default::default() },
        store: Some(dir.path().join("jobs.db")),
        ..Default::default()
    };
    let first = engine(setup()).await;
    run_all(&first, vec![job("@cost:0.25"), job("@cost:0.25")]).await;
    first.shutdown();
    let second = engine(setup()).await;
    let held = second.submit(job("more")).await.unwrap().job_id;
    let held = second.status(&held).await.unwrap();
    assert_eq!(held.waiting_for.as_deref(), Some("budget all is spent ($0.50 of $0.50 in the last 5h)"));
    assert_eq!(second.stats().unwrap().budgets[0].remaining_usd, Some(0.0));
    second.cancel(&held.job_id).await.unwrap();
}
