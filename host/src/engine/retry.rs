//! `job_retry`: a finished job that failed, timed out or was cancelled goes
//! back in the queue as the same job. Its history, cost and attempt count
//! carry on (the next attempt is numbered after the last), its tree counts
//! it once as before, and with `resume_session` the next attempt continues
//! the agent session the last one left. The queue's size limit applies; the
//! requeued record is stored before the answer, like a submission. A job
//! that runs after others waits for them again (`waiting`), and cannot be
//! retried while one of them has ended without the success it needs. A job
//! in a worktree carries on on its branch (not once it was discarded).

use super::state::Live;
use super::submit::SubmitError;
use super::{Engine, job_info};
use crate::job::workspace::WorkspaceState;
use crate::job::{JobRecord, JobStatus};
use std::collections::HashMap;

impl Engine {
    /// Queues finished job `id` again (see the module docs); its record.
    pub async fn retry(&self, id: &str, resume_session: bool) -> Result<JobRecord, SubmitError> {
        let inner = &self.inner;
        inner.writes.writable().map_err(SubmitError::StoreUnwritable)?;
        let record = self.status(id).await.map_err(|err| SubmitError::Invalid(err.to_string()))?;
        let retryable = matches!(record.status, JobStatus::Failed | JobStatus::TimedOut | JobStatus::Cancelled);
        if !retryable {
            return Err(SubmitError::Invalid(format!(
                "job {id} is {}; only a failed, timed-out or cancelled job can be retried",
                record.status.as_str()
            )));
        }
        let stored = inner.store.get(id)?.ok_or_else(|| SubmitError::Invalid(format!("no job {id}")))?;
        if resume_session && record.session_id.is_none() {
            return Err(SubmitError::Invalid(format!("job {id} has no agent session to resume")));
        }
        // A job that runs after others waits for them again (a cancelled
        // one may have been cancelled while they ran), or is refused when
        // one ended without the success it needs.
        let waits = !record.after.is_empty();
        let mut ended = match waits {
            true => inner.judge_parents(&stored.spec)?,
            false => HashMap::new(),
        };
        let mut record = JobRecord {
            status: if waits { JobStatus::Waiting } else { JobStatus::Queued },
            finished_at_ms: None,
            retry_at_ms: None,
            waiting_for: None,
            token_slot: None,
            result: None,
            error: None,
            exit_code: None,
            ..record
        };
        // Its worktree is made again from its branch at the next start
        // (after a merge or a cleanup); discarded, the branch is gone.
        if let Some(workspace) = record.workspace.as_mut().filter(|w| w.is_own()) {
            match workspace.state {
                WorkspaceState::Discarded => {
                    return Err(SubmitError::Invalid(format!(
                        "job {id}'s work was discarded (its branch is gone): submit it again instead"
                    )));
                }
                WorkspaceState::Merged | WorkspaceState::Removed => {
                    workspace.state = WorkspaceState::Ready;
                    workspace.merged = None;
                }
                WorkspaceState::Pending | WorkspaceState::Ready => {}
            }
        }
        // The next attempt resumes only when asked (a job queued with a
        // session continues it, after a restart too).
        if !resume_session {
            record.session_id = None;
        }
        let rank = inner.rank(job_info(&stored.spec, &record)).await;
        let max_queue = inner.settings.load().config.max_queue;
        let generation = {
            let _admission = inner.admission.lock().await;
            let tree_size = inner.tree_size(&record.root_job_id)?;
            let mut state = inner.lock_with_parents_judged(&stored.spec, &record.after, &mut ended)?;
            if state.live.contains_key(id) {
                return Err(SubmitError::Invalid(format!("job {id} is queued or running already")));
            }
            let queued = state.queue.len() + state.waits.len();
            if queued >= max_queue {
                return Err(SubmitError::QueueFull { depth: queued, max: max_queue });
            }
            let live = Live::new(stored.spec, record.clone(), stored.seq, rank, inner.shutdown.child_token());
            state.adopt(live, tree_size);
            if waits {
                state.wait_after(id, &ended);
            }
            inner.writes.record(&record)
        };
        inner.changed.send_modify(|n| *n += 1);
        if let Err(why) = inner.writes.wait_written(generation).await {
            tracing::warn!(job = %id, error = %why, "a retried job's record is not stored yet; it stays queued");
        }
        tracing::info!(job = %id, resume_session, "job queued again by hand");
        if waits && inner.queue_if_ready(id) {
            return self.status(id).await.map_err(|err| SubmitError::StoreUnwritable(err.to_string()));
        }
        inner.wake.notify_one();
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EngineConfig;
    use crate::engine::testing::{WAIT, held_job, script_engine, until};

    #[tokio::test]
    async fn a_cancelled_job_runs_again_as_the_same_job_keeping_its_history() {
        let dir = tempfile::tempdir().unwrap();
        let go = dir.path().join("go");
        let engine = script_engine(dir.path(), EngineConfig::default()).await;
        let id = engine.submit(held_job("flaky", &go)).await.unwrap().job_id;
        until("it runs", || engine.stats().unwrap().running == 1).await;
        let cancelled = engine.cancel(&id).await.unwrap().record;
        assert_eq!((cancelled.status, cancelled.attempts), (JobStatus::Cancelled, 1));

        let queued = engine.retry(&id, false).await.unwrap();
        assert_eq!((queued.job_id.as_str(), queued.status), (id.as_str(), JobStatus::Queued));
        std::fs::write(&go, "").unwrap();
        let done = engine.wait(std::slice::from_ref(&id), WAIT).await.unwrap().remove(0);
        assert_eq!((done.status, done.attempts, done.history.len()), (JobStatus::Succeeded, 2, 2));
        assert_eq!(done.result.as_deref(), Some("done"));

        // Only what ended badly, and not twice at once.
        let err = engine.retry(&id, false).await.unwrap_err().to_string();
        assert!(err.contains("is succeeded; only a failed, timed-out or cancelled job"), "{err}");
        assert!(engine.retry("no-such-job", false).await.unwrap_err().to_string().contains("no job"));
        engine.shutdown();
    }

    #[tokio::test]
    async fn resuming_needs_a_session_and_a_retry_fits_the_queue_limit() {
        let dir = tempfile::tempdir().unwrap();
        let go = dir.path().join("go");
        let config = EngineConfig { max_concurrent: Some(1), max_queue: 1, ..EngineConfig::default() };
        let engine = script_engine(dir.path(), config).await;
        let first = engine.submit(held_job("first", &go)).await.unwrap().job_id;
        // Running, it leaves the one place in the queue free.
        until("the first runs", || engine.stats().unwrap().running == 1).await;
        let second = engine.submit(held_job("second", &go)).await.unwrap().job_id;
        let cancelled = engine.cancel(&second).await.unwrap().record;
        assert!(cancelled.session_id.is_none(), "never started");
        let err = engine.retry(&second, true).await.unwrap_err().to_string();
        assert!(err.contains("no agent session to resume"), "{err}");
        // The queue is full again: the retry waits its turn like a submission.
        engine.submit(held_job("third", &go)).await.unwrap();
        assert!(matches!(engine.retry(&second, false).await, Err(SubmitError::QueueFull { .. })));
        std::fs::write(&go, "").unwrap();
        engine.wait(&[first], WAIT).await.unwrap();
        engine.shutdown();
    }
}
