//! Writing job state to the store, and carrying on when the store cannot be
//! written (a full disk, a read-only remount, a lost volume).
//!
//! A write that fails is never dropped: the record is kept in memory
//! ([`Pending`]) and written later, newest version per job, and readers see
//! it there meanwhile, so a finished job reads as finished. Until the store
//! takes writes again the engine starts no job (a start it could not record
//! would run again after a restart) and refuses submissions with the reason;
//! `engine_stats` and the clients' log notifications say what is wrong. A
//! repair task retries, backing off up to [`MAX_RETRY`], and when everything
//! pending is written the engine carries on by itself. Transcript lines are
//! kept up to [`MAX_PENDING_LINE_BYTES`]; beyond that they are counted and
//! dropped. What cannot be kept is what dies with the process: a `kill -9`
//! while the store is unwritable loses the pending writes, and the jobs they
//! finished run again as interrupted.
//!
//! Locking: [`Pending`]'s lock is taken after the engine's state lock when
//! both are held, never before.

use super::Inner;
use crate::job::{JobRecord, now_ms};
use crate::store::StoreError;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The longest wait between two attempts to write what is pending.
const MAX_RETRY: Duration = Duration::from_secs(10);
/// Transcript bytes kept in memory while the store is unwritable.
const MAX_PENDING_LINE_BYTES: usize = 16 << 20;

/// What could not be written yet, and why.
#[derive(Default)]
pub(super) struct Pending {
    /// Why the store is unwritable, and since when (Unix ms).
    fault: Option<(String, u64)>,
    /// The newest unwritten version of each job's record.
    records: HashMap<String, JobRecord>,
    /// Unwritten transcript lines: (job, attempt, line), in order.
    lines: Vec<(String, u32, String)>,
    line_bytes: usize,
    dropped_lines: u64,
}

/// The store's condition, as `engine_stats` reports it.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct StoreHealth {
    pub writable: bool,
    /// Why the last write failed, while the store is unwritable.
    pub error: Option<String>,
    /// Since when (Unix ms).
    pub since_ms: Option<u64>,
    /// Job records and transcript lines held in memory, to be written.
    pub pending_records: usize,
    pub pending_lines: usize,
    /// Transcript lines dropped because too many were pending.
    pub dropped_lines: u64,
}

impl Inner {
    /// Writes `record`, or keeps it to write when the store takes writes
    /// again. Never blocks on the repair.
    pub(super) fn write_record(&self, record: &JobRecord) {
        let mut pending = self.pending.lock();
        if pending.fault.is_none() {
            match self.store.update(record) {
                Ok(()) => return,
                Err(err) => self.store_failed(&mut pending, &err),
            }
        }
        pending.records.insert(record.job_id.clone(), record.clone());
    }

    /// Writes `record` now, or says it could not: for a write that must
    /// happen before what it records (a job's start).
    pub(super) fn write_record_now(&self, record: &JobRecord) -> bool {
        let mut pending = self.pending.lock();
        if pending.fault.is_some() {
            return false;
        }
        match self.store.update(record) {
            Ok(()) => true,
            Err(err) => {
                self.store_failed(&mut pending, &err);
                false
            }
        }
    }

    /// Appends a transcript line, or keeps it (within a bound) to write later.
    pub(super) fn write_line(&self, id: &str, attempt: u32, line: &str) {
        let mut pending = self.pending.lock();
        if pending.fault.is_none() {
            match self.store.append_transcript(id, attempt, line) {
                Ok(()) => return,
                Err(err) => self.store_failed(&mut pending, &err),
            }
        }
        if pending.line_bytes + line.len() > MAX_PENDING_LINE_BYTES {
            pending.dropped_lines += 1;
            return;
        }
        pending.line_bytes += line.len();
        pending.lines.push((id.to_string(), attempt, line.to_string()));
    }

    /// Records that a write failed: the start of an episode, when it is one.
    pub(super) fn store_failed(&self, pending: &mut Pending, err: &StoreError) {
        if pending.fault.is_none() {
            tracing::error!(
                error = %err,
                "the job store cannot be written; no job starts and submissions are refused until it can \
                 (results are kept in memory meanwhile)"
            );
            pending.fault = Some((err.to_string(), now_ms()));
            self.store_fault.send_replace(Some(err.to_string()));
            self.store_trouble.notify_one();
        }
    }

    /// `Err` with the reason while the store is unwritable.
    pub(super) fn store_writable(&self) -> Result<(), String> {
        match &self.pending.lock().fault {
            None => Ok(()),
            Some((error, since)) => Err(format!(
                "the job store cannot be written since {} s ago ({error}); ringmaster refuses new jobs and starts \
                 none until it can, and carries on by itself then (engine_stats shows the state)",
                now_ms().saturating_sub(*since) / 1000
            )),
        }
    }

    /// A record that could not be written yet, which is newer than the store's.
    pub(super) fn pending_record(&self, id: &str) -> Option<JobRecord> {
        self.pending.lock().records.get(id).cloned()
    }

    /// `records` from the store, with the newer pending versions in their place.
    pub(super) fn with_pending(&self, mut records: Vec<JobRecord>) -> Vec<JobRecord> {
        let pending = self.pending.lock();
        for record in &mut records {
            if let Some(newer) = pending.records.get(&record.job_id) {
                *record = newer.clone();
            }
        }
        records
    }

    pub(super) fn store_health(&self) -> StoreHealth {
        let pending = self.pending.lock();
        StoreHealth {
            writable: pending.fault.is_none(),
            error: pending.fault.as_ref().map(|(error, _)| error.clone()),
            since_ms: pending.fault.as_ref().map(|(_, since)| *since),
            pending_records: pending.records.len(),
            pending_lines: pending.lines.len(),
            dropped_lines: pending.dropped_lines,
        }
    }

    /// Waits (using no CPU) for the store to fail; then writes what is
    /// pending, retrying with backoff, until it all went in.
    pub(super) async fn store_repair_loop(self: Arc<Self>) {
        loop {
            tokio::select! {
                () = self.store_trouble.notified() => {}
                () = self.shutdown.cancelled() => return,
            }
            let mut delay = Duration::from_millis(500);
            loop {
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = self.shutdown.cancelled() => return,
                }
                if self.flush_pending() {
                    break;
                }
                delay = (delay * 2).min(MAX_RETRY);
            }
            tracing::info!("the job store is writable again; what was kept in memory is written, and jobs start again");
            self.store_fault.send_replace(None);
            self.wake.notify_one();
            self.changed.send_modify(|n| *n += 1);
        }
    }

    /// Writes everything pending in one transaction; whether it all went in.
    fn flush_pending(&self) -> bool {
        let mut pending = self.pending.lock();
        let records: Vec<&JobRecord> = pending.records.values().collect();
        match self.store.write_batch(&records, &pending.lines) {
            Ok(()) => {
                if pending.dropped_lines > 0 {
                    tracing::warn!(
                        lines = pending.dropped_lines,
                        "transcript lines were dropped while the store was unwritable"
                    );
                }
                *pending = Pending::default();
                true
            }
            Err(err) => {
                if let Some((error, _)) = &mut pending.fault {
                    *error = err.to_string();
                }
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{WAIT, script_engine, until};
    use super::super::{EngineConfig, SubmitError};
    use crate::job::{JobSpec, JobStatus};
    use std::collections::BTreeMap;
    use std::sync::atomic::Ordering;

    #[tokio::test]
    async fn an_unwritable_store_stops_starts_and_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let engine =
            script_engine(dir.path(), EngineConfig { max_concurrent: Some(1), ..EngineConfig::default() }).await;
        let go = dir.path().join("go");
        let env = BTreeMap::from([("GO".to_string(), go.display().to_string())]);
        let first = engine.submit(JobSpec { prompt: "first".into(), env, ..JobSpec::default() }).await.unwrap().job_id;
        let second = engine.submit(JobSpec { prompt: "second".into(), ..JobSpec::default() }).await.unwrap().job_id;
        let third = engine.submit(JobSpec { prompt: "third".into(), ..JobSpec::default() }).await.unwrap().job_id;
        until("the first job starting", || engine.inner.state.lock().running == 1).await;

        // The disk fills up; the first job finishes meanwhile.
        engine.inner.store.fail_writes.store(true, Ordering::SeqCst);
        std::fs::write(&go, "").unwrap();
        let done = engine.wait(std::slice::from_ref(&first), WAIT).await.unwrap().remove(0);
        assert_eq!(done.status, JobStatus::Succeeded, "readers see the result kept in memory");
        let stored = engine.inner.store.get(&first).unwrap().unwrap().record;
        assert_eq!(stored.status, JobStatus::Running, "the store could not take it yet");
        let health = engine.stats().unwrap().store;
        assert!(!health.writable && health.pending_records >= 1 && health.error.unwrap().contains("full"));
        let refused = engine.submit(JobSpec { prompt: "fourth".into(), ..JobSpec::default() }).await.unwrap_err();
        assert!(matches!(refused, SubmitError::StoreUnwritable(_)), "{refused}");
        assert!(refused.to_string().contains("cannot be written"), "{refused}");
        assert_eq!(engine.status(&second).await.unwrap().status, JobStatus::Queued, "no start while unwritable");
        // A cancel meanwhile is kept too: the job reads as cancelled, and
        // never runs.
        let cancelled = engine.cancel(&third).await.unwrap();
        assert_eq!(cancelled.status, JobStatus::Cancelled);
        assert_eq!(engine.status(&third).await.unwrap().status, JobStatus::Cancelled);

        // Space returns: everything kept is written, work carries on.
        engine.inner.store.fail_writes.store(false, Ordering::SeqCst);
        let both = engine.wait(&[first.clone(), second.clone()], WAIT).await.unwrap();
        assert!(both.iter().all(|r| r.status == JobStatus::Succeeded), "{both:#?}");
        assert_eq!(engine.inner.store.get(&first).unwrap().unwrap().record.status, JobStatus::Succeeded);
        assert_eq!(engine.inner.store.get(&third).unwrap().unwrap().record.status, JobStatus::Cancelled);
        assert!(engine.stats().unwrap().store.writable);
        let runs = std::fs::read_to_string(dir.path().join("runs")).unwrap();
        assert_eq!(runs.lines().collect::<Vec<_>>(), ["first", "second"], "each ran once");
        engine.shutdown();
    }
}
