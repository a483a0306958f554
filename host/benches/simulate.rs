//! `ringmaster simulate` speed: 10,000 jobs replayed through a plugin
//! scheduler (the goal: within 2 s on the 2-core test machine), with the
//! built-in policies as the baseline measured in the same run.
//!
//! Run with `cargo xtask bench` (builds the plugins first). Medians of 5.

use ringmaster::config::PluginsConfig;
use ringmaster::simulate::workload::Workload;
use ringmaster::simulate::{self, Policy};
use std::path::Path;
use std::time::{Duration, Instant};

const WORKLOAD: &str = "
seed: 11
tokens: 4
engine: { per-token-concurrency: 2, max-jobs-per-root: 1000, default-max-retries: 2 }
groups:
  - { name: batch, trees: 20, jobs-per-tree: 400, every-s: 600, spread-s: 300, duration: { median-s: 90, p95-s: 600 } }
  - { name: small, trees: 2000, every-s: 15, duration: { median-s: 30, p95-s: 120 } }
failure-rate: 0.03
hang-rate: 0.005
";

fn median(policy: &Policy, workload: &Workload) -> Duration {
    let jobs = workload.jobs();
    let mut times: Vec<Duration> = (0..5)
        .map(|_| {
            let started = Instant::now();
            let run = simulate::run(workload, &jobs, policy, &PluginsConfig::default(), None).unwrap();
            let elapsed = started.elapsed();
            assert_eq!(run.jobs.len(), 10_000);
            elapsed
        })
        .collect();
    times.sort();
    times[2]
}

fn main() {
    let workload: Workload = serde_yaml::from_str(WORKLOAD).unwrap();
    let fair_share = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plugins/fair-share.wasm");
    assert!(fair_share.is_file(), "{} missing: run `cargo xtask bench`", fair_share.display());
    let builtin = median(&Policy::Builtin, &workload);
    let plugin = median(&Policy::Plugin(fair_share), &workload);
    println!(
        "simulate: 10,000 jobs, median of 5: built-in {:.0} ms, fair-share.wasm {:.0} ms ({:.1}x; goal <= 2000 ms)",
        builtin.as_secs_f64() * 1000.0,
        plugin.as_secs_f64() * 1000.0,
        plugin.as_secs_f64() / builtin.as_secs_f64()
    );
}
