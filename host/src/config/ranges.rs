//! The ranges of the configuration's numbers. Values outside them are
//! errors naming the key, so no setting can overflow a duration or a count.

use std::ops::RangeInclusive;

pub const MAX_QUEUE: RangeInclusive<u64> = 1..=1_000_000;
pub const MAX_DEPTH: RangeInclusive<u64> = 0..=32;
/// Any count of jobs running at once.
pub const CONCURRENCY: RangeInclusive<u64> = 1..=10_000;
pub const JOBS_PER_ROOT: RangeInclusive<u64> = 1..=1_000_000;
pub const STARTS_PER_MINUTE: RangeInclusive<u64> = 0..=100_000;
pub const RETRIES: RangeInclusive<u64> = 0..=100;
/// A job's timeout, or a hook command's, in seconds: up to a day.
pub const TIMEOUT_S: RangeInclusive<u64> = 1..=86_400;
pub const SHELL_TIMEOUT_S: RangeInclusive<u64> = 1..=3_600;
pub const KILL_GRACE_MS: RangeInclusive<u64> = 0..=600_000;
/// Up to 2 MiB: a prompt must fit in a request line however it is escaped.
pub const PROMPT_BYTES: RangeInclusive<u64> = 1..=2 << 20;
pub const KEEP_DAYS: RangeInclusive<u64> = 0..=36_500;
pub const KEEP_JOBS: RangeInclusive<u64> = 0..=100_000_000;
pub const DEADLINE_MS: RangeInclusive<u64> = 1..=600_000;
pub const MEMORY_MIB: RangeInclusive<u64> = 1..=65_536;
pub const DEBOUNCE_MS: RangeInclusive<u64> = 0..=60_000;
pub const CIRCUIT_FAILURES: RangeInclusive<u64> = 1..=1_000;
pub const BACKOFF_MS: RangeInclusive<u64> = 0..=86_400_000;
pub const SHELL_PROCESSES: RangeInclusive<u64> = 1..=1_024;
/// Up to a week; 0 means never.
pub const IDLE_EXIT_S: RangeInclusive<u64> = 0..=604_800;
