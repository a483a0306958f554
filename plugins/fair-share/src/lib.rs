//! Fair-share scheduler: honours priority, and within a priority shares the
//! free capacity evenly between root jobs, so one big tree of sub-jobs cannot
//! starve everyone else's work.
//!
//! Config (manifest `config:`):
//! * `max-per-root` — never run more than this many jobs of one tree at once
//!   (default: no cap beyond the host's limits).

wit_bindgen::generate!({ path: "../../wit", world: "scheduler-plugin" });

use exports::ringmaster::plugin::scheduler::{Assignment, Guest, JobInfo, ScheduleInput};
use ringmaster::plugin::host;
use std::collections::HashMap;

struct FairShare;

impl Guest for FairShare {
    /// Priority alone decides the rank; the host breaks ties by submission
    /// time, which keeps each priority level first-in first-out.
    fn rank(jobs: Vec<JobInfo>) -> Vec<i64> {
        jobs.iter().map(|job| i64::from(job.priority)).collect()
    }

    fn select(input: ScheduleInput) -> Vec<Assignment> {
        let max_per_root = host::config_get("max-per-root").and_then(|v| v.parse::<u32>().ok());
        let mut running: HashMap<&str, u32> = input.roots.iter().map(|r| (r.root_id.as_str(), r.running)).collect();
        let mut free: Vec<(u32, u32)> = input
            .slots
            .iter()
            .filter(|s| s.free > 0 && s.cooling_until_ms.is_none())
            .map(|s| (s.index, s.free))
            .collect();
        // Candidates arrive best-ranked first; their position breaks ties.
        let mut pending: Vec<_> = input.candidates.iter().enumerate().collect();
        let mut chosen = Vec::new();

        while (chosen.len() as u32) < input.capacity && !pending.is_empty() {
            // Highest priority first; within it, the tree running the fewest
            // jobs; then the host's order (rank, then submission time).
            let (pos, &(_, job)) = pending
                .iter()
                .enumerate()
                .min_by_key(|(_, (order, c))| {
                    let load = running.get(c.job.root_id.as_str()).copied().unwrap_or(0);
                    (-(c.job.priority as i64), load, *order)
                })
                .expect("pending is not empty");
            pending.remove(pos);

            let load = running.entry(job.job.root_id.as_str()).or_insert(0);
            if max_per_root.is_some_and(|cap| *load >= cap) {
                continue;
            }
            // The slot with the most room (the lowest index on a tie) spreads
            // load over the accounts.
            let Some(slot) =
                free.iter_mut().filter(|(_, n)| *n > 0).max_by_key(|(index, n)| (*n, std::cmp::Reverse(*index)))
            else {
                break;
            };
            slot.1 -= 1;
            *load += 1;
            chosen.push(Assignment { job_id: job.job.id.clone(), slot: slot.0 });
        }
        if !chosen.is_empty() {
            host::log(
                host::Level::Debug,
                "fair-share selected jobs",
                &[("started".into(), chosen.len().to_string()), ("queued".into(), input.queued_total.to_string())],
            );
        }
        chosen
    }
}

export!(FairShare);
