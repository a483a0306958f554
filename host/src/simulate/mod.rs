//! `ringmaster simulate`: compare policies before they go live. A workload
//! ([`workload`]) is replayed through the engine's own scheduling under
//! virtual time ([`crate::engine::replay`]) once per policy, each loaded
//! through the same plugin runtime as in the engine, and the runs are
//! measured side by side ([`metrics`]): hours of work in seconds, with no
//! agent started.
//!
//! The loop here only plays the workload: it submits jobs when they
//! arrive, ends attempts when the workload says (or at their timeout), and
//! requeues retries when their delay is over; every decision is the
//! engine's.

pub mod history;
pub mod html;
pub mod metrics;
pub mod workload;

use crate::config::PluginsConfig;
use crate::contract::{ExtensionPoint, FailureKind};
use crate::engine::replay::{Ending, Next, Replay};
use crate::job::JobStatus;
use crate::plugin::registry::PluginHost;
use crate::policy::Policies;
use anyhow::Context;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use workload::{Job, Workload};

/// What answers the policy calls in one run.
#[derive(Debug, Clone, PartialEq)]
pub enum Policy {
    /// The engine's built-in policies.
    Builtin,
    /// A plugin file: it answers every policy it exports, the built-ins the rest.
    Plugin(PathBuf),
}

impl Policy {
    pub fn parse(text: &str) -> Policy {
        match text {
            "builtin" | "built-in" => Policy::Builtin,
            path => Policy::Plugin(PathBuf::from(path)),
        }
    }

    pub fn label(&self) -> String {
        match self {
            Policy::Builtin => "built-in".into(),
            Policy::Plugin(path) => path.file_name().map_or(path.display().to_string(), |n| n.to_string_lossy().into()),
        }
    }

    /// The policies to ask, loaded as the engine loads them (`plugins` gives
    /// the limits, grants and config values).
    fn load(&self, plugins: &PluginsConfig, cache_dir: Option<PathBuf>) -> anyhow::Result<Arc<Policies>> {
        let dirs = match self {
            Policy::Builtin => Vec::new(),
            Policy::Plugin(path) => vec![path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)],
        };
        let host = PluginHost::new(PluginsConfig { dirs, ..plugins.clone() }, cache_dir)?;
        let policies = Arc::new(Policies::new(host.clone()));
        if let Policy::Plugin(path) = self {
            host.load(path).with_context(|| format!("policy {}", path.display()))?;
            let name = crate::plugin::loader::plugin_name(path);
            let plugin = host.get(&name).context("a loaded plugin is active")?;
            let provides = |point| plugin.provides(point).then(|| name.clone());
            if ExtensionPoint::policies().all(|point| !plugin.provides(point)) {
                anyhow::bail!("{} provides no policy (scheduler, timeout-estimator, retry-policy)", path.display());
            }
            policies.select_plugins(crate::config::PolicySelection {
                scheduler: provides(ExtensionPoint::Scheduler),
                timeout_estimator: provides(ExtensionPoint::TimeoutEstimator),
                retry_policy: provides(ExtensionPoint::RetryPolicy),
            });
        }
        Ok(policies)
    }
}

/// One job's fate in a run.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRun {
    /// Index in the workload's job list.
    pub job: usize,
    pub arrived_ms: u64,
    /// When its first attempt started (`None`: never, refused or stuck).
    pub started_ms: Option<u64>,
    pub ended_ms: Option<u64>,
    pub status: Option<JobStatus>,
    pub attempts: u32,
    /// Agent time spent, and the part of it in attempts that failed.
    pub agent_ms: u64,
    pub wasted_ms: u64,
}

/// An attempt on a slot: which slot, from when to when (for utilisation and
/// timelines).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Busy {
    pub slot: usize,
    pub job: usize,
    pub from_ms: u64,
    pub to_ms: u64,
}

/// Everything one policy did with the workload.
#[derive(Debug, Clone)]
pub struct Run {
    pub policy: String,
    pub jobs: Vec<JobRun>,
    pub busy: Vec<Busy>,
    /// The engine's overall concurrency.
    pub capacity: u32,
}

/// What happens at a moment. Every event of a moment is played before the
/// scheduler looks, so their order matters only among arrivals, which keep
/// the workload's order (the job's index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// An attempt ends.
    End { job: usize, attempt: u32 },
    /// A retry's delay is over.
    Requeue { job: usize },
    /// A job is submitted.
    Arrive { job: usize },
    /// Nothing happens; the scheduler looks again.
    Tick,
}

/// The engine's scheduling tick, which matters only under a start rate limit.
const TICK_MS: u64 = 1_000;

/// Plays `workload` (expanded as `jobs`) with `policy`.
pub fn run(
    workload: &Workload,
    jobs: &[Job],
    policy: &Policy,
    plugins: &PluginsConfig,
    cache_dir: Option<PathBuf>,
) -> anyhow::Result<Run> {
    let policies = policy.load(plugins, cache_dir)?;
    let mut replay = Replay::new(workload.engine.clone(), workload.tokens, policies);
    let index: std::collections::HashMap<&str, usize> =
        jobs.iter().enumerate().map(|(i, job)| (job.id.as_str(), i)).collect();
    let mut runs: Vec<JobRun> = jobs
        .iter()
        .enumerate()
        .map(|(i, job)| JobRun {
            job: i,
            arrived_ms: job.arrives_ms,
            started_ms: None,
            ended_ms: None,
            status: None,
            attempts: 0,
            agent_ms: 0,
            wasted_ms: 0,
        })
        .collect();
    let mut busy = Vec::new();
    // Running attempts: (slot, started at), by job.
    let mut running: Vec<Option<(usize, u64)>> = vec![None; jobs.len()];
    let mut events: BinaryHeap<Reverse<(u64, Event)>> =
        jobs.iter().enumerate().map(|(i, job)| Reverse((job.arrives_ms, Event::Arrive { job: i }))).collect();

    while let Some(Reverse((now, _))) = events.peek().copied() {
        while let Some(Reverse((_, event))) = events.peek().copied().filter(|Reverse((t, _))| *t == now) {
            events.pop();
            match event {
                Event::Arrive { job } => {
                    if let Err(why) = replay.submit(&jobs[job].id, jobs[job].spec.clone(), now) {
                        tracing::debug!(job = %jobs[job].id, %why, "refused");
                        runs[job].status = Some(JobStatus::Failed);
                        runs[job].ended_ms = Some(now);
                    }
                }
                Event::End { job, attempt } => {
                    let (slot, from) = running[job].take().expect("an attempt that ends runs");
                    let planned = jobs[job].attempts[(attempt as usize - 1).min(jobs[job].attempts.len() - 1)];
                    let timed_out = planned.runs_ms.is_none_or(|ran| now - from < ran);
                    let ending = if timed_out { Ending::Failed(FailureKind::Timeout) } else { planned.ending };
                    let ran = now - from;
                    busy.push(Busy { slot, job, from_ms: from, to_ms: now });
                    let run = &mut runs[job];
                    run.agent_ms += ran;
                    if ending != Ending::Succeeded {
                        run.wasted_ms += ran;
                    }
                    match replay.end(&jobs[job].id, ending, ran, now) {
                        Next::Done(status) => {
                            run.status = Some(status);
                            run.ended_ms = Some(now);
                        }
                        Next::RetryAt { at_ms } => events.push(Reverse((at_ms, Event::Requeue { job }))),
                    }
                }
                Event::Requeue { job } => replay.requeue(&jobs[job].id, now),
                Event::Tick => {}
            }
        }
        for started in replay.schedule(now) {
            let job = index[started.job_id.as_str()];
            let planned = jobs[job].attempts[(started.attempt as usize - 1).min(jobs[job].attempts.len() - 1)];
            let runs_ms = planned.runs_ms.map_or(started.hard_ms, |ms| ms.min(started.hard_ms));
            running[job] = Some((started.slot, now));
            let run = &mut runs[job];
            run.started_ms.get_or_insert(now);
            run.attempts = started.attempt;
            events.push(Reverse((now + runs_ms, Event::End { job, attempt: started.attempt })));
        }
        if replay.queued() > 0 {
            // Queued work with nothing due: look again when a slot's rest
            // ends, and with a start rate limit, at the engine's tick (a
            // rate window frees up without an event). Without either, only
            // an event can change anything.
            let tick = (workload.engine.token_starts_per_minute > 0).then_some(now + TICK_MS);
            let wake = [replay.next_cooldown_end(now), tick].into_iter().flatten().min();
            let next = events.peek().map(|Reverse((t, _))| *t);
            if let Some(wake) = wake.filter(|wake| next.is_none_or(|t| t > *wake)) {
                events.push(Reverse((wake, Event::Tick)));
            }
        }
    }
    Ok(Run { policy: policy.label(), jobs: runs, busy, capacity: replay.capacity() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::metrics::{Summary, jain, summarise};

    fn workload(yaml: &str) -> Workload {
        let workload: Workload = serde_yaml::from_str(yaml).unwrap();
        workload
    }

    fn replay(workload: &Workload) -> (Run, Summary) {
        let jobs = workload.jobs();
        let run = run(workload, &jobs, &Policy::Builtin, &PluginsConfig::default(), None).unwrap();
        let summary = summarise(workload, &jobs, &run);
        (run, summary)
    }

    /// Three 10 s jobs at once, one place: they run one after another.
    const ONE_AT_A_TIME: &str = "
tokens: 1
engine: { max-concurrent: 1, per-token-concurrency: 1 }
groups:
  - { name: a, trees: 3, duration: { median-s: 10, p95-s: 10 } }
cost-per-agent-minute: 0.6
";

    #[test]
    fn a_hand_computed_case() {
        let (run, summary) = replay(&workload(ONE_AT_A_TIME));
        let starts: Vec<Option<u64>> = run.jobs.iter().map(|j| j.started_ms).collect();
        assert_eq!(starts, [Some(0), Some(10_000), Some(20_000)], "first come, first served");
        assert_eq!((summary.wait_p50_s, summary.wait_p95_s, summary.wait_max_s), (10.0, 20.0, 20.0));
        assert_eq!((summary.makespan_s, summary.utilisation), (30.0, 1.0));
        assert_eq!((summary.succeeded, summary.retries, summary.wasted_agent_s), (3, 0, 0.0));
        // Slowdowns 1, 2 and 3: services 1, 1/2, 1/3.
        let expected = jain(&[1.0, 0.5, 1.0 / 3.0]);
        assert!((summary.fairness_trees - expected).abs() < 1e-12, "{}", summary.fairness_trees);
        assert!((expected - 0.823).abs() < 0.001);
        assert!((summary.cost_usd - 0.30).abs() < 1e-9, "30 agent-seconds at $0.60 a minute");
    }

    #[test]
    fn failures_are_retried_by_the_policy_and_hangs_end_at_their_timeout() {
        let yaml = "
seed: 3
tokens: 1
engine: { max-concurrent: 2, per-token-concurrency: 2, default-max-retries: 1, default-timeout-s: 60 }
groups:
  - { name: a, trees: 40, every-s: 1, duration: { median-s: 10, p95-s: 20 } }
failure-rate: 0.3
hang-rate: 0.2
";
        let (run, summary) = replay(&workload(yaml));
        assert!(summary.retries > 0 && summary.timed_out > 0 && summary.failed > 0, "{summary:?}");
        for job in &run.jobs {
            assert!(job.attempts <= 2, "one retry at most: {job:?}");
        }
        // A hang holds its place for exactly its timeout.
        assert!(run.busy.iter().any(|b| b.to_ms - b.from_ms == 60_000));
        assert!(run.busy.iter().all(|b| b.to_ms - b.from_ms <= 60_000));
        assert_eq!(summary.succeeded + summary.failed + summary.timed_out, 40);
        // The same workload, the same answer.
        assert_eq!(replay(&workload(yaml)).1, summary);
    }

    #[test]
    fn sub_jobs_join_their_roots_tree() {
        let yaml = "
groups:
  - { name: t, trees: 2, jobs-per-tree: 3, spread-s: 4, duration: { median-s: 1, p95-s: 1 } }
";
        let jobs = workload(yaml).jobs();
        let ids: Vec<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(ids, ["t-1-0", "t-2-0", "t-1-1", "t-2-1", "t-1-2", "t-2-2"]);
        let roots: Vec<&str> = jobs.iter().map(|j| jobs[j.root].id.as_str()).collect();
        assert_eq!(roots, ["t-1-0", "t-2-0", "t-1-0", "t-2-0", "t-1-0", "t-2-0"]);
        let parents: Vec<Option<&str>> = jobs.iter().map(|j| j.spec.parent_job_id.as_deref()).collect();
        assert_eq!(parents[..3], [None, None, Some("t-1-0")]);
        let arrivals: Vec<u64> = jobs.iter().map(|j| j.arrives_ms).collect();
        assert_eq!(arrivals, [0, 0, 2000, 2000, 4000, 4000]);
    }

    #[test]
    fn bad_workloads_say_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        for (yaml, says) in [
            ("groups: []", "at least one"),
            ("groups: [{ name: a, duration: { median-s: 5, p95-s: 1 } }]", "median-s <= p95-s"),
            ("groups: [{ name: a, duration: { median-s: 1, p95-s: 1 } }]\nhang-rate: 2", "hang-rate: 2 is outside"),
            ("groups: [{ name: a, trees: 2000000, duration: { median-s: 1, p95-s: 1 } }]", "at most 1000000"),
            ("groups: [{ name: a, duration: { median-s: 1, p95-s: 1 } }]\nengine: { max-queue: 0 }", "max-queue"),
            ("groups: [{ name: a, colour: red, duration: { median-s: 1, p95-s: 1 } }]", "unknown field `colour`"),
            ("tokens: 0\ngroups: [{ name: a, duration: { median-s: 1, p95-s: 1 } }]", "tokens: 0"),
        ] {
            let path = dir.path().join("w.yaml");
            std::fs::write(&path, yaml).unwrap();
            let err = Workload::load(&path).unwrap_err().to_string();
            assert!(err.contains(says) && err.contains("w.yaml"), "{yaml}: {err}");
        }
    }
}
