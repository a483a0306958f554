//! Durations of finished jobs, grouped the way the timeout estimator asks:
//! by tag, agent, model and prompt-size bucket. Kept in memory, bounded per group.

use crate::contract::{History, SimilarJobs};
use std::collections::{HashMap, VecDeque};

/// Finished jobs remembered per group.
const PER_GROUP: usize = 500;

#[derive(Debug, Default)]
struct Group {
    /// (duration of a job that did not time out, or None for a timeout),
    /// oldest first.
    runs: VecDeque<Option<u64>>,
    /// The durations in `runs`, sorted, so that percentiles cost nothing
    /// (the estimator asks for them at every start).
    sorted: Vec<u64>,
    timeouts: usize,
}

impl Group {
    fn record(&mut self, duration_ms: Option<u64>) {
        if self.runs.len() == PER_GROUP {
            match self.runs.pop_front().flatten() {
                Some(oldest) => {
                    let at = self.sorted.binary_search(&oldest).expect("every duration is in `sorted`");
                    self.sorted.remove(at);
                }
                None => self.timeouts -= 1,
            }
        }
        self.runs.push_back(duration_ms);
        match duration_ms {
            Some(ms) => self.sorted.insert(self.sorted.partition_point(|&d| d <= ms), ms),
            None => self.timeouts += 1,
        }
    }

    fn history(&self) -> History {
        let done = &self.sorted;
        let at = |q: f64| done.get(((done.len().saturating_sub(1)) as f64 * q).round() as usize).copied().unwrap_or(0);
        History {
            count: self.runs.len() as u32,
            p50_ms: at(0.5),
            p95_ms: at(0.95),
            timeout_rate: if self.runs.is_empty() { 0.0 } else { self.timeouts as f32 / self.runs.len() as f32 },
        }
    }
}

/// What the engine knows about a finished job, for grouping.
pub struct Finished<'a> {
    pub tags: &'a [String],
    pub agent: &'a str,
    pub model: Option<&'a str>,
    pub prompt_bytes: usize,
    /// `None` when it timed out.
    pub duration_ms: Option<u64>,
}

#[derive(Debug, Default)]
pub struct Durations {
    groups: HashMap<String, Group>,
}

fn size_bucket(bytes: usize) -> u32 {
    usize::BITS - bytes.leading_zeros()
}

impl Durations {
    pub fn record(&mut self, job: Finished<'_>) {
        let mut keys = vec![
            "all".to_string(),
            format!("agent:{}", job.agent),
            format!("model:{}", job.model.unwrap_or("")),
            format!("size:{}", size_bucket(job.prompt_bytes)),
        ];
        keys.extend(job.tags.iter().map(|t| format!("tag:{t}")));
        for key in keys {
            self.groups.entry(key).or_default().record(job.duration_ms);
        }
    }

    fn group(&self, key: &str) -> History {
        self.groups.get(key).map(Group::history).unwrap_or(History {
            count: 0,
            p50_ms: 0,
            p95_ms: 0,
            timeout_rate: 0.0,
        })
    }

    /// Every finished job's figures.
    pub fn overall(&self) -> History {
        self.group("all")
    }

    pub fn similar(&self, tags: &[String], agent: &str, model: Option<&str>, prompt_bytes: usize) -> SimilarJobs {
        let get = |key: String| self.group(&key);
        SimilarJobs {
            by_tag: tags.iter().map(|t| (t.clone(), get(format!("tag:{t}")))).collect(),
            by_agent: get(format!("agent:{agent}")),
            by_model: get(format!("model:{}", model.unwrap_or(""))),
            by_prompt_size: get(format!("size:{}", size_bucket(prompt_bytes))),
            overall: get("all".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_report_counts_percentiles_and_timeout_rate() {
        let mut durations = Durations::default();
        let tags = vec!["build".to_string()];
        for ms in 1..=100 {
            let duration_ms = if ms % 10 == 0 { None } else { Some(ms) };
            durations.record(Finished { tags: &tags, agent: "claude", model: None, prompt_bytes: 300, duration_ms });
        }
        let similar = durations.similar(&tags, "claude", None, 400);
        let build = similar.by_tag[0].1;
        assert_eq!(build.count, 100);
        assert_eq!(build.p50_ms, 51, "median of the 90 runs that did not time out");
        assert!((build.timeout_rate - 0.1).abs() < 1e-6);
        assert_eq!(similar.by_prompt_size.count, 100, "300 and 400 bytes share a bucket");
        assert_eq!(durations.similar(&[], "other", None, 5000).by_agent.count, 0);
    }

    #[test]
    fn a_group_remembers_only_its_latest_runs() {
        let mut durations = Durations::default();
        let run = |duration_ms| Finished { tags: &[], agent: "claude", model: None, prompt_bytes: 1, duration_ms };
        // Slow runs and timeouts first, then as many fast ones as are remembered.
        for i in 0..PER_GROUP as u64 {
            durations.record(run(if i % 2 == 0 { None } else { Some(60_000 + i) }));
        }
        assert!((durations.overall().timeout_rate - 0.5).abs() < 1e-6);
        for ms in 0..PER_GROUP as u64 {
            durations.record(run(Some(ms)));
        }
        let overall = durations.overall();
        assert_eq!((overall.count, overall.timeout_rate), (PER_GROUP as u32, 0.0));
        assert_eq!(overall.p50_ms, 250, "the slow runs are forgotten");
        assert_eq!(overall.p95_ms, 474);
    }
}
