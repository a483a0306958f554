//! Usage limits as Claude Code reports them in its result text, with the
//! time they reset: `Claude AI usage limit reached|1767225600` (a Unix time,
//! older versions), or words such as `5-hour limit reached ∙ resets 3pm`,
//! `You've hit your limit · resets 3:30pm (Europe/Berlin)`, `usage limit
//! reached; your limit will reset at 15:00 (UTC)` (newer ones; without a
//! zone, the machine's). The stream's own reports (a rejected
//! `rate_limit_event` with `resetsAt`, `api_retry` 429s with their delay)
//! are read in `stream.rs`.

use chrono::{DateTime, Duration, Local, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use regex::Regex;
use std::sync::LazyLock;

static UNIX: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)limit reached\s*\|\s*(\d{9,11})\b").unwrap());
static WALL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\blimits?\b.*?\bresets?(?:\s+at)?\s+(\d{1,2})(?::(\d{2}))?\s*([ap]\.?m\.?)?(?:\s*\(([A-Za-z_]+(?:/[A-Za-z0-9_+\-]+)*)\))?",
    )
    .unwrap()
});

/// When the usage limit `text` reports resets (Unix ms), if it reports one.
pub fn usage_limit_reset(text: &str, now_ms: u64) -> Option<u64> {
    if let Some(found) = UNIX.captures(text) {
        return found[1].parse::<u64>().ok()?.checked_mul(1000);
    }
    let found = WALL.captures(text)?;
    let mut hour: u32 = found[1].parse().ok()?;
    let minute: u32 = found.get(2).map_or(Some(0), |m| m.as_str().parse().ok())?;
    if let Some(half) = found.get(3) {
        if !(1..=12).contains(&hour) {
            return None;
        }
        hour = hour % 12 + if half.as_str().to_ascii_lowercase().starts_with('p') { 12 } else { 0 };
    }
    let time = NaiveTime::from_hms_opt(hour, minute, 0)?;
    let now = Utc.timestamp_millis_opt(i64::try_from(now_ms).ok()?).single()?;
    let next_ms = match found.get(4) {
        Some(zone) => next_at(time, &now.with_timezone(&zone.as_str().parse::<Tz>().ok()?))?.timestamp_millis(),
        None => next_at(time, &now.with_timezone(&Local))?.timestamp_millis(),
    };
    u64::try_from(next_ms).ok()
}

/// The first moment after `now` when the wall clock of its zone shows `time`.
fn next_at<Z: TimeZone>(time: NaiveTime, now: &DateTime<Z>) -> Option<DateTime<Z>> {
    let zone = now.timezone();
    (0..=2).find_map(|days| {
        let day = now.date_naive() + Duration::days(days);
        zone.from_local_datetime(&day.and_time(time)).earliest().filter(|at| at > now)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(h: u32, m: u32) -> u64 {
        Utc.with_ymd_and_hms(2026, 11, 30, h, m, 0).unwrap().timestamp_millis() as u64
    }

    #[test]
    fn a_unix_reset_is_read_as_is() {
        let now = utc(12, 0);
        assert_eq!(usage_limit_reset("Claude AI usage limit reached|1796054400", now), Some(1_796_054_400_000));
    }

    #[test]
    fn a_wall_clock_reset_is_the_next_time_the_clock_shows_it_in_its_zone() {
        let now = utc(12, 0);
        assert_eq!(usage_limit_reset("5-hour limit reached ∙ resets 3pm (UTC)", now), Some(utc(15, 0)));
        assert_eq!(usage_limit_reset("You've hit your limit · resets 3:30pm (UTC)", now), Some(utc(15, 30)));
        // Berlin is UTC+1 in winter: 11:00 there has passed, so tomorrow's.
        let tomorrow = utc(10, 0) + 24 * 3600 * 1000;
        assert_eq!(
            usage_limit_reset("usage limit reached; your limit will reset at 11:00 (Europe/Berlin)", now),
            Some(tomorrow)
        );
        assert_eq!(usage_limit_reset("Limit reached, resets 12am (UTC)", now), Some(utc(0, 0) + 24 * 3600 * 1000));
    }

    #[test]
    fn other_text_is_not_a_usage_limit() {
        let now = utc(12, 0);
        for text in ["API Error: 500", "the tests reset at 3pm", "limit reached, resets 13pm (UTC)", "resets 3pm"] {
            assert_eq!(usage_limit_reset(text, now), None, "{text}");
        }
        assert_eq!(usage_limit_reset("limit reached · resets 3pm (Mars/Base)", now), None, "unknown zone");
    }
}
