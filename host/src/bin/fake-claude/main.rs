//! `fake-claude`: a stand-in for the `claude` CLI's headless mode, faithful
//! to its contract (`claude -p [PROMPT] --output-format stream-json --verbose`,
//! the prompt on stdin when not given),
//! with behaviour scripted by directives anywhere in the prompt:
//!
//! | directive | behaviour |
//! |---|---|
//! | `@sleep:SECS` | work that long, printing an assistant line every 0.25 s |
//! | `@wait-for:PATH` | work as `@sleep` until the file PATH exists |
//! | `@lines:N` | print N assistant lines as fast as it can, then succeed |
//! | `@fail` | error result (`error_during_execution`), exit 1 |
//! | `@crash` | init, then exit 2 without a result |
//! | `@hang` | init, then silence until killed; `@hang:stubborn` also ignores SIGTERM |
//! | `@ratelimit` | a rejected `rate_limit_event` (with `resetsAt`) and an error result, exit 1; `@ratelimit:429`: `api_retry` lines with status 429 instead |
//! | `@limits:DIR:FORM` | when the file DIR/FINGERPRINT (of this run's token, `none` without one) holds a Unix time still to come, stop at the usage limit resetting then, said as FORM: `result` (`Claude AI usage limit reached\|RESET`), `wall` (`You've hit your limit · resets 3:30pm (UTC)`), `event` (a rejected `rate_limit_event`) or `429` (`api_retry` with `retry_delay_ms` until the reset); otherwise go on |
//! | `@flaky:N` | crash (after init) on the first N attempts of this prompt, counted in `$FAKE_CLAUDE_STATE_DIR` |
//! | `@whoami` | report job id, depth and a SHA-256 fingerprint of the token (never the token) |
//! | `@cost:X` | report `total_cost_usd` X |
//! | `@argv` | report the arguments it was started with, as a JSON list |
//! | `@spawn:N` | submit N sub-jobs through the root engine (`$RINGMASTER_SOCKET`), wait for them, list them in the result; each gets this prompt without this directive, so `@spawn:2 @spawn:2` makes a tree two levels deep |
//! | `@tool:NAME:INPUT` | call tool NAME with INPUT (up to the next space), running the `PreToolUse` hooks of `--settings` first, as Claude Code does, and honouring a deny |
//! | `@mcp:TOOL` | start the MCP server of `--mcp-config` as Claude Code does, call TOOL (with this prompt minus its directives as `prompt`, for `job_run`/`job_submit`), report its structured result |
//! | `@forge:JOB` | through the root engine, submit a sub-job naming JOB as its parent; `@forge:bare` submits a job presenting no job token; report what the engine answered |
//! | `@cancel:JOB` | through the root engine, cancel JOB; report what the engine answered |
//! | `@control:engine\|stop\|NAME` | through the root engine, ask its status, ask it to stop, or ask for plugin NAME; report the answer |
//! | `@write:PATH=TEXT` | write TEXT (`+` for spaces) and a newline to PATH, relative to its working directory, making its directories; `@append:PATH=TEXT` appends the line; `@delete:PATH` deletes PATH; all in prompt order, each as often as given |
//! | `@commit:MESSAGE` | after the edits, commit everything in its working directory with git (`+` for spaces in MESSAGE) |
//!
//! Without directives it succeeds at once. SIGTERM ends it with exit 143, as
//! the real CLI does. It is how the tests and the demo run jobs, and how
//! anyone can try ringmaster without an account.

mod ringmaster_calls;

use ringmaster::hooks;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

struct Args {
    prompt: Option<String>,
    format: String,
    verbose: bool,
    model: Option<String>,
    resume: Option<String>,
    /// `--settings`: a JSON string or a file.
    settings: Option<String>,
    /// `--mcp-config`: a JSON string.
    mcp_config: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        prompt: None,
        format: "text".into(),
        verbose: false,
        model: None,
        resume: None,
        settings: None,
        mcp_config: None,
    };
    let mut iter = std::env::args().skip(1);
    while let Some(arg) = iter.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline.clone().or_else(|| iter.next()).ok_or(format!("error: option '{name}' argument missing"))
        };
        match flag.as_str() {
            "-p" | "--print" => {
                // `-p PROMPT`, or `-p` with the prompt as a positional argument.
                if let Some(v) = inline.clone() {
                    args.prompt = Some(v);
                }
            }
            "--output-format" => args.format = value("--output-format")?,
            "--verbose" => args.verbose = true,
            "--model" => args.model = Some(value("--model")?),
            "-r" | "--resume" => args.resume = Some(value("--resume")?),
            "--settings" => args.settings = Some(value("--settings")?),
            "--mcp-config" => args.mcp_config = Some(value("--mcp-config")?),
            "--max-turns"
            | "--allowedTools"
            | "--allowed-tools"
            | "--disallowedTools"
            | "--append-system-prompt"
            | "--permission-mode"
            | "--session-id"
            | "--max-budget-usd" => {
                value(&flag)?;
            }
            "--strict-mcp-config" | "--dangerously-skip-permissions" | "-c" | "--continue" => {}
            // Everything after `--` is the prompt.
            "--" => {
                args.prompt = Some(iter.by_ref().collect::<Vec<_>>().join(" "));
            }
            other if other.starts_with('-') => return Err(format!("error: unknown option '{other}'")),
            _ => args.prompt = Some(arg),
        }
    }
    Ok(args)
}

/// The value of `@name:VALUE` in the prompt, or `Some("")` for a bare `@name`.
fn directive<'a>(prompt: &'a str, name: &str) -> Option<&'a str> {
    let tag = format!("@{name}");
    prompt.split_whitespace().find_map(|word| {
        let rest = word.strip_prefix(tag.as_str())?;
        match rest.strip_prefix(':') {
            Some(value) => Some(value),
            None if rest.is_empty() => Some(""),
            None => None,
        }
    })
}

struct Out {
    format: String,
}

impl Out {
    fn line(&self, value: Value) {
        if self.format == "stream-json" {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{value}");
            let _ = stdout.flush();
        }
    }

    fn result(&self, value: Value) {
        let mut stdout = std::io::stdout().lock();
        let _ = match self.format.as_str() {
            "stream-json" | "json" => writeln!(stdout, "{value}"),
            _ => writeln!(stdout, "{}", value["result"].as_str().unwrap_or_default()),
        };
        let _ = stdout.flush();
    }
}

fn assistant(session: &str, model: &str, text: &str) -> Value {
    json!({
        "type": "assistant",
        "session_id": session,
        "parent_tool_use_id": null,
        "message": {
            "id": format!("msg_{}", uuid::Uuid::new_v4().simple()),
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": null,
            "usage": {"input_tokens": 10, "output_tokens": 5},
        },
    })
}

fn short_sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().take(6).map(|b| format!("{b:02x}")).collect()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// For `@limits:DIR:FORM`: the reset (Unix s) of the usage limit the token
/// of fingerprint `token` is at, if DIR says it is.
fn limited_until(how: &str, token: &str) -> Option<u64> {
    let (dir, _form) = how.rsplit_once(':')?;
    let reset: u64 = std::fs::read_to_string(std::path::Path::new(dir).join(token)).ok()?.trim().parse().ok()?;
    (reset > unix_now()).then_some(reset)
}

/// `@write`, `@append`, `@delete` (in prompt order), then `@commit`.
fn edit_files(prompt: &str) -> Result<(), String> {
    for word in prompt.split_whitespace() {
        let edit = |path: &str, text: Option<&str>, append: bool| -> std::io::Result<()> {
            let path = std::path::Path::new(path);
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let line = format!("{}\n", text.unwrap_or_default().replace('+', " "));
            let mut file =
                std::fs::OpenOptions::new().create(true).write(true).append(append).truncate(!append).open(path)?;
            file.write_all(line.as_bytes())
        };
        let done = if let Some(what) = word.strip_prefix("@write:") {
            let (path, text) = what.split_once('=').unwrap_or((what, ""));
            edit(path, Some(text), false).map_err(|e| format!("cannot write {path}: {e}"))
        } else if let Some(what) = word.strip_prefix("@append:") {
            let (path, text) = what.split_once('=').unwrap_or((what, ""));
            edit(path, Some(text), true).map_err(|e| format!("cannot append to {path}: {e}"))
        } else if let Some(path) = word.strip_prefix("@delete:") {
            std::fs::remove_file(path).map_err(|e| format!("cannot delete {path}: {e}"))
        } else {
            Ok(())
        };
        done?;
    }
    if let Some(message) = directive(prompt, "commit") {
        let message = message.replace('+', " ");
        for args in [vec!["add", "-A"], vec!["commit", "-q", "-m", message.as_str()]] {
            let output = std::process::Command::new("git")
                .args(&args)
                .env("GIT_AUTHOR_NAME", "fake-claude")
                .env("GIT_AUTHOR_EMAIL", "fake-claude@localhost")
                .env("GIT_COMMITTER_NAME", "fake-claude")
                .env("GIT_COMMITTER_EMAIL", "fake-claude@localhost")
                .output()
                .map_err(|e| format!("cannot run git: {e}"))?;
            if !output.status.success() {
                return Err(format!("git {}: {}", args[0], String::from_utf8_lossy(&output.stderr).trim()));
            }
        }
    }
    Ok(())
}

/// Counts attempts of a prompt across processes, for `@flaky`.
fn attempt_number(prompt: &str) -> u32 {
    let Some(dir) = std::env::var_os("FAKE_CLAUDE_STATE_DIR") else { return 1 };
    let _ = std::fs::create_dir_all(&dir);
    let path = std::path::Path::new(&dir).join(short_sha256(prompt));
    let previous: u32 = std::fs::read_to_string(&path).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
    let _ = std::fs::write(&path, (previous + 1).to_string());
    previous + 1
}

/// `@tool:NAME:INPUT`: the `PreToolUse` hooks of `--settings` run first, as
/// in Claude Code; exit 2 or a `deny` decision blocks the tool.
fn use_tool(args: &Args, session: &str, cwd: &str, name: &str, input: &str) -> Result<(), String> {
    let tool_input = match name {
        "Bash" => json!({ "command": input }),
        "Read" | "Edit" | "Write" => json!({ "file_path": input }),
        _ => json!({ "input": input }),
    };
    let Some(settings) = &args.settings else { return Ok(()) };
    let bytes = match std::fs::read(settings) {
        Ok(bytes) => bytes,
        Err(_) => settings.as_bytes().to_vec(),
    };
    let handlers = hooks::config::parse(std::path::Path::new("settings.json"), &bytes)?;
    let event = json!({
        "session_id": session, "transcript_path": "", "cwd": cwd, "permission_mode": "default",
        "hook_event_name": "PreToolUse", "tool_name": name, "tool_input": tool_input,
        "tool_use_id": format!("toolu_{}", uuid::Uuid::new_v4().simple()),
    });
    for handler in handlers.iter().filter(|h| h.event == "PreToolUse" && h.matcher.matches(&[name])) {
        let hooks::config::Action::Command(command) = &handler.action else { continue };
        let mut child = std::process::Command::new("sh")
            .args(["-c", command])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run the hook {command}: {e}"))?;
        let _ = child.stdin.take().expect("piped").write_all(event.to_string().as_bytes());
        let output = child.wait_with_output().map_err(|e| e.to_string())?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        match output.status.code() {
            Some(2) => return Err(String::from_utf8_lossy(&output.stderr).trim().to_string()),
            Some(0) => {
                let verdict = hooks::run::read_stdout(&stdout).unwrap_or_default();
                if verdict.permission == Some(hooks::Permission::Deny) {
                    return Err(verdict.reason.unwrap_or_else(|| "denied by a hook".into()));
                }
            }
            _ => eprintln!("fake-claude: PreToolUse hook failed: {}", String::from_utf8_lossy(&output.stderr)),
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(1);
        }
    };
    // As the real CLI: with no prompt argument, the prompt is stdin.
    let prompt = args.prompt.clone().or_else(|| {
        let mut text = String::new();
        let piped = !std::io::IsTerminal::is_terminal(&std::io::stdin());
        (piped && std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).is_ok()).then_some(text)
    });
    let Some(prompt) = prompt.filter(|p| !p.trim().is_empty()) else {
        eprintln!("Error: Input must be provided either through stdin or as a prompt argument when using --print");
        return ExitCode::from(1);
    };
    if args.format == "stream-json" && !args.verbose {
        eprintln!("Error: When using --print, --output-format=stream-json requires --verbose");
        return ExitCode::from(1);
    }

    let terminated = Arc::new(AtomicBool::new(false));
    let stubborn = directive(&prompt, "hang") == Some("stubborn");
    if !stubborn {
        let _ = signal_hook::flag::register(signal_hook::consts::SIGTERM, terminated.clone());
    } else {
        // Register a flag nobody reads: SIGTERM is then ignored.
        let _ = signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::new(AtomicBool::new(false)));
    }

    let started = Instant::now();
    let out = Out { format: args.format.clone() };
    let session = args.resume.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let model = args.model.clone().unwrap_or_else(|| "claude-fake-1".into());
    let cwd = std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default();
    out.line(json!({
        "type": "system", "subtype": "init", "session_id": session, "cwd": cwd, "model": model,
        "tools": ["Read", "Edit", "Bash"], "mcp_servers": [], "permissionMode": "default",
        "apiKeySource": "none", "slash_commands": [], "claude_code_version": "fake-claude",
    }));

    // Waits until `done` (never, for `None`), ticking every 0.25 s
    // meanwhile (not when waiting for ever); whether SIGTERM came first.
    let sleep_until_terminated = |done: Option<&dyn Fn() -> bool>, tick: &dyn Fn()| -> bool {
        let mut next_tick = Instant::now();
        loop {
            if terminated.load(Ordering::Relaxed) {
                return true;
            }
            if done.is_some_and(|done| done()) {
                return false;
            }
            if done.is_some() && Instant::now() >= next_tick {
                tick();
                next_tick += Duration::from_millis(250);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };

    if directive(&prompt, "crash").is_some() {
        eprintln!("fake-claude: crashing as asked");
        return ExitCode::from(2);
    }
    if directive(&prompt, "hang").is_some() {
        sleep_until_terminated(None, &|| {});
        return ExitCode::from(143);
    }
    let working = || out.line(assistant(&session, &model, "working..."));
    if let Some(secs) = directive(&prompt, "sleep").and_then(|s| s.parse::<f64>().ok()) {
        let end = Instant::now() + Duration::from_secs_f64(secs);
        if sleep_until_terminated(Some(&|| Instant::now() >= end), &working) {
            return ExitCode::from(143);
        }
    }
    if let Some(path) = directive(&prompt, "wait-for")
        && sleep_until_terminated(Some(&|| std::path::Path::new(path).exists()), &working)
    {
        return ExitCode::from(143);
    }

    if let Some(n) = directive(&prompt, "lines").and_then(|n| n.parse::<u32>().ok()) {
        let mut stdout = std::io::stdout().lock();
        for i in 0..n {
            let _ = writeln!(stdout, "{}", assistant(&session, &model, &format!("line {i} of the transcript")));
        }
        let _ = stdout.flush();
    }

    let cost: f64 = directive(&prompt, "cost").and_then(|c| c.parse().ok()).unwrap_or(0.0012);
    let usage = json!({"input_tokens": 120, "output_tokens": 40, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0});
    let result = |subtype: &str, is_error: bool, text: &str| {
        json!({
            "type": "result", "subtype": subtype, "session_id": session,
            "duration_ms": started.elapsed().as_millis() as u64, "duration_api_ms": started.elapsed().as_millis() as u64,
            "is_error": is_error, "num_turns": 1, "result": text, "stop_reason": "end_turn",
            "total_cost_usd": cost, "usage": usage, "modelUsage": {}, "permission_denials": [],
        })
    };

    let token_fingerprint =
        std::env::var("CLAUDE_CODE_OAUTH_TOKEN").ok().as_deref().map_or_else(|| "none".into(), short_sha256);
    if let Some(reset) = directive(&prompt, "limits").and_then(|how| limited_until(how, &token_fingerprint)) {
        let (dir_and_form, now) = (directive(&prompt, "limits").unwrap_or_default(), unix_now());
        let text = match dir_and_form.rsplit_once(':').map_or("", |(_, form)| form) {
            "event" => {
                out.line(json!({"type": "rate_limit_event", "rate_limit_info": {"status": "rejected", "resetsAt": reset, "utilization": 1.0}}));
                "API Error: usage limit".to_string()
            }
            "429" => {
                let delay_ms = reset.saturating_sub(now) * 1000;
                out.line(json!({"type": "system", "subtype": "api_retry", "session_id": session, "attempt": 1,
                    "max_retries": 1, "retry_delay_ms": delay_ms, "error_status": 429, "error": "rate_limit"}));
                "API Error: 429 rate limit exceeded".to_string()
            }
            "wall" => {
                let (h, m) = ((reset / 3600) % 24, (reset / 60) % 60);
                let (h12, half) = (if h % 12 == 0 { 12 } else { h % 12 }, if h < 12 { "am" } else { "pm" });
                format!("You've hit your limit · resets {h12}:{m:02}{half} (UTC)")
            }
            _ => format!("Claude AI usage limit reached|{reset}"),
        };
        out.result(result("error_during_execution", true, &text));
        return ExitCode::from(1);
    }
    if let Some(how) = directive(&prompt, "ratelimit") {
        if how == "429" {
            // The API's 429s, as the CLI reports them while it retries.
            for attempt in 1..=2 {
                out.line(json!({"type": "system", "subtype": "api_retry", "session_id": session, "attempt": attempt,
                    "max_retries": 2, "retry_delay_ms": 10, "error_status": 429, "error": "rate_limit"}));
            }
        } else {
            let resets_at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 60;
            out.line(json!({"type": "rate_limit_event", "rate_limit_info": {"status": "rejected", "resetsAt": resets_at, "utilization": 1.0}}));
        }
        let mut value = result("error_during_execution", true, "API Error: 429 rate limit exceeded");
        value["errors"] = json!(["rate limit exceeded"]);
        out.result(value);
        return ExitCode::from(1);
    }
    let flaky = directive(&prompt, "flaky").and_then(|n| n.parse::<u32>().ok());
    if flaky.is_some_and(|n| attempt_number(&prompt) <= n) {
        // A transient failure mid-session, like a lost connection: the
        // session exists and a retry can resume it.
        eprintln!("fake-claude: flaky failure");
        return ExitCode::from(2);
    }
    if directive(&prompt, "fail").is_some() {
        let mut value = result("error_during_execution", true, "fake-claude failed as asked");
        value["errors"] = json!(["fake-claude failed as asked"]);
        out.result(value);
        return ExitCode::from(1);
    }

    let mut notes = Vec::new();
    if let Err(message) = edit_files(&prompt) {
        let mut value = result("error_during_execution", true, &message);
        value["errors"] = json!([message]);
        out.result(value);
        return ExitCode::from(1);
    }
    if let Some(call) = directive(&prompt, "tool") {
        let (name, input) = call.split_once(':').unwrap_or((call, ""));
        match use_tool(&args, &session, &cwd, name, input) {
            Ok(()) => notes.push(format!("tool {name} ran")),
            Err(reason) => notes.push(format!("tool {name} denied: {reason}")),
        }
        out.line(assistant(&session, &model, notes.last().expect("pushed")));
    }
    if let Some(n) = directive(&prompt, "spawn").and_then(|n| n.parse::<usize>().ok()) {
        match ringmaster_calls::spawn(&prompt, n) {
            Ok(line) => notes.push(line),
            Err(message) => {
                let mut value = result("error_during_execution", true, &message);
                value["errors"] = json!([message]);
                out.result(value);
                return ExitCode::from(1);
            }
        }
    }

    if let Some(tool) = directive(&prompt, "mcp") {
        notes.push(
            ringmaster_calls::call_mcp(args.mcp_config.as_deref(), tool, &prompt)
                .unwrap_or_else(|err| format!("mcp failed: {err}")),
        );
    }
    if let Some(parent) = directive(&prompt, "forge") {
        notes.push(ringmaster_calls::forge(parent));
    }
    if let Some(job) = directive(&prompt, "cancel") {
        notes.push(ringmaster_calls::cancel(job));
    }
    if let Some(what) = directive(&prompt, "control") {
        notes.push(ringmaster_calls::control(what));
    }

    let text = if directive(&prompt, "argv").is_some() {
        json!(std::env::args().skip(1).collect::<Vec<_>>()).to_string()
    } else if directive(&prompt, "whoami").is_some() {
        format!(
            "job={} depth={} token={token_fingerprint}",
            std::env::var("RINGMASTER_JOB_ID").unwrap_or_else(|_| "-".into()),
            std::env::var("RINGMASTER_DEPTH").unwrap_or_else(|_| "-".into()),
        )
    } else if !notes.is_empty() {
        notes.join("; ")
    } else {
        let preview: String = prompt.chars().take(80).collect();
        format!("Done: {preview}")
    };
    out.line(assistant(&session, &model, &text));
    out.result(result("success", false, &text));
    ExitCode::SUCCESS
}
