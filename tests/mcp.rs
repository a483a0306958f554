//! `ringmaster serve` over stdio, driven by a minimal JSON-RPC client: the
//! handshake, every job tool, progress, cancellation and bad input. Every
//! line the server writes on stdout must be JSON-RPC.

mod support;

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;

struct Client {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    next_id: u64,
    /// Notifications received so far.
    notifications: Vec<Value>,
    _scratch: tempfile::TempDir,
}

impl Client {
    fn start() -> Client {
        let scratch = tempfile::tempdir().unwrap();
        let config = format!(
            "engine: {{ max-concurrent: 2 }}\nagents:\n  claude: {{ command: '{}' }}\n",
            env!("CARGO_BIN_EXE_fake-claude")
        );
        std::fs::write(scratch.path().join("ringmaster.yaml"), config).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_ringmaster"))
            .arg("serve")
            .current_dir(scratch.path())
            .env("RINGMASTER_STATE_DIR", scratch.path().join("state"))
            .env_remove("RINGMASTER_CONFIG")
            .env_remove("RINGMASTER_JOB_ID")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut client = Client { child, stdin, lines, next_id: 1, notifications: Vec::new(), _scratch: scratch };
        let init = client.request(
            "initialize",
            json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}),
        );
        assert_eq!(init["result"]["serverInfo"]["name"], "ringmaster", "{init}");
        client.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        client
    }

    fn send(&mut self, message: Value) {
        writeln!(self.stdin, "{message}").unwrap();
        self.stdin.flush().unwrap();
    }

    fn send_raw(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Sends a request and returns its response; notifications that arrive
    /// meanwhile are kept in `notifications`.
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        self.response(id)
    }

    fn response(&mut self, id: u64) -> Value {
        loop {
            let line = self.lines.recv_timeout(support::WAIT).expect("the server answers within the bound");
            let message: Value =
                serde_json::from_str(&line).unwrap_or_else(|_| panic!("stdout must be JSON-RPC: {line}"));
            assert_eq!(message["jsonrpc"], "2.0", "{line}");
            if message.get("id") == Some(&json!(id)) && message.get("method").is_none() {
                return message;
            }
            if message.get("method").is_some() && message.get("id").is_none() {
                self.notifications.push(message);
            }
        }
    }

    fn call(&mut self, tool: &str, arguments: Value) -> Value {
        let response = self.request("tools/call", json!({"name": tool, "arguments": arguments}));
        response.get("result").cloned().unwrap_or_else(|| panic!("{tool} failed at protocol level: {response}"))
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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
