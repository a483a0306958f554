//! A plugin author's start from the binary alone: `ringmaster plugin wit`
//! and `ringmaster plugin new`, whose projects must build, pass
//! `plugin check` and their own tests untouched, outside this repository.

use crate::support::mcp_client::stop_engine;
use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ringmaster_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ringmaster"))
        .args(args)
        .current_dir(dir)
        .env_remove("RINGMASTER_CONFIG")
        .env("RINGMASTER_STATE_DIR", dir.join("state"))
        .output()
        .unwrap()
}

fn said(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn plugin_wit_writes_the_contract_the_binary_speaks_and_keeps_edits_unless_forced() {
    let scratch = tempfile::tempdir().unwrap();
    let out = ringmaster_in(scratch.path(), &["plugin", "wit"]);
    assert!(out.status.success(), "{}", said(&out));
    assert!(said(&out).contains("ringmaster:plugin@0.1.0 (2 of 2 files written)"), "{}", said(&out));
    let repo_wit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
    for name in ["types.wit", "worlds.wit"] {
        let written = std::fs::read_to_string(scratch.path().join("wit").join(name)).unwrap();
        assert_eq!(written, std::fs::read_to_string(repo_wit.join(name)).unwrap(), "{name}");
    }

    let edited = scratch.path().join("wit/types.wit");
    std::fs::write(&edited, "// mine\n").unwrap();
    let out = ringmaster_in(scratch.path(), &["plugin", "wit"]);
    assert!(!out.status.success());
    assert!(said(&out).contains("types.wit exist with other content (nothing was written; --force"), "{}", said(&out));
    assert_eq!(std::fs::read_to_string(&edited).unwrap(), "// mine\n");

    let out = ringmaster_in(scratch.path(), &["plugin", "wit", "--force"]);
    assert!(out.status.success(), "{}", said(&out));
    assert!(said(&out).contains("(1 of 2 files written)"), "{}", said(&out));
}

/// Runs cargo in `project`, with build output shared by every project of
/// the test run (and kept between runs), so the SDK's dependencies build once.
fn cargo(project: &Path, args: &[&str]) {
    let out = Command::new(std::env::var_os("CARGO").unwrap_or("cargo".into()))
        .args(args)
        .current_dir(project)
        .env("CARGO_TARGET_DIR", target_dir().join("plugin-new"))
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo {args:?} in {}:\n{}", project.display(), said(&out));
}

#[test]
fn every_kind_of_new_project_builds_passes_check_and_its_own_tests() {
    let scratch = tempfile::tempdir().unwrap();
    let kinds = ["scheduler", "timeout-estimator", "retry-policy", "hook-handler", "commands"];
    for kind in kinds {
        let name = format!("my-{kind}");
        let out = ringmaster_in(scratch.path(), &["plugin", "new", "--kind", kind, &name]);
        assert!(out.status.success(), "{}", said(&out));
        let project: PathBuf = scratch.path().join(&name);

        cargo(&project, &["build", "--release", "--target", "wasm32-wasip2", "--quiet"]);
        let artifact =
            target_dir().join("plugin-new/wasm32-wasip2/release").join(format!("my_{}.wasm", kind.replace('-', "_")));
        // Installed as the README says: NAME.wasm with its manifest beside it.
        let installed = scratch.path().join("plugins");
        std::fs::create_dir_all(&installed).unwrap();
        std::fs::copy(&artifact, installed.join(format!("{name}.wasm"))).unwrap();
        std::fs::copy(project.join(format!("{name}.yaml")), installed.join(format!("{name}.yaml"))).unwrap();
        let out = ringmaster_in(scratch.path(), &["plugin", "check", &format!("plugins/{name}.wasm")]);
        assert!(out.status.success(), "{kind}: {}", said(&out));
        let report = said(&out);
        assert!(report.contains(&format!("{name}@0.1.0")), "{report}");
        assert!(report.contains(&format!("provides:     ringmaster:plugin/{kind}@0.1.0")), "{report}");

        cargo(&project, &["test", "--quiet"]);
    }

    // A second project of the same name is refused and the first one kept.
    let out = ringmaster_in(scratch.path(), &["plugin", "new", "--kind", "commands", "my-scheduler"]);
    assert!(!out.status.success());
    assert!(said(&out).contains("exists and is not empty"), "{}", said(&out));
    assert!(scratch.path().join("my-scheduler/src/lib.rs").is_file());
}

/// `ringmaster plugin dev` as a child, its stdout lines read as they come.
struct Dev {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
    /// What it wrote on stderr (the compiler's messages), for failures.
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Dev {
    fn start(project_dir: &Path, plugin: &Path, args: &[&str]) -> Dev {
        Dev::spawn(
            Command::new(env!("CARGO_BIN_EXE_ringmaster")).args(["plugin", "dev"]).arg(plugin).args(args),
            project_dir,
        )
    }

    /// For a Python or JavaScript project: its toolchain on `path`.
    fn start_with_path(project_dir: &Path, plugin: &Path, path: std::ffi::OsString) -> Dev {
        Dev::spawn(
            Command::new(env!("CARGO_BIN_EXE_ringmaster")).args(["plugin", "dev"]).arg(plugin).env("PATH", path),
            project_dir,
        )
    }

    fn spawn(command: &mut Command, project_dir: &Path) -> Dev {
        let mut child = command
            .current_dir(project_dir)
            .env_remove("RINGMASTER_CONFIG")
            .env("RINGMASTER_STATE_DIR", project_dir.join("state"))
            .env("CARGO_TARGET_DIR", target_dir().join("plugin-new"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (mut pipe, kept) = (child.stderr.take().unwrap(), stderr.clone());
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut pipe, &mut text);
            *kept.lock().unwrap() = text;
        });
        let (tx, lines) = std::sync::mpsc::channel();
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(stdout).map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Dev { child, lines, seen: Vec::new(), stderr }
    }

    /// The next line that starts with `prefix` (lines before it are passed over).
    fn next(&mut self, prefix: &str) -> String {
        loop {
            match self.lines.recv_timeout(WAIT * 4) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.starts_with(prefix) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line starting {prefix:?}; plugin dev said:\n{}\nand on stderr:\n{}",
                    self.seen.join("\n"),
                    self.stderr.lock().unwrap()
                ),
            }
        }
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.child.wait();
    }
}

/// An engine for the project at `project_dir` (made, with plugins in
/// `plugins/`), stopped when the guard is dropped.
fn start_engine(project_dir: &Path) -> impl Drop {
    std::fs::create_dir_all(project_dir).unwrap();
    std::fs::write(project_dir.join("ringmaster.yaml"), "plugins:\n  dirs: [plugins]\n").unwrap();
    let out = ringmaster_in(project_dir, &["engine"]);
    assert!(out.status.success(), "{}", said(&out));
    scopeguard::guard(project_dir.to_path_buf(), |dir| stop_engine(&dir))
}

/// The hash the engine serves plugin `name` with.
fn served(project_dir: &Path, name: &str) -> Option<String> {
    let socket = ringmaster::remote::socket_path(&project_dir.join("state"));
    let mut engine = ringmaster::remote::client::Client::connect(&socket, None).unwrap();
    engine.plugin(name, None, std::time::Duration::ZERO).unwrap().and_then(|state| state.active_hash)
}

#[test]
fn plugin_dev_rebuilds_on_save_installs_good_builds_and_keeps_the_last_good_one_serving() {
    let scratch = tempfile::tempdir().unwrap();
    let project_dir = scratch.path().join("project");
    let _engine = start_engine(&project_dir);
    let out = ringmaster_in(scratch.path(), &["plugin", "new", "--kind", "scheduler", "live"]);
    assert!(out.status.success(), "{}", said(&out));
    let plugin = scratch.path().join("live");
    let source = plugin.join("src/lib.rs");

    let workload = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/workloads/demo.yaml");
    // Named as the docs say: from the project, by a relative path.
    let mut dev = Dev::start(&project_dir, Path::new("../live"), &["--simulate", workload.to_str().unwrap()]);
    dev.next("installing into");
    // Each checked build is compared with the built-in policies first.
    dev.next("simulated:");
    let header = dev.next(" ");
    assert!(header.contains("built-in") && header.contains("live.wasm"), "{header}");
    dev.next("fairness (trees)");
    let first = dev.next("engine: loaded live@0.1.0 (sha256:");
    let first_hash = served(&project_dir, "live").unwrap();
    assert!(first.contains(&first_hash[..12]), "{first}");
    dev.next("watching");

    // A one-line change: a new build answering in the engine.
    let code = std::fs::read_to_string(&source).unwrap();
    std::fs::write(&source, code.replace("log::debug(\"selected\"", "log::info(\"selected\"")).unwrap();
    dev.next("building");
    let second = dev.next("engine: loaded live@0.1.0 (sha256:");
    let second_hash = served(&project_dir, "live").unwrap();
    assert_ne!(second_hash, first_hash);
    assert!(second.contains(&second_hash[..12]) && second.contains("s after the change"), "{second}");
    dev.next("watching");

    // What does not compile is not installed.
    let good = std::fs::read_to_string(&source).unwrap();
    std::fs::write(&source, format!("{good}\nfn broken( {{\n")).unwrap();
    dev.next("build failed");
    dev.next("watching");
    assert_eq!(served(&project_dir, "live"), Some(second_hash.clone()));

    // Nor what compiles but fails the engine's checks (its smoke call traps).
    let refusing = good.replace("Ok(chosen)", "Err(ringmaster_plugin::Error::msg(\"refusing on purpose\"))");
    std::fs::write(&source, refusing).unwrap();
    let rejected = dev.next("rejected by the checks:");
    assert!(rejected.contains("stderr: select: refusing on purpose"), "{rejected}");
    assert_eq!(served(&project_dir, "live"), Some(second_hash));

    let pid = nix::unistd::Pid::from_raw(dev.child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    dev.next("stopped");
    assert!(dev.child.wait().unwrap().success());
}

/// PATH for the Python and JavaScript projects' commands: the guest
/// toolchains `cargo xtask plugins` installs, and this `ringmaster`.
fn guest_path() -> std::ffi::OsString {
    let tools = target_dir().join("guest-tools");
    let ringmaster = Path::new(env!("CARGO_BIN_EXE_ringmaster")).parent().unwrap().to_path_buf();
    let dirs = [tools.join("python/bin"), tools.join("js/node_modules/.bin"), ringmaster];
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(dirs.into_iter().chain(std::env::split_paths(&path))).unwrap()
}

/// Makes a project in `lang`, then runs the steps `plugin new` printed (as a
/// shell would: `PYTHONPATH=... python ...`) in it. `npm install` is
/// answered from the toolchain `cargo xtask plugins` installed (the same
/// pinned componentize-js), not from the registry.
fn new_guest_project(scratch: &Path, kind: &str, lang: &str) -> PathBuf {
    let name = format!("my-{kind}-{lang}");
    let out = ringmaster_in(scratch, &["plugin", "new", "--kind", kind, "--lang", lang, &name]);
    assert!(out.status.success(), "{}", said(&out));
    let project = scratch.join(&name);
    let steps: Vec<String> = said(&out)
        .lines()
        .skip_while(|line| *line != "next:")
        .skip(2) // "next:" and "cd NAME"
        .map(|line| line.trim().to_string())
        .collect();
    assert!(steps.iter().any(|step| step.starts_with("ringmaster plugin check")), "{steps:?}");
    for step in steps {
        if step == "npm install" {
            std::os::unix::fs::symlink(target_dir().join("guest-tools/js/node_modules"), project.join("node_modules"))
                .unwrap();
            continue;
        }
        let out = Command::new("sh")
            .args(["-c", &step])
            .current_dir(&project)
            .env("PATH", guest_path())
            .env_remove("RINGMASTER_CONFIG")
            .env("RINGMASTER_STATE_DIR", scratch.join("state"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{kind} in {lang}: `{step}` failed:\n{}", said(&out));
        if step.starts_with("ringmaster plugin check") {
            let report = said(&out);
            assert!(report.contains(&format!("provides:     ringmaster:plugin/{kind}@0.1.0")), "{report}");
        }
    }
    project
}

#[test]
fn every_kind_of_new_python_and_javascript_project_builds_passes_check_and_its_own_tests() {
    let scratch = tempfile::tempdir().unwrap();
    for lang in ["python", "js"] {
        for kind in ["scheduler", "timeout-estimator", "retry-policy", "hook-handler", "commands"] {
            let project = new_guest_project(scratch.path(), kind, lang);
            if kind == "commands" {
                // The error channel of `run` (a raised `Err`, a thrown string) reaches the user.
                let t = TestHost::new("");
                let wasm = project.join(format!("my-{kind}-{lang}.wasm"));
                let path = install(t.path(), "explain", &wasm);
                t.host.load(&path).unwrap();
                let plugin = t.host.get("explain").unwrap();
                assert_eq!(plugin.run_command("explain", " ").unwrap(), Err("usage: /explain TARGET".into()), "{lang}");
                let Ok(Ok(outcome)) = plugin.run_command("explain", "src/main.rs") else { panic!("{lang}") };
                assert!(format!("{outcome:?}").contains("Explain src/main.rs"), "{lang}: {outcome:?}");
            }
        }
    }
}

#[test]
fn plugin_dev_puts_python_and_javascript_builds_live() {
    let scratch = tempfile::tempdir().unwrap();
    let project_dir = scratch.path().join("project");
    let _engine = start_engine(&project_dir);
    for (lang, source, line) in [
        ("python", "src/app.py", ("debug(\"selected\"", "debug(\"selected jobs\"")),
        ("js", "src/plugin.js", ("log.debug('selected'", "log.debug('selected jobs'")),
    ] {
        let name = format!("live-{lang}");
        let out = ringmaster_in(scratch.path(), &["plugin", "new", "--kind", "scheduler", "--lang", lang, &name]);
        assert!(out.status.success(), "{}", said(&out));
        let plugin = scratch.path().join(&name);
        if lang == "js" {
            std::os::unix::fs::symlink(target_dir().join("guest-tools/js/node_modules"), plugin.join("node_modules"))
                .unwrap();
        }
        let mut dev = Dev::start_with_path(&project_dir, &plugin, guest_path());
        let first = dev.next(&format!("engine: loaded {name}@0.1.0 (sha256:"));
        let first_hash = served(&project_dir, &name).unwrap();
        assert!(first.contains(&first_hash[..12]), "{first}");
        dev.next("watching");

        // A one-line change: a new build answering in the engine.
        let path = plugin.join(source);
        let code = std::fs::read_to_string(&path).unwrap();
        assert!(code.contains(line.0), "{source}");
        std::fs::write(&path, code.replace(line.0, line.1)).unwrap();
        dev.next("building");
        dev.next(&format!("engine: loaded {name}@0.1.0 (sha256:"));
        assert_ne!(served(&project_dir, &name).unwrap(), first_hash, "{lang}");
    }
}
