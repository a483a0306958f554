//! Fair-share scheduler: honours priority, and within a priority shares the
//! free capacity evenly between root jobs, so one big tree of sub-jobs cannot
//! starve everyone else's work.
//!
//! Config (manifest `config:`):
//! * `max-per-root` — never run more than this many jobs of one tree at once
//!   (default: no cap beyond the host's limits).

use ringmaster_plugin::scheduler::{Assignment, FreeSlots, ScheduleInput, Scheduler};
use ringmaster_plugin::{Result, config, log};
use std::collections::HashMap;

struct FairShare;

/// `rank` stays the default (priority; the host breaks ties by submission
/// time, which keeps each priority level first-in first-out).
impl Scheduler for FairShare {
    fn select(input: ScheduleInput) -> Result<Vec<Assignment>> {
        let max_per_root: Option<u32> = config::get("max-per-root")?;
        let mut running: HashMap<&str, u32> = input.roots.iter().map(|r| (r.root_id.as_str(), r.running)).collect();
        let mut slots = FreeSlots::new(&input.slots);
        // Candidates arrive best-ranked first; their position breaks ties.
        let mut pending: Vec<_> = input.candidates.iter().enumerate().collect();
        let mut chosen = Vec::new();

        while (chosen.len() as u32) < input.capacity && !pending.is_empty() {
            // Highest priority first; within it, the tree running the fewest
            // jobs; then the host's order (rank, then submission time).
            let (pos, &(_, candidate)) = pending
                .iter()
                .enumerate()
                .min_by_key(|(_, (order, c))| {
                    let load = running.get(c.job.root_id.as_str()).copied().unwrap_or(0);
                    (-(c.job.priority as i64), load, *order)
                })
                .expect("pending is not empty");
            pending.remove(pos);

            let load = running.entry(candidate.job.root_id.as_str()).or_insert(0);
            if max_per_root.is_some_and(|cap| *load >= cap) {
                continue;
            }
            let Some(slot) = slots.take() else { break };
            *load += 1;
            chosen.push(Assignment { job_id: candidate.job.id.clone(), slot });
        }
        if !chosen.is_empty() {
            log::debug("fair-share selected jobs", &[("started", &chosen.len()), ("queued", &input.queued_total)]);
        }
        Ok(chosen)
    }
}

ringmaster_plugin::export_scheduler!(FairShare);

#[cfg(test)]
mod tests {
    use super::*;
    use ringmaster_plugin::testing::{TestHost, candidate, job, schedule_input, slot};

    /// Candidates `ids`, each of tree `root`.
    fn tree(root: &str, ids: &[&str]) -> Vec<ringmaster_plugin::scheduler::Candidate> {
        ids.iter().map(|id| candidate(ringmaster_plugin::JobInfo { root_id: root.into(), ..job(id) })).collect()
    }

    fn started(host: &mut TestHost, input: ScheduleInput) -> Vec<String> {
        host.run(|| FairShare::select(input)).unwrap().into_iter().map(|a| a.job_id).collect()
    }

    #[test]
    fn a_big_tree_shares_the_slots_with_a_small_one() {
        let mut candidates = tree("big", &["b1", "b2", "b3"]);
        candidates.extend(tree("small", &["s1"]));
        let input = schedule_input(candidates, vec![slot(0, 1), slot(1, 1)]);
        assert_eq!(started(&mut TestHost::new(), input), ["b1", "s1"]);
    }

    #[test]
    fn priority_comes_before_fairness() {
        let mut candidates = tree("big", &["b1", "b2"]);
        candidates[1].job.priority = 5;
        candidates.extend(tree("small", &["s1"]));
        let input = schedule_input(candidates, vec![slot(0, 1)]);
        assert_eq!(started(&mut TestHost::new(), input), ["b2"]);
    }

    #[test]
    fn max_per_root_caps_a_tree_counting_what_already_runs() {
        let mut input = schedule_input(tree("big", &["b1", "b2", "b3"]), vec![slot(0, 4)]);
        input.roots = vec![ringmaster_plugin::scheduler::RootLoad { root_id: "big".into(), running: 1 }];
        let mut host = TestHost::new().config("max-per-root", "2");
        assert_eq!(started(&mut host, input), ["b1"]);
        assert_eq!(host.logs()[0].field("started"), Some("1"));
    }

    #[test]
    fn a_bad_cap_is_an_error_naming_the_key() {
        let input = schedule_input(tree("big", &["b1"]), vec![slot(0, 1)]);
        let mut host = TestHost::new().config("max-per-root", "eight");
        let error = host.run(|| FairShare::select(input)).unwrap_err();
        assert!(error.to_string().starts_with("config key `max-per-root`: \"eight\""), "{error}");
    }
}
