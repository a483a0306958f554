//! MCP benchmark: round trips over stdio to `ringmaster serve --embedded`
//! for `job_status` and `job_submit`, against an MCP `ping` as the baseline,
//! and 1,000 `job_submit` calls sent back to back; then `serve` as a
//! front-end to an engine process: `job_status` through it against the
//! embedded one, the first `initialize` and the first tool call in a
//! project with no engine running, and the idle engine's memory.
//!
//! Run with `cargo xtask bench`.

#[allow(dead_code)] // shared with the tests, which use all of it
#[path = "../../tests/support/mcp_client.rs"]
mod mcp_client;

use mcp_client::{Client, stop_engine};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn summary(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    (at(0.5), at(0.99))
}

fn measure(n: usize, mut f: impl FnMut()) -> (f64, f64) {
    for _ in 0..n / 10 {
        f();
    }
    summary(
        (0..n)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .collect(),
    )
}

fn main() {
    println!("ringmaster MCP benchmark ({} build)", if cfg!(debug_assertions) { "debug" } else { "release" });
    let mut client = Client::start();
    let ping = measure(1000, || {
        client.request("ping", json!({}));
    });
    let id = client.call("job_submit", json!({"prompt": "benchmark job"}))["structuredContent"]["job_id"].clone();
    let status = measure(1000, || {
        client.call("job_status", json!({"job_id": id}));
    });
    let submit = measure(500, || {
        client.call("job_submit", json!({"prompt": "benchmark job", "tags": ["bench"]}));
    });
    println!("\nround trip over stdio (p50 / p99)");
    println!("  baseline: ping        {:>7.3} ms / {:>7.3} ms", ping.0, ping.1);
    println!("  job_status            {:>7.3} ms / {:>7.3} ms  ({:.1}x ping)", status.0, status.1, status.0 / ping.0);
    println!("  job_submit            {:>7.3} ms / {:>7.3} ms  ({:.1}x ping)", submit.0, submit.1, submit.0 / ping.0);

    // 1,000 submissions written back to back, then all responses read.
    let first = client.next_id;
    let started = Instant::now();
    for i in 0..1000u64 {
        client.send(json!({"jsonrpc": "2.0", "id": first + i, "method": "tools/call",
                           "params": {"name": "job_submit", "arguments": {"prompt": format!("burst {i}")}}}));
    }
    let mut answered = 0;
    while answered < 1000 {
        let line = client.lines.recv_timeout(Duration::from_secs(60)).expect("responses keep coming");
        let message: Value = serde_json::from_str(&line).expect("JSON-RPC");
        if message.get("id").and_then(Value::as_u64).is_some_and(|id| id >= first) {
            assert!(message["result"]["isError"] != true, "{message}");
            answered += 1;
        }
    }
    let elapsed = started.elapsed();
    client.next_id += 1000;
    println!("\n1,000 job_submit calls back to back");
    println!("  total {:.2} s, {:.0} submissions/s", elapsed.as_secs_f64(), 1000.0 / elapsed.as_secs_f64());
    drop(client);
    front_end();
}

/// A scratch project whose agent is fake-claude, for front-ends.
fn scratch_project() -> tempfile::TempDir {
    let scratch = tempfile::tempdir().unwrap();
    let config = format!(
        "engine: {{ max-concurrent: 2 }}\nagents:\n  claude: {{ command: '{}' }}\n",
        env!("CARGO_BIN_EXE_fake-claude")
    );
    std::fs::write(scratch.path().join("ringmaster.yaml"), config).unwrap();
    scratch
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn front_end() {
    // job_status through a front-end and embedded, in alternating rounds.
    let project = scratch_project();
    let mut front = Client::front_end(project.path());
    let mut embedded = Client::start();
    let front_id = front.call("job_submit", json!({"prompt": "benchmark job"}))["structuredContent"]["job_id"].clone();
    let embedded_id =
        embedded.call("job_submit", json!({"prompt": "benchmark job"}))["structuredContent"]["job_id"].clone();
    let (mut through, mut direct) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        through.push(measure(400, || {
            front.call("job_status", json!({"job_id": front_id}));
        }));
        direct.push(measure(400, || {
            embedded.call("job_status", json!({"job_id": embedded_id}));
        }));
    }
    let p50 = |runs: &[(f64, f64)]| median(runs.iter().map(|r| r.0).collect());
    let p99 = |runs: &[(f64, f64)]| median(runs.iter().map(|r| r.1).collect());
    println!("\njob_status through a front-end vs --embedded (medians of 5 rounds of 400; p50 / p99)");
    println!("  --embedded            {:>7.3} ms / {:>7.3} ms", p50(&direct), p99(&direct));
    println!(
        "  front-end             {:>7.3} ms / {:>7.3} ms  ({:.2}x embedded; goal <= 1.5x)",
        p50(&through),
        p99(&through),
        p50(&through) / p50(&direct)
    );
    let engine = engine_pid(project.path());
    let rss = std::fs::read_to_string(format!("/proc/{engine}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(String::from))
        .unwrap_or_default();
    drop(front);
    stop_engine(project.path());

    // A project with no engine running: the first answers.
    let (mut initialized, mut first_call) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let project = scratch_project();
        let started = Instant::now();
        let mut client = Client::front_end(project.path());
        initialized.push(started.elapsed().as_secs_f64() * 1e3);
        client.call("job_list", json!({}));
        first_call.push(started.elapsed().as_secs_f64() * 1e3);
        drop(client);
        stop_engine(project.path());
    }
    println!("\nno engine running (medians of 5, from starting `ringmaster serve`)");
    println!("  initialize answered   {:>7.1} ms  (goal <= 50 ms)", median(initialized));
    println!("  first tool call       {:>7.1} ms  (goal <= 500 ms, the engine's start included)", median(first_call));
    println!(
        "\nengine process, idle after the rounds above: {}",
        rss.split_whitespace().skip(1).collect::<Vec<_>>().join(" ")
    );
}

fn engine_pid(project: &std::path::Path) -> u32 {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ringmaster"))
        .args(["engine", "status", "--json", "--state"])
        .arg(project.join("state"))
        .output()
        .unwrap();
    let status: Value = serde_json::from_slice(&out.stdout).expect("an engine runs");
    status["pid"].as_u64().unwrap() as u32
}
