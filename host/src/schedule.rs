//! Schedules: a job submitted whenever a cron pattern comes round in a time
//! zone (`schedule_create`). Plain data and the arithmetic of occurrences;
//! the engine keeps them, fires them and stores them (`engine/schedules.rs`).
//!
//! Firing follows the job systems people rely on (cron with catch-up, as
//! Sidekiq's and Oban's plugins do): while the engine runs, each occurrence
//! submits one job; occurrences missed while it was down are caught up
//! *once*, by one job for the latest of them, not one per occurrence. Each
//! run's idempotency key is the schedule and the occurrence, so an engine
//! that dies between submitting and recording the run does not submit it
//! twice.
//!
//! Patterns are cron's five fields (minute hour day-of-month month
//! day-of-week), or six with seconds first, parsed by `croner` (with `L`,
//! `#` and `W` as it documents); time zones are IANA names (`chrono-tz`).

use crate::job::JobSpec;
use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use serde::{Deserialize, Serialize};

/// Longest a schedule name may be.
pub const MAX_NAME_CHARS: usize = 64;
/// Most schedules an engine keeps.
pub const MAX_SCHEDULES: usize = 1000;

/// A schedule as stored and listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Its id: its name, given or made.
    pub schedule_id: String,
    pub cron: String,
    /// IANA time zone the pattern is read in, e.g. `Europe/Berlin`.
    pub timezone: String,
    /// The job each run submits (tagged `schedule:ID`).
    pub job: JobSpec,
    pub paused: bool,
    pub created_at_ms: u64,
    /// Occurrences count from here: its creation, or its last resume (one
    /// paused misses what came round meanwhile).
    pub armed_at_ms: u64,
    /// The occurrence last fired (Unix ms), if any.
    pub last_fired_ms: Option<u64>,
    /// The job it submitted.
    pub last_job_id: Option<String>,
    /// Why the last submission was refused, if it was.
    pub last_error: Option<String>,
    /// When it fires next (not stored: computed when listed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_at_ms: Option<u64>,
}

impl Schedule {
    /// Since when an occurrence is due: its last run, or when it was armed.
    pub fn since_ms(&self) -> u64 {
        self.last_fired_ms.unwrap_or(0).max(self.armed_at_ms)
    }

    /// The tag each of its runs carries.
    pub fn tag(&self) -> String {
        format!("schedule:{}", self.schedule_id)
    }

    /// The job its occurrence `at_ms` submits.
    pub fn run(&self, at_ms: u64) -> JobSpec {
        let mut job = self.job.clone();
        let tag = self.tag();
        if !job.tags.contains(&tag) {
            job.tags.push(tag);
        }
        job.idempotency_key = Some(format!("schedule:{}:{at_ms}", self.schedule_id));
        job.client = Some(format!("schedule/{}", self.schedule_id));
        job
    }

    /// Its pattern read in its zone; an error says what is wrong with either.
    pub fn timing(&self) -> Result<Timing, String> {
        Timing::parse(&self.cron, &self.timezone)
    }
}

/// Checks a schedule's name: 1 to [`MAX_NAME_CHARS`] letters, digits, `-`, `_` or `.`.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    match ok {
        true => Ok(()),
        false => Err(format!(
            "schedule name {name:?} is not allowed: 1 to {MAX_NAME_CHARS} letters, digits, `-`, `_` or `.`"
        )),
    }
}

/// A cron pattern in a time zone.
#[derive(Debug, Clone)]
pub struct Timing {
    cron: Cron,
    zone: Tz,
}

impl Timing {
    pub fn parse(cron: &str, timezone: &str) -> Result<Timing, String> {
        let zone: Tz = timezone.parse().map_err(|_| {
            format!("unknown time zone {timezone:?}; use an IANA name such as `UTC` or `Europe/Berlin`")
        })?;
        let parsed: Cron = cron.parse().map_err(|err| {
            format!(
                "cron pattern {cron:?} is not valid ({err}); use five fields (minute hour day-of-month month \
                 day-of-week, e.g. `0 2 * * *` for 2:00 every day), or six with seconds first"
            )
        })?;
        let timing = Timing { cron: parsed, zone };
        // A pattern that never comes round (31 February) is refused too.
        if timing.next_after(crate::job::now_ms()).is_none() {
            return Err(format!("cron pattern {cron:?} never comes round"));
        }
        Ok(timing)
    }

    /// `ms` in the zone, to the whole second (occurrences are whole seconds).
    fn at(&self, ms: u64) -> Option<DateTime<Tz>> {
        let seconds = i64::try_from(ms / 1000).ok()?;
        Utc.timestamp_opt(seconds, 0).single().map(|t| t.with_timezone(&self.zone))
    }

    /// The first occurrence strictly after `ms`.
    pub fn next_after(&self, ms: u64) -> Option<u64> {
        let next = self.cron.find_next_occurrence(&self.at(ms)?, false).ok()?;
        u64::try_from(next.timestamp_millis()).ok()
    }

    /// The occurrence to fire at `now_ms` for a schedule last fired (or
    /// created) at `since_ms`: the latest one after `since_ms` and no later
    /// than now, however many came round since (caught up once).
    pub fn due(&self, since_ms: u64, now_ms: u64) -> Option<u64> {
        let first = self.next_after(since_ms)?;
        if first > now_ms {
            return None;
        }
        let latest = self.cron.find_previous_occurrence(&self.at(now_ms)?, true).ok()?;
        u64::try_from(latest.timestamp_millis()).ok().filter(|at| *at > since_ms).or(Some(first))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unix ms of a UTC date and time.
    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> u64 {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap().timestamp_millis() as u64
    }

    #[test]
    fn occurrences_follow_the_pattern_in_its_time_zone() {
        let nightly = Timing::parse("0 2 * * *", "Europe/Berlin").unwrap();
        // 2:00 in Berlin is 1:00 UTC in winter, 0:00 UTC in summer.
        assert_eq!(nightly.next_after(utc(2026, 11, 30, 12, 0)), Some(utc(2026, 12, 1, 1, 0)));
        assert_eq!(nightly.next_after(utc(2026, 7, 1, 12, 0)), Some(utc(2026, 7, 2, 0, 0)));
        let seconds = Timing::parse("*/10 * * * * *", "UTC").unwrap();
        assert_eq!(seconds.next_after(utc(2026, 1, 1, 0, 0)), Some(utc(2026, 1, 1, 0, 0) + 10_000));
        // On the whole second, whatever the milliseconds of the start.
        assert_eq!(seconds.next_after(utc(2026, 1, 1, 0, 0) + 9_999), Some(utc(2026, 1, 1, 0, 0) + 10_000));
        assert_eq!(
            seconds.due(utc(2026, 1, 1, 0, 0) + 1, utc(2026, 1, 1, 0, 0) + 25_042),
            Some(utc(2026, 1, 1, 0, 0) + 20_000)
        );
    }

    #[test]
    fn missed_occurrences_are_caught_up_once_with_the_latest() {
        let hourly = Timing::parse("0 * * * *", "UTC").unwrap();
        let fired = utc(2026, 11, 30, 3, 0);
        assert_eq!(hourly.due(fired, utc(2026, 11, 30, 3, 59)), None, "not yet");
        assert_eq!(hourly.due(fired, utc(2026, 11, 30, 4, 0)), Some(utc(2026, 11, 30, 4, 0)), "on the dot");
        // Down from 3:00 to 9:30: six occurrences missed, one run, for 9:00.
        assert_eq!(hourly.due(fired, utc(2026, 11, 30, 9, 30)), Some(utc(2026, 11, 30, 9, 0)));
        assert_eq!(hourly.due(utc(2026, 11, 30, 9, 0), utc(2026, 11, 30, 9, 30)), None, "fired already");
    }

    #[test]
    fn bad_patterns_zones_and_names_are_refused_saying_what_to_write() {
        let err = Timing::parse("every night", "UTC").unwrap_err();
        assert!(err.contains("five fields"), "{err}");
        assert!(Timing::parse("0 2 * * *", "Mars/Olympus").unwrap_err().contains("IANA"));
        assert!(Timing::parse("0 0 31 2 *", "UTC").unwrap_err().contains("never comes round"));
        assert!(check_name("nightly-triage").is_ok());
        assert!(check_name("a b").unwrap_err().contains("not allowed"));
        assert!(check_name("").is_err());
    }

    #[test]
    fn each_run_is_tagged_and_keyed_by_its_occurrence() {
        let schedule = Schedule {
            schedule_id: "nightly".into(),
            cron: "0 2 * * *".into(),
            timezone: "UTC".into(),
            job: JobSpec { prompt: "triage".into(), tags: vec!["ops".into()], ..JobSpec::default() },
            paused: false,
            created_at_ms: 0,
            armed_at_ms: 0,
            last_fired_ms: None,
            last_job_id: None,
            last_error: None,
            next_at_ms: None,
        };
        let run = schedule.run(7_200_000);
        assert_eq!(run.tags, ["ops", "schedule:nightly"]);
        assert_eq!(run.idempotency_key.as_deref(), Some("schedule:nightly:7200000"));
        assert_eq!(run.client.as_deref(), Some("schedule/nightly"));
    }
}
