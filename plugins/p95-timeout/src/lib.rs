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

use ringmaster_plugin::timeout_estimator::{SimilarJobs, TimeoutEstimator, Timeouts};
use ringmaster_plugin::{JobInfo, Result, config};

struct P95Timeout;

impl TimeoutEstimator for P95Timeout {
    fn estimate(
        _job: JobInfo,
        similar: SimilarJobs,
        requested_ms: Option<u64>,
        fallback: Timeouts,
    ) -> Result<Timeouts> {
        let factor: f64 = config::get_or("factor", 2.0)?;
        let min_samples: u32 = config::get_or("min-samples", 5)?;
        let floor_ms = config::get_or::<u64>("floor-s", 60)? * 1000;
        let ceiling_ms = config::get_or::<u64>("ceiling-s", 3600)? * 1000;
        let idle_ms = config::get_or::<u64>("idle-s", 300)? * 1000;

        let hard_ms = match requested_ms {
            // The submitter knows best.
            Some(ms) => ms,
            None => match similar.most_specific_first().find(|h| h.count >= min_samples) {
                Some(h) => ((h.p95_ms as f64 * factor) as u64).clamp(floor_ms, ceiling_ms.max(floor_ms)),
                None => return Ok(fallback),
            },
        };
        Ok(Timeouts { hard_ms, idle_ms: idle_ms.min(hard_ms) })
    }
}

ringmaster_plugin::export_timeout_estimator!(P95Timeout);

#[cfg(test)]
mod tests {
    use super::*;
    use ringmaster_plugin::testing::{TestHost, job};
    use ringmaster_plugin::timeout_estimator::History;

    fn history(count: u32, p95_s: u64) -> History {
        History { count, p50_ms: p95_s * 500, p95_ms: p95_s * 1000, timeout_rate: 0.0 }
    }

    fn similar(by_tag: Vec<(String, History)>, overall: History) -> SimilarJobs {
        let none = history(0, 0);
        SimilarJobs { by_tag, by_agent: none, by_model: none, by_prompt_size: none, overall }
    }

    const FALLBACK: Timeouts = Timeouts { hard_ms: 1_800_000, idle_ms: 300_000 };

    #[test]
    fn the_most_specific_group_with_enough_history_decides() {
        let groups =
            similar(vec![("tiny".into(), history(2, 10)), ("review".into(), history(9, 100))], history(50, 900));
        let estimate = TestHost::new().run(|| P95Timeout::estimate(job("j"), groups, None, FALLBACK)).unwrap();
        assert_eq!(estimate, Timeouts { hard_ms: 200_000, idle_ms: 200_000 });
    }

    #[test]
    fn floor_ceiling_and_the_submitters_word() {
        let mut host = TestHost::new().config("ceiling-s", "1000");
        let long = similar(vec![], history(10, 900));
        assert_eq!(host.run(|| P95Timeout::estimate(job("j"), long, None, FALLBACK)).unwrap().hard_ms, 1_000_000);
        let short = similar(vec![], history(10, 1));
        assert_eq!(host.run(|| P95Timeout::estimate(job("j"), short, None, FALLBACK)).unwrap().hard_ms, 60_000);
        let any = similar(vec![], history(10, 1));
        assert_eq!(host.run(|| P95Timeout::estimate(job("j"), any, Some(5), FALLBACK)).unwrap().hard_ms, 5);
    }

    #[test]
    fn without_enough_history_the_host_decides() {
        let sparse = similar(vec![], history(4, 100));
        assert_eq!(TestHost::new().run(|| P95Timeout::estimate(job("j"), sparse, None, FALLBACK)).unwrap(), FALLBACK);
    }
}
