//! The job store: an embedded SQLite database (WAL mode) in the state
//! directory. It holds every job's spec and record, and every transcript
//! line, so results survive restarts and a crash loses nothing that was
//! written. Tokens are never stored: records name token slots by index.
//! Beside the jobs: the queue's pauses and the schedules.
//!
//! Length: 360 lines of queries, 160 of their tests.

use crate::job::{JobFilter, JobRecord, JobSpec, JobStatus, Pauses};
use crate::schedule::Schedule;
use parking_lot::Mutex;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;

/// A stored job: what was asked and where it stands.
#[derive(Debug, Clone)]
pub struct StoredJob {
    pub seq: i64,
    pub spec: JobSpec,
    pub record: JobRecord,
}

pub struct Store {
    conn: Mutex<Connection>,
    /// Makes every write fail, as a full disk would (unit tests of what
    /// the engine does then).
    #[cfg(test)]
    pub(crate) fail_writes: std::sync::atomic::AtomicBool,
}

/// The most rows one read returns, whatever a caller asks for (SQLite reads
/// a negative limit, which a cast of a huge one would give, as none).
pub const MAX_ROWS: usize = 10_000;

fn bounded(limit: usize) -> i64 {
    limit.min(MAX_ROWS) as i64
}

const UPDATE_RECORD: &str = "UPDATE jobs SET status = ?2, record = ?3 WHERE id = ?1";
const APPEND_LINE: &str = "INSERT INTO transcript (job_id, line_no, attempt, line)
     VALUES (?1, (SELECT COALESCE(MAX(line_no), -1) + 1 FROM transcript WHERE job_id = ?1), ?2, ?3)";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("job store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("job store: corrupt row: {0}")]
    Json(#[from] serde_json::Error),
    #[error("job store: cannot start its writer: {0}")]
    Writer(String),
}

impl Store {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path)?;
        Self::init(conn)
    }

    /// A store that lives in memory only (for tests and benchmarks).
    pub fn in_memory() -> Result<Store, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Store, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // Plans stay as prepared: without this, SQLite prepares a cached
        // statement again whenever a new binding might change its plan
        // (a fifth of the writer's time, measured), and ours are all
        // lookups by key.
        conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS jobs (
                 seq INTEGER PRIMARY KEY AUTOINCREMENT,
                 id TEXT NOT NULL UNIQUE,
                 status TEXT NOT NULL,
                 root_id TEXT NOT NULL,
                 created_at_ms INTEGER NOT NULL,
                 spec TEXT NOT NULL,
                 record TEXT NOT NULL
             );
             CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);
             CREATE INDEX IF NOT EXISTS jobs_root ON jobs(root_id);
             CREATE INDEX IF NOT EXISTS jobs_idempotency_key ON jobs(json_extract(spec, '$.idempotency_key'))
                 WHERE json_extract(spec, '$.idempotency_key') IS NOT NULL;
             CREATE TABLE IF NOT EXISTS transcript (
                 job_id TEXT NOT NULL,
                 line_no INTEGER NOT NULL,
                 attempt INTEGER NOT NULL,
                 line TEXT NOT NULL,
                 PRIMARY KEY (job_id, line_no)
             );
             CREATE TABLE IF NOT EXISTS queue_pauses (
                 tag TEXT PRIMARY KEY  -- '' for the whole queue
             );
             CREATE TABLE IF NOT EXISTS slot_rests (
                 slot INTEGER PRIMARY KEY,
                 token TEXT NOT NULL,  -- the slot's token's fingerprint ('' for none)
                 until_ms INTEGER NOT NULL
             );
             CREATE TABLE IF NOT EXISTS schedules (
                 id TEXT PRIMARY KEY,
                 body TEXT NOT NULL
             );",
        )?;
        Ok(Store {
            conn: Mutex::new(conn),
            #[cfg(test)]
            fail_writes: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// A full disk, when a unit test asks for one.
    fn check_writable(&self) -> Result<(), StoreError> {
        #[cfg(test)]
        if self.fail_writes.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(StoreError::Sqlite(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
                Some("database or disk is full".into()),
            )));
        }
        Ok(())
    }

    /// The highest sequence number ever given to a job (0 for none); new
    /// jobs are numbered after it.
    pub fn last_seq(&self) -> Result<i64, StoreError> {
        let conn = self.conn.lock();
        let used: Option<i64> =
            conn.query_row("SELECT seq FROM sqlite_sequence WHERE name = 'jobs'", [], |r| r.get(0)).optional()?;
        let max: Option<i64> = conn.query_row("SELECT MAX(seq) FROM jobs", [], |r| r.get(0))?;
        Ok(used.unwrap_or(0).max(max.unwrap_or(0)))
    }

    /// Jobs ever submitted in the tree of root job `root`.
    pub fn count_in_tree(&self, root: &str) -> Result<usize, StoreError> {
        let conn = self.conn.lock();
        let count: i64 =
            conn.prepare_cached("SELECT COUNT(*) FROM jobs WHERE root_id = ?1")?.query_row([root], |r| r.get(0))?;
        Ok(count as usize)
    }

    /// How many jobs have each status.
    pub fn count_by_status(&self) -> Result<std::collections::BTreeMap<String, u64>, StoreError> {
        let conn = self.conn.lock();
        let mut stmt = conn.prepare_cached("SELECT status, COUNT(*) FROM jobs GROUP BY status")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// What the queue holds back, as last set.
    pub fn pauses(&self) -> Result<Pauses, StoreError> {
        let conn = self.conn.lock();
        let mut stmt = conn.prepare_cached("SELECT tag FROM queue_pauses")?;
        let mut pauses = Pauses::default();
        for tag in stmt.query_map([], |r| r.get::<_, String>(0))? {
            let tag = tag?;
            pauses.set(Some(tag.as_str()).filter(|t| !t.is_empty()), true);
        }
        Ok(pauses)
    }

    /// Stores `pauses` in place of what was.
    pub fn set_pauses(&self, pauses: &Pauses) -> Result<(), StoreError> {
        let mut conn = self.conn.lock();
        self.check_writable()?;
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM queue_pauses", [])?;
        {
            let mut insert = tx.prepare_cached("INSERT INTO queue_pauses (tag) VALUES (?1)")?;
            if pauses.all {
                insert.execute([""])?;
            }
            for tag in &pauses.tags {
                insert.execute([tag])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Token slots resting after a usage limit: (slot, its token's
    /// fingerprint, until when, Unix ms).
    pub fn rests(&self) -> Result<Vec<(usize, String, u64)>, StoreError> {
        let conn = self.conn.lock();
        let mut stmt = conn.prepare_cached("SELECT slot, token, until_ms FROM slot_rests")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)? as usize, r.get(1)?, r.get::<_, i64>(2)? as u64)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Slot `slot` (holding the token of fingerprint `token`) rests until `until_ms`.
    pub fn set_rest(&self, slot: usize, token: &str, until_ms: u64) -> Result<(), StoreError> {
        let conn = self.conn.lock();
        self.check_writable()?;
        conn.prepare_cached("INSERT OR REPLACE INTO slot_rests (slot, token, until_ms) VALUES (?1, ?2, ?3)")?
            .execute(params![slot as i64, token, until_ms as i64])?;
        Ok(())
    }

    /// Every schedule, by id.
    pub fn schedules(&self) -> Result<Vec<Schedule>, StoreError> {
        let conn = self.conn.lock();
        let mut stmt = conn.prepare_cached("SELECT body FROM schedules ORDER BY id")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut schedules = Vec::new();
        for row in rows {
            schedules.push(serde_json::from_str(&row?)?);
        }
        Ok(schedules)
    }

    /// Stores `schedule` (in place of the one with its id).
    pub fn put_schedule(&self, schedule: &Schedule) -> Result<(), StoreError> {
        let conn = self.conn.lock();
        self.check_writable()?;
        let body = serde_json::to_string(schedule)?;
        conn.prepare_cached("INSERT OR REPLACE INTO schedules (id, body) VALUES (?1, ?2)")?
            .execute(params![schedule.schedule_id, body])?;
        Ok(())
    }

    /// Deletes schedule `id`; whether there was one.
    pub fn delete_schedule(&self, id: &str) -> Result<bool, StoreError> {
        let conn = self.conn.lock();
        self.check_writable()?;
        Ok(conn.prepare_cached("DELETE FROM schedules WHERE id = ?1")?.execute([id])? > 0)
    }

    /// The newest stored job submitted with idempotency key `key`.
    pub fn job_with_key(&self, key: &str) -> Result<Option<String>, StoreError> {
        let conn = self.conn.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT id FROM jobs WHERE json_extract(spec, '$.idempotency_key') = ?1 ORDER BY seq DESC LIMIT 1",
        )?;
        Ok(stmt.query_row([key], |r| r.get(0)).optional()?)
    }

    pub fn get(&self, id: &str) -> Result<Option<StoredJob>, StoreError> {
        let conn = self.conn.lock();
        let row = conn
            .prepare_cached("SELECT seq, spec, record FROM jobs WHERE id = ?1")?
            .query_row([id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
            .optional()?;
        row.map(|(seq, spec, record)| {
            Ok(StoredJob { seq, spec: serde_json::from_str(&spec)?, record: serde_json::from_str(&record)? })
        })
        .transpose()
    }

    /// A job's record alone (what readers of finished jobs want: no spec to parse).
    pub fn record(&self, id: &str) -> Result<Option<JobRecord>, StoreError> {
        let conn = self.conn.lock();
        let row = conn
            .prepare_cached("SELECT record FROM jobs WHERE id = ?1")?
            .query_row([id], |r| r.get::<_, String>(0))
            .optional()?;
        Ok(row.map(|record| serde_json::from_str(&record)).transpose()?)
    }

    /// Jobs not yet finished, in submission order (for recovery after a restart).
    pub fn unfinished(&self) -> Result<Vec<StoredJob>, StoreError> {
        let conn = self.conn.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT seq, spec, record FROM jobs WHERE status IN ('waiting', 'queued', 'running', 'retry_wait') ORDER BY seq",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?;
        let mut jobs = Vec::new();
        for row in rows {
            let (seq, spec, record) = row?;
            jobs.push(StoredJob { seq, spec: serde_json::from_str(&spec)?, record: serde_json::from_str(&record)? });
        }
        Ok(jobs)
    }

    /// Every record of the tree of root job `root`, newest first.
    pub fn tree(&self, root: &str) -> Result<Vec<JobRecord>, StoreError> {
        let conn = self.conn.lock();
        let mut stmt = conn.prepare_cached("SELECT record FROM jobs WHERE root_id = ?1 ORDER BY seq DESC")?;
        let rows = stmt.query_map([root], |r| r.get::<_, String>(0))?;
        let mut records = Vec::new();
        for row in rows {
            records.push(serde_json::from_str(&row?)?);
        }
        Ok(records)
    }

    /// Records that pass `filter`, newest first.
    pub fn list(&self, filter: &JobFilter, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
        let conn = self.conn.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT record FROM jobs WHERE (?1 IS NULL OR status = ?1)
               AND (?2 IS NULL OR EXISTS (SELECT 1 FROM json_each(record, '$.tags') WHERE value = ?2))
               AND (?3 IS NULL OR json_extract(record, '$.client') = ?3)
             ORDER BY seq DESC LIMIT ?4",
        )?;
        let status = filter.status.map(JobStatus::as_str);
        let rows =
            stmt.query_map(params![status, filter.tag, filter.client, bounded(limit)], |r| r.get::<_, String>(0))?;
        let mut records = Vec::new();
        for row in rows {
            records.push(serde_json::from_str(&row?)?);
        }
        Ok(records)
    }

    /// New jobs, record updates and transcript lines (job, attempt, line),
    /// all in one transaction: all are written, or none.
    pub fn write_batch(
        &self,
        inserts: &[&StoredJob],
        records: &[&JobRecord],
        lines: &[(String, u32, String)],
    ) -> Result<(), StoreError> {
        let mut conn = self.conn.lock();
        self.check_writable()?;
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO jobs (seq, id, status, root_id, created_at_ms, spec, record)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for StoredJob { seq, spec, record } in inserts {
                insert.execute(params![
                    seq,
                    record.job_id,
                    record.status.as_str(),
                    record.root_job_id,
                    record.created_at_ms as i64,
                    serde_json::to_string(spec)?,
                    serde_json::to_string(record)?
                ])?;
            }
            let mut update = tx.prepare_cached(UPDATE_RECORD)?;
            for record in records {
                update.execute(params![record.job_id, record.status.as_str(), serde_json::to_string(record)?])?;
            }
            let mut append = tx.prepare_cached(APPEND_LINE)?;
            for (job_id, attempt, line) in lines {
                append.execute(params![job_id, attempt, line])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Deletes finished jobs (and their transcripts) created before
    /// `created_before_ms`, or beyond the newest `keep` jobs. Unfinished jobs
    /// are never deleted. Returns how many went.
    pub fn prune(&self, created_before_ms: u64, keep: usize) -> Result<usize, StoreError> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction()?;
        let ids: Vec<String> = {
            let mut stmt = tx.prepare_cached(
                "DELETE FROM jobs
                 WHERE status IN ('succeeded', 'failed', 'timed_out', 'cancelled')
                   AND (created_at_ms < ?1
                        OR seq <= (SELECT seq FROM jobs ORDER BY seq DESC LIMIT 1 OFFSET ?2))
                 RETURNING id",
            )?;
            let rows = stmt.query_map(params![created_before_ms as i64, keep as i64], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        {
            let mut stmt = tx.prepare_cached("DELETE FROM transcript WHERE job_id = ?1")?;
            for id in &ids {
                stmt.execute([id])?;
            }
        }
        tx.commit()?;
        Ok(ids.len())
    }

    /// Transcript lines `offset..offset+limit` of a job: (attempt, line).
    pub fn transcript(&self, job_id: &str, offset: usize, limit: usize) -> Result<Vec<(u32, String)>, StoreError> {
        let conn = self.conn.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT attempt, line FROM transcript WHERE job_id = ?1 AND line_no >= ?2 ORDER BY line_no LIMIT ?3",
        )?;
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![job_id, offset, bounded(limit)], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, status: JobStatus, created_at_ms: u64) -> JobRecord {
        let json = serde_json::json!({
            "job_id": id, "status": status, "prompt": "p", "agent": "claude", "model": null, "priority": 0,
            "tags": [], "depth": 0, "parent_job_id": null, "root_job_id": id, "attempts": 0, "max_retries": 0,
            "created_at_ms": created_at_ms, "started_at_ms": null, "finished_at_ms": null, "retry_at_ms": null,
            "timeout_s": null, "token_slot": null, "session_id": null, "result": null, "error": null,
            "exit_code": null, "cost_usd": 0.0, "usage": null, "history": [],
        });
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn schedules_are_stored_replaced_and_deleted_by_id() {
        let store = Store::in_memory().unwrap();
        let schedule: Schedule = serde_json::from_value(serde_json::json!({
            "schedule_id": "nightly", "cron": "0 2 * * *", "timezone": "UTC", "job": {"prompt": "triage"},
            "paused": false, "created_at_ms": 1, "armed_at_ms": 1, "last_fired_ms": null, "last_job_id": null,
            "last_error": null
        }))
        .unwrap();
        store.put_schedule(&schedule).unwrap();
        let fired = Schedule { last_fired_ms: Some(7), ..schedule.clone() };
        store.put_schedule(&fired).unwrap();
        assert_eq!(store.schedules().unwrap(), [fired]);
        assert!(store.delete_schedule("nightly").unwrap());
        assert!(!store.delete_schedule("nightly").unwrap());
        assert!(store.schedules().unwrap().is_empty());
    }

    fn insert(store: &Store, record: JobRecord) {
        let seq = store.last_seq().unwrap() + 1;
        store.write_batch(&[&StoredJob { seq, spec: JobSpec::default(), record }], &[], &[]).unwrap();
    }

    fn append(store: &Store, id: &str) {
        store.write_batch(&[], &[], &[(id.to_string(), 1, "{}".to_string())]).unwrap();
    }

    #[test]
    fn listing_by_tag_finds_the_newest_matching_jobs_however_rare() {
        let store = Store::in_memory().unwrap();
        for i in 0..500 {
            let mut record = record(&format!("j{i}"), JobStatus::Succeeded, i);
            record.tags = if i % 100 == 0 { vec!["rare".into(), "x".into()] } else { vec!["common".into()] };
            insert(&store, record);
        }
        let filter = JobFilter { tag: Some("rare".into()), ..JobFilter::default() };
        let found: Vec<String> = store.list(&filter, 3).unwrap().into_iter().map(|r| r.job_id).collect();
        assert_eq!(found, ["j400", "j300", "j200"]);
        let filter = JobFilter { status: Some(JobStatus::Failed), tag: Some("rare".into()), client: None };
        assert!(store.list(&filter, 3).unwrap().is_empty());
    }

    #[test]
    fn a_limit_or_offset_too_large_for_sqlite_is_held_not_read_as_none() {
        let store = Store::in_memory().unwrap();
        for i in 0..=MAX_ROWS {
            insert(&store, record(&format!("j{i}"), JobStatus::Succeeded, 0));
        }
        assert_eq!(store.list(&JobFilter::default(), usize::MAX).unwrap().len(), MAX_ROWS);
        append(&store, "j1");
        assert!(store.transcript("j1", usize::MAX, usize::MAX).unwrap().is_empty());
    }

    #[test]
    fn a_key_finds_its_job_through_the_index_until_the_job_is_pruned() {
        let store = Store::in_memory().unwrap();
        let keyed = |key: &str| JobSpec { idempotency_key: Some(key.into()), ..JobSpec::default() };
        for (seq, id, key) in [(1, "a", "k1"), (2, "b", "k2")] {
            let record = record(id, JobStatus::Succeeded, seq as u64);
            store.write_batch(&[&StoredJob { seq, spec: keyed(key), record }], &[], &[]).unwrap();
        }
        insert(&store, record("c", JobStatus::Succeeded, 3));
        assert_eq!(store.job_with_key("k2").unwrap().as_deref(), Some("b"));
        assert_eq!(store.job_with_key("k3").unwrap(), None);
        let conn = store.conn.lock();
        let plan: String = conn
            .query_row(
                "EXPLAIN QUERY PLAN SELECT id FROM jobs WHERE json_extract(spec, '$.idempotency_key') = 'k1' \
                 ORDER BY seq DESC LIMIT 1",
                [],
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("jobs_idempotency_key"), "{plan}");
        drop(conn);
        store.prune(u64::MAX, 0).unwrap();
        assert_eq!(store.job_with_key("k1").unwrap(), None);
    }

    #[test]
    fn pauses_are_stored_as_set() {
        let store = Store::in_memory().unwrap();
        assert_eq!(store.pauses().unwrap(), Pauses::default());
        let mut pauses = Pauses::default();
        pauses.set(None, true);
        pauses.set(Some("nightly"), true);
        store.set_pauses(&pauses).unwrap();
        assert_eq!(store.pauses().unwrap(), pauses);
        pauses.set(None, false);
        store.set_pauses(&pauses).unwrap();
        assert_eq!(store.pauses().unwrap(), pauses);
    }

    #[test]
    fn sequence_numbers_are_never_given_twice_even_after_pruning() {
        let store = Store::in_memory().unwrap();
        assert_eq!(store.last_seq().unwrap(), 0);
        insert(&store, record("a", JobStatus::Succeeded, 0));
        insert(&store, record("b", JobStatus::Succeeded, 0));
        store.prune(u64::MAX, 0).unwrap();
        assert_eq!(store.last_seq().unwrap(), 2);
    }

    #[test]
    fn a_failed_batch_writes_nothing() {
        let store = Store::in_memory().unwrap();
        insert(&store, record("a", JobStatus::Queued, 0));
        let mut done = record("a", JobStatus::Succeeded, 0);
        done.result = Some("x".into());
        let twice = [
            StoredJob { seq: 9, spec: JobSpec::default(), record: record("b", JobStatus::Queued, 0) },
            StoredJob { seq: 10, spec: JobSpec::default(), record: record("b", JobStatus::Queued, 0) },
        ];
        assert!(store.write_batch(&[&twice[0], &twice[1]], &[&done], &[("a".into(), 1, "{}".into())]).is_err());
        assert_eq!(store.get("a").unwrap().unwrap().record.status, JobStatus::Queued);
        assert!(store.get("b").unwrap().is_none() && store.transcript("a", 0, 10).unwrap().is_empty());
    }

    #[test]
    fn pruning_drops_old_and_excess_finished_jobs_and_their_transcripts_only() {
        let store = Store::in_memory().unwrap();
        let jobs = [
            ("old-done", JobStatus::Succeeded, 1_000),
            ("old-queued", JobStatus::Queued, 1_000),
            ("a", JobStatus::Failed, 5_000),
            ("b", JobStatus::Succeeded, 6_000),
            ("c", JobStatus::Cancelled, 7_000),
            ("d", JobStatus::Running, 8_000),
        ];
        for (id, status, at) in jobs {
            insert(&store, record(id, status, at));
            append(&store, id);
        }
        // By age: only the finished old job goes.
        assert_eq!(store.prune(2_000, 100).unwrap(), 1);
        assert!(store.get("old-done").unwrap().is_none() && store.transcript("old-done", 0, 10).unwrap().is_empty());
        assert!(store.get("old-queued").unwrap().is_some(), "unfinished jobs stay");
        // By count: keep the newest 2 (c, d); a and b go, old-queued stays.
        assert_eq!(store.prune(0, 2).unwrap(), 2);
        let left: Vec<String> = store.list(&JobFilter::default(), 10).unwrap().into_iter().map(|r| r.job_id).collect();
        assert_eq!(left, ["d", "c", "old-queued"]);
        assert_eq!(store.transcript("c", 0, 10).unwrap().len(), 1);
    }
}
