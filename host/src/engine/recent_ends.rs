//! The jobs that finished most recently, numbered, as a plain value the
//! engine's state keeps for waiters: a waiter notes the count, sleeps, and
//! then looks at what finished since ([`RecentEnds::since`]) rather than at
//! every job it waits for (a wait for thousands is woken by each end).
//!
//! The newest of them keep their final record, so that a waiter has it
//! without reading it back from the store: a read per job, on the waiter's
//! thread, queued behind the writer's commits for the store's one
//! connection. What the kept records take is bounded (their JSON size, at
//! most [`RECORD_BYTES`] in all); a job whose record was let go, or was too
//! big to keep, is read from the store as before.

use crate::job::JobRecord;
use std::collections::VecDeque;

/// Finished jobs remembered.
pub(super) const KEPT: usize = 4096;
/// The most the kept records take, measured as JSON.
const RECORD_BYTES: usize = 4 << 20;
/// A record bigger than this (a long result) is not kept.
const MAX_RECORD_BYTES: usize = RECORD_BYTES / 16;

/// A finished job, with its final record while it is kept (and its size).
struct End {
    id: String,
    record: Option<(JobRecord, usize)>,
}

#[derive(Default)]
pub(super) struct RecentEnds {
    /// Oldest first.
    ends: VecDeque<End>,
    /// Jobs finished so far; the last one in `ends` is number `total`.
    total: u64,
    /// What the kept records take.
    record_bytes: usize,
    /// The oldest ends up to here have no record (records are let go
    /// oldest first); later ones may lack one too (too big to keep).
    bare: usize,
}

impl RecentEnds {
    /// Notes that the job of `record` finished, as `record` says.
    pub fn push(&mut self, record: &JobRecord) {
        if self.ends.len() == KEPT {
            match self.ends.pop_front().expect("full").record {
                Some((_, bytes)) => self.record_bytes -= bytes,
                None => self.bare = self.bare.saturating_sub(1),
            }
        }
        let bytes = json_size(record);
        let kept = (bytes <= MAX_RECORD_BYTES).then(|| (record.clone(), bytes));
        self.record_bytes += kept.as_ref().map_or(0, |(_, bytes)| *bytes);
        self.ends.push_back(End { id: record.job_id.clone(), record: kept });
        self.total += 1;
        // Room for it: the oldest records go (never itself, which fits).
        while self.record_bytes > RECORD_BYTES {
            if let Some((_, bytes)) = self.ends[self.bare].record.take() {
                self.record_bytes -= bytes;
            }
            self.bare += 1;
        }
    }

    /// How many jobs have finished so far: a mark for [`RecentEnds::since`].
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The jobs that finished after mark `seen`, oldest first, with their
    /// final records where kept; `None` when some of them are no longer
    /// remembered (the waiter then looks at every job it waits for).
    pub fn since(&self, seen: u64) -> Option<impl Iterator<Item = (&str, Option<&JobRecord>)>> {
        let new = usize::try_from(self.total.checked_sub(seen)?).ok()?;
        (new <= self.ends.len()).then(|| {
            self.ends
                .iter()
                .skip(self.ends.len() - new)
                .map(|end| (end.id.as_str(), end.record.as_ref().map(|(record, _)| record)))
        })
    }
}

/// The size of `record` as JSON.
fn json_size(record: &JobRecord) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Cannot fail: plain data, written to a counter.
    serde_json::to_writer(&mut count, record).map_or(usize::MAX, |()| count.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(id: &str, result_bytes: usize) -> JobRecord {
        JobRecord { result: Some("r".repeat(result_bytes)), ..JobRecord::for_tests(id) }
    }

    fn ids(ends: &RecentEnds, mark: u64) -> Vec<(String, bool)> {
        ends.since(mark).unwrap().map(|(id, record)| (id.to_string(), record.is_some())).collect()
    }

    #[test]
    fn ends_are_told_from_a_mark_with_their_records_until_too_many_to_remember() {
        let mut ends = RecentEnds::default();
        let mark = ends.total();
        assert_eq!(ends.since(mark).unwrap().count(), 0);
        ends.push(&finished("j1", 10));
        let later = ends.total();
        ends.push(&finished("j0", 10));
        assert_eq!(ids(&ends, mark), [("j1".into(), true), ("j0".into(), true)]);
        let (_, record) = ends.since(later).unwrap().next().unwrap();
        assert_eq!(record.unwrap().result.as_deref(), Some("r".repeat(10).as_str()), "its final record");
        assert_eq!(ends.since(ends.total()).unwrap().count(), 0);
        for i in 0..KEPT {
            ends.push(&finished(&format!("k{i}"), 10));
        }
        assert!(ends.since(mark).is_none(), "the first ones are forgotten: look at everything");
        assert_eq!(ends.since(later + 1).unwrap().count(), KEPT);
    }

    #[test]
    fn the_records_kept_are_bounded_and_the_newest_are_kept() {
        let mut ends = RecentEnds::default();
        let mark = ends.total();
        ends.push(&finished("huge", MAX_RECORD_BYTES));
        let big = MAX_RECORD_BYTES / 2;
        for i in 0..40 {
            ends.push(&finished(&format!("big{i}"), big));
        }
        assert!(ends.record_bytes <= RECORD_BYTES, "{} bytes kept", ends.record_bytes);
        let told = ids(&ends, mark);
        assert_eq!(told.len(), 41, "every end is told, with or without its record");
        assert_eq!(told[0], ("huge".into(), false), "too big to keep");
        let kept: Vec<bool> = told.iter().map(|(_, kept)| *kept).collect();
        let first_kept = kept.iter().position(|k| *k).unwrap();
        assert!(kept[first_kept..].iter().all(|k| *k), "the newest keep theirs: {kept:?}");
        assert!(first_kept > 1, "older records were let go for room: {kept:?}");
        // Records let go and ends forgotten give their room back.
        for i in 0..KEPT {
            ends.push(&finished(&format!("s{i:05}"), 10));
        }
        let small = json_size(&finished("s00000", 10));
        assert_eq!(ends.record_bytes, KEPT * small);
        assert!(ends.since(ends.total() - KEPT as u64).unwrap().all(|(_, record)| record.is_some()));
    }
}
