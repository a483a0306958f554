//! What a run is measured by, the same for every policy:
//!
//! * wait: from a job's arrival to its first start (p50, p95, max);
//! * makespan: from the first arrival to the last end;
//! * utilisation: agent time over the engine's concurrency times the makespan;
//! * fairness across trees and across tags: Jain's index of their service,
//!   a group's service being 1 / its jobs' mean slowdown, a job's slowdown
//!   (wait + agent time) / agent time. 1.0: every tree (tag) is served
//!   alike; 1/n: one is served and the others wait;
//! * jobs timed out, retries, agent time wasted in failed attempts, cost.

use super::Run;
use super::workload::{Job, Workload};
use crate::job::JobStatus;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub policy: String,
    pub jobs: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub timed_out: usize,
    /// Jobs that never started (refused at submission).
    pub never_started: usize,
    pub wait_p50_s: f64,
    pub wait_p95_s: f64,
    pub wait_max_s: f64,
    pub makespan_s: f64,
    /// 0 to 1.
    pub utilisation: f64,
    pub fairness_trees: f64,
    pub fairness_tags: f64,
    pub retries: u64,
    pub wasted_agent_s: f64,
    pub cost_usd: f64,
}

pub fn summarise(workload: &Workload, jobs: &[Job], run: &Run) -> Summary {
    let count = |status: JobStatus| run.jobs.iter().filter(|j| j.status == Some(status)).count();
    let mut waits: Vec<u64> =
        run.jobs.iter().filter_map(|j| j.started_ms.map(|started| started - j.arrived_ms)).collect();
    waits.sort_unstable();
    let first = run.jobs.iter().map(|j| j.arrived_ms).min().unwrap_or(0);
    let last = run.jobs.iter().filter_map(|j| j.ended_ms).max().unwrap_or(first);
    let makespan_ms = last - first;
    let agent_ms: u64 = run.jobs.iter().map(|j| j.agent_ms).sum();
    let busy_ms: u64 = run.busy.iter().map(|b| b.to_ms - b.from_ms).sum();
    let by_tree = |i: usize| jobs[jobs[i].root].id.clone();
    let by_tag = |i: usize| jobs[i].spec.tags.first().cloned().unwrap_or_else(|| "(untagged)".into());
    Summary {
        policy: run.policy.clone(),
        jobs: run.jobs.len(),
        succeeded: count(JobStatus::Succeeded),
        failed: count(JobStatus::Failed),
        timed_out: count(JobStatus::TimedOut),
        never_started: run.jobs.iter().filter(|j| j.started_ms.is_none()).count(),
        wait_p50_s: seconds(percentile(&waits, 0.50)),
        wait_p95_s: seconds(percentile(&waits, 0.95)),
        wait_max_s: seconds(waits.last().copied().unwrap_or(0)),
        makespan_s: seconds(makespan_ms),
        utilisation: if makespan_ms == 0 { 0.0 } else { busy_ms as f64 / (run.capacity as f64 * makespan_ms as f64) },
        fairness_trees: fairness(run, by_tree),
        fairness_tags: fairness(run, by_tag),
        retries: run.jobs.iter().map(|j| u64::from(j.attempts.saturating_sub(1))).sum(),
        wasted_agent_s: seconds(run.jobs.iter().map(|j| j.wasted_ms).sum()),
        cost_usd: agent_ms as f64 / 60_000.0 * workload.cost_per_agent_minute,
    }
}

fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// Nearest-rank percentile of sorted values (0 for none).
pub fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// Jain's index of the groups' service (see the module doc).
fn fairness(run: &Run, group_of: impl Fn(usize) -> String) -> f64 {
    let mut slowdowns: BTreeMap<String, (f64, u32)> = BTreeMap::new();
    for job in &run.jobs {
        let (Some(started), true) = (job.started_ms, job.agent_ms > 0) else { continue };
        let wait = (started - job.arrived_ms) as f64;
        let entry = slowdowns.entry(group_of(job.job)).or_default();
        entry.0 += (wait + job.agent_ms as f64) / job.agent_ms as f64;
        entry.1 += 1;
    }
    let service: Vec<f64> = slowdowns.values().map(|(sum, n)| *n as f64 / sum).collect();
    jain(&service)
}

/// Jain's fairness index: (sum x)^2 / (n sum x^2); 1 for none.
pub fn jain(values: &[f64]) -> f64 {
    let (sum, squares): (f64, f64) = values.iter().fold((0.0, 0.0), |(s, q), x| (s + x, q + x * x));
    if squares == 0.0 { 1.0 } else { sum * sum / (values.len() as f64 * squares) }
}

/// The summaries side by side, one column per policy.
pub fn table(summaries: &[Summary]) -> String {
    type Row = (&'static str, fn(&Summary) -> String);
    let rows: [Row; 15] = [
        ("jobs", |s| s.jobs.to_string()),
        ("succeeded", |s| s.succeeded.to_string()),
        ("failed", |s| s.failed.to_string()),
        ("timed out", |s| s.timed_out.to_string()),
        ("never started", |s| s.never_started.to_string()),
        ("wait p50", |s| format!("{:.1} s", s.wait_p50_s)),
        ("wait p95", |s| format!("{:.1} s", s.wait_p95_s)),
        ("wait max", |s| format!("{:.1} s", s.wait_max_s)),
        ("makespan", |s| format!("{:.1} s", s.makespan_s)),
        ("slot utilisation", |s| format!("{:.1}%", s.utilisation * 100.0)),
        ("fairness (trees)", |s| format!("{:.3}", s.fairness_trees)),
        ("fairness (tags)", |s| format!("{:.3}", s.fairness_tags)),
        ("retries", |s| s.retries.to_string()),
        ("wasted agent time", |s| format!("{:.1} s", s.wasted_agent_s)),
        ("cost", |s| format!("${:.2}", s.cost_usd)),
    ];
    let width = summaries.iter().map(|s| s.policy.len()).max().unwrap_or(0).max(12);
    let mut out = format!("{:<18}", "");
    for summary in summaries {
        out.push_str(&format!("  {:>width$}", summary.policy));
    }
    out.push('\n');
    for (name, cell) in rows {
        out.push_str(&format!("{name:<18}"));
        for summary in summaries {
            out.push_str(&format!("  {:>width$}", cell(summary)));
        }
        out.push('\n');
    }
    out
}
