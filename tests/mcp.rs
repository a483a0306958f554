//! `ringmaster serve` over stdio, driven by a minimal JSON-RPC client: the
//! handshake, every job tool, progress, cancellation and bad input. Every
//! line the server writes on stdout must be JSON-RPC.

mod support;

use serde_json::{Value, json};
use support::mcp_client::Client;

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
    for expected in [
        "job_submit",
        "job_submit_batch",
        "job_run",
        "job_status",
        "job_wait",
        "job_result",
        "job_output",
        "job_list",
        "job_cancel",
        "engine_stats",
        "plugin_list",
    ] {
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
