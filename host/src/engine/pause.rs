//! `queue_pause` / `queue_resume`: holding starts back, for the whole queue
//! or the jobs of a tag. The pauses are stored before they are answered (a
//! restart keeps them, as it keeps the queue) and applied in the state,
//! where both the offer to the scheduler and every start check them.

use super::{Engine, EngineError};
use crate::job::{Pauses, check_tag};

impl Engine {
    /// Pauses (`paused`) or resumes the whole queue (`tag` none) or the
    /// jobs with `tag`; the pauses in force after it. Running jobs go on.
    pub async fn set_paused(&self, tag: Option<String>, paused: bool) -> Result<Pauses, EngineError> {
        if let Some(tag) = &tag {
            check_tag(tag).map_err(EngineError::Invalid)?;
        }
        let inner = &self.inner;
        // One change at a time, so stored and applied pauses agree.
        let _changing = inner.admission.lock().await;
        let mut pauses = inner.state.lock().paused.clone();
        pauses.set(tag.as_deref(), paused);
        let store = inner.store.clone();
        let stored = pauses.clone();
        tokio::task::spawn_blocking(move || store.set_pauses(&stored)).await.expect("a store write panicked")?;
        inner.state.lock().paused = pauses.clone();
        tracing::info!(tag = tag.as_deref().unwrap_or("(all)"), paused, "queue pauses changed");
        if !paused {
            inner.wake.notify_one();
        }
        inner.changed.send_modify(|n| *n += 1);
        Ok(pauses)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::EngineConfig;
    use crate::engine::testing::{WAIT, held_job, script_engine, until};
    use crate::job::{JobSpec, JobStatus};

    fn tagged(prompt: &str, tag: &str) -> JobSpec {
        JobSpec { prompt: prompt.into(), tags: vec![tag.into()], ..JobSpec::default() }
    }

    #[tokio::test]
    async fn a_paused_queue_starts_nothing_lets_running_jobs_finish_and_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let go = dir.path().join("go");
        let engine = script_engine(dir.path(), EngineConfig::default()).await;
        let running = engine.submit(held_job("running", &go)).await.unwrap().job_id;
        until("the first job runs", || engine.stats().unwrap().running == 1).await;

        let pauses = engine.set_paused(None, true).await.unwrap();
        assert!(pauses.all && engine.stats().unwrap().paused.all);
        let held = engine.submit(JobSpec { prompt: "held".into(), ..JobSpec::default() }).await.unwrap().job_id;
        std::fs::write(&go, "").unwrap();
        engine.wait(std::slice::from_ref(&running), WAIT).await.unwrap();
        let status = engine.status(&held).await.unwrap();
        assert_eq!(status.status, JobStatus::Queued);
        assert!(status.waiting_for.unwrap().contains("the queue is paused"));

        engine.set_paused(None, false).await.unwrap();
        let done = engine.wait(&[held], WAIT).await.unwrap();
        assert_eq!(done[0].status, JobStatus::Succeeded);
        engine.shutdown();
    }

    #[tokio::test]
    async fn a_paused_tag_holds_its_jobs_only_and_bad_tags_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let engine = script_engine(dir.path(), EngineConfig::default()).await;
        engine.set_paused(Some("nightly".into()), true).await.unwrap();
        let nightly = engine.submit(tagged("nightly run", "nightly")).await.unwrap().job_id;
        let other = engine.submit(tagged("other run", "review")).await.unwrap().job_id;
        assert_eq!(engine.wait(std::slice::from_ref(&other), WAIT).await.unwrap()[0].status, JobStatus::Succeeded);
        let status = engine.status(&nightly).await.unwrap();
        assert_eq!(status.status, JobStatus::Queued);
        assert!(status.waiting_for.unwrap().contains("tag \"nightly\" is paused"));
        for bad in ["", "a\nb"] {
            let err = engine.set_paused(Some(bad.into()), true).await.unwrap_err().to_string();
            assert!(err.contains("is not allowed"), "{err}");
        }
        let pauses = engine.set_paused(Some("nightly".into()), false).await.unwrap();
        assert!(!pauses.all && pauses.tags.is_empty());
        assert_eq!(engine.wait(&[nightly], WAIT).await.unwrap()[0].status, JobStatus::Succeeded);
        engine.shutdown();
    }
}
