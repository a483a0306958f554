//! The directives that call back into ringmaster, as an agent inside a job
//! does: sub-jobs through the root engine (`@spawn`), requests it must
//! refuse (`@forge`, `@cancel`, `@control`), and ringmaster as the agent's
//! own MCP server (`@mcp`).

use ringmaster::job::JobSpec;
use ringmaster::remote::client::Client;
use serde_json::{Value, json};
use std::io::Write;

/// `@spawn:N`: N sub-jobs through the root engine, each with this prompt
/// minus this directive; waits for them. Returns the line for the result.
pub fn spawn(prompt: &str, n: usize) -> Result<String, String> {
    let directive = prompt.split_whitespace().find(|w| w.starts_with("@spawn:")).expect("present");
    let child_prompt = prompt.replacen(directive, "", 1).trim().to_string();
    let child_prompt = if child_prompt.is_empty() { "sub-task".to_string() } else { child_prompt };
    let mut engine = Client::from_env(None, None).map_err(|e| e.to_string())?;
    let mut ids = Vec::new();
    for i in 0..n {
        let spec =
            JobSpec { prompt: format!("{child_prompt} (part {})", i + 1), max_retries: Some(0), ..JobSpec::default() };
        match engine.submit(spec) {
            Ok(record) => ids.push(record.job_id),
            Err(err) => {
                // Let the ones that started finish: the tree stays tidy.
                let _ = engine.wait_all(&ids, None);
                return Err(format!("spawned {ids:?}, then the engine refused part {}: {err}", i + 1));
            }
        }
    }
    let records = engine.wait_all(&ids, None).map_err(|e| e.to_string())?;
    let listed: Vec<String> = records.iter().map(|r| format!("{}={}", r.job_id, r.status.as_str())).collect();
    Ok(format!("spawned {}", listed.join(",")))
}

/// `@forge:JOB`: a sub-job naming JOB as its parent, through the root
/// engine with this job's token; `@forge:bare`, a job through a connection
/// that presents no token.
pub fn forge(parent: &str) -> String {
    let spec = |parent: Option<&str>| JobSpec {
        prompt: "forged".into(),
        parent_job_id: parent.map(String::from),
        ..JobSpec::default()
    };
    let answer = match parent {
        "bare" => {
            let socket = std::env::var("RINGMASTER_SOCKET").unwrap_or_default();
            Client::connect(std::path::Path::new(&socket), None).and_then(|mut engine| engine.submit(spec(None)))
        }
        parent => Client::from_env(None, None).and_then(|mut engine| engine.submit(spec(Some(parent)))),
    };
    match answer {
        Ok(record) => format!("accepted {} at depth {}", record.job_id, record.depth),
        Err(err) => format!("refused: {err}"),
    }
}

/// `@cancel:JOB`: cancels JOB through the root engine.
pub fn cancel(job: &str) -> String {
    match Client::from_env(None, None).and_then(|mut engine| engine.cancel(job)) {
        Ok(cancelled) => format!("cancelled {}", cancelled.record.job_id),
        Err(err) => format!("refused: {err}"),
    }
}

/// `@control:engine|stop|plugin`: asks the root engine for its status, to
/// stop, or for a plugin's state: what only a process outside jobs may do.
pub fn control(what: &str) -> String {
    let answer = Client::from_env(None, None).and_then(|mut engine| match what {
        "engine" => engine.engine().map(|status| format!("pid {}", status.pid)),
        "stop" => engine.stop(false),
        _ => engine.plugin(what, None, std::time::Duration::ZERO).map(|state| format!("{state:?}")),
    });
    match answer {
        Ok(said) => format!("answered: {said}"),
        Err(err) => format!("refused: {err}"),
    }
}

/// `@mcp:TOOL`: the MCP server of `--mcp-config`, started and spoken to as
/// Claude Code does; the tool's structured result.
pub fn call_mcp(mcp_config: Option<&str>, tool: &str, prompt: &str) -> Result<String, String> {
    use std::io::BufRead;
    let config: Value = serde_json::from_str(mcp_config.ok_or("no --mcp-config")?).map_err(|e| e.to_string())?;
    let server = &config["mcpServers"]["ringmaster"];
    let command = server["command"].as_str().ok_or("no command")?;
    let server_args: Vec<&str> = server["args"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let mut child = std::process::Command::new(command)
        .args(server_args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut stdin = child.stdin.take().expect("piped");
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("piped")).lines();
    let arguments = match tool {
        "job_run" | "job_submit" => {
            let rest: Vec<&str> = prompt.split_whitespace().filter(|w| !w.starts_with('@')).collect();
            json!({ "prompt": rest.join(" ") })
        }
        _ => json!({}),
    };
    let messages = [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25",
            "capabilities": {}, "clientInfo": {"name": "fake-claude", "version": "1"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}),
    ];
    for message in messages {
        writeln!(stdin, "{message}").map_err(|e| e.to_string())?;
    }
    let answer = lines
        .by_ref()
        .map_while(Result::ok)
        .filter_map(|line| serde_json::from_str::<Value>(&line).ok())
        .find(|message| message["id"] == 2)
        .ok_or("the server closed without answering")?;
    drop(stdin);
    let _ = child.wait();
    let result = &answer["result"];
    Ok(match result.get("structuredContent") {
        Some(content) => content.to_string(),
        None => result["content"][0]["text"].as_str().map_or_else(|| answer.to_string(), String::from),
    })
}
