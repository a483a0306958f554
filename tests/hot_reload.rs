//! Hot reload: plugins are swapped while the host runs, calls in flight
//! finish on the build they started with, and nothing bad ever replaces
//! something good.

use crate::support::*;
use ringmaster::contract::ExtensionPoint;
use ringmaster::plugin::engine::content_hash;
use ringmaster::plugin::registry::PluginEvent;
use ringmaster::plugin::registry::PluginStatus;
use ringmaster::plugin::reload::watch;
use ringmaster::policy::{Policies, Source};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};

fn hash_of(name: &str) -> String {
    content_hash(&std::fs::read(built(name)).unwrap())
}

fn loaded(name: &'static str, hash: String) -> impl Fn(&PluginEvent) -> bool {
    move |e| matches!(e, PluginEvent::Loaded { name: n, hash: h } if n == name && *h == hash)
}

/// `misbehave` ranks every job 1 (its configured answer); `fair-share` ranks
/// by priority (5 here), so the answer tells the builds apart.
const OLD: i64 = 1;
const NEW: i64 = 5;

fn rank(t: &TestHost) -> Result<Vec<i64>, String> {
    t.host.call("sched", ExtensionPoint::Scheduler, |p| p.rank(&[job("j", "j", 5, &[])])).map_err(|e| e.to_string())
}

#[test]
fn in_flight_calls_finish_on_the_old_build_while_new_calls_use_the_new_one() {
    let t = TestHost::new("config:\n  sched: { answer: 1 }");
    t.load("sched", "misbehave", None).unwrap();
    let _watcher = watch(t.host.clone()).unwrap();

    // A call that has resolved its plugin and is held until the swap is done.
    let (entered, is_entered) = mpsc::channel();
    let (proceed, may_proceed) = mpsc::channel::<()>();
    let host = t.host.clone();
    let in_flight = std::thread::spawn(move || {
        host.call("sched", ExtensionPoint::Scheduler, |plugin| {
            entered.send(()).unwrap();
            may_proceed.recv().unwrap();
            plugin.rank(&[job("j", "j", 5, &[])])
        })
    });
    is_entered.recv_timeout(WAIT).unwrap();

    install(t.path(), "sched", &built("fair-share"));
    t.wait_for(loaded("sched", hash_of("fair-share")));
    assert_eq!(rank(&t).unwrap(), vec![NEW], "new calls see the new build");

    proceed.send(()).unwrap();
    assert_eq!(in_flight.join().unwrap().unwrap(), vec![OLD], "the in-flight call finished on the old build");
}

#[test]
fn no_call_fails_while_a_plugin_is_swapped_back_and_forth() {
    let t = TestHost::new("config:\n  sched: { answer: 1 }");
    t.load("sched", "misbehave", None).unwrap();
    let _watcher = watch(t.host.clone()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..3)
        .map(|_| {
            let (host, stop) = (t.host.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut answers = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let answer = host.call("sched", ExtensionPoint::Scheduler, |p| p.rank(&[job("j", "j", 5, &[])]));
                    answers.push(answer.map_err(|e| e.to_string()));
                }
                answers
            })
        })
        .collect();

    for round in 0..4 {
        let next = if round % 2 == 0 { "fair-share" } else { "misbehave" };
        install(t.path(), "sched", &built(next));
        t.wait_for(loaded("sched", hash_of(next)));
        let expected = if next == "fair-share" { NEW } else { OLD };
        assert_eq!(rank(&t).unwrap(), vec![expected]);
    }
    stop.store(true, Ordering::Relaxed);

    let answers: Vec<_> = callers.into_iter().flat_map(|c| c.join().unwrap()).collect();
    assert!(!answers.is_empty());
    for answer in answers {
        let ranks = answer.expect("no call fails during a swap");
        assert!(ranks == [OLD] || ranks == [NEW], "unexpected answer {ranks:?}");
    }
}

#[test]
fn removing_a_plugin_hands_its_extension_point_back_to_the_builtin() {
    let t = TestHost::new("policies: { scheduler: sched }\nconfig:\n  sched: { answer: 1 }");
    let policies = Policies::new(t.host.clone());
    t.load("sched", "misbehave", None).unwrap();
    let _watcher = watch(t.host.clone()).unwrap();
    assert_eq!(policies.rank(&[job("j", "j", 5, &[])]), vec![OLD]);

    std::fs::remove_file(t.path().join("sched.wasm")).unwrap();
    t.wait_for(|e| matches!(e, PluginEvent::Unloaded { name } if name == "sched"));
    assert_eq!(policies.source(ExtensionPoint::Scheduler), Source::Builtin);
    assert_eq!(policies.rank(&[job("j", "j", 5, &[])]), vec![5], "the built-in ranks by priority");
    assert!(t.host.list().is_empty());
}

#[test]
fn a_new_plugin_dropped_into_the_directory_is_loaded() {
    let t = TestHost::new("");
    let _watcher = watch(t.host.clone()).unwrap();
    install(t.path(), "team-commands", &built("team-commands"));
    t.wait_for(loaded("team-commands", hash_of("team-commands")));
    assert_eq!(t.host.providers(ExtensionPoint::Commands), ["team-commands"]);
}

#[test]
fn a_changed_manifest_reloads_the_plugin_with_its_new_config() {
    let t = TestHost::new("");
    t.load("sched", "misbehave", Some("config: { answer: 1 }")).unwrap();
    let _watcher = watch(t.host.clone()).unwrap();
    write_manifest(t.path(), "sched", "config: { answer: 2 }");
    t.wait_for(loaded("sched", hash_of("misbehave")));
    assert_eq!(rank(&t).unwrap(), vec![2]);
}

#[test]
fn a_bad_build_never_replaces_a_good_one() {
    let t = TestHost::new("config:\n  sched: { answer: 1 }");
    t.load("sched", "misbehave", None).unwrap();
    let _watcher = watch(t.host.clone()).unwrap();

    install(t.path(), "sched", &built("wrong-package"));
    let rejected = t.wait_for(|e| matches!(e, PluginEvent::Rejected { name, .. } if name == "sched"));
    let PluginEvent::Rejected { error, .. } = rejected else { unreachable!() };
    assert!(error.contains("exports no ringmaster extension point"), "{error}");
    assert_eq!(rank(&t).unwrap(), vec![OLD], "the previous build keeps answering");
    let info = t.host.list().into_iter().find(|i| i.name == "sched").unwrap();
    assert_eq!(info.status, PluginStatus::Active);
    assert_eq!(info.hash, Some(hash_of("misbehave")));
    assert!(info.error.unwrap().contains("acme:greeter/greet@1.0.0"));

    install(t.path(), "sched", &built("fair-share"));
    t.wait_for(loaded("sched", hash_of("fair-share")));
    assert_eq!(rank(&t).unwrap(), vec![NEW]);
    assert_eq!(t.host.list()[0].error, None, "a good build clears the error");
}

#[test]
fn a_file_truncated_mid_write_is_never_loaded() {
    let t = TestHost::new("config:\n  sched: { answer: 1 }");
    t.load("sched", "misbehave", None).unwrap();
    let _watcher = watch(t.host.clone()).unwrap();

    // Write the new build in place, stopping halfway for longer than the debounce.
    let bytes = std::fs::read(built("fair-share")).unwrap();
    let mut file = std::fs::File::create(t.path().join("sched.wasm")).unwrap();
    file.write_all(&bytes[..bytes.len() / 2]).unwrap();
    file.flush().unwrap();
    // (An attempt may also catch the file empty, just after it was created.)
    t.wait_for(|e| matches!(e, PluginEvent::Rejected { error, .. } if error.contains("not a valid component")));
    assert_eq!(rank(&t).unwrap(), vec![OLD], "half a file never replaces the running build");

    file.write_all(&bytes[bytes.len() / 2..]).unwrap();
    drop(file);
    t.wait_for(loaded("sched", hash_of("fair-share")));
    assert_eq!(rank(&t).unwrap(), vec![NEW]);
}

/// The WIT promises it: when the selected scheduler plugin loads (after a
/// start, or on a reload) or goes away, the queued jobs are ranked again by
/// whoever answers now.
#[tokio::test]
async fn queued_jobs_are_ranked_again_when_the_scheduler_plugin_loads_and_goes() {
    let t = TestHost::new("policies:\n  scheduler: misbehave\n");
    let project = tempfile::tempdir().unwrap();
    let config = ringmaster::config::EngineConfig { max_concurrent: Some(1), ..Default::default() };
    let engine = fake_engine(project.path(), config, t.host.clone(), None, Default::default()).await;
    let blocker = engine.submit(ringmaster::job::JobSpec { prompt: "@hang".into(), ..Default::default() });
    let blocker = blocker.await.unwrap().job_id;
    // It must hold the only place before the others queue, or the scheduler
    // would start the higher-priority one instead.
    let mut changes = engine.subscribe();
    while engine.status(&blocker).await.unwrap().status != ringmaster::job::JobStatus::Running {
        tokio::time::timeout(WAIT, changes.changed()).await.expect("the blocker starting").unwrap();
    }
    let spec = |priority| ringmaster::job::JobSpec { prompt: "wait".into(), priority, ..Default::default() };
    let low_first = engine.submit(spec(0)).await.unwrap().job_id;
    let high_later = engine.submit(spec(5)).await.unwrap().job_id;
    // The plugin is not loaded: the built-in ranks by priority.
    assert_eq!(engine.queue_position(&high_later), Some(1));

    let position_becomes = async |changes: &mut tokio::sync::watch::Receiver<u64>, want: usize| {
        let deadline = tokio::time::Instant::now() + WAIT;
        while engine.queue_position(&low_first) != Some(want) {
            tokio::time::timeout_at(deadline, changes.changed()).await.expect("re-ranked in time").unwrap();
        }
    };
    // misbehave ranks every job the same: submission order decides.
    t.load("misbehave", "misbehave", None).unwrap();
    position_becomes(&mut changes, 1).await;
    // Removed: the built-in ranks again.
    std::fs::remove_file(t.path().join("misbehave.wasm")).unwrap();
    t.host.refresh("misbehave").unwrap();
    position_becomes(&mut changes, 2).await;
    for id in [blocker, low_first, high_later] {
        engine.cancel(&id).await.unwrap();
    }
}
