//! Taking a job: [`Engine::submit`] checks what refuses work (the spec, the
//! depth, the `JobSubmit` hooks, the agent), ranks the job, admits it under
//! the queue and tree limits (atomically, see [`super::state::State::admit`])
//! and answers once the job is stored.
//!
//! A submission with an idempotency key the engine knows (a live job's, or
//! a stored one's) is answered with that job instead: looked up before the
//! hooks run (a repeat has no side effects) and again under the admission
//! lock (two repeats racing make one job).

use super::state::{Admission, Live, Refusal};
use super::{Engine, Inner, events, job_info};
use crate::config::EngineConfig;
use crate::contract::{ExtensionPoint, JobInfo};
use crate::job::{After, JobRecord, JobSpec, JobStatus, now_ms, preview};
use crate::store::StoreError;
use std::sync::atomic::Ordering;

/// Why a submission was refused. Concurrency never refuses: only these do.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("invalid job: {0}")]
    Invalid(String),
    #[error(
        "the job would run at depth {depth}, beyond the maximum depth of {max} \
         (engine.max-depth in ringmaster.yaml or CLAUDE_MAX_RECURSION_DEPTH)"
    )]
    TooDeep { depth: u32, max: u32 },
    #[error(
        "job tree {root} has already submitted {count} jobs, the most one tree may \
         (engine.max-jobs-per-root in ringmaster.yaml or CLAUDE_MAX_TOTAL_JOBS)"
    )]
    TreeFull { root: String, count: u32 },
    #[error("the queue is full: {depth} jobs are waiting, the limit is {max} (engine.max-queue in ringmaster.yaml)")]
    QueueFull { depth: usize, max: usize },
    #[error("no job {0}")]
    UnknownParent(String),
    #[error("a JobSubmit hook denied the job: {0}")]
    Denied(String),
    #[error("{0}")]
    StoreUnwritable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The record of job `id`, queued: what `spec` asks, at `(depth, root)`
/// of its tree, with the configuration's defaults for what it leaves out.
pub(super) fn queued_record(
    id: String,
    spec: &JobSpec,
    agent: String,
    (depth, root): (u32, String),
    config: &EngineConfig,
    now_ms: u64,
) -> JobRecord {
    JobRecord {
        job_id: id,
        status: if spec.after.is_empty() { JobStatus::Queued } else { JobStatus::Waiting },
        prompt: preview(&spec.prompt, 200),
        agent,
        model: spec.model.clone(),
        priority: spec.priority,
        tags: spec.tags.clone(),
        depth,
        parent_job_id: spec.parent_job_id.clone(),
        client: spec.client.clone(),
        idempotency_key: spec.idempotency_key.clone(),
        root_job_id: root,
        after: spec.after.iter().filter_map(After::job).map(str::to_string).collect(),
        after_any_outcome: spec.after_any_outcome,
        attempts: 0,
        limited_attempts: 0,
        max_retries: spec.max_retries.unwrap_or(config.default_max_retries),
        created_at_ms: now_ms,
        started_at_ms: None,
        finished_at_ms: None,
        retry_at_ms: None,
        waiting_for: None,
        timeout_s: spec.timeout_s.or(config.default_timeout_s),
        token_slot: None,
        session_id: None,
        result: None,
        error: None,
        exit_code: None,
        cost_usd: 0.0,
        usage: None,
        notes: Vec::new(),
        history: Vec::new(),
        workspace: None,
        checkpoints: None,
    }
}

/// A job admitted to the queue whose insert may not be in the store yet,
/// or the job that already has the submission's idempotency key.
enum Admitted {
    New { record: Box<JobRecord>, stored: tokio::sync::oneshot::Receiver<Result<(), String>> },
    Existing { id: String },
}

impl Engine {
    /// Queues a job. Refused only when invalid, past the depth limit, the
    /// tree's total or the queue size; otherwise it waits for capacity,
    /// however long.
    pub async fn submit(&self, spec: JobSpec) -> Result<JobRecord, SubmitError> {
        let admitted = self.admit(spec).await?;
        self.confirm(admitted).await
    }

    /// Queues jobs in order, as [`Engine::submit`] each, stopping at the
    /// first refused; what was queued before it stays queued. The inserts
    /// go to the store together (one commit rather than one per job), and
    /// the answer comes once all are stored.
    /// An entry may run after earlier entries, named by index (see
    /// [`crate::job::after`]).
    pub async fn submit_all(&self, specs: Vec<JobSpec>) -> (Vec<JobRecord>, Option<SubmitError>) {
        let mut admitted = Vec::with_capacity(specs.len());
        let mut ids: Vec<String> = Vec::with_capacity(specs.len());
        let mut refused = None;
        for (index, mut spec) in specs.into_iter().enumerate() {
            if let Err(err) = resolve_entries(&mut spec, index, &ids) {
                refused = Some(err);
                break;
            }
            match self.admit(spec).await {
                Ok(job) => {
                    ids.push(match &job {
                        Admitted::New { record, .. } => record.job_id.clone(),
                        Admitted::Existing { id } => id.clone(),
                    });
                    admitted.push(job);
                }
                Err(err) => {
                    refused = Some(err);
                    break;
                }
            }
        }
        let mut queued = Vec::with_capacity(admitted.len());
        for job in admitted {
            match self.confirm(job).await {
                Ok(record) => queued.push(record),
                // The store failed: the rest are retracted the same way.
                Err(err) => refused = refused.or(Some(err)),
            }
        }
        (queued, refused)
    }

    /// Everything of a submission but waiting for its insert to be stored.
    async fn admit(&self, mut spec: JobSpec) -> Result<Admitted, SubmitError> {
        let inner = &self.inner;
        let settings = inner.settings.load_full();
        let (config, agents) = (&settings.config, &settings.agents);
        inner.writes.writable().map_err(SubmitError::StoreUnwritable)?;
        inner.check(&mut spec)?;
        if let Some(id) = inner.job_with_key(&spec)? {
            return Ok(Admitted::Existing { id });
        }
        // Version 7: ids in submission order, so the store's indexes on
        // them grow at one end instead of dirtying a random page per job
        // (measured: a third of the store writer's time).
        let id = uuid::Uuid::now_v7().to_string();
        let parent = match &spec.parent_job_id {
            None => None,
            Some(parent) => Some(self.status(parent).await.map_err(|_| SubmitError::UnknownParent(parent.clone()))?),
        };
        let (depth, root) = match &parent {
            None => (0, id.clone()),
            Some(parent) => (parent.depth + 1, parent.root_job_id.clone()),
        };
        if depth > config.max_depth {
            return Err(SubmitError::TooDeep { depth, max: config.max_depth });
        }
        if let Some(hooks) = &inner.hooks {
            let agent = spec.agent.clone().unwrap_or_else(|| config.default_agent.clone());
            let outcome = hooks.dispatch(events::job_submit(&id, depth, &root, &spec, &agent)).await;
            if let Some(reason) = outcome.refusal() {
                tracing::info!(job = %id, reason = %reason, "JobSubmit hook denied a job");
                return Err(SubmitError::Denied(reason));
            }
            events::rewrite(&mut spec, &outcome.updated_input).map_err(SubmitError::Invalid)?;
            for context in &outcome.additional_context {
                spec.prompt.push_str("\n\n");
                spec.prompt.push_str(context);
            }
            // Again: a hook may have rewritten it.
            inner.check(&mut spec).map_err(|err| match err {
                SubmitError::Invalid(why) => SubmitError::Invalid(format!("after the JobSubmit hooks' rewrite: {why}")),
                other => other,
            })?;
        }
        let agent = spec.agent.clone().unwrap_or_else(|| config.default_agent.clone());
        if agent != "claude" && !agents.contains_key(&agent) {
            let known: Vec<&str> =
                std::iter::once("claude").chain(agents.keys().map(String::as_str).filter(|a| *a != "claude")).collect();
            return Err(SubmitError::Invalid(format!(
                "unknown agent {agent:?}; configured agents: {}",
                known.join(", ")
            )));
        }
        let mut ended = inner.judge_parents(&spec)?;
        let (workspace, checkpoints) = inner.plan_workspace(&id, &spec, agents.get(&agent), parent.as_ref()).await?;
        let mut record = queued_record(id.clone(), &spec, agent, (depth, root), config, now_ms());
        (record.workspace, record.checkpoints) = (workspace, checkpoints);
        let rank = inner.rank(job_info(&spec, &record)).await;
        let limits = Admission { max_queue: config.max_queue, max_per_tree: config.max_jobs_per_root };
        let stored = {
            // Admission is atomic: the checks and taking the job happen under
            // one lock, so concurrent submissions cannot overshoot a limit;
            // their inserts then go to the store together.
            let _admission = inner.admission.lock().await;
            if let Some(id) = inner.job_with_key(&spec)? {
                return Ok(Admitted::Existing { id });
            }
            let root = &record.root_job_id;
            // A root job starts its own tree; a tree with a live job is
            // counted in the state; one without has all its jobs in the store.
            let tree_size = match spec.parent_job_id {
                None => 0,
                Some(_) => inner.tree_size(root)?,
            };
            let mut state = inner.lock_with_parents_judged(&spec, &record.after, &mut ended)?;
            let seq = inner.last_seq.fetch_add(1, Ordering::Relaxed) + 1;
            let live = Live::new(spec.clone(), record.clone(), seq, rank, inner.shutdown.child_token());
            match state.admit(live, limits, tree_size) {
                Ok(()) => {
                    if record.status == JobStatus::Waiting {
                        // Ready now or not, it is queued once it is stored (`confirm`).
                        state.wait_after(&id, &ended);
                    }
                    drop(state);
                    inner.writes.insert(crate::store::StoredJob { seq, spec, record: record.clone() })
                }
                Err(Refusal::TreeFull { count }) => {
                    return Err(SubmitError::TreeFull { root: record.root_job_id, count });
                }
                Err(Refusal::QueueFull { queued }) => {
                    return Err(SubmitError::QueueFull { depth: queued, max: config.max_queue });
                }
            }
        };
        Ok(Admitted::New { record: Box::new(record), stored })
    }

    /// Waits until an admitted job is stored: a submission is answered only
    /// then, so one that was answered survives a crash. One the store could
    /// not take is taken back.
    async fn confirm(&self, admitted: Admitted) -> Result<JobRecord, SubmitError> {
        let inner = &self.inner;
        let (record, stored) = match admitted {
            Admitted::New { record, stored } => (*record, stored),
            Admitted::Existing { id } => {
                // Answered once its insert is stored, as it was the first time.
                inner.writes.flush().await.map_err(SubmitError::StoreUnwritable)?;
                return self.status(&id).await.map_err(|err| SubmitError::StoreUnwritable(err.to_string()));
            }
        };
        if let Err(why) = stored.await.unwrap_or_else(|_| Err("the store writer has stopped".into())) {
            inner.state.lock().retract(&record.job_id);
            inner.writes.forget(&record.job_id);
            return Err(SubmitError::StoreUnwritable(why));
        }
        if record.status == JobStatus::Waiting {
            // Queued at once when what it runs after has already ended.
            inner.queue_if_ready(&record.job_id);
            return self.status(&record.job_id).await.map_err(|err| SubmitError::StoreUnwritable(err.to_string()));
        }
        inner.wake.notify_one();
        Ok(record)
    }
}

/// Replaces the batch entries `spec.after` names by their ids (`ids`: of
/// the entries before entry `index`).
fn resolve_entries(spec: &mut JobSpec, index: usize, ids: &[String]) -> Result<(), SubmitError> {
    for entry in &mut spec.after {
        if let After::Entry(earlier) = *entry {
            let Some(id) = ids.get(earlier).filter(|_| earlier < index) else {
                return Err(SubmitError::Invalid(format!(
                    "entry {index} runs after batch entry {earlier}, which is not before it: an entry can run only \
                     after earlier ones (anything else would be a cycle)"
                )));
            };
            *entry = After::Job(id.clone());
        }
    }
    Ok(())
}

impl Inner {
    /// Jobs submitted so far in `root`'s tree: the state's count while the
    /// tree has a live job; else the store's, where all its jobs are.
    pub(super) fn tree_size(&self, root: &str) -> Result<u32, StoreError> {
        let known = self.state.lock().tree_size(root);
        match known {
            Some(size) => Ok(size),
            None => Ok(self.store.count_in_tree(root)? as u32),
        }
    }

    /// The job that has `spec`'s idempotency key, if it has one and the
    /// engine knows the key: a live job's, or a stored (finished) one's.
    fn job_with_key(&self, spec: &JobSpec) -> Result<Option<String>, StoreError> {
        let Some(key) = &spec.idempotency_key else { return Ok(None) };
        if let Some(id) = self.state.lock().job_with_key(key) {
            return Ok(Some(id.to_string()));
        }
        self.store.job_with_key(key)
    }

    /// Validates `spec` (see [`JobSpec::validate`]) and resolves its `cwd`
    /// against the project, which must then be an existing directory.
    pub(super) fn check(&self, spec: &mut JobSpec) -> Result<(), SubmitError> {
        spec.validate(self.settings.load().config.max_prompt_bytes).map_err(SubmitError::Invalid)?;
        if let Some(cwd) = &mut spec.cwd {
            *cwd = self.project_dir.join(&*cwd);
            if !cwd.is_dir() {
                return Err(SubmitError::Invalid(format!("cwd {} is not an existing directory", cwd.display())));
            }
        }
        Ok(())
    }

    /// The scheduler's rank for a job about to be queued.
    pub(super) async fn rank(&self, info: JobInfo) -> i64 {
        self.policy(ExtensionPoint::Scheduler, move |policies| policies.rank(std::slice::from_ref(&info))[0]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testing::{WAIT, held_job, script_engine};

    fn keyed(spec: JobSpec, key: &str) -> JobSpec {
        JobSpec { idempotency_key: Some(key.into()), ..spec }
    }

    fn runs(dir: &std::path::Path) -> Vec<String> {
        std::fs::read_to_string(dir.join("runs")).unwrap_or_default().lines().map(String::from).collect()
    }

    #[tokio::test]
    async fn a_repeated_key_gets_the_same_job_live_racing_batched_or_finished() {
        let dir = tempfile::tempdir().unwrap();
        let go = dir.path().join("go");
        let engine = script_engine(dir.path(), EngineConfig::default()).await;
        let first = engine.submit(keyed(held_job("nightly", &go), "nightly")).await.unwrap();

        // While it runs, and from racing submissions: the same job.
        let repeats = futures::future::join_all(
            (0..5).map(|i| engine.submit(keyed(held_job(&format!("nightly again {i}"), &go), "nightly"))),
        )
        .await;
        for repeat in repeats {
            assert_eq!(repeat.unwrap().job_id, first.job_id);
        }
        // In a batch: an entry repeating an earlier entry's key is that entry's job.
        let batch =
            ["a", "b", "a"].map(|key| keyed(JobSpec { prompt: format!("batch {key}"), ..JobSpec::default() }, key));
        let (queued, refused) = engine.submit_all(batch.into()).await;
        assert!(refused.is_none());
        assert_eq!(queued[0].job_id, queued[2].job_id);
        assert_ne!(queued[0].job_id, queued[1].job_id);

        // Finished, the key is found in the store.
        std::fs::write(&go, "").unwrap();
        let ids = [first.job_id.clone(), queued[0].job_id.clone(), queued[1].job_id.clone()];
        engine.wait(&ids, WAIT).await.unwrap();
        let again = engine.submit(keyed(held_job("nightly once more", &go), "nightly")).await.unwrap();
        assert_eq!((again.job_id, again.status), (first.job_id, JobStatus::Succeeded));
        let mut ran = runs(dir.path());
        ran.sort();
        assert_eq!(ran, ["batch a", "batch b", "nightly"], "each key ran once");

        // Another key, or none: a job of its own.
        let other = engine.submit(keyed(held_job("weekly", &go), "weekly")).await.unwrap();
        let plain = engine.submit(held_job("nightly", &go)).await.unwrap();
        assert!(other.job_id != ids[0] && plain.job_id != ids[0] && other.job_id != plain.job_id);
        engine.shutdown();
    }

    #[tokio::test]
    async fn a_bad_key_is_refused_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let engine = script_engine(dir.path(), EngineConfig::default()).await;
        let refused = engine.submit(keyed(JobSpec { prompt: "p".into(), ..JobSpec::default() }, " ")).await;
        assert!(matches!(refused, Err(SubmitError::Invalid(why)) if why.contains("idempotency_key")));
        assert_eq!(engine.list(&Default::default(), 10).unwrap().len(), 0);
        engine.shutdown();
    }
}
