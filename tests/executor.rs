//! One attempt of a job, run through the real process machinery against
//! `fake-claude` (and a shell, for process-group cleanup).

use crate::support;

use ringmaster::executor::agent::{AgentProfile, Invocation};
use ringmaster::executor::stream::AgentEvent;
use ringmaster::executor::{AttemptReport, AttemptSpec, run_attempt};
use ringmaster::job::AttemptOutcome;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn fake_claude() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_fake-claude"))
}

fn spec(prompt: &str) -> AttemptSpec {
    let profile = AgentProfile { command: Some(fake_claude()), ..Default::default() };
    let call = Invocation { prompt, ..Default::default() };
    AttemptSpec {
        program: profile.find_binary("claude").unwrap(),
        args: profile.args(&call),
        stdin: profile.stdin(&call),
        cwd: std::env::temp_dir(),
        env: vec![],
        env_remove: vec![],
        hard_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(60),
        kill_grace: Duration::from_secs(5),
    }
}

async fn run(spec: &AttemptSpec) -> (AttemptReport, Vec<AgentEvent>) {
    let mut events = Vec::new();
    let report = run_attempt(spec, &CancellationToken::new(), |_, event| events.push(event.clone())).await;
    (report, events)
}

#[tokio::test]
async fn a_successful_run_yields_session_result_cost_and_usage() {
    let (report, events) = run(&spec("summarise the README @cost:0.25")).await;
    assert_eq!(report.outcome, AttemptOutcome::Succeeded, "{}", report.message);
    assert_eq!(report.exit_code, Some(0));
    let result = report.result.unwrap();
    assert_eq!(result.result.as_deref(), Some("Done: summarise the README @cost:0.25"));
    assert_eq!(result.total_cost_usd, Some(0.25));
    assert_eq!(result.usage.unwrap()["input_tokens"], 120);
    let session = report.session_id.unwrap();
    assert!(matches!(&events[0], AgentEvent::Init { session_id } if *session_id == session));
    assert!(matches!(events.last(), Some(AgentEvent::Result(_))));
}

#[tokio::test]
async fn a_resumed_session_keeps_its_id() {
    let mut spec = spec("continue");
    spec.args.extend(["--resume".into(), "4a9e-session".into()]);
    let (report, _) = run(&spec).await;
    assert_eq!(report.session_id.as_deref(), Some("4a9e-session"));
}

#[tokio::test]
async fn failures_are_classified() {
    let (report, _) = run(&spec("@fail")).await;
    assert_eq!((report.outcome, report.exit_code), (AttemptOutcome::AgentError, Some(1)));
    assert!(report.message.contains("error_during_execution"), "{}", report.message);

    let (report, _) = run(&spec("@crash")).await;
    assert_eq!((report.outcome, report.exit_code), (AttemptOutcome::Crashed, Some(2)));
    assert!(
        report.message.contains("exited with code 2 without a result: fake-claude: crashing as asked"),
        "{}",
        report.message
    );
    assert!(report.session_id.is_some(), "init came before the crash");

    let (report, _) = run(&spec("@ratelimit")).await;
    assert_eq!(report.outcome, AttemptOutcome::RateLimited);
    let Some(resets) = report.resets_at_ms else { panic!("no reset time: {report:?}") };
    assert!(resets > 1_700_000_000_000);
}

#[tokio::test]
async fn progress_lines_arrive_while_the_agent_works() {
    let (report, events) = run(&spec("@sleep:0.6")).await;
    assert_eq!(report.outcome, AttemptOutcome::Succeeded);
    assert!(events.iter().filter(|e| **e == AgentEvent::Activity).count() >= 3, "{events:?}");
}

#[tokio::test]
async fn a_hard_timeout_stops_the_agent_with_sigterm() {
    let mut spec = spec("@hang");
    spec.hard_timeout = Duration::from_millis(300);
    let (report, _) = run(&spec).await;
    assert_eq!(report.outcome, AttemptOutcome::TimedOut);
    assert_eq!(report.exit_code, Some(143), "fake-claude exits 143 on SIGTERM like the real CLI");
}

#[tokio::test]
async fn an_idle_timeout_fires_on_silence_but_not_on_steady_output() {
    let mut silent = spec("@hang");
    silent.idle_timeout = Duration::from_millis(300);
    let (report, _) = run(&silent).await;
    assert_eq!(report.outcome, AttemptOutcome::IdleTimedOut);
    assert_eq!(report.message, "no output for 0 s");

    // Output every 250 ms keeps a 1 s idle timeout from firing over 1.5 s of work.
    let mut busy = spec("@sleep:1.5");
    busy.idle_timeout = Duration::from_secs(1);
    assert_eq!(run(&busy).await.0.outcome, AttemptOutcome::Succeeded);
}

#[tokio::test]
async fn an_agent_ignoring_sigterm_is_killed_after_the_grace_period() {
    let mut spec = spec("@hang:stubborn");
    spec.hard_timeout = Duration::from_millis(200);
    spec.kill_grace = Duration::from_millis(300);
    let (report, _) = run(&spec).await;
    assert_eq!(report.outcome, AttemptOutcome::TimedOut);
    assert_eq!(report.signal, Some(9), "SIGKILL after the grace period");
}

#[tokio::test]
async fn many_stubborn_agents_timing_out_together_are_all_killed() {
    let mut spec = spec("@hang:stubborn");
    spec.hard_timeout = Duration::from_millis(200);
    spec.kill_grace = Duration::from_millis(300);
    let runs = (0..20).map(|_| {
        let spec = spec.clone();
        tokio::spawn(async move { run(&spec).await.0 })
    });
    for report in futures_join(runs).await {
        assert_eq!((report.outcome, report.signal), (AttemptOutcome::TimedOut, Some(9)));
    }
}

async fn futures_join<T>(handles: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for handle in handles.collect::<Vec<_>>() {
        out.push(handle.await.unwrap());
    }
    out
}

#[tokio::test]
async fn cancelling_stops_the_agent() {
    let spec = spec("@hang");
    let cancel = CancellationToken::new();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let mut started_tx = Some(started_tx);
    let task = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            run_attempt(&spec, &cancel, |_, event| {
                if matches!(event, AgentEvent::Init { .. }) {
                    started_tx.take().map(|tx| tx.send(()));
                }
            })
            .await
        })
    };
    tokio::time::timeout(support::WAIT, started_rx).await.unwrap().unwrap();
    cancel.cancel();
    let report = tokio::time::timeout(support::WAIT, task).await.unwrap().unwrap();
    assert_eq!(report.outcome, AttemptOutcome::Cancelled);
}

#[tokio::test]
async fn a_missing_binary_or_directory_could_not_start() {
    let mut missing = spec("hi");
    missing.cwd = PathBuf::from("/nonexistent/dir");
    let (report, _) = run(&missing).await;
    assert_eq!(report.outcome, AttemptOutcome::CouldNotStart);
    assert!(report.message.contains("/nonexistent/dir"), "{}", report.message);
}

/// Whether process `pid` is gone (reaped, or a zombie about to be).
fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

/// An "agent" (a shell) that starts a long-lived child, records its pid, then runs `rest`.
fn shell_agent(dir: &Path, rest: &str) -> AttemptSpec {
    let script = format!("sleep 1000 & echo $! > {}/child.pid; {rest}", dir.display());
    AttemptSpec {
        program: PathBuf::from("/bin/sh"),
        args: vec!["-c".into(), script],
        stdin: None,
        cwd: dir.into(),
        env: vec![],
        env_remove: vec![],
        hard_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_secs(60),
        kill_grace: Duration::from_secs(5),
    }
}

fn child_pid(dir: &Path) -> i32 {
    std::fs::read_to_string(dir.join("child.pid")).unwrap().trim().parse().unwrap()
}

#[tokio::test]
async fn the_agents_own_children_die_with_it_when_it_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let (report, _) = run(&shell_agent(dir.path(), "wait")).await;
    assert_eq!(report.outcome, AttemptOutcome::TimedOut);
    wait_until(|| gone(child_pid(dir.path()))).await;
}

#[tokio::test]
async fn the_agents_own_children_die_with_it_when_it_exits() {
    let dir = tempfile::tempdir().unwrap();
    let (report, _) = run(&shell_agent(dir.path(), "exit 0")).await;
    assert_eq!(report.outcome, AttemptOutcome::Crashed, "no result line: {}", report.message);
    wait_until(|| gone(child_pid(dir.path()))).await;
}

async fn wait_until(condition: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + support::WAIT;
    while !condition() {
        assert!(std::time::Instant::now() < deadline, "condition not met within {:?}", support::WAIT);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn stream_json_without_verbose_is_refused_like_the_real_cli() {
    let out = std::process::Command::new(fake_claude())
        .args(["-p", "hi", "--output-format", "stream-json"])
        .current_dir(Path::new("/"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("requires --verbose"));
}
