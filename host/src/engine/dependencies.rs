//! Jobs that run after others (`after`, see [`crate::job::after`]): checking
//! the parents a submission names, queueing a waiting job once they have
//! ended as it needs (its prompt rendered from their records), ending it
//! `failed` when one ended otherwise (acting on what the state's
//! [`Waits`](super::waits::Waits) settled when a parent ended).
//!
//! Rendering reads the parents' records, so it happens outside the state's
//! lock, and again at every start of the engine for jobs past `waiting`
//! (the rendered prompt is not stored: the parents' records it comes from
//! are).

use super::state::State;
use super::waits::{Parent, Settled};
use super::{Engine, Inner, SubmitError};
use crate::job::after::{After, render, satisfied};
use crate::job::{JobRecord, JobSpec, JobStatus};
use parking_lot::MutexGuard;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

impl Inner {
    /// The parents `spec.after` names that are not live, judged: each must
    /// exist and have ended as the job needs (else the submission is
    /// refused). Entries of a batch must have been resolved to ids.
    pub(super) fn judge_parents(&self, spec: &JobSpec) -> Result<HashMap<String, Parent>, SubmitError> {
        let mut ended = HashMap::new();
        for entry in &spec.after {
            let id = match entry {
                After::Job(id) => id,
                After::Entry(index) => {
                    return Err(SubmitError::Invalid(format!(
                        "after names batch entry {index}: entries can be named only in job_batch, by earlier ones"
                    )));
                }
            };
            if self.state.lock().live.contains_key(id) {
                continue;
            }
            let status = self.ended_status(id)?;
            ended.insert(id.clone(), self.judge(id, status, spec.after_any_outcome)?);
        }
        Ok(ended)
    }

    /// The state, locked, once every parent of `spec` is live or judged in
    /// `ended` (judging those that ended since [`Inner::judge_parents`]
    /// looked), so that the job can wait for the live ones without missing
    /// an end.
    pub(super) fn lock_with_parents_judged(
        &self,
        spec: &JobSpec,
        after: &[String],
        ended: &mut HashMap<String, Parent>,
    ) -> Result<MutexGuard<'_, State>, SubmitError> {
        loop {
            let state = self.state.lock();
            let Some(parent) = state.unjudged_parent(after, ended).map(str::to_string) else {
                return Ok(state);
            };
            drop(state);
            let status = self.ended_status(&parent)?;
            ended.insert(parent.clone(), self.judge(&parent, status, spec.after_any_outcome)?);
        }
    }

    fn judge(&self, id: &str, status: JobStatus, any_outcome: bool) -> Result<Parent, SubmitError> {
        if !satisfied(status, any_outcome) {
            return Err(SubmitError::Invalid(format!(
                "job {id}, which it would run after, ended {}: it would never run \
                 (set after_any_outcome to run it whatever its parents end with)",
                status.as_str()
            )));
        }
        Ok(Parent::Ended(status))
    }

    /// The parents of waiting job `id` that are not live, as the store has
    /// them (at recovery).
    pub(super) fn ended_parents(&self, id: &str) -> Result<HashMap<String, Parent>, crate::store::StoreError> {
        let after = self.state.lock().live.get(id).map(|l| l.record.after.clone()).unwrap_or_default();
        let mut ended = HashMap::new();
        for parent in after {
            if self.state.lock().live.contains_key(&parent) {
                continue;
            }
            let standing = match self.store.record(&parent)? {
                Some(record) => Parent::Ended(record.status),
                None => Parent::Unknown,
            };
            ended.insert(parent, standing);
        }
        Ok(ended)
    }

    /// The status of job `id`, which is not live: from the writer's pending
    /// records or the store.
    fn ended_status(&self, id: &str) -> Result<JobStatus, SubmitError> {
        let record = match self.writes.pending_record(id) {
            Some(record) => Some(record),
            None => self.store.record(id)?,
        };
        record
            .map(|r| r.status)
            .ok_or_else(|| SubmitError::Invalid(format!("after names job {id}, which does not exist")))
    }

    /// `spec`'s prompt with its placeholders filled from the records of the
    /// jobs it runs after.
    pub(super) fn rendered_prompt(&self, spec: &JobSpec, record: &JobRecord) -> String {
        if !spec.prompt.contains("{{after.") {
            return spec.prompt.clone();
        }
        let parents: Vec<Option<JobRecord>> = record
            .after
            .iter()
            .map(|id| match self.writes.pending_record(id) {
                Some(record) => Some(record),
                None => self.store.record(id).ok().flatten(),
            })
            .collect();
        render(&spec.prompt, &parents, self.settings.load().config.max_prompt_bytes)
    }

    /// Queues waiting job `id` if nothing it runs after is left to end;
    /// whether it did.
    pub(super) fn queue_if_ready(&self, id: &str) -> bool {
        let Some((spec, record)) = ({
            let state = self.state.lock();
            state.live.get(id).filter(|_| state.waits.is_ready(id)).map(|l| (l.spec.clone(), l.record.clone()))
        }) else {
            return false;
        };
        let prompt = self.rendered_prompt(&spec, &record);
        let queued = {
            let mut state = self.state.lock();
            let queued = state.queue_ready(id, prompt, Instant::now());
            if let Some(record) = &queued {
                self.writes.record(record);
            }
            queued.is_some()
        };
        if queued {
            self.changed.send_modify(|n| *n += 1);
            self.wake.notify_one();
        }
        queued
    }

    /// Acts on what the state settled about waiting jobs: queues the ready
    /// ones, ends the doomed ones (see [`super::endings`]).
    pub(super) fn act_on_waits(self: &Arc<Self>, settled: Vec<Settled>) {
        for settled in settled {
            match settled {
                Settled::Ready(id) => {
                    self.queue_if_ready(&id);
                }
                Settled::Doomed { id, parent, status } => {
                    let why = match status {
                        Some(status) => format!("job {parent}, which it runs after, ended {}", status.as_str()),
                        None => format!("job {parent}, which it runs after, is no longer known"),
                    };
                    tracing::info!(job = %id, "{why}; it will not run");
                    let inner = self.clone();
                    // Its hooks run as for any failure; its own dependants follow.
                    tokio::spawn(async move {
                        inner.conclude(&id, JobStatus::Failed, |record| record.error = Some(why)).await;
                    });
                }
            }
        }
    }
}

impl Engine {
    /// The waiting jobs that would never run once job `id` is cancelled
    /// (they need it to succeed), cancelled first; their ids.
    pub(super) async fn cancel_dependants(&self, id: &str) -> Vec<String> {
        let dependants = self.inner.state.lock().waits.needing_success(id);
        for dependant in &dependants {
            let why = format!("cancelled with job {id}, which it runs after");
            self.inner.cancel_unstarted(dependant, Some(why));
        }
        dependants
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{WAIT, held_job, script_engine, until};
    use crate::config::EngineConfig;
    use crate::job::{After, JobSpec, JobStatus};

    fn after(prompt: &str, parents: &[&str]) -> JobSpec {
        let after = parents.iter().map(|p| After::Job(p.to_string())).collect();
        JobSpec { prompt: prompt.into(), after, ..JobSpec::default() }
    }

    #[tokio::test]
    async fn a_chain_runs_in_order_each_prompt_quoting_the_job_before() {
        let dir = tempfile::tempdir().unwrap();
        let go = dir.path().join("go");
        let engine = script_engine(dir.path(), EngineConfig::default()).await;
        let a = engine.submit(held_job("first", &go)).await.unwrap().job_id;
        let b = engine.submit(after("second, after {{after.0.job_id}}: {{after.0.result}}", &[&a])).await.unwrap();
        assert_eq!(b.status, JobStatus::Waiting);
        assert!(b.waiting_for.as_deref().unwrap().starts_with(&format!("after job {a} (")), "{b:?}");
        let c = engine.submit(after("third: {{after.0.status}}", &[&b.job_id])).await.unwrap().job_id;
        assert_eq!(engine.stats().unwrap().waiting, 2);
        until("a runs", || engine.stats().unwrap().running == 1).await;
        assert_eq!(engine.status(&c).await.unwrap().status, JobStatus::Waiting, "nothing overtakes");
        std::fs::write(&go, "").unwrap();
        let done = engine.wait(std::slice::from_ref(&c), WAIT).await.unwrap().remove(0);
        assert_eq!(done.status, JobStatus::Succeeded);
        assert_eq!(done.after, std::slice::from_ref(&b.job_id));
        let runs = std::fs::read_to_string(dir.path().join("runs")).unwrap();
        assert_eq!(runs, format!("first\nsecond, after {a}: done\nthird: succeeded\n"));
        assert_eq!(engine.stats().unwrap().waiting, 0);
        engine.shutdown();
    }

    #[tokio::test]
    async fn a_parent_that_fails_fails_its_chain_but_not_what_runs_after_any_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let never = dir.path().join("never");
        let engine = script_engine(dir.path(), EngineConfig::default()).await;
        let a = engine.submit(JobSpec { timeout_s: Some(1), ..held_job("stuck", &never) }).await.unwrap().job_id;
        let b = engine.submit(after("b", &[&a])).await.unwrap().job_id;
        let c = engine.submit(after("c", &[&b])).await.unwrap().job_id;
        let cleanup = engine
            .submit(JobSpec { after_any_outcome: true, ..after("cleanup after {{after.0.status}}", &[&a]) })
            .await
            .unwrap()
            .job_id;
        let ended = engine.wait(&[b.clone(), c.clone(), cleanup.clone()], WAIT).await.unwrap();
        assert_eq!(ended[0].status, JobStatus::Failed);
        assert_eq!(ended[0].error.as_deref(), Some(format!("job {a}, which it runs after, ended timed_out").as_str()));
        assert_eq!(ended[1].error.as_deref(), Some(format!("job {b}, which it runs after, ended failed").as_str()));
        assert_eq!((ended[0].attempts, ended[1].attempts), (0, 0), "they never ran");
        assert_eq!(ended[2].status, JobStatus::Succeeded);
        let runs = std::fs::read_to_string(dir.path().join("runs")).unwrap();
        assert_eq!(runs, "stuck\ncleanup after timed_out\n");
        engine.shutdown();
    }

    #[tokio::test]
    async fn a_failed_dependant_is_retried_only_once_its_parent_can_succeed_and_waits_for_it_again() {
        let dir = tempfile::tempdir().unwrap();
        let go = dir.path().join("go");
        let engine = script_engine(dir.path(), EngineConfig::default()).await;
        let a = engine.submit(JobSpec { timeout_s: Some(1), ..held_job("a", &go) }).await.unwrap().job_id;
        let b = engine.submit(after("b after {{after.0.status}}", &[&a])).await.unwrap().job_id;
        let failed = engine.wait(std::slice::from_ref(&b), WAIT).await.unwrap().remove(0);
        assert_eq!(failed.status, JobStatus::Failed);
        let err = engine.retry(&b, false).await.unwrap_err().to_string();
        assert!(err.contains(&format!("job {a}, which it would run after, ended timed_out")), "{err}");

        std::fs::write(&go, "").unwrap();
        engine.retry(&a, false).await.unwrap();
        let again = engine.retry(&b, false).await.unwrap();
        assert!(matches!(again.status, JobStatus::Waiting | JobStatus::Queued), "{again:?}");
        let done = engine.wait(std::slice::from_ref(&b), WAIT).await.unwrap().remove(0);
        assert_eq!((done.status, done.attempts), (JobStatus::Succeeded, 1));
        let runs = std::fs::read_to_string(dir.path().join("runs")).unwrap();
        assert!(runs.ends_with("b after succeeded\n"), "{runs}");
        engine.shutdown();
    }

    #[tokio::test]
    async fn cancelling_a_job_cancels_what_needs_it_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let go = dir.path().join("go");
        let engine = script_engine(dir.path(), EngineConfig::default()).await;
        let a = engine.submit(held_job("a", &go)).await.unwrap().job_id;
        let b = engine.submit(after("b", &[&a])).await.unwrap().job_id;
        let c = engine.submit(after("c", &[&b])).await.unwrap().job_id;
        let any = JobSpec { after_any_outcome: true, ..after("report", &[&a]) };
        let report = engine.submit(any).await.unwrap().job_id;
        until("a runs", || engine.stats().unwrap().running == 1).await;
        let cancelled = engine.cancel(&a).await.unwrap();
        assert_eq!(cancelled.record.status, JobStatus::Cancelled);
        assert_eq!(cancelled.cancelled_dependants, [b.clone(), c.clone()]);
        let b = engine.status(&b).await.unwrap();
        assert_eq!(b.status, JobStatus::Cancelled);
        assert_eq!(b.error.as_deref(), Some(format!("cancelled with job {a}, which it runs after").as_str()));
        let report = engine.wait(&[report], WAIT).await.unwrap().remove(0);
        assert_eq!(report.status, JobStatus::Succeeded, "it runs whatever a ended with");
        assert_eq!(engine.stats().unwrap().waiting, 0);
        engine.shutdown();
    }

    #[tokio::test]
    async fn what_a_job_cannot_run_after_is_refused_at_submission() {
        let dir = tempfile::tempdir().unwrap();
        let engine = script_engine(dir.path(), EngineConfig::default()).await;
        let refused = |spec: JobSpec| {
            let engine = engine.clone();
            async move { engine.submit(spec).await.unwrap_err().to_string() }
        };
        assert!(refused(after("p", &["nope"])).await.contains("after names job nope, which does not exist"));
        let entry = JobSpec { after: vec![After::Entry(0)], ..after("p", &[]) };
        assert!(refused(entry).await.contains("only in job_batch"));
        assert!(refused(after("{{after.1.result}}", &["x"])).await.contains("has 1 entries"));

        let failed = engine.submit(JobSpec { timeout_s: Some(1), ..held_job("stuck", &dir.path().join("never")) });
        let failed = failed.await.unwrap().job_id;
        engine.wait(std::slice::from_ref(&failed), WAIT).await.unwrap();
        let err = refused(after("p", &[&failed])).await;
        assert!(err.contains("ended timed_out: it would never run"), "{err}");
        let any = JobSpec { after_any_outcome: true, ..after("after {{after.0.status}}", &[&failed]) };
        let ran = engine.submit(any).await.unwrap();
        assert_ne!(ran.status, JobStatus::Waiting, "queued at once: its parent has ended");

        // A batch names earlier entries by index, never later ones or itself.
        let batch = vec![
            JobSpec { prompt: "one".into(), ..JobSpec::default() },
            JobSpec { after: vec![After::Entry(0)], ..after("two after {{after.0.job_id}}", &[]) },
            JobSpec { after: vec![After::Entry(0), After::Entry(1)], ..after("three", &[]) },
        ];
        let (queued, refusal) = engine.submit_all(batch).await;
        assert!(refusal.is_none(), "{refusal:?}");
        assert_eq!(queued[2].after, [queued[0].job_id.clone(), queued[1].job_id.clone()]);
        let cycle = vec![after("x", &[]), JobSpec { after: vec![After::Entry(1)], ..after("y", &[]) }];
        let (queued, refusal) = engine.submit_all(cycle).await;
        assert_eq!(queued.len(), 1);
        assert!(refusal.unwrap().to_string().contains("would be a cycle"));
        engine.shutdown();
    }
}
