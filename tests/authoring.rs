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
        let mut child = Command::new(env!("CARGO_BIN_EXE_ringmaster"))
            .args(["plugin", "dev"])
            .arg(plugin)
            .args(args)
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
    std::fs::create_dir_all(&project_dir).unwrap();
    std::fs::write(project_dir.join("ringmaster.yaml"), "plugins:\n  dirs: [plugins]\n").unwrap();
    let out = ringmaster_in(&project_dir, &["engine"]);
    assert!(out.status.success(), "{}", said(&out));
    let _engine = scopeguard::guard(project_dir.clone(), |dir| stop_engine(&dir));
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
