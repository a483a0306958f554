//! A workload from what happened: the jobs an engine ran (its records, as
//! `ringmaster job list` reads them), replayed as they arrived, each
//! attempt taking as long and ending as it did. An attempt that was killed
//! at its timeout ran for an unknown time: it is replayed as one that never
//! finishes, so the timeout the estimator under test gives decides.

use super::workload::{Attempt, Job, Workload};
use crate::config::EngineConfig;
use crate::engine::replay::{Ending, failure_kind};
use crate::job::{AttemptOutcome, JobRecord, JobSpec};
use std::collections::HashMap;

/// The workload of `records` under the engine limits `engine`. Jobs that
/// never started have nothing to replay and are left out.
pub fn workload(mut records: Vec<JobRecord>, engine: EngineConfig) -> (Workload, Vec<Job>) {
    let ended = |attempt: &crate::job::AttemptRecord| attempt.finished_at_ms.is_some() && attempt.outcome.is_some();
    records.retain(|record| record.history.iter().any(ended));
    records.sort_by_key(|record| (record.created_at_ms, record.depth));
    let first = records.first().map_or(0, |record| record.created_at_ms);
    let index: HashMap<&str, usize> = records.iter().enumerate().map(|(i, r)| (r.job_id.as_str(), i)).collect();
    let (mut agent_ms, mut cost, mut slots) = (0u64, 0.0, 1usize);
    let jobs = records
        .iter()
        .enumerate()
        .map(|(i, record)| {
            let attempts: Vec<Attempt> = record
                .history
                .iter()
                .filter(|attempt| ended(attempt))
                .filter_map(|attempt| {
                    let ran = attempt.finished_at_ms?.saturating_sub(attempt.started_at_ms);
                    agent_ms += ran;
                    slots = slots.max(attempt.token_slot.map_or(0, |s| s as usize + 1));
                    Some(match attempt.outcome? {
                        AttemptOutcome::Succeeded | AttemptOutcome::Cancelled => {
                            Attempt { runs_ms: Some(ran), ending: Ending::Succeeded }
                        }
                        AttemptOutcome::TimedOut | AttemptOutcome::IdleTimedOut => {
                            Attempt { runs_ms: None, ending: Ending::Failed(failure_kind(AttemptOutcome::TimedOut)) }
                        }
                        outcome => Attempt { runs_ms: Some(ran), ending: Ending::Failed(failure_kind(outcome)) },
                    })
                })
                .collect();
            cost += record.cost_usd;
            // A parent outside the records (pruned) makes the job a root here.
            let parent = record.parent_job_id.clone().filter(|p| index.contains_key(p.as_str()));
            let root = index.get(record.root_job_id.as_str()).copied().unwrap_or(i);
            Job {
                id: record.job_id.clone(),
                group: 0,
                root: if parent.is_some() { root } else { i },
                arrives_ms: record.created_at_ms - first,
                spec: JobSpec {
                    prompt: record.prompt.clone(),
                    tags: record.tags.clone(),
                    priority: record.priority,
                    agent: Some(record.agent.clone()),
                    model: record.model.clone(),
                    parent_job_id: parent,
                    max_retries: Some(record.max_retries),
                    timeout_s: record.timeout_s,
                    ..JobSpec::default()
                },
                attempts,
            }
        })
        .collect::<Vec<Job>>();
    let workload = Workload {
        seed: 0,
        tokens: slots,
        engine,
        groups: Vec::new(),
        failure_rate: 0.0,
        hang_rate: 0.0,
        rate_limit_rate: 0.0,
        cost_per_agent_minute: if agent_ms == 0 { 0.0 } else { cost / (agent_ms as f64 / 60_000.0) },
    };
    (workload, jobs)
}
