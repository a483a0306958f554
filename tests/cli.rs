//! The plugin author's CLI: `ringmaster plugin check | list`, the demo, and `simulate`.

use crate::support::*;
use std::path::Path;
use std::process::{Command, Output};

/// Deadlines are wall-clock time: on a busy test machine a healthy call can
/// be descheduled past the 20 ms default. Tests of the deadline itself set it
/// in the plugin's manifest.
const CONFIG: &str = "plugins:\n  limits: { policy-deadline-ms: 2000, hook-deadline-ms: 2000 }\n";

/// Runs `ringmaster ARGS` in a scratch directory with its own state dir and config.
fn ringmaster(args: &[&str]) -> Output {
    let scratch = tempfile::tempdir().unwrap();
    std::fs::write(scratch.path().join("ringmaster.yaml"), CONFIG).unwrap();
    ringmaster_in(scratch.path(), args, &[])
}

fn ringmaster_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ringmaster"))
        .args(args)
        .current_dir(dir)
        .env_remove("RINGMASTER_CONFIG")
        .env_remove("RUST_LOG")
        .env("RINGMASTER_STATE_DIR", dir.join("state"))
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn check(path: &Path) -> (bool, String, String) {
    let out = ringmaster(&["plugin", "check", path.to_str().unwrap()]);
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn check_accepts_every_example_plugin_and_shows_what_it_provides() {
    for (name, point) in [
        ("fair-share", "scheduler"),
        ("p95-timeout", "timeout-estimator"),
        ("backoff-retry", "retry-policy"),
        ("deny-patterns", "hook-handler"),
        ("team-commands", "commands"),
    ] {
        let (ok, stdout, stderr) = check(&built(name));
        assert!(ok, "{name}: {stderr}");
        assert!(stdout.starts_with(name), "{stdout}");
        assert!(stdout.contains(": loadable"), "{stdout}");
        assert!(stdout.contains(&format!("provides:     ringmaster:plugin/{point}@0.1.0")), "{stdout}");
    }
    let (_, stdout, _) = check(&built("team-commands"));
    assert!(stdout.contains("command:      /review [ref] [focus...]"), "{stdout}");
    let (_, stdout, _) = check(&built("deny-patterns"));
    assert!(stdout.contains("hook events:  JobSubmit, PreToolUse"), "{stdout}");
    assert!(stdout.contains("description:  Denies jobs"), "the manifest beside the file is read: {stdout}");
}

#[test]
fn check_json_reports_the_record() {
    let out = ringmaster(&["plugin", "check", "--json", built("fair-share").to_str().unwrap()]);
    assert!(out.status.success());
    let record: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(record["name"], "fair-share");
    assert_eq!(record["status"], "active");
    assert_eq!(record["extension_points"], serde_json::json!(["scheduler"]));
    assert_eq!(record["version"], "0.1.0");
}

#[test]
fn check_rejects_every_bad_fixture_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let good = std::fs::read(built("fair-share")).unwrap();
    let spin = install(dir.path(), "spin", &built("misbehave"));
    write_manifest(dir.path(), "spin", "config: { mode: loop }\nlimits: { policy-deadline-ms: 20 }");
    let hog = install(dir.path(), "hog", &built("misbehave"));
    write_manifest(
        dir.path(),
        "hog",
        "config: { mode: memory-bomb }\nlimits: { memory-mib: 16, policy-deadline-ms: 5000 }",
    );
    let fs = install(dir.path(), "fs", &built("wants-fs"));
    write_manifest(dir.path(), "fs", "capabilities: { filesystem: [/srv] }");
    let trap = install(dir.path(), "trap", &built("misbehave"));
    write_manifest(dir.path(), "trap", "config: { mode: trap }");

    let cases = [
        (write("text.wasm", b"hello"), "is not a WebAssembly file"),
        (write("core.wasm", b"\0asm\x01\0\0\0"), "is a core WebAssembly module, not a component"),
        (write("half.wasm", &good[..good.len() / 2]), "is not a valid component"),
        (built("wrong-package"), "exports no ringmaster extension point (it exports: acme:greeter/greet@1.0.0)"),
        (built("future-version"), "needs ringmaster:plugin@0.2.0, host supports 0.1.0..0.1.x"),
        (fs, "requests the `filesystem` capability, which is not granted"),
        (spin, "ran past its 20 ms deadline"),
        (hog, "hit its 16 MiB memory limit"),
        (trap, "misbehave fixture: deliberate trap"),
        (dir.path().join("missing.wasm"), "cannot read"),
    ];
    for (path, expected) in cases {
        let (ok, stdout, stderr) = check(&path);
        assert!(!ok, "{} must be rejected", path.display());
        assert!(stderr.contains(expected), "{}: expected {expected:?} in {stderr}", path.display());
        assert!(stdout.is_empty(), "errors go to stderr: {stdout}");
    }
}

#[test]
fn list_shows_each_plugin_with_its_status() {
    let dir = tempfile::tempdir().unwrap();
    install(dir.path(), "fair-share", &built("fair-share"));
    install(dir.path(), "greeter", &built("wrong-package"));
    std::fs::write(dir.path().join("README.txt"), "not a plugin").unwrap();
    let out = ringmaster(&["plugin", "list", "--dir", dir.path().to_str().unwrap()]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with("fair-share") && lines[0].contains("active") && lines[0].contains("scheduler"));
    assert!(lines[1].starts_with("greeter") && lines[1].contains("failed") && lines[1].contains("acme:greeter"));
}

#[test]
fn list_without_directories_says_how_to_give_one() {
    let out = ringmaster(&["plugin", "list"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("pass --dir DIR or set plugins.dirs in ringmaster.yaml"));
}

#[test]
fn the_demo_runs_a_batch_and_hot_swaps_the_scheduler_mid_run() {
    let plugins = built("fair-share").parent().unwrap().to_path_buf();
    let out = ringmaster(&["demo", "--plugins", plugins.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("hot-reloaded and answering in"), "{stdout}");
    assert!(stdout.contains("18 of 18 jobs succeeded"), "{stdout}");
    // Built-in: the big tree, submitted first, fills the first two rounds.
    // Fair share: the small trees get their turn as soon as it is in charge.
    let order = |phase: &str| -> Vec<String> {
        let line = stdout.lines().find(|l| l.trim_start().starts_with(phase)).unwrap_or_else(|| panic!("{stdout}"));
        line.trim_start()[phase.len()..].split_whitespace().map(String::from).collect()
    };
    let builtin = order("built-in scheduler");
    assert!(builtin.len() >= 6 && builtin.iter().all(|t| t == "big"), "{builtin:?}");
    let fair = order("fair-share plugin");
    assert!(fair[..3].contains(&"alpha".to_string()) && fair[..3].contains(&"beta".to_string()), "{fair:?}");
    assert!(stdout.contains("back to the built-in policy"), "{stdout}");
    assert!(stdout.contains("`rm -rf /`: deny"), "{stdout}");
}

#[test]
fn plugin_logs_are_tagged_capped_per_call_and_never_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let path = install(dir.path(), "chatty", &built("misbehave"));
    write_manifest(dir.path(), "chatty", "config: { mode: chatty }\ncapabilities: { stdio: true }");
    let run = |config: &str| {
        std::fs::write(dir.path().join("ringmaster.yaml"), config).unwrap();
        let out = ringmaster_in(dir.path(), &["plugin", "check", path.to_str().unwrap()], &[("RUST_LOG", "info")]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let stdout = text(&out.stdout);
        assert!(
            !stdout.contains("chatty line") && !stdout.contains("chatty stdout"),
            "plugin output never reaches stdout"
        );
        text(&out.stderr)
    };

    // Five smoke calls misbehave (rank, select, estimate, decide, handle): 64 lines each are kept.
    let stderr = run(CONFIG);
    let kept: Vec<&str> = stderr.lines().filter(|l| l.contains("chatty line")).collect();
    assert_eq!(kept.len(), 5 * 64, "{stderr}");
    assert!(kept[0].contains("plugin=chatty (sha256:"), "tagged with the plugin and build: {}", kept[0]);
    assert_eq!(stderr.lines().filter(|l| l.contains("further log lines of this call were dropped")).count(), 5);
    assert!(!stderr.contains("chatty stdout"), "prints are dropped without the stdio grant");

    // Requested and granted: prints are forwarded to the log.
    let stderr = run(&format!("{CONFIG}  grants:\n    chatty: {{ stdio: true }}\n"));
    assert!(stderr.lines().any(|l| l.contains("chatty stdout") && l.contains("stream=stdout")), "{stderr}");
}

fn simulate(args: &[&str]) -> Output {
    let workload = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/workloads/demo.yaml");
    let mut all = vec!["simulate", "--workload", workload.to_str().unwrap()];
    all.extend_from_slice(args);
    ringmaster(&all)
}

#[test]
fn simulate_shows_fair_share_serving_job_trees_more_fairly_than_the_builtin() {
    let fair_share = built("fair-share");
    let out = simulate(&["--policy", "builtin", "--policy", fair_share.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (builtin, fair) = (&runs[0], &runs[1]);
    assert_eq!((builtin["policy"].as_str(), fair["policy"].as_str()), (Some("built-in"), Some("fair-share.wasm")));
    assert_eq!(builtin["jobs"], 60);
    assert_eq!(fair["jobs"], 60);
    let fairness = |run: &serde_json::Value| run["fairness_trees"].as_f64().unwrap();
    assert!(fairness(fair) > fairness(builtin) + 0.1, "{runs:#}");
    // The small trees no longer wait behind the big one.
    assert!(fair["wait_p50_s"].as_f64() < builtin["wait_p50_s"].as_f64(), "{runs:#}");

    let table = simulate(&["--policy", "builtin"]);
    let said = text(&table.stdout);
    assert!(said.contains("fairness (trees)") && said.contains("built-in"), "{said}");
}

#[test]
fn simulate_refuses_a_plugin_that_is_no_policy() {
    let out = simulate(&["--policy", built("team-commands").to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("provides no policy"), "{}", text(&out.stderr));
}

/// Headless Chromium (Debian's `chromium`; `.ci/run` installs it) on `url`,
/// with `args`; its stdout.
fn chromium(profile: &Path, args: &[&str], url: &str) -> Output {
    let chromium = which::which("chromium")
        .expect("this test renders a page in headless Chromium: install it (apt-get install chromium)");
    let out = Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .unwrap();
    assert!(out.status.success(), "chromium failed: {}", text(&out.stderr));
    out
}

#[test]
fn simulate_writes_a_self_contained_page_that_renders_in_headless_chromium() {
    let scratch = tempfile::tempdir().unwrap();
    let page = scratch.path().join("report.html");
    let fair_share = built("fair-share");
    let out =
        simulate(&["--policy", "builtin", "--policy", fair_share.to_str().unwrap(), "--html", page.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let html = std::fs::read_to_string(&page).unwrap();
    for outside in ["http://", "https://", "<script", "<link"] {
        assert!(!html.contains(outside), "the page reaches out ({outside})");
    }
    let url = format!("file://{}", page.display());
    let dom = text(&chromium(&scratch.path().join("profile"), &["--dump-dom"], &url).stdout);
    assert!(dom.contains("Timeline: built-in") && dom.contains("Timeline: fair-share.wasm"), "{dom}");
    // A bar per attempt in each timeline (60 jobs and their retries), a line per policy.
    assert!(dom.matches("<rect").count() >= 120, "{}", dom.matches("<rect").count());
    assert_eq!(dom.matches("<polyline").count(), 2);
    let shot = scratch.path().join("report.png");
    chromium(
        &scratch.path().join("profile"),
        &[&format!("--screenshot={}", shot.display()), "--window-size=1100,1600"],
        &url,
    );
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    assert!(png.len() > 20_000, "a page of bars and lines, not a blank one: {} bytes", png.len());
}
