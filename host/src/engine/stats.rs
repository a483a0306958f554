//! Statistics over the recent jobs in the store, broken down by token slot,
//! depth, tag and agent: what `engine_stats` reports beyond the live counters.
//! Computed from the records, so they survive restarts.

use super::EngineError;
use crate::contract::ExtensionPoint;
use crate::job::{AttemptOutcome, JobFilter, JobRecord};
use crate::policy::Source;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;

/// Figures for one group of jobs.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GroupStats {
    pub jobs: u64,
    pub by_status: BTreeMap<String, u64>,
    /// Attempts after the first.
    pub retries: u64,
    /// Attempts that hit their hard or idle timeout.
    pub timeouts: u64,
    pub cost_usd: f64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Run time of finished jobs, first start to finish.
    pub duration_p50_ms: Option<u64>,
    pub duration_p95_ms: Option<u64>,
    /// Time from submission to first start.
    pub wait_p50_ms: Option<u64>,
    pub wait_p95_ms: Option<u64>,
    #[serde(skip)]
    durations: Vec<u64>,
    #[serde(skip)]
    waits: Vec<u64>,
}

fn percentile(values: &mut [u64], q: f64) -> Option<u64> {
    values.sort_unstable();
    let last = values.len().checked_sub(1)?;
    Some(values[(last as f64 * q).round() as usize])
}

impl GroupStats {
    fn add(&mut self, record: &JobRecord) {
        self.jobs += 1;
        *self.by_status.entry(record.status.as_str().to_string()).or_default() += 1;
        self.retries += u64::from(record.attempts.saturating_sub(1));
        self.timeouts +=
            record.history.iter().filter(|a| a.outcome.is_some_and(AttemptOutcome::is_timeout)).count() as u64;
        self.cost_usd += record.cost_usd;
        let tokens = |key: &str| record.usage.as_ref().and_then(|u| u.get(key)).and_then(|v| v.as_u64()).unwrap_or(0);
        self.input_tokens += tokens("input_tokens");
        self.output_tokens += tokens("output_tokens");
        if let Some(started) = record.started_at_ms {
            self.waits.push(started.saturating_sub(record.created_at_ms));
            if let Some(finished) = record.finished_at_ms {
                self.durations.push(finished.saturating_sub(started));
            }
        }
    }

    fn finish(&mut self) {
        self.duration_p50_ms = percentile(&mut self.durations, 0.5);
        self.duration_p95_ms = percentile(&mut self.durations, 0.95);
        self.wait_p50_ms = percentile(&mut self.waits, 0.5);
        self.wait_p95_ms = percentile(&mut self.waits, 0.95);
    }
}

/// The breakdown of a set of jobs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Breakdown {
    /// How many of the most recent jobs these figures cover.
    pub jobs_considered: usize,
    pub overall: GroupStats,
    pub by_slot: BTreeMap<u32, GroupStats>,
    pub by_depth: BTreeMap<u32, GroupStats>,
    pub by_tag: BTreeMap<String, GroupStats>,
    pub by_agent: BTreeMap<String, GroupStats>,
}

impl Breakdown {
    pub fn of(records: &[JobRecord]) -> Breakdown {
        let mut out = Breakdown { jobs_considered: records.len(), ..Default::default() };
        for record in records {
            out.overall.add(record);
            if let Some(slot) = record.token_slot {
                out.by_slot.entry(slot).or_default().add(record);
            }
            out.by_depth.entry(record.depth).or_default().add(record);
            for tag in &record.tags {
                out.by_tag.entry(tag.clone()).or_default().add(record);
            }
            out.by_agent.entry(record.agent.clone()).or_default().add(record);
        }
        out.overall.finish();
        let groups = out.by_slot.values_mut().chain(out.by_depth.values_mut());
        for group in groups.chain(out.by_tag.values_mut()).chain(out.by_agent.values_mut()) {
            group.finish();
        }
        out
    }
}

/// Jobs the statistics breakdown looks at, newest first.
const STATS_WINDOW: usize = 10_000;

/// What `engine_stats` reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EngineStats {
    /// Jobs waiting for the jobs they run after (`after`).
    pub waiting: usize,
    pub queued: usize,
    pub running: u32,
    pub max_concurrent: u32,
    pub max_concurrent_per_depth: u32,
    pub max_depth: u32,
    pub max_jobs_per_root: u32,
    pub max_queue: usize,
    /// Who answers each policy now: a plugin's name, or `built-in`.
    pub policies: BTreeMap<String, String>,
    /// Jobs in the store by status, over all time.
    pub jobs_by_status: BTreeMap<String, u64>,
    pub slots: Vec<SlotStats>,
    /// Figures over the most recent jobs, by slot, depth, tag and agent.
    pub recent: Breakdown,
    /// Whether the job store takes writes, and what waits for it.
    pub store: super::persist::StoreHealth,
    /// What the queue holds back (`queue_pause`).
    pub paused: crate::job::Pauses,
    /// Every budget in force: spent and remaining.
    pub budgets: Vec<crate::job::budget::BudgetState>,
    /// Schedules kept, and when the next one fires (Unix ms).
    pub schedules: usize,
    pub next_schedule_at_ms: Option<u64>,
    /// Jobs' worktrees on disk.
    pub worktrees: super::WorktreeStats,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SlotStats {
    pub index: u32,
    pub has_token: bool,
    pub running: u32,
    pub concurrency: u32,
    pub free: u32,
    pub cooling_for_s: Option<u64>,
}

impl super::Engine {
    /// A snapshot of the engine: what is queued and running, the limits in
    /// force and each token slot (by index, never the token).
    pub fn stats(&self) -> Result<EngineStats, EngineError> {
        let settings = self.inner.settings.load();
        let by_status = self.inner.store.count_by_status()?;
        let recent = Breakdown::of(&self.inner.store.list(&JobFilter::default(), STATS_WINDOW)?);
        let (schedules, next_schedule_at_ms) = self.inner.schedules.lock().summary();
        let mut state = self.inner.state.lock();
        let now = Instant::now();
        let slots = (0..state.tokens.slots.len())
            .map(|i| {
                let free = state.tokens.free(i, now);
                let slot = &state.tokens.slots[i];
                SlotStats {
                    index: i as u32,
                    has_token: slot.token.is_some(),
                    running: slot.running,
                    concurrency: slot.concurrency,
                    free,
                    cooling_for_s: slot.cooling_until.map(|u| u.saturating_duration_since(now).as_secs()),
                }
            })
            .collect();
        Ok(EngineStats {
            waiting: state.waits.len(),
            queued: state.queue.len(),
            running: state.running,
            max_concurrent: settings.max_concurrent,
            max_concurrent_per_depth: settings.config.max_concurrent_per_depth,
            max_depth: settings.config.max_depth,
            max_jobs_per_root: settings.config.max_jobs_per_root,
            max_queue: settings.config.max_queue,
            policies: ExtensionPoint::policies()
                .map(|point| {
                    let source = match self.inner.policies.source(point) {
                        Source::Plugin(name) => name,
                        Source::Builtin => "built-in".to_string(),
                    };
                    (point.interface().to_string(), source)
                })
                .collect(),
            jobs_by_status: by_status,
            slots,
            recent,
            store: self.inner.writes.health(),
            paused: state.paused.clone(),
            budgets: state.budget_states(crate::job::now_ms()),
            schedules,
            next_schedule_at_ms,
            worktrees: self.inner.workspaces.stats(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{AttemptRecord, JobStatus};

    fn record(tag: &str, status: JobStatus, created: u64, started: u64, finished: u64, attempts: u32) -> JobRecord {
        let attempt = |outcome: AttemptOutcome| AttemptRecord {
            attempt: 1,
            started_at_ms: started,
            finished_at_ms: Some(finished),
            outcome: Some(outcome),
            message: None,
            exit_code: None,
            session_id: None,
            token_slot: Some(0),
            cost_usd: None,
            tokens: None,
        };
        JobRecord {
            job_id: "j".into(),
            status,
            prompt: "p".into(),
            agent: "claude".into(),
            model: None,
            priority: 0,
            tags: vec![tag.into()],
            depth: 0,
            client: None,
            idempotency_key: None,
            parent_job_id: None,
            root_job_id: "j".into(),
            after: Vec::new(),
            after_any_outcome: false,
            attempts,
            limited_attempts: 0,
            max_retries: 2,
            created_at_ms: created,
            started_at_ms: Some(started),
            finished_at_ms: Some(finished),
            retry_at_ms: None,
            waiting_for: None,
            timeout_s: None,
            token_slot: Some(0),
            session_id: None,
            result: None,
            error: None,
            exit_code: None,
            cost_usd: 0.5,
            usage: Some(serde_json::json!({"input_tokens": 10, "output_tokens": 4})),
            notes: Vec::new(),
            history: if status == JobStatus::TimedOut {
                vec![attempt(AttemptOutcome::TimedOut)]
            } else {
                vec![attempt(AttemptOutcome::Succeeded)]
            },
            workspace: None,
            checkpoints: None,
        }
    }

    #[test]
    fn groups_count_time_cost_and_tokens() {
        let records = [
            record("a", JobStatus::Succeeded, 0, 100, 1100, 1),
            record("a", JobStatus::TimedOut, 0, 300, 5300, 3),
            record("b", JobStatus::Succeeded, 0, 200, 400, 1),
        ];
        let stats = Breakdown::of(&records);
        assert_eq!(stats.overall.jobs, 3);
        assert_eq!(stats.overall.by_status["succeeded"], 2);
        assert_eq!((stats.overall.retries, stats.overall.timeouts), (2, 1));
        assert_eq!((stats.overall.input_tokens, stats.overall.output_tokens), (30, 12));
        assert!((stats.overall.cost_usd - 1.5).abs() < 1e-9);
        let a = &stats.by_tag["a"];
        assert_eq!((a.jobs, a.duration_p50_ms, a.wait_p95_ms), (2, Some(5000), Some(300)));
        assert_eq!(stats.by_slot[&0].jobs, 3);
        assert_eq!(stats.by_agent["claude"].duration_p50_ms, Some(1000));
    }
}
