//! What a finished job tree (a root job and all its descendants) comes to:
//! [`TreeSummary`], announced when the tree's last job ends.

use super::{JobRecord, JobStatus};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TreeSummary {
    pub root_job_id: String,
    /// Who submitted the root job (see [`super::JobSpec::client`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// The root job's status.
    pub status: JobStatus,
    /// Jobs in the tree, the root included.
    pub jobs: u32,
    /// How many ended with each status, by name.
    pub by_status: BTreeMap<String, u32>,
    /// Over every attempt of every job of the tree.
    pub cost_usd: f64,
    /// From the root's submission to the last job's end.
    pub created_at_ms: u64,
    pub finished_at_ms: u64,
}

impl TreeSummary {
    /// The summary of a tree from its records; `None` when the root is not
    /// among them (pruned) or a job of it has not ended.
    pub fn of(root: &str, records: &[JobRecord]) -> Option<TreeSummary> {
        let root_record = records.iter().find(|r| r.job_id == root)?;
        if records.iter().any(|r| !r.status.is_terminal()) {
            return None;
        }
        let mut by_status = BTreeMap::new();
        for record in records {
            *by_status.entry(record.status.as_str().to_string()).or_default() += 1;
        }
        Some(TreeSummary {
            root_job_id: root.to_string(),
            client: root_record.client.clone(),
            status: root_record.status,
            jobs: records.len() as u32,
            by_status,
            cost_usd: records.iter().map(|r| r.cost_usd).sum(),
            created_at_ms: root_record.created_at_ms,
            finished_at_ms: records.iter().filter_map(|r| r.finished_at_ms).max().unwrap_or(root_record.created_at_ms),
        })
    }

    /// One line about it, e.g. `job tree 1f… finished: 3 jobs (2 succeeded, 1 failed), $0.42`.
    pub fn line(&self) -> String {
        let counts: Vec<String> = self.by_status.iter().map(|(status, n)| format!("{n} {status}")).collect();
        format!(
            "job tree {} finished: {} job{} ({}), ${:.2}",
            self.root_job_id,
            self.jobs,
            if self.jobs == 1 { "" } else { "s" },
            counts.join(", "),
            self.cost_usd
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, status: JobStatus, cost: f64, finished: u64) -> JobRecord {
        let mut record = JobRecord::for_tests(id);
        (record.root_job_id, record.created_at_ms) = ("r".into(), 10);
        (record.status, record.cost_usd, record.finished_at_ms) = (status, cost, Some(finished));
        record
    }

    #[test]
    fn a_tree_adds_up_its_jobs_and_cost() {
        let records = [
            record("r", JobStatus::Succeeded, 0.25, 90),
            record("a", JobStatus::Succeeded, 0.125, 50),
            record("b", JobStatus::Failed, 0.0625, 70),
        ];
        let summary = TreeSummary::of("r", &records).unwrap();
        assert_eq!((summary.jobs, summary.cost_usd, summary.finished_at_ms), (3, 0.4375, 90));
        assert_eq!(summary.by_status, BTreeMap::from([("failed".into(), 1), ("succeeded".into(), 2)]));
        assert_eq!(summary.line(), "job tree r finished: 3 jobs (1 failed, 2 succeeded), $0.44");
        assert!(TreeSummary::of("gone", &records).is_none());
        let mut unfinished = records.to_vec();
        unfinished[1].status = JobStatus::Running;
        assert!(TreeSummary::of("r", &unfinished).is_none());
    }
}
