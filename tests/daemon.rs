//! The engine as a process of its own: started on demand by front-ends
//! (`ringmaster serve`) and the CLI, shared by all of them, outliving the
//! sessions, exiting when idle, stopped by `ringmaster engine stop`.

use crate::support::mcp_client::{Client, stop_engine};
use ringmaster::remote::launch::{self, LaunchError};
use ringmaster::remote::{EngineStatus, Hello};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// A scratch project whose engine runs `fake-claude`, one job at a time;
/// its engine (if any) is stopped when this is dropped.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new(engine_yaml: &str) -> Project {
        Project::with(&format!("max-concurrent: 1{engine_yaml}"), "")
    }

    /// A project with these `engine:` settings and these more of the agent's.
    fn with(engine_yaml: &str, agent_yaml: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            "engine: {{ {engine_yaml} }}\nagents:\n  claude: {{ command: '{}'{agent_yaml} }}\n",
            env!("CARGO_BIN_EXE_fake-claude")
        );
        std::fs::write(dir.path().join("ringmaster.yaml"), config).unwrap();
        Project { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn state(&self) -> PathBuf {
        self.path().join("state")
    }

    fn client(&self) -> Client {
        Client::front_end(self.path())
    }

    fn ringmaster(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_ringmaster"))
            .args(args)
            .arg("--state")
            .arg(self.state())
            .current_dir(self.path())
            .env_remove("RINGMASTER_SOCKET")
            .env_remove("RINGMASTER_JOB_ID")
            .output()
            .unwrap()
    }

    /// The running engine's status; `None` when none runs.
    fn status(&self) -> Option<EngineStatus> {
        let out = self.ringmaster(&["engine", "status", "--json"]);
        match out.status.code() {
            Some(0) => Some(serde_json::from_slice(&out.stdout).unwrap()),
            Some(3) => None,
            _ => panic!("engine status failed: {out:?}"),
        }
    }

    /// Sends `signal` to the running engine; its pid.
    fn signal_engine(&self, signal: nix::sys::signal::Signal) -> u32 {
        let engine = self.status().expect("an engine runs").pid;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(engine as i32), signal).unwrap();
        engine
    }

    /// Processes running `ringmaster engine` for this project.
    fn engine_processes(&self) -> usize {
        let state = self.state().display().to_string();
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
                args.get(1) == Some(&&b"engine"[..]) && args.contains(&state.as_bytes())
            })
            .count()
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        stop_engine(self.path());
    }
}

fn job_id(submitted: &Value) -> String {
    submitted["structuredContent"]["job_id"].as_str().unwrap_or_else(|| panic!("{submitted}")).to_string()
}

fn jobs(waited: &Value) -> Vec<Value> {
    waited["structuredContent"]["jobs"].as_array().unwrap_or_else(|| panic!("{waited}")).clone()
}

/// Waits (up to the bound) until `ready` holds, checking as the engine's
/// jobs change: every call is a round trip to it.
fn until(mut ready: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + crate::support::WAIT;
    while !ready() {
        assert!(std::time::Instant::now() < deadline, "not within {:?}", crate::support::WAIT);
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn two_sessions_share_one_engine_with_its_queue_and_limits() {
    let project = Project::new("");
    let mut a = project.client();
    let mut b = project.client();
    let first = job_id(&a.call("job_submit", json!({"prompt": "@sleep:0.5 first"})));
    let second = job_id(&b.call("job_submit", json!({"prompt": "second"})));
    let listed = a.call("job_list", json!({}));
    let ids: Vec<String> = jobs(&listed).iter().map(|j| j["job_id"].as_str().unwrap().to_string()).collect();
    assert!(ids.contains(&first) && ids.contains(&second), "A sees B's job: {ids:?}");
    // Records say which session submitted them; `mine` lists a session's own.
    let mine = jobs(&a.call("job_list", json!({"mine": true})));
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_eq!(mine[0]["job_id"], json!(first));
    let (by_a, by_b) =
        (mine[0]["client"].as_str().unwrap(), jobs(&b.call("job_list", json!({"mine": true})))[0]["client"].clone());
    assert!(by_a.starts_with("test/"), "the MCP client's name and a session id: {by_a}");
    assert_ne!(json!(by_a), by_b, "two sessions of the same client are told apart");
    let done = jobs(&b.call("job_wait", json!({"job_ids": [first, second], "timeout_s": 60})));
    assert!(done.iter().all(|j| j["status"] == "succeeded"), "{done:?}");
    // One at a time across both sessions: the second started after the first ended.
    assert!(done[1]["started_at_ms"].as_u64() >= done[0]["finished_at_ms"].as_u64(), "{done:?}");
    let status = project.status().expect("an engine runs");
    assert_eq!(status.clients, 3, "A, B and the status call: {status:?}");
    assert_eq!(project.engine_processes(), 1);
}

#[test]
fn a_session_that_ends_leaves_its_jobs_running_and_another_collects_the_result() {
    let project = Project::new("");
    let mut a = project.client();
    let id = job_id(&a.call("job_submit", json!({"prompt": "@sleep:0.5 outlive me"})));
    assert!(a.close().success(), "serve exits when its client closes stdin");
    let mut b = project.client();
    let result = b.call("job_result", json!({"job_id": id}));
    let record = &jobs(&b.call("job_wait", json!({"job_ids": [id], "timeout_s": 60})))[0];
    assert_eq!(record["status"], "succeeded", "{record} / {result}");
}

#[test]
fn kill_9_of_serve_during_job_run_leaves_the_job_running_to_success() {
    let project = Project::new("");
    let mut a = project.client();
    a.send(json!({"jsonrpc": "2.0", "id": 99, "method": "tools/call",
        "params": {"name": "job_run", "arguments": {"prompt": "@sleep:1 keep going"}}}));
    let mut b = project.client();
    let mut running = None;
    until(|| {
        let listed = b.call("job_list", json!({"status": "running"}));
        running = jobs(&listed).first().map(|j| j["job_id"].as_str().unwrap().to_string());
        running.is_some()
    });
    a.kill();
    let id = running.unwrap();
    let record = &jobs(&b.call("job_wait", json!({"job_ids": [id], "timeout_s": 60})))[0];
    assert_eq!(record["status"], "succeeded", "the job was not cancelled with its session: {record}");
}

#[test]
fn serves_started_at_the_same_moment_make_one_engine() {
    let project = Project::new("");
    let clients: Vec<Client> = std::thread::scope(|s| {
        let started: Vec<_> = (0..4).map(|_| s.spawn(|| project.client())).collect();
        started.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let pids: Vec<u32> = std::thread::scope(|s| {
        let called: Vec<_> = clients
            .into_iter()
            .map(|mut c| {
                s.spawn(move || {
                    let stats = c.call("engine_stats", json!({}));
                    assert!(stats.get("isError").is_none_or(|e| e == false), "{stats}");
                    c
                })
            })
            .collect();
        called.into_iter().map(|t| t.join().unwrap().pid()).collect()
    });
    assert_eq!(pids.len(), 4);
    assert_eq!(project.engine_processes(), 1, "exactly one engine for the state directory");
}

#[test]
fn an_idle_engine_exits_and_the_next_client_starts_a_new_one() {
    let project = Project::new(", idle-exit-s: 1");
    let mut a = project.client();
    a.call("job_run", json!({"prompt": "hello"}));
    let first = project.status().expect("an engine runs").pid;
    assert!(a.close().success());
    // Gone by itself: nobody connected, nothing queued.
    let state = project.state();
    let gone = std::thread::spawn(move || ringmaster::remote::lock::wait_until_gone(&state));
    until(|| gone.is_finished());
    assert!(project.status().is_none());
    let mut b = project.client();
    let listed = jobs(&b.call("job_list", json!({})));
    assert_eq!(listed.len(), 1, "the new engine has the old one's jobs");
    let second = project.status().expect("started again").pid;
    assert_ne!(first, second);
}

#[test]
fn kill_9_of_the_engine_under_load_loses_no_job() {
    let project = Project::new("");
    let mut a = project.client();
    let ids: Vec<String> =
        (0..4).map(|i| job_id(&a.call("job_submit", json!({"prompt": format!("@sleep:0.3 job {i}")})))).collect();
    until(|| a.call("job_list", json!({"status": "running"}))["structuredContent"]["jobs"] != json!([]));
    let engine = project.signal_engine(nix::sys::signal::Signal::SIGKILL);
    // The session goes on: the next calls reach a new engine, which
    // recovers the jobs (the interrupted one runs again).
    let mut done = Vec::new();
    until(|| {
        let waited =
            a.request("tools/call", json!({"name": "job_wait", "arguments": {"job_ids": ids, "timeout_s": 60}}));
        done = waited["result"]["structuredContent"]["jobs"].as_array().cloned().unwrap_or_default();
        !done.is_empty()
    });
    assert_eq!(done.len(), 4);
    assert!(done.iter().all(|j| j["status"] == "succeeded"), "{done:?}");
    assert_ne!(project.status().expect("a new engine").pid, engine);
}

#[test]
fn an_engine_with_an_active_schedule_stays_up_until_it_is_paused() {
    let project = Project::new(", idle-exit-s: 1");
    let created = project.ringmaster(&["schedule", "create", "--cron", "0 2 1 1 *", "--name", "yearly", "x"]);
    assert!(created.status.success(), "{created:?}");
    let pid = project.status().expect("an engine runs").pid;
    // Idle twice over, but for the schedule it must fire.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(project.status().map(|s| s.pid), Some(pid), "the engine stayed up");
    assert!(project.ringmaster(&["schedule", "pause", "yearly"]).status.success());
    let state = project.state();
    let gone = std::thread::spawn(move || ringmaster::remote::lock::wait_until_gone(&state));
    until(|| gone.is_finished());
}

#[test]
fn a_client_of_another_protocol_is_told_what_to_run_and_nothing_else_happens() {
    let project = Project::new("");
    let mut a = project.client();
    a.call("job_list", json!({}));
    let socket = project.state().join("engine.sock");
    let hello = Hello { protocol: 99, ..Hello::new(None) };
    let Err(LaunchError::Refused(message)) = launch::connect(&socket, &hello) else { panic!("refused") };
    assert!(message.contains("protocol 99") && message.contains("protocol 1"), "{message}");
    assert!(message.contains(&format!("ringmaster engine stop --state {}", project.state().display())), "{message}");
    // The engine goes on serving everyone else.
    assert!(project.status().is_some());
    a.call("job_list", json!({}));
}

#[test]
fn engine_stop_drain_waits_for_running_jobs_and_keeps_the_queue() {
    let project = Project::new("");
    let mut a = project.client();
    let running = job_id(&a.call("job_submit", json!({"prompt": "@sleep:0.5 finish me"})));
    let queued = job_id(&a.call("job_submit", json!({"prompt": "wait for the next engine"})));
    until(|| a.call("job_status", json!({"job_id": running}))["structuredContent"]["status"] == "running");
    let stopped = project.ringmaster(&["engine", "stop", "--drain"]);
    assert!(stopped.status.success(), "{stopped:?}");
    let stopped_at = ringmaster::job::now_ms();
    assert!(project.status().is_none(), "stop returns once the engine is gone");
    // The CLI starts a new engine, which runs what was queued.
    let waited = project.ringmaster(&["job", "wait", &running, &queued]);
    assert!(waited.status.success(), "{waited:?}");
    let records: Vec<Value> = serde_json::from_slice(&waited.stdout).unwrap();
    assert_eq!(records[0]["attempts"], 1, "drained, not interrupted: {}", records[0]);
    let started = records[1]["started_at_ms"].as_u64().unwrap();
    assert!(started >= stopped_at, "nothing new started while draining: {}", records[1]);
}

#[test]
fn initialize_is_answered_even_when_the_engine_cannot_start_and_tools_say_why() {
    let project = Project::new("");
    // A state directory the engine cannot use.
    std::fs::write(project.state(), "not a directory").unwrap();
    let mut a = project.client();
    let answer = a.request("tools/call", json!({"name": "job_list", "arguments": {}}));
    let message = answer["error"]["message"].as_str().unwrap_or_else(|| panic!("{answer}"));
    assert!(message.contains("engine is unavailable") && message.contains("state"), "{message}");
}

#[test]
fn the_job_cli_starts_the_engine_and_drives_it() {
    let project = Project::new("");
    let stdout = |out: &Output| String::from_utf8_lossy(&out.stdout).trim().to_string();
    let run = project.ringmaster(&["job", "run", "summarise the changelog", "--tag", "cli"]);
    assert!(run.status.success(), "{run:?}");
    assert_eq!(stdout(&run), "Done: summarise the changelog");
    assert!(project.status().is_some(), "the CLI started the engine, which stays");

    let submitted = project.ringmaster(&["job", "submit", "@sleep:0.2 later"]);
    let id = stdout(&submitted);
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{submitted:?}");
    let waited = project.ringmaster(&["job", "wait", &id]);
    let records: Vec<Value> = serde_json::from_slice(&waited.stdout).unwrap();
    assert_eq!((records[0]["job_id"].as_str(), records[0]["status"].as_str()), (Some(id.as_str()), Some("succeeded")));

    // Every option of `job_submit` is a flag, passed on as the tool passes it.
    let argv = project.ringmaster(&["job", "run", "@argv", "--max-turns", "3", "--allowed-tool", "Read"]);
    let args: Vec<String> = serde_json::from_str(&stdout(&argv)).unwrap();
    let after = |flag: &str| args.iter().position(|a| a == flag).map(|at| args[at + 1].as_str());
    assert_eq!((after("--max-turns"), after("--allowedTools")), (Some("3"), Some("Read")), "{args:?}");

    let failed = project.ringmaster(&["job", "run", "@fail"]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&failed.stderr).contains("failed as asked"), "{failed:?}");

    let listed = project.ringmaster(&["job", "list", "--status", "succeeded"]);
    let records: Vec<Value> = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(records.len(), 3);
    assert!(records.iter().all(|r| r["client"] == "cli"), "{records:?}");
    let bad = project.ringmaster(&["job", "list", "--status", "done"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown status \"done\""), "{bad:?}");
}

#[test]
fn an_agents_own_mcp_server_reaches_the_engine_within_its_job_tree() {
    let project = Project::with("max-concurrent: 4", ", mcp: true");
    let mut a = project.client();
    let stranger = job_id(&a.call("job_submit", json!({"prompt": "another root job"})));
    // The agent starts `ringmaster serve` from its --mcp-config, as Claude Code does.
    let top = a.call("job_run", json!({"prompt": "@mcp:job_run sub-task from an agent's MCP server"}));
    let top = &top["structuredContent"];
    assert_eq!(top["status"], "succeeded", "{top}");
    let child: Value = serde_json::from_str(top["result"].as_str().unwrap()).unwrap();
    assert_eq!(child["status"], "succeeded", "{child}");
    assert_eq!((child["depth"].as_u64(), &child["parent_job_id"]), (Some(1), &top["job_id"]), "{child}");
    // What an agent's session lists is its own tree, not the stranger.
    let lister = a.call("job_run", json!({"prompt": "@mcp:job_list"}));
    let lister = &lister["structuredContent"];
    let listed: Value = serde_json::from_str(lister["result"].as_str().unwrap()).unwrap();
    let ids: Vec<&Value> = listed["jobs"].as_array().unwrap().iter().map(|j| &j["job_id"]).collect();
    assert_eq!(ids, [&lister["job_id"]], "{listed}");
    assert_ne!(lister["job_id"], json!(stranger));
}

#[test]
fn a_session_whose_settings_differ_from_the_running_engine_is_told_and_changes_nothing() {
    let project = Project::new("");
    let mut a = project.client();
    a.call("job_list", json!({}));
    let extra = project.path().join("more-plugins");
    let mut b = Client::front_end_with(project.path(), &["--plugins", extra.to_str().unwrap()]);
    let stats = b.call("engine_stats", json!({}));
    let differ = stats["structuredContent"]["settings_differ"].as_array().unwrap_or_else(|| panic!("{stats}"));
    assert!(differ.iter().any(|line| line.as_str().unwrap().contains("plugin directories")), "{differ:?}");
    assert!(stats["content"][0]["text"].as_str().unwrap().contains("differ"), "{stats}");
    // The running engine keeps its own settings, for everyone.
    let status = project.status().unwrap();
    assert!(status.settings.plugin_dirs.is_empty(), "{status:?}");
    assert!(a.call("engine_stats", json!({}))["structuredContent"].get("settings_differ").is_none());
}

#[test]
fn a_newer_build_asks_the_engine_to_hand_over_once_its_jobs_are_done() {
    let project = Project::new("");
    let mut a = project.client();
    let id = job_id(&a.call("job_submit", json!({"prompt": "@sleep:0.5 finish first"})));
    let socket = project.state().join("engine.sock");
    let newer = Hello { build: "999.0.0+1".into(), ..Hello::new(None) }.taking_over();
    let connected = launch::connect(&socket, &newer).expect("same protocol: served");
    assert_eq!(project.status().unwrap().stopping.as_deref(), Some("handing over to a newer build"));
    // The engine exits once the job is done, clients connected or not.
    let state = project.state();
    let gone = std::thread::spawn(move || ringmaster::remote::lock::wait_until_gone(&state));
    until(|| gone.is_finished());
    drop(connected);
    // A's next call reaches a new engine, where the job is done.
    let mut record = Value::Null;
    until(|| {
        let status = a.request("tools/call", json!({"name": "job_status", "arguments": {"job_id": id}}));
        record = status["result"]["structuredContent"].clone();
        !record.is_null()
    });
    assert_eq!(record["status"], "succeeded", "{record}");
}

#[test]
fn sighup_reloads_the_config_and_the_engine_goes_on() {
    let project = Project::new("");
    let mut a = project.client();
    a.call("job_list", json!({}));
    let engine = project.signal_engine(nix::sys::signal::Signal::SIGHUP);
    let log = project.state().join("engine.log");
    until(|| std::fs::read_to_string(&log).unwrap().contains("configuration reloaded"));
    assert_eq!(project.status().expect("still up").pid, engine);
    a.call("job_run", json!({"prompt": "still serving"}));
}

#[test]
fn sigterm_stops_the_engine_cleanly() {
    let project = Project::new("");
    let mut a = project.client();
    a.call("job_list", json!({}));
    project.signal_engine(nix::sys::signal::Signal::SIGTERM);
    ringmaster::remote::lock::wait_until_gone(&project.state()).unwrap();
    assert!(!project.state().join("engine.sock").exists(), "the socket is removed on the way out");
    let log = std::fs::read_to_string(project.state().join("engine.log")).unwrap();
    assert!(log.contains("engine stopping") && log.contains("engine stopped"), "{log}");
}

#[test]
fn the_engine_keeps_nothing_open_that_its_starter_inherited() {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let project = Project::new("");
    // A pipe only the `ringmaster job` started here inherits (as a shell's
    // command substitution, or a build tool's jobserver, would pass one).
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let fd = write.as_raw_fd();
    let mut command = Command::new(env!("CARGO_BIN_EXE_ringmaster"));
    command.args(["job", "list", "--state"]).arg(project.state()).current_dir(project.path());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(move || {
            nix::fcntl::fcntl(
                std::os::fd::BorrowedFd::borrow_raw(fd),
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
            )
            .map(drop)
            .map_err(std::io::Error::from)
        });
    }
    let out = command.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(project.status().is_some(), "the CLI started an engine");
    drop(write);
    // End of file once nobody holds the write end: the engine does not.
    let reader = std::thread::spawn(move || std::fs::File::from(read).read_to_end(&mut Vec::new()));
    until(|| reader.is_finished());
}

#[test]
fn a_tree_s_limits_hold_across_the_front_ends_its_jobs_use() {
    // The root spawns 3 sub-jobs through the socket; each (and the root)
    // then submits another through its own `ringmaster serve`: the tree's
    // total of 4 holds across all of them.
    let project = Project::with("max-concurrent: 4, max-jobs-per-root: 4", ", mcp: true");
    let mut a = project.client();
    let root = a.call("job_run", json!({"prompt": "@spawn:3 @mcp:job_submit one more"}));
    let root = &root["structuredContent"];
    assert_eq!(root["status"], "succeeded", "{root}");
    let tree = jobs(&a.call("job_list", json!({})));
    assert_eq!(tree.len(), 4, "the root and its three sub-jobs, nothing more: {tree:?}");
    for job in &tree {
        let result = job["result"].as_str().unwrap_or_default();
        assert!(result.contains("has already submitted 4 jobs"), "every further submission was refused: {job}");
    }
}

#[test]
fn simulate_replays_the_jobs_the_engine_ran() {
    let project = Project::new("");
    let ids: Vec<String> = ["@sleep:0.3 one", "@sleep:0.3 two", "@sleep:0.3 three"]
        .iter()
        .map(|prompt| {
            let out = project.ringmaster(&["job", "submit", prompt, "--tag", "history"]);
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        })
        .collect();
    let mut wait = vec!["job", "wait"];
    wait.extend(ids.iter().map(String::as_str));
    assert!(project.ringmaster(&wait).status.success());

    let out = project.ringmaster(&["simulate", "--history", "--policy", "builtin", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let runs: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let run = &runs[0];
    assert_eq!((run["jobs"].as_u64(), run["succeeded"].as_u64()), (Some(3), Some(3)), "{run}");
    // One at a time (max-concurrent: 1), each as long as it ran (0.3 s or more).
    assert!(run["makespan_s"].as_f64().unwrap() >= 0.9, "{run}");
    assert_eq!(run["wasted_agent_s"].as_f64(), Some(0.0), "{run}");
}

#[test]
fn an_idempotency_key_gets_the_same_job_from_any_front_end_and_after_kill_9() {
    let project = Project::new("");
    let mut a = project.client();
    let submit = |client: &mut Client, prompt: &str| {
        job_id(&client.call("job_submit", json!({"prompt": prompt, "idempotency_key": "triage/2026-11-30"})))
    };
    let first = submit(&mut a, "@sleep:0.3 triage the new issues");
    // A retry whose first answer was lost, from the CLI: the same job.
    let cli = project.ringmaster(&["job", "submit", "--idempotency-key", "triage/2026-11-30", "triage again"]);
    assert_eq!(String::from_utf8_lossy(&cli.stdout).trim(), first, "{cli:?}");

    // The engine dies with the job queued or running; the next one knows the key.
    until(|| a.call("job_status", json!({"job_id": first}))["structuredContent"]["status"] != "queued");
    let killed = project.signal_engine(nix::sys::signal::Signal::SIGKILL);
    // The session's next calls reach a new engine, which recovers the job and its key.
    let mut again = None;
    until(|| {
        let arguments = json!({"prompt": "triage after the restart", "idempotency_key": "triage/2026-11-30"});
        let answer = a.request("tools/call", json!({"name": "job_submit", "arguments": arguments}));
        again = answer["result"]["structuredContent"]["job_id"].as_str().map(String::from);
        again.is_some()
    });
    assert_eq!(again.as_deref(), Some(first.as_str()));
    assert_ne!(project.status().expect("a new engine").pid, killed);
    let waited = a.call("job_wait", json!({"job_ids": [first], "timeout_s": 60}));
    assert_eq!(jobs(&waited)[0]["status"], "succeeded", "{waited}");
    // Finished, still the same job; the prompt it ran is the first one.
    assert_eq!(submit(&mut a, "triage once more"), first);
    let listed = a.call("job_list", json!({}));
    assert_eq!(listed["structuredContent"]["jobs"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["structuredContent"]["jobs"][0]["idempotency_key"], "triage/2026-11-30", "{listed}");
    let bad =
        a.request("tools/call", json!({"name": "job_submit", "arguments": {"prompt": "p", "idempotency_key": ""}}));
    assert!(bad.to_string().contains("idempotency_key"), "{bad}");
}

#[test]
fn a_paused_queue_stays_paused_through_kill_9_and_resumes_from_any_front_end() {
    let project = Project::new("");
    let mut a = project.client();
    let paused = project.ringmaster(&["job", "pause"]);
    assert!(paused.status.success(), "{paused:?}");
    let pauses: Value = serde_json::from_slice(&paused.stdout).unwrap();
    assert_eq!(pauses["all"], true);
    let held = job_id(&a.call("job_submit", json!({"prompt": "held back"})));

    let killed = project.signal_engine(nix::sys::signal::Signal::SIGKILL);
    // The next engine recovers the queue and the pause with it.
    let mut stats = Value::Null;
    until(|| {
        stats = a.request("tools/call", json!({"name": "engine_stats", "arguments": {}}));
        stats["result"]["structuredContent"]["paused"]["all"] == true
    });
    assert_ne!(project.status().expect("a new engine").pid, killed);
    let status = a.call("job_status", json!({"job_id": held}));
    assert_eq!(status["structuredContent"]["status"], "queued", "{status}");
    assert!(status["structuredContent"]["waiting_for"].as_str().unwrap().contains("paused"), "{status}");

    let resumed = a.call("queue_resume", json!({}));
    assert_eq!(resumed["structuredContent"]["paused"]["all"], false, "{resumed}");
    let waited = a.call("job_wait", json!({"job_ids": [held], "timeout_s": 60}));
    assert_eq!(jobs(&waited)[0]["status"], "succeeded", "{waited}");
    let bad = a.request("tools/call", json!({"name": "queue_pause", "arguments": {"tag": ""}}));
    assert!(bad.to_string().contains("is not allowed"), "{bad}");
}

#[test]
fn a_failed_job_retried_from_the_cli_keeps_its_history_and_survives_kill_9_while_queued() {
    let project = Project::new("");
    let mut a = project.client();
    let id = job_id(&a.call("job_submit", json!({"prompt": "@fail flaky", "max_retries": 0})));
    let waited = a.call("job_wait", json!({"job_ids": [id], "timeout_s": 60}));
    assert_eq!(jobs(&waited)[0]["status"], "failed", "{waited}");

    // Held by a pause, the retried job is queued when the engine dies.
    assert!(project.ringmaster(&["job", "pause"]).status.success());
    let retried = project.ringmaster(&["job", "retry", &id]);
    assert!(retried.status.success(), "{retried:?}");
    let record: Value = serde_json::from_slice(&retried.stdout).unwrap();
    assert_eq!((record["job_id"].as_str(), record["status"].as_str()), (Some(id.as_str()), Some("queued")));
    project.signal_engine(nix::sys::signal::Signal::SIGKILL);
    let mut status = Value::Null;
    until(|| {
        status = a.request("tools/call", json!({"name": "job_status", "arguments": {"job_id": id}}));
        status["result"]["structuredContent"]["status"] == "queued"
    });
    a.call("queue_resume", json!({}));
    let waited = a.call("job_wait", json!({"job_ids": [id], "timeout_s": 60}));
    let record = &jobs(&waited)[0];
    assert_eq!((record["status"].as_str(), record["attempts"].as_u64()), (Some("failed"), Some(2)), "{record}");
    assert_eq!(record["history"].as_array().unwrap().len(), 2, "{record}");
    // Again, continuing the session the last attempt left.
    let session = record["session_id"].as_str().expect("the agent reported a session").to_string();
    let retried = a.call("job_retry", json!({"job_id": id, "resume_session": true}));
    assert_eq!(retried["structuredContent"]["session_id"], session.as_str(), "{retried}");
    let waited = a.call("job_wait", json!({"job_ids": [id], "timeout_s": 60}));
    assert_eq!(jobs(&waited)[0]["attempts"], 3, "{waited}");
    let refused = a.request("tools/call", json!({"name": "job_retry", "arguments": {"job_id": "nope"}}));
    assert!(refused.to_string().contains("no job nope"), "{refused}");
}

#[test]
fn a_pipeline_in_one_batch_survives_kill_9_between_its_steps_and_quotes_each_result() {
    let project = Project::new("");
    let mut a = project.client();
    // The fix step is held by a paused tag, so the engine dies with the
    // tests done, the fix queued and the review waiting.
    a.call("queue_pause", json!({"tag": "fix"}));
    let batch = a.call(
        "job_submit_batch",
        json!({"jobs": [
            {"prompt": "run the tests"},
            {"prompt": "fix: {{after.0.result}}", "after": [0], "tags": ["fix"]},
            {"prompt": "review: {{after.0.result}}", "after": [1]},
            {"prompt": "@fail broken", "max_retries": 0},
            {"prompt": "never runs", "after": [3]},
        ]}),
    );
    let ids: Vec<String> = batch["structuredContent"]["job_ids"]
        .as_array()
        .unwrap_or_else(|| panic!("{batch}"))
        .iter()
        .map(|id| id.as_str().unwrap().to_string())
        .collect();
    let (tests, fix, review) = (&ids[0], &ids[1], &ids[2]);
    until(|| a.call("job_status", json!({"job_id": fix}))["structuredContent"]["status"] == "queued");
    let waiting = a.call("job_status", json!({"job_id": review}));
    assert_eq!(waiting["structuredContent"]["status"], "waiting", "{waiting}");
    let why = waiting["structuredContent"]["waiting_for"].as_str().unwrap().to_string();
    assert_eq!(why, format!("after job {fix} (queued)"));
    let doomed = a.call("job_wait", json!({"job_ids": [ids[4]], "timeout_s": 60}));
    let error = jobs(&doomed)[0]["error"].as_str().unwrap().to_string();
    assert_eq!(error, format!("job {}, which it runs after, ended failed", ids[3]));

    let killed = project.signal_engine(nix::sys::signal::Signal::SIGKILL);
    let mut status = Value::Null;
    until(|| {
        status = a.request("tools/call", json!({"name": "job_status", "arguments": {"job_id": review}}));
        status["result"]["structuredContent"]["status"] == "waiting"
    });
    assert_ne!(project.status().expect("a new engine").pid, killed);
    a.call("queue_resume", json!({"tag": "fix"}));
    let waited = a.call("job_wait", json!({"job_ids": [tests, fix, review], "timeout_s": 60}));
    let records = jobs(&waited);
    assert!(records.iter().all(|r| r["status"] == "succeeded"), "{waited}");
    // fake-claude answers "Done: " and its prompt: each step quoted the one before.
    assert_eq!(records[2]["result"], "Done: review: Done: fix: Done: run the tests", "{waited}");
    assert_eq!(records[2]["after"], json!([fix]));

    // From the CLI: a job after another, cancelled with it.
    let held = job_id(&a.call("job_submit", json!({"prompt": "@hang held"})));
    let submitted = project.ringmaster(&["job", "submit", "--after", &held, "next"]);
    assert!(submitted.status.success(), "{submitted:?}");
    let next = String::from_utf8(submitted.stdout).unwrap().trim().to_string();
    let cancelled = project.ringmaster(&["job", "cancel", &held]);
    let cancelled: Value = serde_json::from_slice(&cancelled.stdout).unwrap();
    assert_eq!(cancelled["cancelled_dependants"], json!([next]), "{cancelled}");
    let refused = project.ringmaster(&["job", "submit", "--after", "no-such-job", "x"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("which does not exist"), "{refused:?}");
}

#[test]
fn a_schedule_survives_kill_9_and_catches_up_once_for_what_it_missed() {
    let project = Project::new("");
    let mut a = project.client();
    let created = a.call(
        "schedule_create",
        json!({"name": "hourly", "cron": "0 * * * *", "timezone": "Europe/Berlin", "job": {"prompt": "triage"}}),
    );
    assert_eq!(created["structuredContent"]["schedule_id"], "hourly", "{created}");
    let created_at = created["structuredContent"]["created_at_ms"].as_u64().unwrap();
    assert!(created["structuredContent"]["next_at_ms"].as_u64().unwrap() > created_at);

    // The engine dies, and stays down (as far as the schedule can tell) for
    // five hours: its store says it was last armed then.
    project.signal_engine(nix::sys::signal::Signal::SIGKILL);
    let store = ringmaster::store::Store::open(&project.state().join("jobs.db")).unwrap();
    let mut schedule = store.schedules().unwrap().remove(0);
    schedule.armed_at_ms -= 5 * 3600 * 1000;
    store.put_schedule(&schedule).unwrap();
    drop(store);
    let hour = 3600 * 1000;

    // The next engine fires once, for the latest occurrence it missed (this
    // hour's: the test may cross into the next one).
    let mut listed = Value::Null;
    until(|| {
        listed = a.request("tools/call", json!({"name": "schedule_list", "arguments": {}}));
        listed["result"]["structuredContent"]["schedules"][0]["last_fired_ms"].as_u64().is_some()
    });
    let latest = listed["result"]["structuredContent"]["schedules"][0]["last_fired_ms"].as_u64().unwrap();
    let now = ringmaster::job::now_ms();
    assert!(latest.is_multiple_of(hour) && latest / hour >= created_at / hour && latest <= now, "{listed}");
    let runs = a.call("job_list", json!({"tag": "schedule:hourly"}));
    let runs = runs["structuredContent"]["jobs"].as_array().unwrap().clone();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["idempotency_key"], format!("schedule:hourly:{latest}"));
    let schedule = &listed["result"]["structuredContent"]["schedules"][0];
    assert_eq!(schedule["last_job_id"], runs[0]["job_id"]);
    assert_eq!(schedule["next_at_ms"].as_u64(), Some(latest + hour));

    // From the CLI; a job may not touch schedules.
    let paused = project.ringmaster(&["schedule", "pause", "hourly"]);
    let paused: Value = serde_json::from_slice(&paused.stdout).unwrap();
    assert_eq!((paused["paused"].as_bool(), paused.get("next_at_ms")), (Some(true), None), "{paused}");
    let deleted = project.ringmaster(&["schedule", "delete", "hourly"]);
    assert!(deleted.status.success(), "{deleted:?}");
    let listed = project.ringmaster(&["schedule", "list"]);
    assert_eq!(serde_json::from_slice::<Value>(&listed.stdout).unwrap(), json!([]));
    let bad = project.ringmaster(&["schedule", "create", "--cron", "61 * * * *", "x"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not valid"), "{bad:?}");
}

#[test]
fn a_token_resting_at_its_usage_limit_rests_on_through_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = ["sk-ant-oat01-daemon-first", "sk-ant-oat01-daemon-second"];
    for (i, secret) in secrets.iter().enumerate() {
        std::fs::write(dir.path().join(format!("token{i}")), secret).unwrap();
    }
    let project = Project::with("per-token-concurrency: 1", "");
    let tokens = format!(
        "tokens:\n  - file: {}\n  - file: {}\n",
        dir.path().join("token0").display(),
        dir.path().join("token1").display()
    );
    let config = std::fs::read_to_string(project.path().join("ringmaster.yaml")).unwrap();
    std::fs::write(project.path().join("ringmaster.yaml"), format!("{config}{tokens}")).unwrap();
    let fingerprint = |token: &str| -> String {
        use sha2::{Digest, Sha256};
        Sha256::digest(token.as_bytes()).iter().take(6).map(|b| format!("{b:02x}")).collect()
    };
    let limits = dir.path().join("limits");
    std::fs::create_dir(&limits).unwrap();
    let reset_s = ringmaster::job::now_ms() / 1000 + 3600;
    std::fs::write(limits.join(fingerprint(secrets[0])), reset_s.to_string()).unwrap();

    // Jobs until one meets the limit of the first token.
    let mut a = project.client();
    let prompt = format!("@limits:{}:result @whoami", limits.display());
    let batch =
        a.call("job_submit_batch", json!({"jobs": [{"prompt": prompt}, {"prompt": prompt}, {"prompt": prompt}]}));
    let ids = batch["structuredContent"]["job_ids"].clone();
    let waited = a.call("job_wait", json!({"job_ids": ids, "timeout_s": 60}));
    let records = jobs(&waited);
    assert!(records.iter().all(|r| r["status"] == "succeeded"), "{waited}");
    assert!(records.iter().any(|r| r["limited_attempts"] == 1), "{waited}");
    let stats = a.call("engine_stats", json!({}));
    assert!(stats["structuredContent"]["slots"][0]["cooling_for_s"].as_u64().unwrap() > 3000, "{stats}");

    // The next engine lets it rest until the reset: every job runs on the other.
    project.signal_engine(nix::sys::signal::Signal::SIGKILL);
    let mut stats = Value::Null;
    until(|| {
        stats = a.request("tools/call", json!({"name": "engine_stats", "arguments": {}}));
        stats["result"].is_object()
    });
    let resting = stats["result"]["structuredContent"]["slots"][0]["cooling_for_s"].as_u64();
    assert!(resting.is_some_and(|s| s > 3000), "{stats}");
    let batch = a.call("job_submit_batch", json!({"jobs": [{"prompt": "@whoami"}, {"prompt": "@whoami"}]}));
    let waited = a.call("job_wait", json!({"job_ids": batch["structuredContent"]["job_ids"], "timeout_s": 60}));
    for record in jobs(&waited) {
        assert_eq!(record["token_slot"], 1, "{record}");
        assert!(record["result"].as_str().unwrap().contains(&fingerprint(secrets[1])), "{record}");
    }
}

#[test]
fn a_worktree_job_keeps_its_worktree_through_kill_9_and_is_reviewed_from_the_cli() {
    let project = Project::new("");
    crate::isolation::init_repo(project.path(), &[("a.txt", "one\n")]);
    let go = tempfile::tempdir().unwrap();
    let go = go.path().join("go");
    let mut a = project.client();
    let prompt = format!("@wait-for:{} @write:a.txt=two edit a", go.display());
    let id = job_id(&a.call("job_submit", json!({"prompt": prompt, "isolation": "worktree", "max_retries": 2})));
    let worktree = project.state().join("worktrees").join(&id);
    // Made when the job starts, before its agent runs.
    until(|| a.call("job_status", json!({"job_id": id}))["structuredContent"]["workspace"]["state"] == "ready");
    assert!(worktree.join("a.txt").is_file());
    let running = a.call("job_status", json!({"job_id": id}));
    let branch = running["structuredContent"]["workspace"]["branch"].as_str().unwrap().to_string();

    // Killed mid-job: the job runs again, in the same worktree.
    let killed = project.signal_engine(nix::sys::signal::Signal::SIGKILL);
    until(|| {
        let status = a.request("tools/call", json!({"name": "job_status", "arguments": {"job_id": id}}));
        let record = &status["result"]["structuredContent"];
        record["status"] == "running" && record["attempts"] == 2
    });
    assert_ne!(project.status().expect("a new engine").pid, killed);
    std::fs::write(&go, "").unwrap();
    let waited = a.call("job_wait", json!({"job_ids": [id], "timeout_s": 60}));
    let record = &jobs(&waited)[0];
    assert_eq!(record["status"], "succeeded", "{waited}");
    assert_eq!(record["workspace"]["path"], json!(worktree), "{record}");
    assert_eq!(record["workspace"]["branch"], json!(branch));
    assert_eq!(record["workspace"].get("project_had_changes"), None, "the state directory is no change: {record}");
    assert_eq!(record["workspace"]["files"], json!([{"path": "a.txt", "added": 1, "deleted": 1}]), "{record}");
    assert_eq!(std::fs::read_to_string(project.path().join("a.txt")).unwrap(), "one\n");

    // Reviewed from the CLI: the diff, then a squash into the project.
    let diff = project.ringmaster(&["job", "diff", &id]);
    assert!(String::from_utf8_lossy(&diff.stdout).contains("-one\n+two\n"), "{diff:?}");
    let merged = project.ringmaster(&["job", "merge", &id, "--strategy", "squash"]);
    assert!(merged.status.success(), "{merged:?}");
    let merged: Value = serde_json::from_slice(&merged.stdout).unwrap();
    assert_eq!(merged["workspace"]["merged"]["strategy"], "squash", "{merged}");
    assert_eq!(std::fs::read_to_string(project.path().join("a.txt")).unwrap(), "two\n");
    assert!(!worktree.exists());
    let refused = project.ringmaster(&["job", "discard", "no-such-job"]);
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("no job no-such-job"));
}
