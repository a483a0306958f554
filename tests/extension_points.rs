//! Every extension point round-trips through the real bindings with the
//! example plugins, and the policy layer picks the selected plugin or falls
//! back to the built-in.

use crate::support::*;
use ringmaster::contract::{Candidate, Decision, FailureKind, RootLoad, ScheduleInput, Timeouts};
use ringmaster::contract::{CommandOutcome, ExtensionPoint, HookCall, HookPermission};
use ringmaster::plugin::error::CallError;
use ringmaster::policy::{Policies, Source};

#[test]
fn fair_share_scheduler_honours_priority_then_spreads_across_trees() {
    let t = TestHost::new("");
    t.load("fair-share", "fair-share", None).unwrap();
    let plugin = t.host.get("fair-share").unwrap();

    let jobs = [job("a", "big", 0, &[]), job("b", "big", 3, &[])];
    assert_eq!(plugin.rank(&jobs).unwrap(), vec![0, 3]);

    // Best-ranked first as the host offers them: the urgent job, then three
    // of the big tree before the small tree's job.
    let candidates = vec![
        Candidate { job: job("urgent", "urgent", 5, &[]), rank: 5, waited_ms: 0 },
        Candidate { job: job("big-1", "big", 0, &[]), rank: 0, waited_ms: 30 },
        Candidate { job: job("big-2", "big", 0, &[]), rank: 0, waited_ms: 20 },
        Candidate { job: job("big-3", "big", 0, &[]), rank: 0, waited_ms: 10 },
        Candidate { job: job("small-1", "small", 0, &[]), rank: 0, waited_ms: 5 },
    ];
    let input = ScheduleInput {
        candidates,
        slots: vec![slot(0, 1), slot(1, 2)],
        capacity: 3,
        roots: vec![RootLoad { root_id: "big".into(), running: 2 }, RootLoad { root_id: "small".into(), running: 0 }],
        queued_total: 5,
        now_ms: 0,
    };
    let chosen: Vec<(String, u32)> = plugin.select(&input).unwrap().into_iter().map(|a| (a.job_id, a.slot)).collect();
    assert_eq!(chosen, [("urgent".into(), 1), ("small-1".into(), 0), ("big-1".into(), 1)]);
}

#[test]
fn p95_estimator_uses_the_most_specific_history_with_enough_samples() {
    let t = TestHost::new("config:\n  p95-timeout: { factor: 2, floor-s: 10, ceiling-s: 1000, idle-s: 60 }");
    t.load("p95-timeout", "p95-timeout", None).unwrap();
    let plugin = t.host.get("p95-timeout").unwrap();
    let fallback = Timeouts { hard_ms: 3_600_000, idle_ms: 600_000 };
    let estimate = |s, requested| plugin.estimate(&job("j", "j", 0, &["build"]), &s, requested, fallback).unwrap();

    // The tag's history has too few samples; the overall one is used.
    let s = similar(vec![("build".into(), history(2, 400_000))], history(50, 100_000));
    assert_eq!(estimate(s, None), Timeouts { hard_ms: 200_000, idle_ms: 60_000 });
    // Enough samples under the tag: it wins, capped at the ceiling.
    let s = similar(vec![("build".into(), history(9, 800_000))], history(50, 100_000));
    assert_eq!(estimate(s, None), Timeouts { hard_ms: 1_000_000, idle_ms: 60_000 });
    // No usable history: the host's answer stands. A request always wins.
    assert_eq!(estimate(similar(vec![], history(1, 5)), None), fallback);
    assert_eq!(estimate(similar(vec![], history(1, 5)), Some(30_000)), Timeouts { hard_ms: 30_000, idle_ms: 30_000 });
}

#[test]
fn backoff_retry_backs_off_resumes_and_refuses_hopeless_failures() {
    let t = TestHost::new("config:\n  backoff-retry: { base-ms: 1000, cap-ms: 5000 }");
    t.load("backoff-retry", "backoff-retry", None).unwrap();
    let plugin = t.host.get("backoff-retry").unwrap();
    let j = job("j", "j", 0, &[]);

    let Decision::Retry(first) = plugin.decide(&j, 1, 5, &failure(FailureKind::IdleTimeout, true)).unwrap() else {
        panic!("an idle timeout is retried")
    };
    assert!(first.delay_ms <= 1000 && first.resume_session);
    let Decision::Retry(later) = plugin.decide(&j, 5, 5, &failure(FailureKind::Crashed, false)).unwrap() else {
        panic!("a crash is retried")
    };
    assert!(later.delay_ms <= 5000 && !later.resume_session);
    match plugin.decide(&j, 1, 5, &failure(FailureKind::CouldNotStart, false)).unwrap() {
        Decision::GiveUp(reason) => assert!(reason.contains("could-not-start is not retryable"), "{reason}"),
        other => panic!("expected give-up, got {other:?}"),
    }
}

#[test]
fn deny_patterns_hook_denies_matching_input_and_passes_the_rest() {
    let t = TestHost::new("");
    let manifest = "config:\n  patterns: |\n    DROP DATABASE\n    rm -rf /\n";
    t.load("deny-patterns", "deny-patterns", Some(manifest)).unwrap();
    let plugin = t.host.get("deny-patterns").unwrap();
    assert_eq!(plugin.hook_events, ["JobSubmit", "PreToolUse"]);

    let event = |payload: &str| HookCall {
        name: "JobSubmit".into(),
        payload_json: payload.into(),
        job: Some(job("j", "j", 0, &[])),
    };
    let denied = plugin.handle_hook(&event(r#"{"prompt":"please drop database prod"}"#)).unwrap();
    assert_eq!(denied.permission, Some(HookPermission::Deny));
    assert!(denied.reason.unwrap().contains("DROP DATABASE"));
    let passed = plugin.handle_hook(&event(r#"{"prompt":"write tests"}"#)).unwrap();
    assert_eq!(passed.permission, None);
}

#[test]
fn command_plugin_lists_and_runs_commands() {
    let t = TestHost::new("");
    t.load("team-commands", "team-commands", None).unwrap();
    let plugin = t.host.get("team-commands").unwrap();
    let names: Vec<String> = plugin.list_commands().unwrap().into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["review", "fanout-help"]);

    match plugin.run_command("review", "release-1.2 error handling").unwrap().unwrap() {
        CommandOutcome::Submit(request) => {
            assert!(request.prompt.contains("git diff release-1.2...HEAD"), "{}", request.prompt);
            assert!(request.prompt.contains("Focus on: error handling"));
            assert_eq!(request.options.tags, ["review"]);
            assert_eq!(request.options.priority, Some(1));
        }
        other => panic!("expected a job, got {other:?}"),
    }
    assert!(
        matches!(plugin.run_command("fanout-help", "").unwrap(), Ok(CommandOutcome::Text(t)) if t.contains("job_submit_batch"))
    );
    let refused = plugin.run_command("deploy", "").unwrap().unwrap_err();
    assert!(refused.contains("unknown command \"deploy\""), "{refused}");
}

#[test]
fn policies_use_the_selected_plugin_and_fall_back_to_the_builtin() {
    let t = TestHost::new("policies: { scheduler: sched, retry-policy: retry }\nconfig:\n  sched: { answer: 42 }");
    let policies = Policies::new(t.host.clone());
    let jobs = [job("a", "a", 3, &[])];
    // Selected but not loaded: the built-in ranks by priority.
    assert_eq!(policies.source(ExtensionPoint::Scheduler), Source::Builtin);
    assert_eq!(policies.rank(&jobs), vec![3]);

    t.load("sched", "misbehave", None).unwrap();
    assert_eq!(policies.source(ExtensionPoint::Scheduler), Source::Plugin("sched".into()));
    assert_eq!(policies.rank(&jobs), vec![42]);
    // The misbehave fixture always gives up; the built-in would retry.
    t.load("retry", "misbehave", None).unwrap();
    let decision = policies.decide(&jobs[0], 1, 3, &failure(FailureKind::Timeout, false));
    assert!(matches!(decision, Decision::GiveUp(reason) if reason.contains("never retries")));

    // A plugin that does not export the point is not used for it.
    t.load("sched", "p95-timeout", None).unwrap();
    assert_eq!(policies.source(ExtensionPoint::Scheduler), Source::Builtin);
    assert!(matches!(
        t.host.call("sched", ExtensionPoint::Scheduler, |p| p.rank(&jobs)),
        Err(CallError::NotExported { .. })
    ));
}

#[test]
fn host_config_overrides_manifest_config() {
    let t = TestHost::new("config:\n  sched: { answer: 9 }");
    t.load("sched", "misbehave", Some("config: { answer: 1, mode: ok }")).unwrap();
    assert_eq!(t.host.get("sched").unwrap().rank(&[job("a", "a", 0, &[])]).unwrap(), vec![9]);
}
