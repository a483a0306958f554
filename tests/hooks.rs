//! Hook configs driving the job engine: command and WASM handlers on the job
//! lifecycle events, with `fake-claude` as the agent.

use crate::support;
use ringmaster::hooks::HookStatus;

use ringmaster::config::{EngineConfig, PluginsConfig};
use ringmaster::engine::{Engine, SubmitError};
use ringmaster::hooks::Hooks;
use ringmaster::job::{JobRecord, JobSpec, JobStatus};
use ringmaster::plugin::registry::PluginHost;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A scratch project with a `hooks/` directory, and an engine running its hooks.
struct Project {
    dir: tempfile::TempDir,
    hooks: Arc<Hooks>,
    engine: Engine,
}

impl Project {
    async fn new(files: &[(&str, &str)]) -> Project {
        Project::with_plugins(files, PluginHost::new(PluginsConfig::default(), None).unwrap()).await
    }

    async fn with_plugins(files: &[(&str, &str)], plugins: Arc<PluginHost>) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let hooks = support::hooks_in(dir.path(), files, plugins.clone());
        let config = EngineConfig::default();
        let engine = support::fake_engine(dir.path(), config, plugins, Some(hooks.clone()), Default::default()).await;
        Project { dir, hooks, engine }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    async fn run(&self, spec: JobSpec) -> JobRecord {
        support::run_job(&self.engine, spec).await
    }
}

fn job(prompt: &str) -> JobSpec {
    JobSpec { prompt: prompt.into(), ..Default::default() }
}

/// A hook config running `command` on `event`.
fn command_hook(event: &str, command: &str) -> String {
    serde_json::json!({ "hooks": { event: [{ "hooks": [{ "type": "command", "command": command }] }] } }).to_string()
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

#[tokio::test]
async fn the_example_credential_hook_denies_a_job_and_says_why() {
    let config = std::fs::read_to_string(repo("hooks/deny-credentials.json")).unwrap();
    let project = Project::new(&[("deny-credentials.json", &config)]).await;
    std::fs::create_dir(project.path().join("hooks/scripts")).unwrap();
    std::fs::copy(repo("hooks/scripts/deny-credentials.sh"), project.path().join("hooks/scripts/deny-credentials.sh"))
        .unwrap();

    let err = project.engine.submit(job("deploy with AKIAIOSFODNN7EXAMPLE please")).await.unwrap_err();
    assert!(matches!(err, SubmitError::Denied(_)), "{err}");
    assert!(err.to_string().contains("AWS access key"), "{err}");
    let err = project.engine.submit(job("-----BEGIN RSA PRIVATE KEY-----\nMII...")).await.unwrap_err();
    assert!(err.to_string().contains("private key"), "{err}");
    assert!(project.engine.list(&Default::default(), 10).unwrap().is_empty(), "denied jobs are not stored");

    assert_eq!(project.run(job("deploy with the vault's credentials")).await.status, JobStatus::Succeeded);
}

#[tokio::test]
async fn job_submit_hooks_rewrite_the_job_and_add_context() {
    let output = r#"{"hookSpecificOutput": {"hookEventName": "JobSubmit",
        "updatedInput": {"prompt": "rewritten task", "tags": ["hooked"], "priority": 5},
        "additionalContext": "follow the style guide"}}"#;
    let config = command_hook("JobSubmit", &format!("cat > /dev/null; echo '{}'", output.replace('\n', " ")));
    let project = Project::new(&[("rewrite.json", &config)]).await;
    let record = project.run(job("original task")).await;
    assert_eq!(record.prompt, "rewritten task\n\nfollow the style guide");
    assert_eq!((record.tags.as_slice(), record.priority), (["hooked".to_string()].as_slice(), 5));
    assert_eq!(record.result.as_deref(), Some("Done: rewritten task\n\nfollow the style guide"));

    let bad = command_hook("JobSubmit", r#"echo '{"hookSpecificOutput": {"updatedInput": {"priority": "high"}}}'"#);
    let project = Project::new(&[("bad.json", &bad)]).await;
    let err = project.engine.submit(job("x")).await.unwrap_err().to_string();
    assert!(err.contains("`priority`") && err.contains("\"high\""), "{err}");
}

#[tokio::test]
async fn handlers_read_the_event_on_stdin_with_the_project_in_their_environment() {
    let config = command_hook("JobSubmit", r#"cat > "$CLAUDE_PROJECT_DIR/event.json""#);
    let project = Project::new(&[("capture.json", &config)]).await;
    let submitted = project.engine.submit(JobSpec { tags: vec!["ci".into()], ..job("look") }).await.unwrap();
    let event: serde_json::Value =
        serde_json::from_slice(&std::fs::read(project.path().join("event.json")).unwrap()).unwrap();
    assert_eq!(event["hook_event_name"], "JobSubmit");
    assert_eq!(event["job_id"], submitted.job_id.as_str());
    assert_eq!((event["prompt"].as_str(), event["agent"].as_str()), (Some("look"), Some("claude")));
    assert_eq!(event["tags"], serde_json::json!(["ci"]));
    assert_eq!(event["cwd"], project.path().display().to_string());
}

#[tokio::test]
async fn pre_job_start_can_deny_a_job_before_it_runs() {
    let config = command_hook("PreJobStart", "echo 'the release freeze is on' >&2; exit 2");
    let project = Project::new(&[("freeze.json", &config)]).await;
    let record = project.run(job("ship it")).await;
    assert_eq!(record.status, JobStatus::Failed);
    assert_eq!(record.error.as_deref(), Some("a PreJobStart hook denied the job: the release freeze is on"));
    assert!(record.history.is_empty(), "no attempt ran: {:?}", record.history);
    assert_eq!((record.attempts, record.session_id), (0, None));
}

#[tokio::test]
async fn pre_job_start_can_delay_a_job() {
    // Delays the first start only; counts its calls.
    let script = r#"echo x >> "$CLAUDE_PROJECT_DIR/calls"
if [ "$(wc -l < "$CLAUDE_PROJECT_DIR/calls")" -eq 1 ]; then
  echo '{"hookSpecificOutput": {"delaySeconds": 0.2}}'
fi"#;
    let project = Project::new(&[("delay.json", &command_hook("PreJobStart", script))]).await;
    let record = project.run(job("later")).await;
    assert_eq!(record.status, JobStatus::Succeeded);
    assert_eq!(record.attempts, 1, "the delayed start is not an attempt");
    assert_eq!(std::fs::read_to_string(project.path().join("calls")).unwrap().lines().count(), 2);
}

#[tokio::test]
async fn post_job_hooks_see_the_result_and_attach_notes() {
    let log_hook = std::fs::read_to_string(repo("hooks/job-log.yaml")).unwrap();
    let notes = command_hook(
        "PostJob",
        r#"python3 -c 'import json,sys; e=json.load(sys.stdin); print("reviewed:", e["status"], e["result"])'"#,
    );
    let project = Project::new(&[("job-log.yaml", &log_hook), ("notes.json", &notes)]).await;
    let record = project.run(job("write the changelog @cost:0.25")).await;
    assert_eq!(record.notes, ["reviewed: succeeded Done: write the changelog @cost:0.25"]);
    let log = std::fs::read_to_string(project.path().join(".ringmaster/jobs.log")).unwrap();
    let fields: Vec<&str> = log.trim_end().split('\t').collect();
    assert_eq!(&fields[1..], [record.job_id.as_str(), "succeeded", "0.25"]);
}

#[tokio::test]
async fn job_failed_fires_for_failures_only() {
    let config = command_hook("JobFailed", r#"python3 -c 'import json,sys; print(json.load(sys.stdin)["error"])'"#);
    let project = Project::new(&[("failed.json", &config)]).await;
    let good = project.run(job("fine")).await;
    assert!(good.notes.is_empty(), "{:?}", good.notes);
    let bad = project.run(job("@fail")).await;
    assert_eq!(bad.status, JobStatus::Failed);
    assert_eq!(bad.notes.len(), 1);
    assert!(bad.notes[0].contains("failed as asked"), "{:?}", bad.notes);
}

#[tokio::test]
async fn a_hanging_or_failing_handler_neither_blocks_nor_decides_and_leaves_nothing_running() {
    let marker = format!("ringmaster-hang-{}", uuid::Uuid::new_v4());
    let config = serde_json::json!({ "hooks": { "JobSubmit": [{ "hooks": [
        { "type": "command", "command": format!("sleep 300 & sleep 301 # {marker}"), "timeout": 0.5 },
        { "type": "command", "command": "echo 'broken script' >&2; exit 1" },
        { "type": "command", "command": "kill -9 $$" },
        { "type": "wasm", "plugin": "not-loaded" },
    ]}]}});
    let project = Project::new(&[("flaky.json", &config.to_string())]).await;
    let record = project.run(job("carry on")).await;
    assert_eq!(record.status, JobStatus::Succeeded);
    let survivors: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).into_owned())
        .filter(|c| c.contains(&marker))
        .collect();
    assert!(survivors.is_empty(), "left running: {survivors:?}");
}

#[tokio::test]
async fn identical_handlers_run_once() {
    let config = command_hook("JobSubmit", r#"echo x >> "$CLAUDE_PROJECT_DIR/count""#);
    let project = Project::new(&[("a.json", &config), ("b.json", &config)]).await;
    project.engine.submit(job("once")).await.unwrap();
    assert_eq!(std::fs::read_to_string(project.path().join("count")).unwrap(), "x\n");
}

#[tokio::test]
async fn matchers_select_jobs_by_agent_and_tag() {
    let config = serde_json::json!({ "hooks": { "JobSubmit": [
        { "matcher": "prod|release", "hooks": [{ "type": "command", "command": "echo 'not on prod' >&2; exit 2" }] },
    ]}});
    let project = Project::new(&[("tags.json", &config.to_string())]).await;
    let tagged = JobSpec { tags: vec!["api".into(), "prod".into()], ..job("migrate") };
    assert!(matches!(project.engine.submit(tagged).await, Err(SubmitError::Denied(reason)) if reason == "not on prod"));
    let other = JobSpec { tags: vec!["staging".into()], ..job("migrate") };
    assert!(project.engine.submit(other).await.is_ok());
}

#[tokio::test]
async fn a_wasm_handler_denies_through_the_example_plugin() {
    let host = support::TestHost::new("config:\n  deny-patterns:\n    patterns: \"rm -rf /\\nprod-db\"\n");
    host.load("deny-patterns", "deny-patterns", None).unwrap();
    let config = std::fs::read_to_string(repo("hooks/deny-patterns.yaml")).unwrap();
    let project = Project::with_plugins(&[("deny-patterns.yaml", &config)], host.host.clone()).await;
    let err = project.engine.submit(job("clean up with rm -rf / now")).await.unwrap_err().to_string();
    assert!(err.contains("denied pattern \"rm -rf /\""), "{err}");
    assert!(project.engine.submit(job("clean up the tmp dir")).await.is_ok());
}

#[tokio::test]
async fn hook_configs_reload_live_and_a_broken_file_keeps_its_last_good_version() {
    let project = Project::new(&[]).await;
    let _watcher = project.hooks.watch().unwrap();
    let mut changes = project.hooks.subscribe();
    let mut next_change = async || {
        tokio::time::timeout(support::WAIT, changes.changed()).await.expect("reloaded in time").unwrap();
    };
    let file = project.path().join("hooks/deny.json");
    std::fs::write(&file, command_hook("JobSubmit", "echo 'hooks say no' >&2; exit 2")).unwrap();
    next_change().await;
    assert!(project.engine.submit(job("a")).await.is_err());

    std::fs::write(&file, "{\"hooks\": {\"JobSubmit\": [").unwrap();
    next_change().await;
    let listed = project.hooks.list();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status, HookStatus::Stale);
    assert!(listed[0].error.as_deref().unwrap().starts_with("line 1:"), "{:?}", listed[0].error);
    assert!(project.engine.submit(job("b")).await.is_err(), "the last good version still applies");

    std::fs::remove_file(&file).unwrap();
    next_change().await;
    assert!(project.hooks.list().is_empty());
    assert!(project.engine.submit(job("c")).await.is_ok());
}

/// Waits (with a generous bound) until `check` finds what it looks for.
async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + support::WAIT;
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what} did not happen in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The content of a file a fire-and-forget hook writes, once complete.
async fn written(path: &Path) -> String {
    let read = || std::fs::read_to_string(path).ok().filter(|text| text.ends_with('\n'));
    eventually(&format!("writing {}", path.display()), read).await
}

#[tokio::test]
async fn job_retry_notification_and_shutdown_events_reach_their_hooks() {
    let capture = |event: &str, matcher: &str| {
        let command = format!(
            r#"python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)))' > "$CLAUDE_PROJECT_DIR/{event}.json""#
        );
        serde_json::json!({ "hooks": { event: [{ "matcher": matcher, "hooks": [{ "type": "command", "command": command }] }] } })
            .to_string()
    };
    let project = Project::new(&[
        ("retry.json", &capture("JobRetry", "*")),
        ("notification.json", &capture("Notification", "rate_limited")),
        ("shutdown.json", &capture("Shutdown", "")),
        // An agent's `Stop` (relayed from inside agents) is another event.
        ("stop.json", &capture("Stop", "")),
    ])
    .await;
    let event = |text: String| serde_json::from_str::<serde_json::Value>(&text).unwrap();

    let retried = project.run(JobSpec { max_retries: Some(1), ..job("@fail") }).await;
    let retry = event(written(&project.path().join("JobRetry.json")).await);
    assert_eq!((retry["job_id"].as_str(), retry["attempts"].as_u64()), (Some(retried.job_id.as_str()), Some(1)));
    assert!(retry["delay_ms"].as_u64().is_some() && retry["error"].as_str().unwrap().contains("failed as asked"));

    // Its job is queued again to wait out the limit: only the notification matters here.
    let limited = project.engine.submit(job("@ratelimit")).await.unwrap().job_id;
    let notification = event(written(&project.path().join("Notification.json")).await);
    assert_eq!(notification["kind"], "rate_limited");
    assert!(notification["message"].as_str().unwrap().contains("cooling down"), "{notification}");
    project.engine.cancel(&limited).await.unwrap();

    project.engine.stop().await;
    let stop = event(std::fs::read_to_string(project.path().join("Shutdown.json")).unwrap());
    assert_eq!((stop["hook_event_name"].as_str(), stop["reason"].as_str()), (Some("Shutdown"), Some("shutdown")));
    assert!(!project.path().join("Stop.json").exists(), "shutting down is not an agent's Stop");
}

#[tokio::test]
async fn cancelling_a_job_while_its_start_is_being_delayed_cancels_it() {
    // The hook signals it is running, then waits for the test to let it
    // answer with a long delay.
    let script = r#"touch "$CLAUDE_PROJECT_DIR/started"
while [ ! -f "$CLAUDE_PROJECT_DIR/go" ]; do sleep 0.05; done
echo '{"hookSpecificOutput": {"delaySeconds": 600}}'"#;
    let project = Project::new(&[("delay.json", &command_hook("PreJobStart", script))]).await;
    let id = project.engine.submit(job("wait for it")).await.unwrap().job_id;
    let started = project.path().join("started");
    eventually("the hook starting", || started.exists().then_some(())).await;
    let engine = project.engine.clone();
    let cancelling = tokio::spawn(async move { engine.cancel(&id).await });
    // Let the engine see the cancel while the hook still runs.
    tokio::task::yield_now().await;
    std::fs::write(project.path().join("go"), "").unwrap();
    let record =
        tokio::time::timeout(support::WAIT, cancelling).await.expect("cancel returned in time").unwrap().unwrap();
    assert_eq!(record.record.status, JobStatus::Cancelled);
}

#[tokio::test]
async fn a_hook_plugin_runs_on_its_own_for_the_events_it_asks_for() {
    // No hook config names it: it runs for what its `events()` lists.
    let host = support::TestHost::new("config:\n  deny-patterns:\n    patterns: prod-db\n");
    host.load("deny-patterns", "deny-patterns", None).unwrap();
    let project = Project::with_plugins(&[], host.host.clone()).await;
    let err = project.engine.submit(job("drop prod-db")).await.unwrap_err().to_string();
    assert!(err.contains("denied pattern \"prod-db\""), "{err}");
    let listed: Vec<(String, String)> = project.hooks.list().into_iter().map(|h| (h.event, h.source)).collect();
    assert!(listed.contains(&("JobSubmit".into(), "plugin:deny-patterns".into())), "{listed:?}");

    // Its `events` setting is honoured: asked only for PreJobStart, it has no
    // say on JobSubmit, and denies at the start instead.
    let host = support::TestHost::new("config:\n  deny-patterns:\n    patterns: prod-db\n    events: PreJobStart\n");
    host.load("deny-patterns", "deny-patterns", None).unwrap();
    let project = Project::with_plugins(&[], host.host.clone()).await;
    let record = project.run(job("drop prod-db")).await;
    assert_eq!(record.status, JobStatus::Failed);
    assert!(record.error.unwrap().contains("PreJobStart hook denied"), "denied at the start, not at submission");
}

#[tokio::test]
async fn a_hook_config_naming_a_plugin_decides_where_it_runs_and_events_still_filter() {
    let host = support::TestHost::new("config:\n  deny-patterns:\n    patterns: prod-db\n    events: JobSubmit\n");
    host.load("deny-patterns", "deny-patterns", None).unwrap();
    // Named for tagged jobs only: untagged ones pass although the plugin wants JobSubmit.
    let config = "hooks:\n  JobSubmit:\n    - matcher: prod\n      hooks: [{type: wasm, plugin: deny-patterns}]\n  \
                  PreJobStart:\n    - hooks: [{type: wasm, plugin: deny-patterns}]\n";
    let project = Project::with_plugins(&[("named.yaml", config)], host.host.clone()).await;
    assert!(project.engine.submit(JobSpec { tags: vec!["prod".into()], ..job("drop prod-db") }).await.is_err());
    // Untagged: not matched at submission; at the start the plugin is named,
    // but it does not want PreJobStart, so it does not run there.
    let record = project.run(job("drop prod-db")).await;
    assert_eq!(record.status, JobStatus::Succeeded, "{record:?}");
}

#[tokio::test]
async fn tree_finished_fires_once_when_the_last_job_of_a_tree_ends_with_its_counts_and_cost() {
    let command =
        r#"python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)))' >> "$CLAUDE_PROJECT_DIR/trees.jsonl""#;
    let hook = serde_json::json!({ "hooks": { "TreeFinished": [{ "matcher": "succeeded",
        "hooks": [{ "type": "command", "command": command }] }] } });
    let project = Project::new(&[("trees.json", &hook.to_string())]).await;
    let mut trees = project.engine.finished_trees();
    let go = project.path().join("go");
    let root = project.engine.submit(job(&format!("@cost:0.5 @wait-for:{}", go.display()))).await;
    let root = root.unwrap().job_id;
    let child = |prompt: &str| JobSpec { parent_job_id: Some(root.clone()), ..job(prompt) };
    let ok = project.run(child("@cost:0.25 part")).await;
    let failed = project.run(JobSpec { max_retries: Some(0), ..child("@fail part") }).await;
    assert_eq!((ok.status, failed.status), (JobStatus::Succeeded, JobStatus::Failed));
    assert!(trees.try_recv().is_err(), "the root still runs: the tree is not finished");
    std::fs::write(&go, "").unwrap();
    let tree = tokio::time::timeout(support::WAIT, trees.recv()).await.expect("announced").unwrap();
    assert_eq!((tree.root_job_id.as_str(), tree.jobs, tree.status), (root.as_str(), 3, JobStatus::Succeeded));
    assert_eq!(tree.by_status.get("failed"), Some(&1));
    assert_eq!(tree.by_status.get("succeeded"), Some(&2));
    assert!((tree.cost_usd - (0.75 + failed.cost_usd)).abs() < 1e-9, "{tree:?}");

    let line = written(&project.path().join("trees.jsonl")).await;
    let event: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
    assert_eq!((event["hook_event_name"].as_str(), event["jobs"].as_u64()), (Some("TreeFinished"), Some(3)));
    assert_eq!(event["root_job_id"], root.as_str());
    // A tree whose root failed does not match `succeeded`.
    project.run(JobSpec { max_retries: Some(0), ..job("@fail alone") }).await;
    let alone = tokio::time::timeout(support::WAIT, trees.recv()).await.expect("announced").unwrap();
    assert_eq!((alone.jobs, alone.status), (1, JobStatus::Failed));
    assert_eq!(std::fs::read_to_string(project.path().join("trees.jsonl")).unwrap().lines().count(), 1);
}

#[tokio::test]
async fn a_budget_that_runs_out_is_told_to_notification_hooks_once() {
    let command =
        r#"python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)))' >> "$CLAUDE_PROJECT_DIR/spent.jsonl""#;
    let hook = serde_json::json!({ "hooks": { "Notification": [{ "matcher": "budget_spent",
        "hooks": [{ "type": "command", "command": command }] }] } });
    let dir = tempfile::tempdir().unwrap();
    let plugins = PluginHost::new(PluginsConfig::default(), None).unwrap();
    let hooks = support::hooks_in(dir.path(), &[("spent.json", &hook.to_string())], plugins.clone());
    let budget = ringmaster::config::BudgetConfig {
        name: "small".into(),
        tag: None,
        usd: Some(0.3),
        tokens: None,
        window: None,
    };
    let config = EngineConfig { max_concurrent: Some(1), budgets: vec![budget], ..EngineConfig::default() };
    let engine = support::fake_engine(dir.path(), config, plugins, Some(hooks), Default::default()).await;
    support::run_job(&engine, job("@cost:0.25 one")).await;
    support::run_job(&engine, job("@cost:0.25 two")).await;
    let line = written(&dir.path().join("spent.jsonl")).await;
    let event: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
    assert_eq!(event["kind"], "budget_spent");
    assert!(event["message"].as_str().unwrap().starts_with("budget small is spent ($0.50 of $0.30)"), "{event}");
    let held = engine.submit(job("three")).await.unwrap().job_id;
    assert!(engine.status(&held).await.unwrap().waiting_for.unwrap().contains("budget small is spent"));
    engine.cancel(&held).await.unwrap();
    assert_eq!(std::fs::read_to_string(dir.path().join("spent.jsonl")).unwrap().lines().count(), 1, "told once");
}
