//! `ringmaster serve` over stdio, driven by a minimal JSON-RPC client: the
//! handshake, every job tool, progress, cancellation and bad input. Every
//! line the server writes on stdout must be JSON-RPC.

use crate::support;

use crate::support::mcp_client::Client;
use serde_json::{Value, json};

/// The message of a failed call: a protocol error's, or an error result's text.
fn error_text(response: &Value) -> String {
    match response.get("error") {
        Some(error) => error["message"].as_str().unwrap_or_default().to_string(),
        None => {
            assert_eq!(response["result"]["isError"], true, "{response}");
            response["result"]["content"][0]["text"].as_str().unwrap_or_default().to_string()
        }
    }
}

#[test]
fn the_server_lists_its_tools_with_schemas() {
    let mut client = Client::start();
    let tools = client.request("tools/list", json!({}));
    let names: Vec<&str> =
        tools["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), support::TOOLS.len(), "{names:?}");
    for expected in support::TOOLS {
        assert!(names.contains(&expected), "{expected} missing from {names:?}");
    }
    let submit = tools["result"]["tools"].as_array().unwrap().iter().find(|t| t["name"] == "job_submit").unwrap();
    assert_eq!(submit["inputSchema"]["required"], json!(["prompt"]));
    assert!(
        submit["inputSchema"]["properties"]["priority"]["description"]
            .as_str()
            .unwrap()
            .contains("Higher starts earlier")
    );
}

#[test]
fn submit_wait_result_output_and_list() {
    let mut client = Client::start();
    let submitted = client.call("job_submit", json!({"prompt": "write the changelog @cost:0.2", "tags": ["docs"]}));
    let id = submitted["structuredContent"]["job_id"].as_str().unwrap().to_string();
    assert!(submitted["content"][0]["text"].as_str().unwrap().contains(&id));

    let waited = client.call("job_wait", json!({"job_ids": [id], "timeout_s": 60}));
    let record = &waited["structuredContent"]["jobs"][0];
    assert_eq!(record["status"], "succeeded", "{waited}");
    assert_eq!(record["cost_usd"], 0.2);
    assert_eq!(record["tags"], json!(["docs"]));

    let result = client.call("job_result", json!({"job_id": id}));
    assert_eq!(result["structuredContent"]["result"], "Done: write the changelog @cost:0.2");

    let output = client.call("job_output", json!({"job_id": id, "limit": 1}));
    assert_eq!(output["structuredContent"]["events"][0]["event"]["subtype"], "init");
    assert_eq!(output["structuredContent"]["next_offset"], 1);

    let listed = client.call("job_list", json!({"tag": "docs"}));
    assert_eq!(listed["structuredContent"]["jobs"][0]["job_id"], json!(id));
    let batch = client.call("job_submit_batch", json!({"jobs": [{"prompt": "a"}, {"prompt": "b"}]}));
    assert_eq!(batch["structuredContent"]["job_ids"].as_array().unwrap().len(), 2);
    let stats = client.call("engine_stats", json!({}));
    assert_eq!(stats["structuredContent"]["max_concurrent"], 2);
    let plugins = client.call("plugin_list", json!({}));
    assert_eq!(plugins["structuredContent"]["plugins"], json!([]));
}

#[test]
fn job_run_reports_progress_until_the_job_ends() {
    let mut client = Client::start();
    let response = client.request(
        "tools/call",
        json!({"name": "job_run", "arguments": {"prompt": "@sleep:1.5 refactor"}, "_meta": {"progressToken": "run-1"}}),
    );
    assert_eq!(response["result"]["structuredContent"]["status"], "succeeded", "{response}");
    let progress: Vec<&Value> =
        client.notifications.iter().filter(|n| n["method"] == "notifications/progress").collect();
    assert!(!progress.is_empty(), "no progress notifications: {:?}", client.notifications);
    assert!(progress.iter().all(|n| n["params"]["progressToken"] == "run-1"));
    let steps: Vec<f64> = progress.iter().map(|n| n["params"]["progress"].as_f64().unwrap()).collect();
    assert!(steps.windows(2).all(|w| w[0] < w[1]), "progress increases: {steps:?}");
    assert!(progress.iter().any(|n| n["params"]["message"].as_str().unwrap().starts_with("running")), "{progress:?}");
}

#[test]
fn cancelling_a_job_run_request_cancels_the_job() {
    let mut client = Client::start();
    let id = client.next_id;
    client.next_id += 1;
    client.send(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                       "params": {"name": "job_run", "arguments": {"prompt": "@hang"}}}));
    // Find the job once it runs, then cancel the request.
    let job = loop {
        let listed = client.call("job_list", json!({"status": "running"}));
        if let Some(job) = listed["structuredContent"]["jobs"].get(0) {
            break job["job_id"].as_str().unwrap().to_string();
        }
    };
    client.send(json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": id}}));
    loop {
        let status = client.call("job_status", json!({"job_id": job}));
        if status["structuredContent"]["status"] == "cancelled" {
            break;
        }
        let _ = client.call("job_wait", json!({"job_ids": [job], "timeout_s": 1}));
    }
}

#[test]
fn job_cancel_stops_a_running_job() {
    let mut client = Client::start();
    let submitted = client.call("job_submit", json!({"prompt": "@hang"}));
    let id = submitted["structuredContent"]["job_id"].clone();
    let cancelled = client.call("job_cancel", json!({"job_id": id}));
    assert_eq!(cancelled["structuredContent"]["status"], "cancelled", "{cancelled}");
}

#[test]
fn bad_input_gets_a_clear_error_and_the_connection_stays_up() {
    let mut client = Client::start();
    let unknown = client.call("job_status", json!({"job_id": "nope"}));
    assert_eq!(unknown["isError"], true);
    assert!(unknown["content"][0]["text"].as_str().unwrap().contains("no job nope"), "{unknown}");

    let unfinished = client.call("job_submit", json!({"prompt": "@hang"}));
    let id = unfinished["structuredContent"]["job_id"].clone();
    let early = client.call("job_result", json!({"job_id": id}));
    assert!(early["content"][0]["text"].as_str().unwrap().contains("has not finished"), "{early}");
    client.call("job_cancel", json!({"job_id": id}));

    let missing = client.request("tools/call", json!({"name": "job_submit", "arguments": {}}));
    assert!(error_text(&missing).contains("missing field `prompt`"), "{missing}");
    let typo = client.request("tools/call", json!({"name": "job_submit", "arguments": {"prompt": "x", "priorty": 1}}));
    assert!(error_text(&typo).contains("unknown field `priorty`"), "{typo}");
    let ill_typed =
        client.request("tools/call", json!({"name": "job_submit", "arguments": {"prompt": "x", "priority": "high"}}));
    assert!(error_text(&ill_typed).contains("invalid type"), "{ill_typed}");

    let refused = client.call("job_list", json!({"status": "done"}));
    assert!(refused["content"][0]["text"].as_str().unwrap().contains("unknown status \"done\""), "{refused}");

    let no_tool = client.request("tools/call", json!({"name": "job_explode", "arguments": {}}));
    assert!(error_text(&no_tool).contains("job_explode"), "{no_tool}");

    client.send_raw("{this is not json");
    let after = client.call("engine_stats", json!({}));
    assert!(after["structuredContent"]["max_concurrent"].is_number(), "still serving after bad JSON: {after}");
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
}

fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + support::WAIT;
    while !condition() {
        assert!(std::time::Instant::now() < deadline, "{what} did not happen within {:?}", support::WAIT);
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn kill_9_of_the_server_loses_nothing_and_leaves_no_agent_behind() {
    let project = tempfile::tempdir().unwrap();
    let config = format!(
        "engine: {{ max-concurrent: 1 }}\nagents:\n  claude: {{ command: '{}' }}\n",
        env!("CARGO_BIN_EXE_fake-claude")
    );
    std::fs::write(project.path().join("ringmaster.yaml"), config).unwrap();
    let mut client = Client::start_in(project);
    let hanging =
        client.call("job_submit", json!({"prompt": "@hang", "max_retries": 1}))["structuredContent"]["job_id"]
            .as_str()
            .unwrap()
            .to_string();
    let queued =
        client.call("job_submit", json!({"prompt": "queued behind it"}))["structuredContent"]["job_id"].clone();
    let done = client.call("job_submit", json!({"prompt": "never mind"}))["structuredContent"]["job_id"].clone();
    client.call("job_cancel", json!({"job_id": done}));
    wait_until("the agent starting", || !ringmaster::executor::job_processes(&hanging).is_empty());
    let agent = ringmaster::executor::job_processes(&hanging)[0];

    let project = client.crash();
    assert!(alive(agent), "the agent outlived its host");

    let mut client = Client::start_in(project);
    wait_until("the leftover agent being killed", || !alive(agent));
    let waited = client.call("job_wait", json!({"job_ids": [queued], "timeout_s": 60}));
    assert_eq!(waited["structuredContent"]["jobs"][0]["status"], "succeeded", "the queued job ran after the restart");
    let cancelled = client.call("job_status", json!({"job_id": done}));
    assert_eq!(cancelled["structuredContent"]["status"], "cancelled", "finished records survive");
    let interrupted = client.call("job_status", json!({"job_id": hanging}));
    assert_eq!(interrupted["structuredContent"]["history"][0]["outcome"], "interrupted", "{interrupted}");
    client.call("job_cancel", json!({"job_id": hanging}));
}

#[test]
fn jobs_stats_and_plugins_are_resources() {
    let mut client = Client::start();
    let listed = client.request("resources/list", json!({}));
    let uris: Vec<&str> =
        listed["result"]["resources"].as_array().unwrap().iter().map(|r| r["uri"].as_str().unwrap()).collect();
    assert_eq!(uris, ["ringmaster://stats", "ringmaster://plugins"]);
    let templates = client.request("resources/templates/list", json!({}));
    let templates: Vec<&str> = templates["result"]["resourceTemplates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uriTemplate"].as_str().unwrap())
        .collect();
    assert_eq!(templates, ["ringmaster://jobs/{job_id}", "ringmaster://jobs/{job_id}/transcript"]);

    let run = client.call("job_run", json!({"prompt": "resource me"}));
    let id = run["structuredContent"]["job_id"].as_str().unwrap().to_string();
    let read = |client: &mut Client, uri: String| client.request("resources/read", json!({"uri": uri}));
    let record = read(&mut client, format!("ringmaster://jobs/{id}"));
    let text = record["result"]["contents"][0]["text"].as_str().unwrap();
    assert_eq!(serde_json::from_str::<Value>(text).unwrap()["status"], "succeeded");
    let transcript = read(&mut client, format!("ringmaster://jobs/{id}/transcript"));
    let lines: Vec<&str> = transcript["result"]["contents"][0]["text"].as_str().unwrap().lines().collect();
    assert!(lines.first().unwrap().contains("\"init\"") && lines.last().unwrap().contains("\"result\""));
    let stats = read(&mut client, "ringmaster://stats".into());
    assert!(stats["result"]["contents"][0]["text"].as_str().unwrap().contains("max_concurrent"));

    let missing = read(&mut client, "ringmaster://jobs/nope".into());
    assert!(missing["error"]["message"].as_str().unwrap().contains("no job nope"), "{missing}");
    let wrong = read(&mut client, "ringmaster://nothing".into());
    assert!(wrong["error"]["message"].as_str().unwrap().contains("ringmaster://jobs/{job_id}"), "{wrong}");
}

#[test]
fn ringmaster_yaml_reloads_live() {
    let project = tempfile::tempdir().unwrap();
    std::fs::create_dir(project.path().join("plugins")).unwrap();
    support::install(&project.path().join("plugins"), "fair-share", &support::built("fair-share"));
    let fake = env!("CARGO_BIN_EXE_fake-claude");
    let config = |extra: &str| {
        format!(
            "plugins: {{ dirs: [plugins], limits: {{ policy-deadline-ms: 2000 }} }}\n\
             agents:\n  claude: {{ command: '{fake}' }}\n{extra}"
        )
    };
    std::fs::write(project.path().join("ringmaster.yaml"), config("engine: { max-concurrent: 1 }\n")).unwrap();
    let mut client = Client::start_in(project);
    let path = client.project().join("ringmaster.yaml");
    let stats = |client: &mut Client| client.call("engine_stats", json!({}))["structuredContent"].clone();
    let first = stats(&mut client);
    assert_eq!(
        (first["max_concurrent"].as_u64(), first["policies"]["scheduler"].as_str()),
        (Some(1), Some("built-in"))
    );
    let refused = client.call("job_submit", json!({"prompt": "x", "agent": "reviewer"}));
    assert!(refused["content"][0]["text"].as_str().unwrap().contains("unknown agent \"reviewer\""), "{refused}");

    let next = config(&format!(
        "  reviewer: {{ command: '{fake}', append-system-prompt: You review. }}\n\
         engine: {{ max-concurrent: 3 }}\n"
    ));
    let next = next.replace("limits: {", "policies: { scheduler: fair-share }, limits: {");
    std::fs::write(&path, next).unwrap();
    wait_until("the new configuration in force", || {
        let now = stats(&mut client);
        now["max_concurrent"] == 3 && now["policies"]["scheduler"] == "fair-share"
    });
    let run = client.call("job_run", json!({"prompt": "review this", "agent": "reviewer"}));
    assert_eq!(run["structuredContent"]["status"], "succeeded", "{run}");
}

/// A client of the MCP tasks extension gets `job_run` as a task: the job's id,
/// polled with tasks/get, cancelled with tasks/cancel.
#[test]
fn job_run_is_a_task_for_clients_of_the_tasks_extension() {
    let mut client = Client::start_declaring(json!({"extensions": {"io.modelcontextprotocol/tasks": {}}}));
    let created =
        client.request("tools/call", json!({"name": "job_run", "arguments": {"prompt": "@sleep:0.2 task me"}}));
    let task = &created["result"];
    assert_eq!(task["resultType"], "task", "{created}");
    assert_eq!(task["status"], "working");
    let id = task["taskId"].as_str().unwrap().to_string();
    let waited = client.call("job_wait", json!({"job_ids": [id]}));
    assert_eq!(waited["structuredContent"]["jobs"][0]["status"], "succeeded");
    let done = client.request("tasks/get", json!({"taskId": id}));
    assert_eq!(done["result"]["status"], "completed", "{done}");
    assert_eq!(done["result"]["result"]["structuredContent"]["result"], "Done: @sleep:0.2 task me");

    let hanging = client.request("tools/call", json!({"name": "job_run", "arguments": {"prompt": "@hang"}}));
    let id = hanging["result"]["taskId"].as_str().unwrap().to_string();
    let cancelled = client.request("tasks/cancel", json!({"taskId": id}));
    assert!(cancelled.get("error").is_none(), "{cancelled}");
    let waited = client.call("job_wait", json!({"job_ids": [id]}));
    assert_eq!(waited["structuredContent"]["jobs"][0]["status"], "cancelled");
    assert_eq!(client.request("tasks/get", json!({"taskId": id}))["result"]["status"], "cancelled");

    let missing = client.request("tasks/get", json!({"taskId": "nope"}));
    assert!(missing["error"]["message"].as_str().unwrap().contains("no task nope"), "{missing}");
    let refused = client.request("tools/call", json!({"name": "job_run", "arguments": {"prompt": " "}}));
    assert_eq!(refused["result"]["isError"], true, "a refused job is an ordinary error result: {refused}");
}

#[test]
fn without_the_tasks_extension_job_run_blocks_and_tasks_are_refused() {
    let mut client = Client::start();
    let run = client.call("job_run", json!({"prompt": "plain"}));
    assert_eq!(run["structuredContent"]["status"], "succeeded", "{run}");
    let get = client.request("tasks/get", json!({"taskId": run["structuredContent"]["job_id"]}));
    assert!(get.get("error").is_some(), "{get}");
}

/// A scratch project running fake-claude, with `files` (path, content) in it.
fn project_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let scratch = tempfile::tempdir().unwrap();
    let config = format!(
        "engine: {{ max-concurrent: 4 }}\nagents:\n  claude: {{ command: '{}' }}\ncommands: {{ allow-shell: true }}\n",
        env!("CARGO_BIN_EXE_fake-claude")
    );
    std::fs::write(scratch.path().join("ringmaster.yaml"), config).unwrap();
    for (path, content) in files {
        let path = scratch.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    scratch
}

fn structured(result: &Value) -> &Value {
    &result["structuredContent"]
}

/// The environment of a process, as `NAME=value` lines.
fn environ(pid: i32) -> String {
    String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default()).replace('\0', "\n")
}

#[test]
fn each_agent_holds_exactly_its_own_token_and_nothing_below_gets_any() {
    let secret = |what: &str| format!("secret-{what}-{}", uuid::Uuid::new_v4().simple());
    let tokens = [secret("token1"), secret("token2"), secret("token3")];
    let (api_key, auth_token) = (secret("api-key"), secret("auth-token"));
    let dump = r#"tr '\0' '\n' < /proc/$$/environ"#;
    let scratch = project_with(&[
        (
            "hooks/env.json",
            &json!({"hooks": {"PreJobStart": [{"hooks": [{"type": "command",
            "command": format!("{dump} >> \"$CLAUDE_PROJECT_DIR/hook.env\"")}]}]}})
            .to_string(),
        ),
        ("commands/env.md", &format!("Environment: !`{dump}`")),
    ]);
    let env = [
        ("CLAUDE_CODE_TOKEN1", tokens[0].as_str()),
        ("CLAUDE_CODE_TOKEN2", tokens[1].as_str()),
        ("CLAUDE_CODE_TOKEN3", tokens[2].as_str()),
        ("ANTHROPIC_API_KEY", api_key.as_str()),
        ("ANTHROPIC_AUTH_TOKEN", auth_token.as_str()),
    ];
    let mut client = Client::start_with(scratch, &env);
    let ids: Vec<String> = (0..3)
        .map(|_| {
            structured(&client.call("job_submit", json!({"prompt": "@hang"})))["job_id"].as_str().unwrap().to_string()
        })
        .collect();
    // The job's agent (its hooks carry the job's id too).
    let agent = |id: &str| {
        ringmaster::executor::job_processes(id).into_iter().find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("fake-claude"))
        })
    };
    let mut held = Vec::new();
    for id in &ids {
        wait_until("the agent starting", || agent(id).is_some());
        let env = environ(agent(id).unwrap());
        let mine: Vec<&String> = tokens.iter().filter(|t| env.contains(t.as_str())).collect();
        assert_eq!(mine.len(), 1, "an agent holds exactly one token:\n{env}");
        assert!(env.contains(&format!("CLAUDE_CODE_OAUTH_TOKEN={}", mine[0])), "{env}");
        assert!(!env.contains(&api_key) && !env.contains(&auth_token), "no API key below ringmaster:\n{env}");
        held.push(mine[0].clone());
    }
    held.sort();
    held.dedup();
    assert_eq!(held.len(), 3, "three jobs on three slots, each its own token");

    let prompt = client.request("prompts/get", json!({"name": "env"}));
    let snippet = prompt["result"]["messages"][0]["content"]["text"].as_str().unwrap().to_string();
    let hook = std::fs::read_to_string(client.project().join("hook.env")).unwrap();
    for (what, env) in [("a hook command", &hook), ("a !`cmd` snippet", &snippet)] {
        assert!(env.contains("PATH=") && env.contains("RINGMASTER_HOOK_EVENT=") == (what == "a hook command"), "{env}");
        for value in tokens.iter().chain([&api_key, &auth_token]) {
            assert!(!env.contains(value.as_str()), "{what} got a credential:\n{env}");
        }
    }
    for id in &ids {
        client.call("job_cancel", json!({"job_id": id}));
    }
}

#[test]
fn files_ringmaster_must_not_read_are_reported_and_everything_else_works() {
    let scratch = project_with(&[
        ("commands/good.md", "Say hello to $ARGUMENTS"),
        ("commands/deep.md", &format!("---\ndescription: {}\n---\nbody", "[".repeat(100_000))),
        (
            "hooks/good.json",
            &json!({"hooks": {"PostJob": [{"hooks": [{"type": "command", "command": "true"}]}]}}).to_string(),
        ),
    ]);
    let commands = scratch.path().join("commands");
    let hooks = scratch.path().join("hooks");
    std::os::unix::fs::symlink("/dev/zero", commands.join("zero.md")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", commands.join("passwd.md")).unwrap();
    nix::unistd::mkfifo(&commands.join("fifo.md"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    nix::unistd::mkfifo(&hooks.join("fifo.json"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    std::os::unix::fs::symlink("/dev/zero", hooks.join("zero.yaml")).unwrap();
    // `initialize` is answered within the bound whatever lies in the folders.
    let mut client = Client::start_in(scratch);

    let listed = client.call("command_list", json!({}));
    let by_name = |name: &str| {
        structured(&listed)["commands"].as_array().unwrap().iter().find(|c| c["name"] == name).cloned().unwrap()
    };
    assert_eq!(by_name("good")["status"], "active");
    for (name, why) in [
        ("zero", "outside the directories"),
        ("passwd", "outside the directories"),
        ("fifo", "a FIFO"),
        ("deep", "nest more than 64"),
    ] {
        let command = by_name(name);
        assert_eq!(command["status"], "failed", "{command}");
        assert!(command["error"].as_str().unwrap().contains(why), "{name}: {command}");
    }
    let prompt = client.request("prompts/get", json!({"name": "passwd"}));
    assert!(error_text(&prompt).contains("unknown prompt"), "{prompt}");
    let prompts = client.request("prompts/list", json!({}));
    assert!(!prompts.to_string().contains("root:"), "nothing of /etc/passwd is served");

    let hooks = client.call("hook_list", json!({}));
    let failed: Vec<&str> = structured(&hooks)["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["status"] == "failed")
        .map(|h| h["source"].as_str().unwrap())
        .collect();
    assert_eq!(failed.len(), 2, "{hooks}");
    let run = client.call("job_run", json!({"prompt": "still working"}));
    assert_eq!(structured(&run)["status"], "succeeded", "{run}");
}

#[test]
fn a_bad_number_anywhere_gets_an_error_and_intake_goes_on() {
    let huge_timeout =
        json!({"hooks": {"PostJob": [{"hooks": [{"type": "command", "command": "true", "timeout": 1e300}]}]}});
    let huge_delay = json!({"hooks": {"PreJobStart": [{"hooks": [{"type": "command",
        "command": r#"echo '{"hookSpecificOutput": {"delaySeconds": 1e300}}'"#}]}]}});
    let scratch = project_with(&[("hooks/bad.json", &huge_timeout.to_string())]);
    let mut client = Client::start_in(scratch);
    let hooks = client.call("hook_list", json!({}));
    let bad = &structured(&hooks)["hooks"][0];
    assert_eq!(bad["status"], "failed", "{hooks}");
    assert!(bad["error"].as_str().unwrap().contains("`timeout` must be"), "{bad}");

    // Saved while running: the watcher goes on, and a hook answering a
    // delay out of range has no say.
    std::fs::write(client.project().join("hooks/delay.json"), huge_delay.to_string()).unwrap();
    wait_until("the delay hook loading", || {
        structured(&client.call("hook_list", json!({})))["hooks"].as_array().unwrap().len() == 2
    });
    let run = client.call("job_run", json!({"prompt": "carry on"}));
    assert_eq!(structured(&run)["status"], "succeeded", "{run}");
    assert_eq!(structured(&run)["attempts"], 1, "{run}");

    let refused = client.request(
        "tools/call",
        json!({"name": "job_submit",
        "arguments": {"prompt": "x", "timeout_s": 18446744073709551615u64}}),
    );
    assert!(error_text(&refused).contains("between 1 and 86400"), "{refused}");
    let stats = client.call("engine_stats", json!({}));
    assert_eq!(structured(&stats)["running"], 0);
}

/// CPU time (user + system) of a process so far, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn a_server_waiting_without_a_progress_token_uses_no_cpu() {
    let mut client = Client::start();
    let id = structured(&client.call("job_submit", json!({"prompt": "@hang"})))["job_id"].as_str().unwrap().to_string();
    let before = cpu_ticks(client.pid());
    // Past the 10 s heartbeat, where the wait used to spin.
    let waited = client.call("job_wait", json!({"job_ids": [id], "timeout_s": 14}));
    assert_eq!(structured(&waited)["jobs"][0]["status"], "running");
    let used = cpu_ticks(client.pid()) - before;
    // Clock ticks are 1/100 s: a spinning wait burns ~400 in those 4 s.
    assert!(used < 150, "the server used {used} ticks of CPU while waiting 14 s");
    client.call("job_cancel", json!({"job_id": id}));
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_socket_peer_cannot_make_the_server_hold_what_it_sends() {
    use std::io::{BufRead, Write};
    let client = Client::start();
    let socket = client.project().join("state/engine.sock");
    let before = rss_kib(client.pid());
    let mut stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    writeln!(stream, "{}", crate::support::hello_line()).unwrap();
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..256 {
        stream.write_all(&chunk).unwrap();
    }
    stream.write_all(b"\n{\"op\":\"list\",\"limit\":1}\n").unwrap();
    let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.contains("\"protocol\""), "the welcome: {line}");
    line.clear();
    reader.read_line(&mut line).unwrap();
    assert!(line.contains("refused") && line.contains("bytes"), "{line}");
    line.clear();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("{\"ok\""), "the connection still answers: {line}");
    let grown = rss_kib(client.pid()).saturating_sub(before);
    assert!(grown < 64 * 1024, "256 MiB without a newline grew the server by {grown} KiB");
}

#[test]
fn kill_9_under_load_loses_no_job_and_runs_nothing_twice_that_had_finished() {
    let scratch = project_with(&[]);
    let mut client = Client::start_in(scratch);
    let ids: Vec<String> = (0..24)
        .map(|i| {
            let submitted =
                client.call("job_submit", json!({"prompt": format!("job {i} @sleep:0.2"), "max_retries": 2}));
            structured(&submitted)["job_id"].as_str().unwrap().to_string()
        })
        .collect();
    let finished = |client: &mut Client| -> Vec<Value> {
        let listed = client.call("job_list", json!({"status": "succeeded", "limit": 100}));
        structured(&listed)["jobs"].as_array().unwrap().clone()
    };
    wait_until("a third of the jobs finishing", || finished(&mut client).len() >= 8);
    let before = finished(&mut client);

    let project = client.crash();
    let mut client = Client::start_in(project);
    let waited = client.call("job_wait", json!({"job_ids": ids, "timeout_s": 90}));
    let records = structured(&waited)["jobs"].as_array().unwrap();
    assert!(records.iter().all(|r| r["status"] == "succeeded"), "{waited}");
    for old in &before {
        let now = records.iter().find(|r| r["job_id"] == old["job_id"]).unwrap();
        assert_eq!((&now["attempts"], &now["finished_at_ms"]), (&old["attempts"], &old["finished_at_ms"]), "ran again");
        assert_eq!(now["history"].as_array().unwrap().len(), 1, "{now}");
    }
}

/// A tmpfs of `size` mounted at `dir` while it lives (root only).
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &std::path::Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status();
        status.is_ok_and(|s| s.success()).then(|| Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_stops_new_work_keeps_every_result_and_carries_on_when_space_returns() {
    let scratch = project_with(&[]);
    let state = scratch.path().join("state");
    let Some(_tmpfs) = Tmpfs::mount(&state, "2m") else {
        // Not root: the engine's unit test covers this with an injected failing store.
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    let mut client = Client::start_in(scratch);
    let ids: Vec<String> = (0..6)
        .map(|i| {
            let submitted =
                client.call("job_submit", json!({"prompt": format!("job {i} @sleep:1.5"), "max_retries": 0}));
            structured(&submitted)["job_id"].as_str().unwrap().to_string()
        })
        .collect();
    wait_until("jobs starting", || structured(&client.call("engine_stats", json!({})))["running"] == 4);

    // Fill the disk, the way a runaway log would.
    let filler = state.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let block = vec![0u8; 64 * 1024];
    while std::io::Write::write_all(&mut file, &block).is_ok() {}
    drop(file);
    wait_until("the store noticing", || {
        structured(&client.call("engine_stats", json!({})))["store"]["writable"] == false
    });
    let refused = client.request("tools/call", json!({"name": "job_submit", "arguments": {"prompt": "more"}}));
    assert!(error_text(&refused).contains("cannot be written"), "{refused}");
    // Jobs that finish meanwhile read as finished.
    let first = client.call("job_wait", json!({"job_ids": [ids[0]], "timeout_s": 60}));
    assert_eq!(structured(&first)["jobs"][0]["status"], "succeeded", "{first}");
    assert!(
        client.notifications.iter().any(|n| n["method"] == "notifications/message"
            && n["params"]["data"]["message"].as_str().is_some_and(|m| m.contains("cannot be written"))),
        "the client was told: {:?}",
        client.notifications
    );

    std::fs::remove_file(&filler).unwrap();
    let all = client.call("job_wait", json!({"job_ids": ids, "timeout_s": 90}));
    let records = structured(&all)["jobs"].as_array().unwrap();
    assert!(records.iter().all(|r| r["status"] == "succeeded" && r["attempts"] == 1), "{all}");
    assert_eq!(structured(&client.call("engine_stats", json!({})))["store"]["writable"], true);

    // What the store holds after a restart is what the clients saw.
    let project = client.crash();
    let mut client = Client::start_in(project);
    for id in &ids {
        let record = client.call("job_status", json!({"job_id": id}));
        assert_eq!(
            (&structured(&record)["status"], &structured(&record)["attempts"]),
            (&json!("succeeded"), &json!(1))
        );
    }
    let project = client.crash();
    drop(_tmpfs);
    drop(project);
}

/// The seeded protocol fuzzer: thousands of hostile messages (garbage,
/// truncated and oversized lines, wrong types, extreme numbers, deep nesting,
/// odd ids, stray notifications and responses, real jobs among them). The
/// server never exits, writes only JSON-RPC, answers every request that
/// carries an id a client can match, and works normally afterwards.
/// `cargo xtask fuzz` runs it longer (RINGMASTER_FUZZ_MESSAGES, _SEED).
#[test]
fn hostile_messages_never_take_the_server_down() {
    let env = |name: &str, default: u64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let (count, seed) = (env("RINGMASTER_FUZZ_MESSAGES", 5_000), env("RINGMASTER_FUZZ_SEED", 0x5eed));
    let mut client = Client::start();
    let mut hostile = support::hostile::Hostile::new(seed);
    let mut unanswered = std::collections::HashSet::new();
    let mut sent_lines = std::collections::HashMap::new();
    let (mut requests, mut replies) = (0, 0);
    let read = |line: String, unanswered: &mut std::collections::HashSet<String>, replies: &mut usize| {
        let message: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("stdout must be JSON-RPC: {line}"));
        assert_eq!(message["jsonrpc"], "2.0", "{line}");
        if message.get("result").is_some() || message.get("error").is_some() {
            *replies += 1;
            unanswered.remove(&message["id"].to_string());
        }
    };
    for _ in 0..count {
        let message = hostile.next();
        client.send_raw(&message.line);
        if let Some(id) = message.answer_id {
            requests += 1;
            unanswered.insert(id.to_string());
            sent_lines.insert(id.to_string(), message.line.clone());
        }
        while let Ok(line) = client.lines.try_recv() {
            read(line, &mut unanswered, &mut replies);
        }
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !unanswered.is_empty() {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match client.lines.recv_timeout(left) {
            Ok(line) => read(line, &mut unanswered, &mut replies),
            Err(_) => {
                let examples: Vec<String> =
                    unanswered.iter().take(8).map(|id| sent_lines[id].chars().take(300).collect()).collect();
                panic!("{} requests never answered, e.g.\n{}", unanswered.len(), examples.join("\n"))
            }
        }
    }
    assert!(alive(client.pid() as i32), "the server exited");
    // Every agent and hook it started was reaped (a zombie lingers only
    // between a child's exit and its reaping).
    let zombies = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("status")).ok())
            .filter(|status| status.contains("State:\tZ") && status.contains(&format!("PPid:\t{}\n", client.pid())))
            .count()
    };
    wait_until("every child of the server being reaped", || zombies() == 0);
    eprintln!(
        "fuzz: seed {seed}: {count} messages, {requests} requests with ids, {replies} replies, all answered, no zombie"
    );
    assert_eq!(client.request("ping", json!({}))["result"], json!({}));
    let run = client.call("job_run", json!({"prompt": "after the storm"}));
    assert_eq!(structured(&run)["status"], "succeeded", "{run}");
}
