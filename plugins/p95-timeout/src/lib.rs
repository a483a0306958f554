//! Timeout estimator: the 95th percentile run time of the most similar past
//! jobs, times a safety factor, kept between a floor and a ceiling.
//!
//! "Most similar" is the first group with enough history, in this order: the
//! job's tags (in the order given), its model, its agent, its prompt size,
//! then all jobs. Without enough history anywhere it keeps the host's answer.
//!
//! Config: `factor` (default 2.0), `min-samples` (5), `floor-s` (60),
//! `ceiling-s` (3600), `idle-s` (300, the no-output limit; never above the
//! hard limit).

wit_bindgen::generate!({ path: "../../wit", world: "timeout-estimator-plugin" });

use exports::ringmaster::plugin::timeout_estimator::{Guest, History, JobInfo, SimilarJobs, Timeouts};
use ringmaster::plugin::host;

struct P95Timeout;

fn config<T: std::str::FromStr>(key: &str, default: T) -> T {
    host::config_get(key).and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

impl Guest for P95Timeout {
    fn estimate(_job: JobInfo, similar: SimilarJobs, requested_ms: Option<u64>, fallback: Timeouts) -> Timeouts {
        let factor: f64 = config("factor", 2.0);
        let min_samples: u32 = config("min-samples", 5);
        let floor_ms = config::<u64>("floor-s", 60) * 1000;
        let ceiling_ms = config::<u64>("ceiling-s", 3600) * 1000;
        let idle_ms = config::<u64>("idle-s", 300) * 1000;

        let hard_ms = match requested_ms {
            // The submitter knows best.
            Some(ms) => ms,
            None => {
                let groups = similar.by_tag.iter().map(|(_, h)| h).chain([
                    &similar.by_model,
                    &similar.by_agent,
                    &similar.by_prompt_size,
                    &similar.overall,
                ]);
                match groups.into_iter().find(|h: &&History| h.count >= min_samples) {
                    Some(h) => ((h.p95_ms as f64 * factor) as u64).clamp(floor_ms, ceiling_ms.max(floor_ms)),
                    None => return fallback,
                }
            }
        };
        Timeouts { hard_ms, idle_ms: idle_ms.min(hard_ms) }
    }
}

export!(P95Timeout);
