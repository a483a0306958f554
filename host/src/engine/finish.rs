//! How jobs end, and how callers wait for that: a job is finished
//! ([`Inner::finish`]) once the hooks that see its end have run
//! ([`Inner::conclude`]), or cancelled ([`Engine::cancel`]); its record is
//! queued for the store before it leaves the live set, so a reader always
//! finds it somewhere. [`Engine::wait`] sleeps until its jobs have ended.

use super::state::{Live, State};
use super::{Engine, EngineError, Inner, events, job_info};
use crate::hooks::{EventName, HookOutcome};
use crate::job::{Cancelled, JobRecord, JobStatus, now_ms};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

impl Engine {
    /// Cancels a queued, waiting or running job, and the waiting jobs that
    /// would never run without it; returns its record once it has stopped.
    /// Cancelling a finished job changes nothing.
    pub async fn cancel(&self, id: &str) -> Result<Cancelled, EngineError> {
        let cancelled_dependants = self.cancel_dependants(id).await;
        let running = {
            let state = self.inner.state.lock();
            let running = state.live.get(id).is_some_and(|l| l.record.status == JobStatus::Running);
            if running {
                state.live[id].cancel.cancel();
            }
            running
        };
        let record = if running {
            self.wait(&[id.to_string()], Duration::from_secs(3600)).await?.remove(0)
        } else {
            self.inner.cancel_unstarted(id, None);
            // What a client is told survives a crash (unless the store fails).
            let _ = self.inner.writes.flush().await;
            self.status(id).await?
        };
        Ok(Cancelled { record, cancelled_dependants })
    }

    /// Waits until every job in `ids` is finished, or `timeout`; returns their records.
    pub async fn wait(&self, ids: &[String], timeout: Duration) -> Result<Vec<JobRecord>, EngineError> {
        let mut ended = self.inner.ended.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        // A finished job never changes again: each is taken once, as it
        // ends (from the state's recent ends) or from the store.
        let mut finished: HashMap<&str, JobRecord> = HashMap::new();
        let wanted: HashSet<&str> = ids.iter().map(String::as_str).collect();
        // The jobs to read: at first all that are not live, then those that
        // finished since the last look and whose records were not kept.
        let mut look_at: Vec<&str> = wanted.iter().copied().collect();
        let mut mark = self.inner.state.lock().recent_ends.total();
        loop {
            let gone: Vec<&str> = {
                let state = self.inner.state.lock();
                look_at.retain(|id| !finished.contains_key(id) && !state.live.contains_key(*id));
                std::mem::take(&mut look_at)
            };
            for id in gone {
                let record = self.status(id).await?;
                if record.status.is_terminal() {
                    finished.insert(id, record);
                }
            }
            let done = finished.len() == wanted.len();
            if done || tokio::time::timeout_at(deadline, ended.changed()).await.is_err() {
                // What a client is told survives a crash (unless the store fails).
                let _ = self.inner.writes.flush().await;
                let mut records = Vec::with_capacity(ids.len());
                for id in ids {
                    records.push(match finished.get(id.as_str()) {
                        Some(record) => record.clone(),
                        None => self.status(id).await?,
                    });
                }
                return Ok(records);
            }
            let state = self.inner.state.lock();
            match state.recent_ends.since(mark) {
                Some(new) => {
                    for (id, record) in new {
                        let Some(id) = wanted.get(id).copied() else { continue };
                        match record {
                            Some(record) => {
                                finished.insert(id, record.clone());
                            }
                            None => look_at.push(id),
                        }
                    }
                }
                None => look_at.extend(wanted.iter().copied()),
            }
            mark = state.recent_ends.total();
        }
    }
}

impl Inner {
    /// Cancels job `id` if it is live and not running (queued, waiting, or
    /// waiting for a retry), with `why` as its error.
    pub(super) fn cancel_unstarted(self: &Arc<Self>, id: &str, why: Option<String>) {
        let ended = {
            let mut state = self.state.lock();
            let Some(live) = state.live.get_mut(id).filter(|l| l.record.status != JobStatus::Running) else {
                return;
            };
            live.cancel.cancel();
            live.record.status = JobStatus::Cancelled;
            live.record.finished_at_ms = Some(now_ms());
            live.record.retry_at_ms = None;
            live.record.error = why;
            // Queued for the store before it leaves the live set, so a
            // reader always finds it somewhere.
            self.writes.record(&live.record);
            state.dequeue(id);
            let ended = state.finish(id, Instant::now()).expect("present");
            (ended, self.follow_up(&mut state))
        };
        let (ended, follow_up) = ended;
        self.ended_one(follow_up);
        let Live { spec, record, .. } = ended;
        // Cancelled between attempts, it may have left work in its place.
        self.seal_later(&record);
        self.fire(|| events::about_job(EventName::PostJob, &spec, &record, job_info(&spec, &record)));
    }

    /// Whether a job's end left work for the task that follows ends up
    /// (`endings.rs`): dependants settled, or a finished tree someone
    /// listens for (when nobody does, the trees are dropped here, and the
    /// task is not woken for nothing at every end).
    fn follow_up(&self, state: &mut State) -> bool {
        let trees = state.has_finished_trees();
        if trees && self.hooks.is_none() && self.trees.receiver_count() == 0 {
            state.take_finished_trees();
            return state.waits.has_settled();
        }
        trees || state.waits.has_settled()
    }

    /// Tells who watches that a job ended: waiters, and (`follow_up`) the
    /// task acting on what the end settled.
    fn ended_one(&self, follow_up: bool) {
        self.changed.send_modify(|n| *n += 1);
        self.ended.send_modify(|n| *n += 1);
        if follow_up {
            self.settled.notify_one();
        }
    }

    /// Ends a job with `status`. The store is updated (or the update kept,
    /// see [`persist`]) before the job leaves the live set, so a reader never
    /// finds it in neither.
    pub(super) fn finish(&self, id: &str, status: JobStatus, update: impl FnOnce(&mut JobRecord)) {
        let follow_up = {
            let mut state = self.state.lock();
            let Some(live) = state.live.get_mut(id) else { return };
            live.record.status = status;
            live.record.finished_at_ms = Some(now_ms());
            live.record.retry_at_ms = None;
            update(&mut live.record);
            self.writes.record(&live.record);
            state.finish(id, Instant::now());
            self.follow_up(&mut state)
        };
        self.ended_one(follow_up);
    }

    /// Ends a job with `status` once the `PostJob` hooks (and `JobFailed`
    /// ones, for a failure) have seen its final record; the context they
    /// attach lands in its notes before any waiter sees it finished.
    pub(super) async fn conclude(&self, id: &str, status: JobStatus, update: impl FnOnce(&mut JobRecord)) {
        let Some((spec, mut record)) = self.state.lock().live.get(id).map(|l| (l.spec.clone(), l.record.clone()))
        else {
            return;
        };
        record.status = status;
        record.finished_at_ms = Some(now_ms());
        record.retry_at_ms = None;
        update(&mut record);
        // What it changed is on its record before anyone sees it ended.
        self.seal_workspace(&mut record).await;
        if self.hooks.is_some() {
            let info = job_info(&spec, &record);
            let post = self.hook(|| events::about_job(EventName::PostJob, &spec, &record, info.clone()));
            let failed = async {
                match status {
                    JobStatus::Failed | JobStatus::TimedOut => {
                        self.hook(|| events::about_job(EventName::JobFailed, &spec, &record, info.clone())).await
                    }
                    _ => HookOutcome::default(),
                }
            };
            let (post, failed) = tokio::join!(post, failed);
            record.notes.extend(post.additional_context.into_iter().chain(failed.additional_context));
        }
        self.finish(id, status, move |live| *live = record);
    }
}

#[cfg(test)]
mod tests {
    use super::super::EngineConfig;
    use super::super::testing::{WAIT, held_job, script_engine};
    use crate::job::{JobSpec, JobStatus};
    use std::time::Duration;

    #[tokio::test]
    async fn a_wait_returns_when_its_jobs_end_whichever_order_and_however_often_named() {
        let dir = tempfile::tempdir().unwrap();
        let go = dir.path().join("go");
        let engine = script_engine(dir.path(), EngineConfig::default()).await;
        let slow = engine.submit(held_job("held", &go)).await.unwrap().job_id;
        let quick: Vec<String> = futures::future::join_all(
            (0..5).map(|i| engine.submit(JobSpec { prompt: format!("quick {i}"), ..JobSpec::default() })),
        )
        .await
        .into_iter()
        .map(|submitted| submitted.unwrap().job_id)
        .collect();
        // Named twice, and one job that ends long after the others.
        let mut ids = vec![slow.clone(), quick[0].clone()];
        ids.extend(quick.iter().cloned());
        let wait = engine.wait(&ids, Duration::from_secs(3600));
        let finished = async {
            engine.wait(&quick, WAIT).await.unwrap();
            std::fs::write(&go, "").unwrap();
            wait.await.unwrap()
        };
        let records = tokio::time::timeout(WAIT, finished).await.expect("the wait returned when its jobs ended");
        assert_eq!(records.len(), ids.len());
        assert!(records.iter().zip(&ids).all(|(r, id)| &r.job_id == id && r.status == JobStatus::Succeeded));
        engine.shutdown();
    }
}
