//! {{name}}: a ringmaster timeout estimator. It decides how long the next
//! attempt of a job may run, and how long it may stay silent.

use ringmaster_plugin::timeout_estimator::{SimilarJobs, TimeoutEstimator, Timeouts};
use ringmaster_plugin::{JobInfo, Result, config};

struct {{Type}};

impl TimeoutEstimator for {{Type}} {
    /// Twice (`factor`) the slowest typical run of the most similar jobs,
    /// once there are `min-samples` of them; the host's answer before that.
    fn estimate(_job: JobInfo, similar: SimilarJobs, requested_ms: Option<u64>, fallback: Timeouts) -> Result<Timeouts> {
        if requested_ms.is_some() {
            return Ok(fallback);
        }
        let factor: f64 = config::get_or("factor", 2.0)?;
        let min_samples: u32 = config::get_or("min-samples", 5)?;
        Ok(match similar.most_specific_first().find(|group| group.count >= min_samples) {
            Some(group) => {
                let hard_ms = (group.p95_ms as f64 * factor) as u64;
                Timeouts { hard_ms, idle_ms: fallback.idle_ms.min(hard_ms) }
            }
            None => fallback,
        })
    }
}

ringmaster_plugin::export_timeout_estimator!({{Type}});

#[cfg(test)]
mod tests {
    use super::*;
    use ringmaster_plugin::testing::{TestHost, job};
    use ringmaster_plugin::timeout_estimator::History;

    #[test]
    fn enough_history_sets_the_limit() {
        let history = |count| History { count, p50_ms: 1_000, p95_ms: 10_000, timeout_rate: 0.0 };
        let similar = SimilarJobs {
            by_tag: vec![],
            by_agent: history(9),
            by_model: history(0),
            by_prompt_size: history(0),
            overall: history(9),
        };
        let fallback = Timeouts { hard_ms: 600_000, idle_ms: 60_000 };
        let mut host = TestHost::new().config("factor", "3");
        let estimate = host.run(|| {{Type}}::estimate(job("j"), similar, None, fallback)).unwrap();
        assert_eq!(estimate, Timeouts { hard_ms: 30_000, idle_ms: 30_000 });
    }
}
