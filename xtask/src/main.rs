//! Project automation, run as `cargo xtask <task>` (see `.cargo/config.toml`).
//!
//! * `plugins` — builds every example plugin and test fixture for
//!   `wasm32-wasip2` (installing the target when missing) and lays them out as
//!   ringmaster loads them: `target/plugins/NAME.wasm` (+ `NAME.yaml`) for the
//!   examples, `target/test-plugins/NAME.wasm` for the fixtures; then the
//!   Python and JavaScript examples into `target/guest-plugins/` (their
//!   test fixtures into `target/test-plugins/`), with
//!   componentize-py (from PyPI) and componentize-js (from npm) installed
//!   into `target/guest-tools/` (nothing else needs them).
//! * `test` — `plugins`, then the whole test suite: the cargo tests (the host's,
//!   then the SDK's and the example plugins' own, natively), then the
//!   MCP client tests in `tests/python` with the Python MCP SDK (installed
//!   into `target/python`) and Claude Code's CLI (from npm, into
//!   `target/claude-code`).
//! * `demo` — `plugins`, then `ringmaster demo` on them.
//! * `bench` — `plugins`, then the benchmarks (release build).
//! * `fuzz [MESSAGES] [SEED]` — the protocol fuzzer with more messages
//!   (default 100,000; the test suite sends 5,000) and the property tests of
//!   every parser of outside input with 10,000 cases each.
//!
//! Plain std, no dependencies: it has to build fast on a fresh machine.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const TARGET: &str = "wasm32-wasip2";
const PROFILE: &str = "plugin";

type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("plugins") => build_plugins(),
        Some("test") => build_plugins().and_then(|()| test(&args[1..])),
        Some("demo") => build_plugins().and_then(|()| demo(&args[1..])),
        Some("bench") => build_plugins().and_then(|()| bench(&args[1..])),
        Some("fuzz") => fuzz(&args[1..]),
        _ => Err("usage: cargo xtask plugins | test [cargo test args] | demo | bench | fuzz [messages] [seed]".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"))
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

fn run(cmd: &mut Command) -> Result {
    let status = cmd.status().map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{cmd:?} failed with {status}")) }
}

fn ensure_wasm_target() -> Result {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|e| format!("cannot run rustup (needed to add the {TARGET} target): {e}"))?;
    if String::from_utf8_lossy(&installed.stdout).lines().any(|l| l.trim() == TARGET) {
        return Ok(());
    }
    run(Command::new("rustup").args(["target", "add", TARGET]))
}

/// Headless Chromium renders `ringmaster simulate --html` pages in a test:
/// Debian's package, installed when missing (as root, as on CI machines).
fn ensure_chromium() -> Result {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("chromium").is_file()));
    if on_path {
        return Ok(());
    }
    let root = Command::new("id").arg("-u").output().is_ok_and(|out| out.stdout.starts_with(b"0\n"));
    if !root {
        return Err("the tests need Debian's chromium (headless): apt-get install chromium".into());
    }
    run(Command::new("apt-get").args(["update", "-q"]))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends", "chromium"])
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// A plugin crate: its directory name is the plugin's name.
struct Crate {
    name: String,
    package: String,
    dir: PathBuf,
}

fn crates_in(dir: &Path) -> Result<Vec<Crate>> {
    let mut crates = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    for entry in entries.filter_map(|e| e.ok()) {
        let manifest = entry.path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else { continue };
        let package = text
            .lines()
            .find_map(|l| l.strip_prefix("name = ").map(|v| v.trim_matches('"').to_string()))
            .ok_or_else(|| format!("{} has no package name", manifest.display()))?;
        crates.push(Crate { name: entry.file_name().to_string_lossy().into_owned(), package, dir: entry.path() });
    }
    crates.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(crates)
}

/// Copies through a temporary file and a rename, so a watching ringmaster
/// never sees half a file.
fn install(from: &Path, to: &Path) -> Result {
    let tmp = to.with_file_name(format!(".{}.tmp", to.file_name().unwrap().to_string_lossy()));
    std::fs::copy(from, &tmp).map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), tmp.display()))?;
    std::fs::rename(&tmp, to).map_err(|e| format!("cannot move {} into place: {e}", to.display()))
}

fn build_plugins() -> Result {
    ensure_wasm_target()?;
    let groups = [(root().join("plugins"), "plugins"), (root().join("tests/fixtures/plugins"), "test-plugins")];
    let mut all = Vec::new();
    for (dir, out) in &groups {
        for krate in crates_in(dir)? {
            all.push((krate, *out));
        }
    }
    let mut cmd = cargo();
    cmd.args(["build", "--target", TARGET, "--profile", PROFILE]);
    for (krate, _) in &all {
        cmd.args(["-p", &krate.package]);
    }
    run(&mut cmd)?;

    let built = target_dir().join(TARGET).join(PROFILE);
    for (krate, out) in &all {
        let out = target_dir().join(out);
        std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
        let wasm = built.join(format!("{}.wasm", krate.package.replace('-', "_")));
        install(&wasm, &out.join(format!("{}.wasm", krate.name)))?;
        let manifest = krate.dir.join(format!("{}.yaml", krate.name));
        if manifest.exists() {
            install(&manifest, &out.join(format!("{}.yaml", krate.name)))?;
        }
    }
    eprintln!("xtask: {} plugins in {}", all.len(), target_dir().display());
    build_guests()
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The latest modification under `dir` (recursively).
fn newest(dir: &Path) -> Option<std::time::SystemTime> {
    let mut latest = modified(dir);
    for entry in std::fs::read_dir(dir).into_iter().flatten().filter_map(|e| e.ok()) {
        let path = entry.path();
        let time = if path.is_dir() { newest(&path) } else { modified(&path) };
        latest = latest.max(time);
    }
    latest
}

/// The toolchains of the Python and JavaScript guests, pinned: the versions
/// `ringmaster plugin new --lang python|js` projects name too.
const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";
const COMPONENTIZE_JS: &str = "@bytecodealliance/componentize-js@0.23.0";

/// A plugin in Python or JavaScript: its sources (the directory's name is
/// the plugin's), the WIT world it implements, where its build goes.
struct Guest {
    lang: &'static str,
    dir: &'static str,
    world: &'static str,
    /// `guest-plugins` for the examples, `test-plugins` for test fixtures.
    out: &'static str,
}

impl Guest {
    fn name(&self) -> &'static str {
        self.dir.rsplit('/').next().expect("a directory")
    }

    fn is_example(&self) -> bool {
        self.out == "guest-plugins"
    }
}

const GUESTS: [Guest; 6] = [
    Guest { lang: "python", dir: "plugins/python/fair-share-py", world: "scheduler-plugin", out: "guest-plugins" },
    Guest {
        lang: "python",
        dir: "plugins/python/deny-patterns-py",
        world: "hook-handler-plugin",
        out: "guest-plugins",
    },
    Guest { lang: "js", dir: "plugins/js/fair-share-js", world: "scheduler-plugin", out: "guest-plugins" },
    Guest { lang: "js", dir: "plugins/js/deny-patterns-js", world: "hook-handler-plugin", out: "guest-plugins" },
    Guest { lang: "python", dir: "tests/fixtures/guests/misbehave-py", world: "scheduler-plugin", out: "test-plugins" },
    Guest { lang: "js", dir: "tests/fixtures/guests/misbehave-js", world: "scheduler-plugin", out: "test-plugins" },
];

/// The guest toolchains' directory: `python/bin/componentize-py` and
/// `js/node_modules/.bin/componentize-js`.
fn guest_tools() -> Result<PathBuf> {
    let tools = target_dir().join("guest-tools");
    let python = tools.join("python");
    if !python.join("bin/componentize-py").is_file() {
        run(Command::new("python3").args(["-m", "venv"]).arg(&python))?;
        run(Command::new(python.join("bin/python")).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            COMPONENTIZE_PY,
        ]))?;
    }
    npm_install(&tools.join("js"), COMPONENTIZE_JS, "componentize-js")?;
    Ok(tools)
}

/// Installs npm `package` into `dir` unless its `bin` is there already.
fn npm_install(dir: &Path, package: &str, bin: &str) -> Result {
    if dir.join("node_modules/.bin").join(bin).is_file() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    run(Command::new("npm").args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"]).arg(dir).arg(package))
}

fn build_guests() -> Result {
    let tools = guest_tools()?;
    for guest in &GUESTS {
        let (name, dir) = (guest.name(), root().join(guest.dir));
        let sdk = root().join("plugins/sdk").join(guest.lang);
        let out = target_dir().join(guest.out);
        std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
        let manifest = dir.join(format!("{name}.yaml"));
        if manifest.exists() {
            install(&manifest, &out.join(format!("{name}.yaml")))?;
        }
        // Each build takes seconds: skip the ones whose sources are older.
        let wasm = out.join(format!("{name}.wasm"));
        if modified(&wasm) > [&dir, &sdk, &root().join("wit")].into_iter().map(|d| newest(d)).max().flatten() {
            continue;
        }
        let built = out.join(format!(".{name}.build.wasm"));
        let mut cmd = match guest.lang {
            "python" => {
                let mut cmd = Command::new(tools.join("python/bin/componentize-py"));
                cmd.arg("-d").arg(root().join("wit")).args(["-w", guest.world, "componentize", "app"]);
                cmd.arg("-p").arg(&dir).arg("-p").arg(&sdk);
                cmd
            }
            _ => {
                // Paths relative to the repository: componentize-js reads
                // them through a WASI sandbox rooted at its directory.
                let mut cmd = Command::new(tools.join("js/node_modules/.bin/componentize-js"));
                cmd.arg(Path::new(guest.dir).join("plugin.js"));
                cmd.args(["--wit", "wit", "-n", guest.world, "-d", "http", "fetch-event"]);
                cmd
            }
        };
        run(cmd.current_dir(root()).arg("-o").arg(&built).stdout(std::process::Stdio::null()))?;
        std::fs::rename(&built, &wasm).map_err(|e| format!("cannot install {name}: {e}"))?;
    }
    eprintln!("xtask: {} Python and JavaScript plugins built", GUESTS.len());
    Ok(())
}

/// Claude Code from npm; without `@latest` npm picks an old release that fits Node 20.
const CLAUDE_CODE: &str = "@anthropic-ai/claude-code@latest";

/// The Python packages the client tests need, installed into `target/python`.
const PYTHON_PACKAGES: [&str; 2] = ["mcp>=2.3,<3", "pytest>=8"];

/// Every process the suites start inherits this variable (with a value of
/// this run's own); whatever still carries it once they end was left behind.
const SUITE_MARKER: &str = "RINGMASTER_TEST_SUITE";

fn test(extra: &[String]) -> Result {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let marker = format!("{}-{nanos}", std::process::id());
    let suites = run_suites(extra, &marker);
    let left = leftovers(&marker);
    suites?;
    if left.is_empty() {
        Ok(())
    } else {
        Err(format!("the test suites left {} processes running (now killed):\n{}", left.len(), left.join("\n")))
    }
}

/// Processes still carrying `marker`, after waiting a little for the ones
/// that are dying; they are killed and described.
fn leftovers(marker: &str) -> Vec<String> {
    let needle = format!("{SUITE_MARKER}={marker}");
    let find = || -> Vec<(String, String)> {
        let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
        entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())))
            .filter(|e| {
                std::fs::read(e.path().join("environ"))
                    .is_ok_and(|env| env.split(|b| *b == 0).any(|var| var == needle.as_bytes()))
            })
            .map(|e| {
                let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                (e.file_name().to_string_lossy().into_owned(), cmdline.trim().to_string())
            })
            .collect()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut left = find();
    while !left.is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
        left = find();
    }
    for (pid, _) in &left {
        let _ = Command::new("kill").args(["-9", pid]).status();
    }
    left.into_iter().map(|(pid, cmdline)| format!("  {pid}: {cmdline}")).collect()
}

fn run_suites(extra: &[String], marker: &str) -> Result {
    ensure_chromium()?;
    run(cargo().args(["test", "-p", "ringmaster"]).args(extra).env(SUITE_MARKER, marker))?;
    // The SDK and the example plugins' own tests, natively (no wasm needed).
    let mut guests = cargo();
    guests.args(["test", "--quiet", "-p", "ringmaster-plugin"]);
    for krate in crates_in(&root().join("plugins"))? {
        guests.args(["-p", &krate.package]);
    }
    run(guests.env(SUITE_MARKER, marker))?;
    test_guest_examples(marker)?;
    // The MCP client suite drives the binaries the cargo tests just built.
    let venv = target_dir().join("python");
    let python = venv.join("bin").join("python");
    if !python.is_file() {
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    run(Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
        .args(PYTHON_PACKAGES))?;
    // The real Claude Code CLI, as an MCP client of `ringmaster serve`.
    npm_install(&target_dir().join("claude-code"), CLAUDE_CODE, "claude")?;
    run(Command::new(&python)
        .args(["-m", "pytest", "-q", "tests/python"])
        .current_dir(root())
        .env(SUITE_MARKER, marker))
}

/// The Python and JavaScript examples' own tests, natively: `unittest` with
/// the bindings componentize-py generates, `node --test` with the SDK's test
/// host standing in for the contract's host interface.
fn test_guest_examples(marker: &str) -> Result {
    let tools = guest_tools()?;
    for guest in GUESTS.iter().filter(|guest| guest.is_example()) {
        let (name, dir) = (guest.name(), root().join(guest.dir));
        let sdk = root().join("plugins/sdk").join(guest.lang);
        let mut cmd = if guest.lang == "python" {
            let bindings = tools.join("bindings").join(name);
            run(Command::new(tools.join("python/bin/componentize-py"))
                .arg("-d")
                .arg(root().join("wit"))
                .args(["-w", guest.world, "bindings"])
                .arg(&bindings)
                .stdout(std::process::Stdio::null()))?;
            let path = std::env::join_paths([&bindings, &sdk]).map_err(|e| e.to_string())?;
            let mut cmd = Command::new(tools.join("python/bin/python"));
            cmd.args(["-m", "unittest", "--quiet"]).env("PYTHONPATH", path);
            cmd
        } else {
            let mut cmd = Command::new("node");
            cmd.arg("--import").arg(sdk.join("register-test-host.js")).args([
                "--test",
                "--test-reporter=dot",
                "plugin.test.js",
            ]);
            cmd
        };
        run(cmd.current_dir(&dir).env(SUITE_MARKER, marker))?;
    }
    Ok(())
}

fn demo(extra: &[String]) -> Result {
    // Both binaries: the demo runs fake-claude as its agent.
    run(cargo().args(["build", "--quiet", "-p", "ringmaster", "--bins"]))?;
    let ringmaster = target_dir().join("debug").join("ringmaster");
    run(Command::new(ringmaster).arg("demo").arg("--plugins").arg(target_dir().join("plugins")).args(extra))
}

fn fuzz(args: &[String]) -> Result {
    let messages = args.first().map_or("100000", String::as_str);
    let seed = args.get(1).cloned().unwrap_or_else(|| {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        (nanos % 1_000_000_007).to_string()
    });
    eprintln!("xtask: fuzzing with {messages} messages, seed {seed} (rerun with `cargo xtask fuzz {messages} {seed}`)");
    run(cargo()
        .args(["test", "-p", "ringmaster", "--test", "tests", "mcp::hostile_messages", "--", "--nocapture"])
        .env("RINGMASTER_FUZZ_MESSAGES", messages)
        .env("RINGMASTER_FUZZ_SEED", &seed))?;
    run(cargo().args(["test", "-p", "ringmaster", "--lib", "properties"]).env("PROPTEST_CASES", "10000"))
}

fn bench(extra: &[String]) -> Result {
    // Bench targets only: the library's tests would be listed as ignored.
    let targets: &[&str] = if extra.is_empty() { &["--benches"] } else { &[] };
    run(cargo().args(["bench", "-p", "ringmaster"]).args(targets).args(extra))
}
