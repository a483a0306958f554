//! A generated workload: a small YAML spec of groups of job trees (when
//! they arrive, how big, how long their jobs run, how often attempts fail,
//! hang or hit a rate limit), expanded, seeded, into the same jobs and the
//! same attempt outcomes for every policy compared.
//!
//! ```yaml
//! seed: 7
//! tokens: 2
//! engine: { max-concurrent: 4, default-max-retries: 2 }   # ringmaster.yaml's `engine:`
//! groups:
//!   - name: batch          # one tree of 40 jobs at once
//!     trees: 1
//!     jobs-per-tree: 40
//!     duration: { median-s: 120, p95-s: 300 }
//!   - name: interactive    # ten single jobs, one a minute from 10 s on
//!     trees: 10
//!     start-s: 10
//!     every-s: 60
//!     tags: [interactive]
//!     priority: 0
//!     duration: { median-s: 30, p95-s: 60 }
//! failure-rate: 0.05       # attempts that end in an agent error
//! hang-rate: 0.01          # attempts that never finish (they end at their timeout)
//! rate-limit-rate: 0.0     # attempts stopped by their token's rate limit
//! cost-per-agent-minute: 0.10
//! ```

use crate::config::{Config, EngineConfig};
use crate::contract::FailureKind;
use crate::engine::replay::Ending;
use crate::job::JobSpec;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use std::path::Path;

/// The most jobs a workload may expand to.
pub const MAX_JOBS: usize = 1_000_000;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Workload {
    #[serde(default)]
    pub seed: u64,
    /// Token slots (accounts) the agents run under.
    #[serde(default = "one")]
    pub tokens: usize,
    /// The engine's limits, as `engine:` in `ringmaster.yaml`.
    #[serde(default)]
    pub engine: EngineConfig,
    pub groups: Vec<Group>,
    #[serde(default)]
    pub failure_rate: f64,
    #[serde(default)]
    pub hang_rate: f64,
    #[serde(default)]
    pub rate_limit_rate: f64,
    #[serde(default)]
    pub cost_per_agent_minute: f64,
}

fn one() -> usize {
    1
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Group {
    pub name: String,
    #[serde(default = "one")]
    pub trees: usize,
    /// The root and its sub-jobs.
    #[serde(default = "one")]
    pub jobs_per_tree: usize,
    /// When the first tree arrives, and the time between trees (seconds).
    #[serde(default)]
    pub start_s: f64,
    #[serde(default)]
    pub every_s: f64,
    /// Sub-jobs arrive spread evenly over this long after their root.
    #[serde(default)]
    pub spread_s: f64,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub priority: i32,
    pub duration: Duration,
}

/// Run times: log-normal with this median and 95th percentile (equal: fixed).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Duration {
    pub median_s: f64,
    pub p95_s: f64,
}

/// One job of the expanded workload.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    pub group: usize,
    /// Index of its tree's root in the job list (itself for a root).
    pub root: usize,
    pub arrives_ms: u64,
    pub spec: JobSpec,
    /// What each attempt does, first attempt first (enough for every retry).
    pub attempts: Vec<Attempt>,
}

/// What one attempt does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Attempt {
    /// How long it runs before it ends (`None`: never; it times out).
    pub runs_ms: Option<u64>,
    pub ending: Ending,
}

impl Workload {
    /// Reads and checks a workload file.
    pub fn load(path: &Path) -> anyhow::Result<Workload> {
        let text =
            crate::untrusted::read_text(path, None, 1 << 20).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let workload: Workload = serde_yaml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        workload.check().map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(workload)
    }

    fn check(&self) -> Result<(), String> {
        Config { engine: self.engine.clone(), ..Config::default() }.validate()?;
        if !(1..=64).contains(&self.tokens) {
            return Err(format!("tokens: {} is outside 1..=64", self.tokens));
        }
        for (name, rate) in [
            ("failure-rate", self.failure_rate),
            ("hang-rate", self.hang_rate),
            ("rate-limit-rate", self.rate_limit_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name}: {rate} is outside 0..=1"));
            }
        }
        if self.failure_rate + self.hang_rate + self.rate_limit_rate > 1.0 {
            return Err("failure-rate + hang-rate + rate-limit-rate exceed 1".into());
        }
        if !(0.0..=1e6).contains(&self.cost_per_agent_minute) {
            return Err("cost-per-agent-minute: must be between 0 and 1000000".into());
        }
        if self.groups.is_empty() {
            return Err("groups: at least one is needed".into());
        }
        let mut total = 0usize;
        for group in &self.groups {
            let name = &group.name;
            let d = group.duration;
            let seconds = [group.start_s, group.every_s, group.spread_s, d.median_s, d.p95_s];
            if seconds.iter().any(|s| !s.is_finite() || *s < 0.0 || *s > 1e8) {
                return Err(format!("group {name}: times must be between 0 and 100,000,000 seconds"));
            }
            if d.median_s <= 0.0 || d.p95_s < d.median_s {
                return Err(format!("group {name}: duration needs 0 < median-s <= p95-s"));
            }
            if group.trees == 0 || group.jobs_per_tree == 0 {
                return Err(format!("group {name}: trees and jobs-per-tree must be at least 1"));
            }
            total = total.saturating_add(group.trees.saturating_mul(group.jobs_per_tree));
        }
        if total > MAX_JOBS {
            return Err(format!("{total} jobs; a workload may have at most {MAX_JOBS}"));
        }
        Ok(())
    }

    /// The jobs, in arrival order (ties: roots before their sub-jobs).
    pub fn jobs(&self) -> Vec<Job> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(self.seed);
        let attempts_per_job = self.engine.default_max_retries as usize + 1;
        let mut jobs: Vec<Job> = Vec::new();
        for (g, group) in self.groups.iter().enumerate() {
            for tree in 0..group.trees {
                let root_at = secs_ms(group.start_s + group.every_s * tree as f64);
                let root = jobs.len();
                for member in 0..group.jobs_per_tree {
                    let id = format!("{}-{}-{}", group.name, tree + 1, member);
                    let offset = match group.jobs_per_tree {
                        1 => 0.0,
                        n => group.spread_s * member as f64 / (n - 1) as f64,
                    };
                    let spec = JobSpec {
                        prompt: format!("{} job {member} of tree {}", group.name, tree + 1),
                        tags: group.tags.clone(),
                        priority: group.priority,
                        parent_job_id: (member > 0).then(|| jobs[root].id.clone()),
                        ..JobSpec::default()
                    };
                    let attempts = (0..attempts_per_job).map(|_| self.attempt(&mut rng, group.duration)).collect();
                    jobs.push(Job { id, group: g, root, arrives_ms: root_at + secs_ms(offset), spec, attempts });
                }
            }
        }
        // Stable: a root stays before the sub-jobs that arrive with it.
        jobs.sort_by_key(|job| job.arrives_ms);
        let index: std::collections::HashMap<String, usize> =
            jobs.iter().enumerate().map(|(i, job)| (job.id.clone(), i)).collect();
        for job in &mut jobs {
            job.root = index[job.spec.parent_job_id.as_ref().unwrap_or(&job.id)];
        }
        jobs
    }

    fn attempt(&self, rng: &mut impl Rng, duration: Duration) -> Attempt {
        let runs_ms = secs_ms(log_normal(rng, duration));
        let roll: f64 = rng.random();
        let (runs_ms, ending) = if roll < self.hang_rate {
            (None, Ending::Failed(FailureKind::Timeout))
        } else if roll < self.hang_rate + self.failure_rate {
            (Some(runs_ms / 2), Ending::Failed(FailureKind::AgentError))
        } else if roll < self.hang_rate + self.failure_rate + self.rate_limit_rate {
            (Some(runs_ms / 4), Ending::Failed(FailureKind::RateLimited))
        } else {
            (Some(runs_ms), Ending::Succeeded)
        };
        Attempt { runs_ms, ending }
    }
}

fn secs_ms(seconds: f64) -> u64 {
    (seconds * 1000.0).round() as u64
}

/// A log-normal draw with the given median and 95th percentile, in seconds.
fn log_normal(rng: &mut impl Rng, d: Duration) -> f64 {
    // p95 = median * exp(1.645 sigma)
    let sigma = (d.p95_s / d.median_s).ln() / 1.644_853_6;
    if sigma == 0.0 {
        return d.median_s;
    }
    // Box-Muller.
    let (u1, u2): (f64, f64) = (rng.random_range(f64::EPSILON..1.0), rng.random());
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    d.median_s * (sigma * z).exp()
}
