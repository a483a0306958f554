//! MCP benchmark: round trips over stdio to `ringmaster serve` for
//! `job_status` and `job_submit`, against an MCP `ping` as the baseline, and
//! 1,000 `job_submit` calls sent back to back.
//!
//! Run with `cargo xtask bench`.

#[allow(dead_code)] // shared with the tests, which use all of it
#[path = "../../tests/support/mcp_client.rs"]
mod mcp_client;

use mcp_client::Client;
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
}
