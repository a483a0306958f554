//! Writing job state to the store: one writer thread, so no SQLite write
//! happens under the engine's lock or on an async worker, and what piles up
//! while it writes goes in the next transaction together (a transcript of
//! thousands of lines is a few commits, not thousands).
//!
//! The engine queues writes ([`Writes::record`], [`Writes::line`],
//! [`Writes::insert`]) and goes on; the newest version of each record stays
//! readable here until it is in the store, so a reader always finds the
//! latest one. A write that must happen before what it records waits for it:
//! a submission is answered once its job is stored, a start happens once it
//! is recorded ([`Writes::wait_written`]). Those go to the store at once,
//! with everything queued before them. Other writes linger for company
//! (each commit writes whole pages): a record up to [`RECORD_LINGER`], so
//! that the end of one job and the start of the next share a commit;
//! transcript lines up to [`LINE_LINGER`], so an engine whose agents talk
//! commits a few times per [`LINE_LINGER`], not once per line.
//!
//! When the store cannot be written (a full disk, a read-only remount, a
//! lost volume) nothing is dropped: records are kept (newest per job) and
//! written later; transcript lines up to [`MAX_LINE_BYTES`], beyond which
//! they are counted and dropped. Meanwhile the engine starts no job (a start
//! it could not record would run again after a restart) and refuses
//! submissions with the reason; `engine_stats` and the clients' log
//! notifications say what is wrong. The writer retries, backing off up to
//! [`MAX_RETRY`], and when everything went in the engine carries on by
//! itself. What cannot be kept is what dies with the process: a `kill -9`
//! loses what was queued, and the jobs it finished run again as interrupted.
//!
//! Locking: the writer holds [`Unwritten`]'s lock only to take a batch and to
//! book its result, never while it writes. The engine may queue a write
//! while it holds its state lock (the state lock first, then this one).
//!
//! Length: 440 lines for the writer, its batching and the fault handling it
//! shares one lock with, 130 of tests.

use crate::job::{JobRecord, now_ms};
use crate::store::{Store, StoreError, StoredJob};
use parking_lot::{Condvar, Mutex};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};

/// The longest wait between two attempts to write while the store fails.
const MAX_RETRY: Duration = Duration::from_secs(10);
const FIRST_RETRY: Duration = Duration::from_millis(500);
/// Transcript bytes held in memory at most (while the store is slow or
/// unwritable); lines beyond are counted and dropped.
const MAX_LINE_BYTES: usize = 16 << 20;
/// The longest a record nobody waits for stays queued before it is written.
const RECORD_LINGER: Duration = Duration::from_millis(2);
/// The longest a transcript line stays queued before it is written.
const LINE_LINGER: Duration = Duration::from_millis(50);

/// A transcript line: job, attempt, line.
type Line = (String, u32, String);

/// A new job and who waits to hear that it is stored.
struct Insert {
    job: StoredJob,
    stored: oneshot::Sender<Result<(), String>>,
}

/// What is queued for the store, and why the store fails, when it does.
#[derive(Default)]
struct Unwritten {
    /// Why the store is unwritable, and since when (Unix ms).
    fault: Option<(String, u64)>,
    inserts: Vec<Insert>,
    /// The newest unwritten version of each job's record, with the
    /// generation of the write that queued it.
    /// (Shared with the batch that writes it: records are not copied again.)
    records: HashMap<String, (u64, Arc<JobRecord>)>,
    lines: VecDeque<Line>,
    line_bytes: usize,
    dropped_lines: u64,
    /// The generation of the newest write queued (records and lines).
    queued: u64,
    /// The generation of the newest write in the store.
    written: u64,
    /// The newest generation someone waits for.
    awaited: u64,
    /// When what is queued must be written, at the latest (while there is work).
    due: Option<Instant>,
    closed: bool,
}

impl Unwritten {
    fn has_work(&self) -> bool {
        !self.inserts.is_empty() || !self.records.is_empty() || !self.lines.is_empty()
    }

    /// Whether the writer should write now rather than let the work linger.
    fn pressing(&self) -> bool {
        self.closed || !self.inserts.is_empty() || self.awaited > self.written
    }

    /// Notes that work is queued that may linger up to `linger`; true when
    /// that makes it due sooner than the writer thought (it may be waiting).
    fn queue(&mut self, linger: Duration) -> bool {
        let due = Instant::now() + linger;
        let sooner = self.due.is_none_or(|current| due < current);
        if sooner {
            self.due = Some(due);
        }
        sooner
    }
}

/// One transaction's worth.
struct Batch {
    inserts: Vec<Insert>,
    records: Vec<(u64, Arc<JobRecord>)>,
    lines: Vec<Line>,
    /// Every write queued up to this generation is in the batch.
    upto: u64,
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
    /// Transcript lines dropped because too many were held.
    pub dropped_lines: u64,
}

/// The engine's side of the writer.
pub(super) struct Writes {
    store: Arc<Store>,
    unwritten: Mutex<Unwritten>,
    /// Wakes the writer: work queued, or closing.
    work: Condvar,
    /// Wakes who waits for a batch to be booked (written or failed).
    booked: Condvar,
    /// The generation of the newest write that is in the store.
    written: watch::Sender<u64>,
    /// Why the store is unwritable, while it is.
    fault: watch::Sender<Option<String>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Writes {
    /// Starts the writer thread for `store`.
    pub fn start(store: Arc<Store>) -> std::io::Result<Arc<Writes>> {
        let writes = Arc::new(Writes {
            store,
            unwritten: Mutex::default(),
            work: Condvar::new(),
            booked: Condvar::new(),
            written: watch::Sender::new(0),
            fault: watch::Sender::new(None),
            thread: Mutex::new(None),
        });
        let writer = writes.clone();
        let thread = std::thread::Builder::new().name("store-writer".into()).spawn(move || writer.run())?;
        *writes.thread.lock() = Some(thread);
        Ok(writes)
    }

    /// Queues `record`; returns the generation to wait for, if need be.
    pub fn record(&self, record: &JobRecord) -> u64 {
        let mut unwritten = self.unwritten.lock();
        let sooner = unwritten.queue(RECORD_LINGER);
        unwritten.queued += 1;
        let generation = unwritten.queued;
        unwritten.records.insert(record.job_id.clone(), (generation, Arc::new(record.clone())));
        self.wake_if(sooner);
        generation
    }

    /// Queues a transcript line, or counts it dropped when too many are held.
    pub fn line(&self, id: &str, attempt: u32, line: &str) {
        let mut unwritten = self.unwritten.lock();
        if unwritten.line_bytes + line.len() > MAX_LINE_BYTES {
            unwritten.dropped_lines += 1;
            return;
        }
        let sooner = unwritten.queue(LINE_LINGER);
        unwritten.queued += 1;
        unwritten.line_bytes += line.len();
        unwritten.lines.push_back((id.to_string(), attempt, line.to_string()));
        self.wake_if(sooner);
    }

    /// Queues a new job; the receiver hears whether it was stored.
    pub fn insert(&self, job: StoredJob) -> oneshot::Receiver<Result<(), String>> {
        let (stored, receiver) = oneshot::channel();
        let mut unwritten = self.unwritten.lock();
        unwritten.queue(Duration::ZERO);
        unwritten.inserts.push(Insert { job, stored });
        // Someone waits for it: the writer must not linger.
        self.work.notify_one();
        receiver
    }

    /// Waits until every write up to `generation` is in the store; `Err`
    /// with the reason when the store fails first (the writes stay queued).
    pub async fn wait_written(&self, generation: u64) -> Result<(), String> {
        let mut written = self.written.subscribe();
        let mut fault = self.fault.subscribe();
        self.awaiting(generation);
        loop {
            if *written.borrow_and_update() >= generation {
                return Ok(());
            }
            if let Some(error) = fault.borrow_and_update().clone() {
                return Err(error);
            }
            tokio::select! {
                changed = written.changed() => changed.map_err(|_| "the store writer has stopped".to_string())?,
                changed = fault.changed() => changed.map_err(|_| "the store writer has stopped".to_string())?,
            }
        }
    }

    /// Wakes the writer when what it waits for changed: work came when it had
    /// none, or came due sooner (a busy writer looks for more after each
    /// commit). Called with the lock held.
    fn wake_if(&self, sooner: bool) {
        if sooner {
            self.work.notify_one();
        }
    }

    /// Tells the writer that someone waits for `generation`, so that it
    /// writes now rather than lingering.
    fn awaiting(&self, generation: u64) {
        let mut unwritten = self.unwritten.lock();
        if generation > unwritten.awaited {
            unwritten.awaited = generation;
            if generation > unwritten.written {
                self.work.notify_one();
            }
        }
    }

    /// Waits until everything queued so far is in the store; `Err` with the
    /// reason when the store fails first.
    pub async fn flush(&self) -> Result<(), String> {
        let queued = self.unwritten.lock().queued;
        self.wait_written(queued).await
    }

    /// `Err` with the reason while the store is unwritable.
    pub fn writable(&self) -> Result<(), String> {
        match &self.unwritten.lock().fault {
            None => Ok(()),
            Some((error, since)) => Err(format!(
                "the job store cannot be written since {} s ago ({error}); ringmaster refuses new jobs and starts \
                 none until it can, and carries on by itself then (engine_stats shows the state)",
                now_ms().saturating_sub(*since) / 1000
            )),
        }
    }

    /// A record not in the store yet, which is newer than the store's.
    pub fn pending_record(&self, id: &str) -> Option<JobRecord> {
        self.unwritten.lock().records.get(id).map(|(_, record)| JobRecord::clone(record))
    }

    /// `records` from the store, with the newer unwritten versions in their place.
    pub fn with_pending(&self, mut records: Vec<JobRecord>) -> Vec<JobRecord> {
        let unwritten = self.unwritten.lock();
        for record in &mut records {
            if let Some((_, newer)) = unwritten.records.get(&record.job_id) {
                *record = JobRecord::clone(newer);
            }
        }
        records
    }

    /// Takes back what is queued about job `id` (whose insert failed).
    pub fn forget(&self, id: &str) {
        let mut unwritten = self.unwritten.lock();
        unwritten.records.remove(id);
        let before = unwritten.lines.len();
        unwritten.lines.retain(|(job, _, _)| job != id);
        if unwritten.lines.len() != before {
            unwritten.line_bytes = unwritten.lines.iter().map(|(_, _, line)| line.len()).sum();
        }
    }

    pub fn health(&self) -> StoreHealth {
        let unwritten = self.unwritten.lock();
        StoreHealth {
            writable: unwritten.fault.is_none(),
            error: unwritten.fault.as_ref().map(|(error, _)| error.clone()),
            since_ms: unwritten.fault.as_ref().map(|(_, since)| *since),
            pending_records: unwritten.records.len(),
            pending_lines: unwritten.lines.len(),
            dropped_lines: unwritten.dropped_lines,
        }
    }

    /// A receiver of the store's condition: `Some(why)` while unwritable.
    pub fn subscribe_fault(&self) -> watch::Receiver<Option<String>> {
        self.fault.subscribe()
    }

    /// Waits, blocking the thread, until what is queued now is in the store
    /// (or the store fails); the writer carries on afterwards, so what is
    /// queued later is written too.
    pub fn flush_blocking(&self) {
        let target = self.unwritten.lock().queued;
        self.awaiting(target);
        let mut unwritten = self.unwritten.lock();
        while unwritten.written < target && unwritten.fault.is_none() && !unwritten.closed {
            self.booked.wait(&mut unwritten);
        }
    }

    /// Writes what is queued (one last try if the store fails) and stops the
    /// writer; what is queued afterwards stays in memory.
    pub fn close(&self) {
        self.unwritten.lock().closed = true;
        self.work.notify_one();
        if let Some(thread) = self.thread.lock().take() {
            let _ = thread.join();
        }
    }

    /// The writer: takes everything queued, writes it in one transaction,
    /// books the result; sleeps (using no CPU) while there is nothing to do.
    fn run(&self) {
        let mut retry = FIRST_RETRY;
        let mut unwritten = self.unwritten.lock();
        loop {
            if !unwritten.has_work() {
                if unwritten.closed {
                    return;
                }
                // (Work may have been taken back: see `forget`.)
                unwritten.due = None;
                self.work.wait(&mut unwritten);
                continue;
            }
            if let Some(due) = unwritten.due.filter(|due| !unwritten.pressing() && Instant::now() < *due) {
                // Wait for company, for someone who waits for it, or until it is due.
                let _ = self.work.wait_until(&mut unwritten, due);
                continue;
            }
            if unwritten.fault.is_some() && !unwritten.closed {
                // Wait out the backoff; closing cuts it short for a last try.
                let deadline = std::time::Instant::now() + retry;
                while !unwritten.closed && !self.work.wait_until(&mut unwritten, deadline).timed_out() {}
                retry = (retry * 2).min(MAX_RETRY);
            }
            let closing = unwritten.closed;
            let batch = Batch {
                inserts: std::mem::take(&mut unwritten.inserts),
                records: unwritten.records.values().map(|(generation, record)| (*generation, record.clone())).collect(),
                lines: unwritten.lines.drain(..).collect(),
                upto: unwritten.queued,
            };
            unwritten.line_bytes = 0;
            unwritten.due = None;
            let result = parking_lot::MutexGuard::unlocked(&mut unwritten, || {
                let inserts: Vec<&StoredJob> = batch.inserts.iter().map(|insert| &insert.job).collect();
                let records: Vec<&JobRecord> = batch.records.iter().map(|(_, record)| &**record).collect();
                self.store.write_batch(&inserts, &records, &batch.lines)
            });
            match result {
                Ok(()) => {
                    self.written(&mut unwritten, batch);
                    retry = FIRST_RETRY;
                }
                Err(err) => {
                    self.failed(&mut unwritten, batch, &err);
                    if closing {
                        return;
                    }
                }
            }
        }
    }

    /// Books a written batch: its records leave the queue unless a newer
    /// version came meanwhile; who waits is told.
    fn written(&self, unwritten: &mut Unwritten, batch: Batch) {
        for (generation, record) in &batch.records {
            if unwritten.records.get(&record.job_id).is_some_and(|(newest, _)| newest == generation) {
                unwritten.records.remove(&record.job_id);
            }
        }
        for insert in batch.inserts {
            let _ = insert.stored.send(Ok(()));
        }
        unwritten.written = batch.upto;
        self.written.send_replace(batch.upto);
        self.booked.notify_all();
        if unwritten.fault.take().is_some() {
            if unwritten.dropped_lines > 0 {
                tracing::warn!(
                    lines = unwritten.dropped_lines,
                    "transcript lines were dropped while the store was unwritable"
                );
            }
            tracing::info!("the job store is writable again; what was kept in memory is written, and jobs start again");
            self.fault.send_replace(None);
        }
    }

    /// Books a failed batch: records stay queued, lines go back in front (as
    /// many as the bound allows), new jobs are refused.
    fn failed(&self, unwritten: &mut Unwritten, batch: Batch, err: &StoreError) {
        let error = err.to_string();
        self.booked.notify_all();
        for insert in batch.inserts {
            let _ = insert.stored.send(Err(format!("the job could not be stored: {error}")));
        }
        let mut kept = VecDeque::with_capacity(batch.lines.len() + unwritten.lines.len());
        let mut bytes = 0;
        for line in batch.lines.into_iter().chain(unwritten.lines.drain(..)) {
            if bytes + line.2.len() > MAX_LINE_BYTES {
                unwritten.dropped_lines += 1;
                continue;
            }
            bytes += line.2.len();
            kept.push_back(line);
        }
        (unwritten.lines, unwritten.line_bytes) = (kept, bytes);
        match &mut unwritten.fault {
            Some((last, _)) => *last = error,
            None => {
                tracing::error!(
                    error = %error,
                    "the job store cannot be written; no job starts and submissions are refused until it can \
                     (results are kept in memory meanwhile)"
                );
                unwritten.fault = Some((error.clone(), now_ms()));
                self.fault.send_replace(Some(error));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{WAIT, held_job, one_place, script_engine, until};
    use super::super::{EngineConfig, SubmitError};
    use super::{Arc, LINE_LINGER, Store, Writes};
    use crate::job::{JobSpec, JobStatus};
    use std::sync::atomic::Ordering;

    #[tokio::test]
    async fn an_unwritable_store_stops_starts_and_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let engine = script_engine(dir.path(), one_place()).await;
        let go = dir.path().join("go");
        let first = engine.submit(held_job("first", &go)).await.unwrap().job_id;
        let second = engine.submit(JobSpec { prompt: "second".into(), ..JobSpec::default() }).await.unwrap().job_id;
        let third = engine.submit(JobSpec { prompt: "third".into(), ..JobSpec::default() }).await.unwrap().job_id;
        until("the first job starting", || engine.inner.state.lock().running == 1).await;

        // The disk fills up; the first job finishes meanwhile.
        engine.inner.store.fail_writes.store(true, Ordering::SeqCst);
        std::fs::write(&go, "").unwrap();
        let done = engine.wait(std::slice::from_ref(&first), WAIT).await.unwrap().remove(0);
        assert_eq!(done.status, JobStatus::Succeeded, "readers see the result kept in memory");
        until("the writer finding the store full", || !engine.stats().unwrap().store.writable).await;
        let stored = engine.inner.store.get(&first).unwrap().unwrap().record;
        assert_eq!(stored.status, JobStatus::Running, "the store could not take it yet");
        let health = engine.stats().unwrap().store;
        assert!(health.pending_records >= 1 && health.error.unwrap().contains("full"));
        let refused = engine.submit(JobSpec { prompt: "fourth".into(), ..JobSpec::default() }).await.unwrap_err();
        assert!(matches!(refused, SubmitError::StoreUnwritable(_)), "{refused}");
        assert!(refused.to_string().contains("cannot be written"), "{refused}");
        // No start while unwritable (a start tried as the store failed is undone: it
        // was not recorded, and its agent never ran; the file of runs below shows it).
        let queued = || engine.inner.state.lock().live[&second].record.status == JobStatus::Queued;
        until("the second job being queued, not started", queued).await;
        // A cancel meanwhile is kept too: the job reads as cancelled, and
        // never runs.
        let cancelled = engine.cancel(&third).await.unwrap().record;
        assert_eq!(cancelled.status, JobStatus::Cancelled);
        assert_eq!(engine.status(&third).await.unwrap().status, JobStatus::Cancelled);

        let runs = std::fs::read_to_string(dir.path().join("runs")).unwrap();
        assert_eq!(runs.lines().collect::<Vec<_>>(), ["first"], "nothing ran while unwritable");

        // Space returns: everything kept is written, work carries on.
        engine.inner.store.fail_writes.store(false, Ordering::SeqCst);
        let both = engine.wait(&[first.clone(), second.clone()], WAIT).await.unwrap();
        assert!(both.iter().all(|r| r.status == JobStatus::Succeeded), "{both:#?}");
        until("everything kept written", || engine.stats().unwrap().store.pending_records == 0).await;
        assert_eq!(engine.inner.store.get(&first).unwrap().unwrap().record.status, JobStatus::Succeeded);
        assert_eq!(engine.inner.store.get(&third).unwrap().unwrap().record.status, JobStatus::Cancelled);
        assert!(engine.stats().unwrap().store.writable);
        let runs = std::fs::read_to_string(dir.path().join("runs")).unwrap();
        assert_eq!(runs.lines().collect::<Vec<_>>(), ["first", "second"], "each ran once");
        engine.shutdown();
    }

    #[tokio::test]
    async fn a_job_that_cannot_be_stored_is_refused_and_leaves_no_trace() {
        let dir = tempfile::tempdir().unwrap();
        let limits = EngineConfig { max_concurrent: Some(1), max_jobs_per_root: 1, ..EngineConfig::default() };
        let engine = script_engine(dir.path(), limits).await;
        engine.inner.store.fail_writes.store(true, Ordering::SeqCst);
        let refused = engine.submit(JobSpec { prompt: "lost".into(), ..JobSpec::default() }).await.unwrap_err();
        assert!(refused.to_string().contains("could not be stored"), "{refused}");
        let state = engine.inner.state.lock();
        assert!(state.live.is_empty() && state.queue.is_empty(), "not queued");
        drop(state);
        assert_eq!(engine.stats().unwrap().store.pending_records, 0, "nothing of it is kept to write");
        engine.shutdown();
    }

    #[tokio::test]
    async fn the_writer_outlives_shutdown_for_what_attempts_record_as_they_end() {
        let dir = tempfile::tempdir().unwrap();
        let engine = script_engine(dir.path(), EngineConfig::default()).await;
        let id = engine.submit(JobSpec { prompt: "p".into(), ..JobSpec::default() }).await.unwrap().job_id;
        let done = engine.wait(std::slice::from_ref(&id), WAIT).await.unwrap().remove(0);
        engine.shutdown();
        let mut late = done.clone();
        late.notes.push("recorded after shutdown".into());
        engine.inner.writes.record(&late);
        let flushed = tokio::time::timeout(WAIT, engine.inner.writes.flush()).await;
        flushed.expect("the writer is gone").unwrap();
        assert_eq!(engine.inner.store.record(&id).unwrap().unwrap().notes, late.notes);
    }

    #[tokio::test]
    async fn what_a_wait_or_a_cancel_answers_is_in_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let engine = script_engine(dir.path(), one_place()).await;
        let go = dir.path().join("go");
        let first = engine.submit(held_job("first", &go)).await.unwrap().job_id;
        let queued = engine.submit(JobSpec { prompt: "queued".into(), ..JobSpec::default() }).await.unwrap().job_id;
        let cancelled = engine.cancel(&queued).await.unwrap().record;
        assert_eq!(cancelled.status, JobStatus::Cancelled);
        assert_eq!(engine.inner.store.record(&queued).unwrap().unwrap().status, JobStatus::Cancelled);
        std::fs::write(&go, "").unwrap();
        let done = engine.wait(std::slice::from_ref(&first), WAIT).await.unwrap().remove(0);
        assert_eq!(done.status, JobStatus::Succeeded);
        assert_eq!(engine.inner.store.record(&first).unwrap().unwrap().status, JobStatus::Succeeded);
        engine.shutdown();
    }

    #[test]
    fn a_line_nobody_waits_for_reaches_the_store_after_lingering() {
        let store = Arc::new(Store::in_memory().unwrap());
        let writes = Writes::start(store.clone()).unwrap();
        writes.line("taken back", 1, "{}");
        writes.forget("taken back");
        writes.line("job", 1, "{\"type\":\"assistant\"}");
        let deadline = std::time::Instant::now() + WAIT;
        while store.transcript("job", 0, 10).unwrap().is_empty() {
            assert!(std::time::Instant::now() < deadline, "the line was never written");
            std::thread::sleep(LINE_LINGER / 5);
        }
        writes.close();
    }

    #[tokio::test]
    async fn transcript_lines_reach_the_store_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let engine = script_engine(dir.path(), EngineConfig::default()).await;
        let id = engine.submit(JobSpec { prompt: "talk".into(), ..JobSpec::default() }).await.unwrap().job_id;
        engine.wait(std::slice::from_ref(&id), WAIT).await.unwrap();
        let lines: Vec<String> =
            engine.transcript(&id, 0, 10).await.unwrap().into_iter().map(|(_, line)| line).collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains("init") && lines[1].contains("result"), "{lines:?}");
        engine.shutdown();
    }
}
