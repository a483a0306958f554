//! Schedules in the engine (see [`crate::schedule`]): kept in memory with
//! their parsed timing, stored before any change is answered, and fired by
//! one task that sleeps until the next occurrence or a change (a waiting
//! engine wakes only when something is due, and at least every
//! [`MAX_SLEEP`], so that a change of the wall clock is noticed).
//!
//! A run is an ordinary submission (tagged `schedule:ID`, keyed by the
//! occurrence); one the engine refuses (a full queue, an agent since
//! removed) is recorded in the schedule's `last_error` and the schedule
//! goes on with its next occurrence.
//!
//! Locking: the schedules' mutex is held only to read or change the map,
//! never across a store write or a submission.

use super::{Engine, EngineError, Inner};
use crate::job::{JobSpec, now_ms};
use crate::schedule::{MAX_SCHEDULES, Schedule, Timing, check_name};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The longest the firing task sleeps.
const MAX_SLEEP: Duration = Duration::from_secs(300);

/// A schedule and its parsed timing.
struct Entry {
    schedule: Schedule,
    timing: Timing,
}

/// The engine's schedules, by id.
#[derive(Default)]
pub(super) struct Schedules {
    entries: BTreeMap<String, Entry>,
}

impl Schedules {
    /// The stored schedules; one whose pattern no longer parses (a newer
    /// parser's store?) is left out with a warning.
    pub fn load(stored: Vec<Schedule>) -> Schedules {
        let mut entries = BTreeMap::new();
        for schedule in stored {
            match schedule.timing() {
                Ok(timing) => {
                    entries.insert(schedule.schedule_id.clone(), Entry { schedule, timing });
                }
                Err(why) => tracing::warn!(schedule = %schedule.schedule_id, "schedule left out: {why}"),
            }
        }
        Schedules { entries }
    }

    fn listed(entry: &Entry) -> Schedule {
        let mut schedule = entry.schedule.clone();
        schedule.next_at_ms = (!schedule.paused).then(|| entry.timing.next_after(schedule.since_ms())).flatten();
        schedule
    }

    /// The occurrences due at `now`: (schedule, occurrence, its job).
    fn due(&self, now: u64) -> Vec<(String, u64, JobSpec)> {
        self.entries
            .values()
            .filter(|e| !e.schedule.paused)
            .filter_map(|e| {
                let at = e.timing.due(e.schedule.since_ms(), now)?;
                Some((e.schedule.schedule_id.clone(), at, e.schedule.run(at)))
            })
            .collect()
    }

    /// When the next occurrence of any schedule comes round.
    fn next_at(&self) -> Option<u64> {
        self.entries.values().filter_map(|e| Schedules::listed(e).next_at_ms).min()
    }

    /// Schedules, with when each fires next.
    pub fn list(&self) -> Vec<Schedule> {
        self.entries.values().map(Schedules::listed).collect()
    }

    /// How many are not paused.
    pub fn active(&self) -> usize {
        self.entries.values().filter(|e| !e.schedule.paused).count()
    }

    /// How many there are, and when the next fires.
    pub fn summary(&self) -> (usize, Option<u64>) {
        (self.entries.len(), self.next_at())
    }
}

impl Engine {
    /// Creates a schedule: `job` submitted whenever `cron` comes round in
    /// `timezone` (default UTC); named `name`, or given a short id. It is
    /// stored before it is answered.
    pub async fn schedule_create(
        &self,
        name: Option<String>,
        cron: String,
        timezone: Option<String>,
        mut job: JobSpec,
    ) -> Result<Schedule, EngineError> {
        let inner = &self.inner;
        let id = match name {
            Some(name) => {
                check_name(&name).map_err(EngineError::Invalid)?;
                name
            }
            None => uuid::Uuid::new_v4().simple().to_string()[..12].to_string(),
        };
        let timezone = timezone.unwrap_or_else(|| "UTC".into());
        let timing = Timing::parse(&cron, &timezone).map_err(EngineError::Invalid)?;
        if !job.after.is_empty() || job.idempotency_key.is_some() {
            return Err(EngineError::Invalid(
                "a scheduled job cannot have after or idempotency_key: each run is keyed by its occurrence".into(),
            ));
        }
        inner.check(&mut job).map_err(|err| EngineError::Invalid(format!("the scheduled job: {err}")))?;
        let now = now_ms();
        let schedule = Schedule {
            schedule_id: id.clone(),
            cron,
            timezone,
            job,
            paused: false,
            created_at_ms: now,
            armed_at_ms: now,
            last_fired_ms: None,
            last_job_id: None,
            last_error: None,
            next_at_ms: None,
        };
        // One change at a time, so stored and kept schedules agree.
        let _changing = inner.admission.lock().await;
        {
            let schedules = inner.schedules.lock();
            if schedules.entries.contains_key(&id) {
                return Err(EngineError::Invalid(format!(
                    "a schedule {id} exists; delete it first or pick another name"
                )));
            }
            if schedules.entries.len() >= MAX_SCHEDULES {
                return Err(EngineError::Invalid(format!("there are {MAX_SCHEDULES} schedules, the most kept")));
            }
        }
        inner.store_schedule(&schedule).await?;
        let entry = Entry { schedule, timing };
        let listed = Schedules::listed(&entry);
        inner.schedules.lock().entries.insert(id.clone(), entry);
        inner.schedules_changed();
        tracing::info!(schedule = %id, "schedule created");
        Ok(listed)
    }

    /// Every schedule, with when each fires next.
    pub fn schedules(&self) -> Vec<Schedule> {
        self.inner.schedules.lock().list()
    }

    /// Deletes schedule `id` (its runs so far stay); what it was.
    pub async fn schedule_delete(&self, id: &str) -> Result<Schedule, EngineError> {
        let inner = &self.inner;
        let _changing = inner.admission.lock().await;
        let known = inner.schedules.lock().entries.contains_key(id);
        if !known {
            return Err(EngineError::Invalid(format!("no schedule {id}")));
        }
        let store = inner.store.clone();
        let deleted = id.to_string();
        tokio::task::spawn_blocking(move || store.delete_schedule(&deleted)).await.expect("a store write panicked")?;
        let entry = inner.schedules.lock().entries.remove(id).expect("checked above");
        inner.schedules_changed();
        Ok(entry.schedule)
    }

    /// Pauses or resumes schedule `id`. A resumed schedule fires at its
    /// next occurrence; those that came round while it was paused are not
    /// caught up.
    pub async fn schedule_pause(&self, id: &str, paused: bool) -> Result<Schedule, EngineError> {
        let inner = &self.inner;
        let _changing = inner.admission.lock().await;
        let mut schedule = {
            let schedules = inner.schedules.lock();
            let entry = schedules.entries.get(id).ok_or_else(|| EngineError::Invalid(format!("no schedule {id}")))?;
            entry.schedule.clone()
        };
        if schedule.paused != paused {
            schedule.paused = paused;
            if !paused {
                schedule.armed_at_ms = now_ms();
            }
            inner.store_schedule(&schedule).await?;
        }
        let listed = {
            let mut schedules = inner.schedules.lock();
            let entry = schedules.entries.get_mut(id).expect("changes are serialised");
            entry.schedule = schedule;
            Schedules::listed(entry)
        };
        inner.schedules_changed();
        Ok(listed)
    }
}

impl Inner {
    /// Tells the firing task, and who watches the engine (its lifetime).
    fn schedules_changed(&self) {
        self.schedules_changed.notify_one();
        self.changed.send_modify(|n| *n += 1);
    }

    async fn store_schedule(&self, schedule: &Schedule) -> Result<(), EngineError> {
        let store = self.store.clone();
        let schedule = schedule.clone();
        tokio::task::spawn_blocking(move || store.put_schedule(&schedule)).await.expect("a store write panicked")?;
        Ok(())
    }

    /// Fires what is due, then sleeps until the next occurrence or a change.
    pub(super) async fn schedules_loop(self: Arc<Self>) {
        let engine = Engine { inner: self.clone() };
        loop {
            let due = self.schedules.lock().due(now_ms());
            for (id, at, job) in due {
                self.run_schedule(&engine, &id, at, job).await;
            }
            let next = self.schedules.lock().next_at();
            let sleep = next.map_or(MAX_SLEEP, |at| Duration::from_millis(at.saturating_sub(now_ms())).min(MAX_SLEEP));
            tokio::select! {
                () = tokio::time::sleep(sleep) => {}
                () = self.schedules_changed.notified() => {}
                () = self.shutdown.cancelled() => return,
            }
        }
    }

    /// Submits the run of schedule `id` for occurrence `at`, and records it.
    async fn run_schedule(&self, engine: &Engine, id: &str, at: u64, job: JobSpec) {
        let (job_id, error) = match engine.submit(job).await {
            Ok(record) => {
                tracing::info!(schedule = %id, job = %record.job_id, "schedule fired");
                (Some(record.job_id), None)
            }
            Err(err) => {
                tracing::warn!(schedule = %id, error = %err, "a scheduled run was refused");
                (None, Some(err.to_string()))
            }
        };
        let _changing = self.admission.lock().await;
        let Some(mut schedule) = self.schedules.lock().entries.get(id).map(|e| e.schedule.clone()) else {
            return; // deleted meanwhile
        };
        schedule.last_fired_ms = Some(at);
        schedule.last_job_id = job_id.or(schedule.last_job_id);
        schedule.last_error = error;
        if let Err(err) = self.store_schedule(&schedule).await {
            // Kept in memory; after a restart its idempotency key finds the run.
            tracing::warn!(schedule = %id, error = %err, "a schedule's run is not stored");
        }
        if let Some(entry) = self.schedules.lock().entries.get_mut(id) {
            entry.schedule = schedule;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::EngineConfig;
    use crate::engine::testing::{script_engine, until};
    use crate::job::{After, JobFilter, JobSpec};

    fn job(prompt: &str) -> JobSpec {
        JobSpec { prompt: prompt.into(), ..JobSpec::default() }
    }

    #[tokio::test]
    async fn a_schedule_submits_one_tagged_job_per_occurrence_until_paused_or_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let engine = script_engine(dir.path(), EngineConfig::default()).await;
        let created = engine.schedule_create(Some("tick".into()), "* * * * * *".into(), None, job("tick")).await;
        let created = created.unwrap();
        assert_eq!(created.next_at_ms.unwrap() % 1000, 0, "on the second");
        let runs = JobFilter { tag: Some("schedule:tick".into()), ..JobFilter::default() };
        until("two runs", || engine.list(&runs, 10).unwrap().len() >= 2).await;
        let listed = engine.list(&runs, 10).unwrap();
        assert!(listed.iter().all(|r| r.client.as_deref() == Some("schedule/tick")));
        assert_ne!(listed[0].idempotency_key, listed[1].idempotency_key, "one key per occurrence");
        let fired = engine.schedules().remove(0);
        assert!(fired.last_fired_ms.is_some() && fired.last_job_id.is_some(), "{fired:?}");

        let paused = engine.schedule_pause("tick", true).await.unwrap();
        assert!(paused.paused && paused.next_at_ms.is_none(), "{paused:?}");
        let resumed = engine.schedule_pause("tick", false).await.unwrap();
        assert!(resumed.next_at_ms.is_some());

        let again = engine.schedule_create(Some("tick".into()), "* * * * *".into(), None, job("x")).await;
        assert!(again.unwrap_err().to_string().contains("a schedule tick exists"));
        let after = JobSpec { after: vec![After::Job("x".into())], ..job("x") };
        let err = engine.schedule_create(None, "* * * * *".into(), None, after).await.unwrap_err().to_string();
        assert!(err.contains("cannot have after"), "{err}");
        let err = engine.schedule_create(None, "* * * * *".into(), None, job(" ")).await.unwrap_err().to_string();
        assert!(err.contains("the scheduled job: invalid job: the prompt is empty"), "{err}");

        engine.schedule_delete("tick").await.unwrap();
        assert!(engine.schedules().is_empty());
        assert!(engine.schedule_delete("tick").await.unwrap_err().to_string().contains("no schedule tick"));
        engine.shutdown();
    }
}
