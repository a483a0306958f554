//! Bad plugins are rejected with a message that says what is wrong and how to
//! fix it, or contained at run time; the host keeps serving either way.

use crate::support::*;
use ringmaster::contract::ExtensionPoint;
use ringmaster::plugin::engine::CacheOutcome;
use ringmaster::plugin::error::CallError;
use ringmaster::plugin::registry::PluginStatus;
use ringmaster::plugin::registry::{PluginEvent, PluginHost};
use ringmaster::policy::Policies;

fn load_bytes(t: &TestHost, name: &str, bytes: &[u8]) -> String {
    let path = t.path().join(format!("{name}.wasm"));
    std::fs::write(&path, bytes).unwrap();
    t.host.load(&path).unwrap_err().to_string()
}

#[test]
fn a_file_that_is_not_wasm_is_rejected() {
    let t = TestHost::new("");
    let error = load_bytes(&t, "notes", b"# not a plugin\n");
    assert!(error.contains("notes.wasm is not a WebAssembly file"), "{error}");
    assert_eq!(t.host.list()[0].status, PluginStatus::Failed);
}

#[test]
fn a_core_module_is_rejected_with_how_to_make_a_component() {
    let t = TestHost::new("");
    let error = load_bytes(&t, "core", b"\0asm\x01\0\0\0");
    assert!(error.contains("is a core WebAssembly module, not a component"), "{error}");
    assert!(error.contains("--target wasm32-wasip2"), "{error}");
}

#[test]
fn a_component_of_another_package_is_rejected_naming_what_it_exports() {
    let t = TestHost::new("");
    let error = t.load("greeter", "wrong-package", None).unwrap_err();
    assert!(error.contains("exports no ringmaster extension point (it exports: acme:greeter/greet@1.0.0)"), "{error}");
    assert!(error.contains("ringmaster:plugin/scheduler@0.1.0"), "{error}");
}

#[test]
fn an_incompatible_contract_version_is_rejected_naming_both_versions() {
    let t = TestHost::new("");
    let error = t.load("future", "future-version", None).unwrap_err();
    assert!(error.contains("needs ringmaster:plugin@0.2.0, host supports 0.1.0..0.1.x"), "{error}");
}

#[test]
fn a_filesystem_import_without_a_grant_loads_and_reaches_no_file() {
    // Language runtimes (Python's, JavaScript's) import the WASI filesystem in
    // every build: the import is allowed, the authority is not given.
    let secret = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret.path(), "0123456789").unwrap();
    let t = TestHost::new(&format!("config:\n  wants-fs: {{ file: '{}' }}", secret.path().display()));
    t.load("wants-fs", "wants-fs", None).unwrap();
    let plugin = t.host.get("wants-fs").unwrap();
    assert_eq!(plugin.rank(&[job("j", "j", 1, &[])]).unwrap(), vec![1], "the file must stay out of reach");
}

#[test]
fn a_requested_capability_that_is_not_granted_is_refused_naming_the_grant() {
    let t = TestHost::new("");
    let error = t.load("wants-fs", "wants-fs", Some("capabilities: { filesystem: [/srv/data] }")).unwrap_err();
    assert!(error.contains("requests the `filesystem` capability, which is not granted"), "{error}");
    assert!(error.contains("grants: { wants-fs: { filesystem: [/srv/data] } }"), "{error}");
}

#[test]
fn a_granted_capability_lets_the_plugin_use_it_and_no_more() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("bonus.txt"), "xyz").unwrap();
    let dir = data.path().display();
    let request = format!("capabilities: {{ filesystem: ['{dir}'] }}\nconfig: {{ file: '{dir}/bonus.txt' }}");

    // Requested but not granted: still refused.
    let t = TestHost::new("");
    assert!(t.load("wants-fs", "wants-fs", Some(&request)).unwrap_err().contains("`filesystem` capability"));

    // Requested and granted: the plugin reads the file (priority 1 + 3 bytes).
    let t = TestHost::new(&format!("grants:\n  wants-fs: {{ filesystem: ['{dir}'] }}"));
    t.load("wants-fs", "wants-fs", Some(&request)).unwrap();
    let plugin = t.host.get("wants-fs").unwrap();
    assert_eq!(plugin.rank(&[job("j", "j", 1, &[])]).unwrap(), vec![4]);

    // A file outside the granted directory stays out of reach.
    let outside = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(outside.path(), "0123456789").unwrap();
    let t = TestHost::new(&format!(
        "grants:\n  wants-fs: {{ filesystem: ['{dir}'] }}\nconfig:\n  wants-fs: {{ file: '{}' }}",
        outside.path().display()
    ));
    t.load("wants-fs", "wants-fs", Some(&request)).unwrap();
    assert_eq!(t.host.get("wants-fs").unwrap().rank(&[job("j", "j", 1, &[])]).unwrap(), vec![1]);
}

#[test]
fn plugins_that_fail_their_smoke_call_are_rejected_with_the_reason() {
    let t = TestHost::new("");
    let error =
        t.load("spin", "misbehave", Some("config: { mode: loop }\nlimits: { policy-deadline-ms: 20 }")).unwrap_err();
    assert!(error.contains("failed its smoke call of scheduler"), "{error}");
    assert!(error.contains("ran past its 20 ms deadline"), "{error}");

    let error = t
        .load(
            "hog",
            "misbehave",
            Some("config: { mode: memory-bomb }\nlimits: { memory-mib: 16, policy-deadline-ms: 5000 }"),
        )
        .unwrap_err();
    assert!(error.contains("hit its 16 MiB memory limit"), "{error}");

    let error = t.load("panics", "misbehave", Some("config: { mode: trap }")).unwrap_err();
    assert!(error.contains("trapped"), "{error}");
    assert!(error.contains("misbehave fixture: deliberate trap"), "the panic message is quoted: {error}");
    assert!(t.host.list().iter().all(|p| p.status == PluginStatus::Failed));
}

/// Plugins that pass their smoke calls and misbehave later, on jobs tagged `misbehave`.
#[test]
fn misbehaviour_at_run_time_is_contained_and_the_builtin_answers() {
    // Generous deadlines where the deadline is not what is being tested.
    for (mode, limits, expect) in [
        ("loop", "{ policy-deadline-ms: 20 }", "ran past its 20 ms deadline"),
        ("memory-bomb", "{ memory-mib: 16, policy-deadline-ms: 5000 }", "hit its 16 MiB memory limit"),
        ("trap", "{ policy-deadline-ms: 5000 }", "trapped"),
    ] {
        let t = TestHost::new("policies: { scheduler: sched }");
        let manifest = format!("config: {{ mode: {mode}, trigger: tagged, answer: 1 }}\nlimits: {limits}");
        t.load("sched", "misbehave", Some(&manifest)).unwrap();
        let policies = Policies::new(t.host.clone());
        let bad = [job("j", "j", 4, &["misbehave"])];
        let good = [job("j", "j", 4, &[])];

        let error = t.host.call("sched", ExtensionPoint::Scheduler, |p| p.rank(&bad)).unwrap_err();
        assert!(error.to_string().contains(expect), "{mode}: {error}");
        assert!(error.to_string().contains("sched (sha256:"), "names the plugin and build: {error}");
        assert_eq!(policies.rank(&bad), vec![4], "{mode}: the built-in answers instead");
        assert_eq!(policies.rank(&good), vec![1], "{mode}: the plugin still serves other calls");
        let info = &t.host.list()[0];
        assert_eq!((info.calls, info.failures), (3, 2), "{mode}");
    }
}

#[test]
fn repeated_failures_open_the_circuit_until_the_plugin_is_reloaded() {
    let t = TestHost::new("circuit: { failures: 3, backoff-ms: 600000 }\npolicies: { scheduler: sched }");
    let manifest = "config: { mode: trap, trigger: tagged, answer: 1 }";
    t.load("sched", "misbehave", Some(manifest)).unwrap();
    let bad = [job("j", "j", 4, &["misbehave"])];
    let good = [job("j", "j", 4, &[])];
    for _ in 0..3 {
        assert!(matches!(
            t.host.call("sched", ExtensionPoint::Scheduler, |p| p.rank(&bad)),
            Err(CallError::Trap { .. })
        ));
    }
    t.wait_for(|e| matches!(e, PluginEvent::CircuitOpened { name, .. } if name == "sched"));

    // Set aside: even a call that would succeed is not made.
    let error = t.host.call("sched", ExtensionPoint::Scheduler, |p| p.rank(&good)).unwrap_err();
    assert!(matches!(error, CallError::CircuitOpen { .. }), "{error}");
    assert!(error.to_string().contains("deliberate trap"), "the last error is reported: {error}");
    assert_eq!(Policies::new(t.host.clone()).rank(&good), vec![4], "the built-in answers meanwhile");
    let info = &t.host.list()[0];
    assert_eq!(info.status, PluginStatus::CircuitOpen);
    assert_eq!(info.calls, 3, "no call reached the plugin while the circuit was open");

    // A reload (say, a fixed build) closes it.
    t.load("sched", "misbehave", Some(manifest)).unwrap();
    assert_eq!(t.host.call("sched", ExtensionPoint::Scheduler, |p| p.rank(&good)).unwrap(), vec![1]);
}

#[test]
fn a_broken_manifest_is_reported_with_file_and_line() {
    let t = TestHost::new("");
    let error = t.load("sched", "fair-share", Some("description: fine\nconfig: [unclosed\n")).unwrap_err();
    assert!(error.contains("sched.yaml: line 2"), "{error}");
    let error = t.load("sched", "fair-share", Some("descripton: typo\n")).unwrap_err();
    assert!(error.contains("unknown field `descripton`"), "{error}");
}

#[test]
fn manifest_limits_are_capped_by_the_host() {
    let t = TestHost::new("limits: { max-deadline-ms: 100, max-memory-mib: 32 }");
    let manifest = "limits: { policy-deadline-ms: 50, hook-deadline-ms: 10000, memory-mib: 1024 }";
    t.load("sched", "fair-share", Some(manifest)).unwrap();
    let limits = t.host.get("sched").unwrap().limits();
    assert_eq!((limits.policy_deadline_ms, limits.hook_deadline_ms, limits.memory_mib), (50, 100, 32));
}

#[test]
fn compiled_code_is_cached_across_hosts_and_a_corrupt_entry_is_recompiled() {
    let cache = tempfile::tempdir().unwrap();
    let plugins = tempfile::tempdir().unwrap();
    let path = install(plugins.path(), "fair-share", &built("fair-share"));
    let load = || {
        let config = ringmaster::config::PluginsConfig { dirs: vec![plugins.path().into()], ..Default::default() };
        let host = PluginHost::new(config, Some(cache.path().into())).unwrap();
        host.load(&path).unwrap();
        host.get("fair-share").unwrap().cache
    };
    assert_eq!(load(), CacheOutcome::Compiled);
    assert_eq!(load(), CacheOutcome::Hit, "a restart does not recompile");

    for entry in std::fs::read_dir(cache.path()).unwrap() {
        std::fs::write(entry.unwrap().path(), b"garbage").unwrap();
    }
    assert_eq!(load(), CacheOutcome::Compiled, "a corrupt entry costs a compilation, not a failure");
    assert_eq!(load(), CacheOutcome::Hit);
}

#[test]
fn calls_share_an_instance_only_when_the_manifest_says_so_and_never_after_a_trap() {
    let config = "config: { answer: calls, mode: trap, trigger: tagged }";
    let rank = |t: &TestHost, tags: &[&str]| t.host.get("m").unwrap().rank(&[job("j", "j", 0, tags)]);

    // By default every call is a fresh instance: module state never carries over.
    let t = TestHost::new("");
    t.load("m", "misbehave", Some(config)).unwrap();
    assert_eq!((rank(&t, &[]).unwrap(), rank(&t, &[]).unwrap()), (vec![1], vec![1]));

    // Reused: the instance that answered the smoke calls at load answers again.
    let t = TestHost::new("");
    t.load("m", "misbehave", Some(&format!("{config}\ninstances: reused"))).unwrap();
    let first = rank(&t, &[]).unwrap()[0];
    assert!(first > 1, "the smoke calls' instance was reused");
    assert_eq!(rank(&t, &[]).unwrap(), vec![first + 1]);
    // A trap discards the instance it happened in: the next call starts afresh.
    let error = rank(&t, &["misbehave"]).unwrap_err().to_string();
    assert!(error.contains("deliberate trap"), "{error}");
    assert_eq!(rank(&t, &[]).unwrap(), vec![1]);
    assert!(t.host.list()[0].peak_memory_bytes.is_some_and(|bytes| bytes >= 1 << 16));
}
