//! Native tests of plugin logic: `cargo test` calls a plugin's trait methods
//! directly, without building WebAssembly, against a host the test sets up.
//!
//! ```ignore
//! use ringmaster_plugin::testing::{self, TestHost};
//!
//! let mut host = TestHost::new().config("max-per-root", "1").now_ms(1_000);
//! let input = testing::schedule_input(vec![testing::candidate(testing::job("a"))], vec![testing::slot(0, 2)]);
//! let chosen = host.run(|| FairShare::select(input)).unwrap();
//! assert!(host.logs().iter().any(|line| line.message == "selected jobs"));
//! ```
//!
//! Outside [`TestHost::run`] a native build sees an empty configuration, the
//! system clock, and log lines on stderr.

use crate::JobInfo;
use crate::log::Level;
use crate::scheduler::{Candidate, ScheduleInput, Slot};
use std::cell::RefCell;
use std::collections::BTreeMap;

/// One log line a plugin wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub level: Level,
    pub message: String,
    pub fields: Vec<(String, String)>,
}

impl LogLine {
    /// The value of field `name`, if the line has it.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// The host a native test gives the plugin: its configuration, its clock,
/// and the log lines it wrote.
#[derive(Debug, Clone, Default)]
pub struct TestHost {
    config: BTreeMap<String, String>,
    now_ms: Option<u64>,
    logs: Vec<LogLine>,
}

thread_local! {
    /// The host of the `run` under way on this thread (tests run in threads
    /// of their own, so they do not see each other's).
    static CURRENT: RefCell<Option<TestHost>> = const { RefCell::new(None) };
}

impl TestHost {
    pub fn new() -> TestHost {
        TestHost::default()
    }

    /// Sets configuration key `key`, as the manifest's `config:` would.
    pub fn config(mut self, key: &str, value: &str) -> TestHost {
        self.config.insert(key.to_string(), value.to_string());
        self
    }

    /// Fixes the clock at `now_ms` (default: the system clock).
    pub fn now_ms(mut self, now_ms: u64) -> TestHost {
        self.now_ms = Some(now_ms);
        self
    }

    /// Runs `call` (typically one of the plugin's trait methods) with this
    /// host answering the plugin's host calls.
    pub fn run<R>(&mut self, call: impl FnOnce() -> R) -> R {
        /// Takes the host back even when `call` panics (a failing assertion).
        struct Restore<'a>(&'a mut TestHost);
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                if let Some(host) = CURRENT.with(|current| current.borrow_mut().take()) {
                    *self.0 = host;
                }
            }
        }
        let previous = CURRENT.with(|current| current.borrow_mut().replace(std::mem::take(self)));
        assert!(previous.is_none(), "TestHost::run does not nest");
        let _restore = Restore(self);
        call()
    }

    /// The log lines written so far.
    pub fn logs(&self) -> &[LogLine] {
        &self.logs
    }
}

/// The host functions of a native build (see [`crate::host`]).
pub(crate) mod native {
    use super::{CURRENT, LogLine};
    use crate::log::Level;

    pub fn log(level: Level, message: &str, fields: &[(String, String)]) {
        let line = LogLine { level, message: message.to_string(), fields: fields.to_vec() };
        let kept = CURRENT.with(|current| current.borrow_mut().as_mut().map(|host| host.logs.push(line.clone())));
        if kept.is_none() {
            eprintln!("{:?} {} {:?}", line.level, line.message, line.fields);
        }
    }

    pub fn config_get(key: &str) -> Option<String> {
        CURRENT.with(|current| current.borrow().as_ref().and_then(|host| host.config.get(key).cloned()))
    }

    pub fn config_all() -> Vec<(String, String)> {
        CURRENT.with(|current| {
            current.borrow().as_ref().map(|host| host.config.clone().into_iter().collect()).unwrap_or_default()
        })
    }

    pub fn now_ms() -> u64 {
        let fixed = CURRENT.with(|current| current.borrow().as_ref().and_then(|host| host.now_ms));
        fixed.unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
        })
    }
}

/// A job at depth 0 (its own root), priority 0, first attempt, agent
/// `claude`, no tags; change fields as a test needs.
pub fn job(id: &str) -> JobInfo {
    JobInfo {
        id: id.to_string(),
        prompt_preview: String::new(),
        prompt_bytes: 0,
        agent: "claude".to_string(),
        model: None,
        priority: 0,
        tags: Vec::new(),
        depth: 0,
        root_id: id.to_string(),
        parent_id: None,
        attempt: 1,
        submitted_at_ms: 0,
    }
}

/// `job` queued with rank 0, just now.
pub fn candidate(job: JobInfo) -> Candidate {
    Candidate { job, rank: 0, waited_ms: 0 }
}

/// Slot `index`, idle, with room for `free` jobs.
pub fn slot(index: u32, free: u32) -> Slot {
    Slot {
        index,
        running: 0,
        free,
        cooling_until_ms: None,
        recent_started: 0,
        recent_failed: 0,
        recent_rate_limited: 0,
    }
}

/// What `select` sees for these candidates and slots: capacity for all the
/// slots' room, no job running, nothing else queued.
pub fn schedule_input(candidates: Vec<Candidate>, slots: Vec<Slot>) -> ScheduleInput {
    ScheduleInput {
        capacity: slots.iter().map(|s| s.free).sum(),
        queued_total: candidates.len() as u32,
        roots: Vec::new(),
        candidates,
        slots,
        now_ms: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, ConfigError};
    use crate::scheduler::{FreeSlots, fill_slots};

    #[test]
    fn config_parses_defaults_and_names_the_bad_key() {
        let mut host = TestHost::new().config("base-ms", "250").config("cap-ms", "lots").config("kinds", "a, b\nc,,");
        host.run(|| {
            assert_eq!(config::get_or::<u64>("base-ms", 2000), Ok(250));
            assert_eq!(config::get_or::<u64>("unset", 2000), Ok(2000));
            assert_eq!(config::get::<u32>("unset"), Ok(None));
            let error: ConfigError = config::get_or::<u64>("cap-ms", 1).unwrap_err();
            assert_eq!(
                error.to_string(),
                "config key `cap-ms`: \"lots\" is not a valid u64 (invalid digit found in string)"
            );
            assert_eq!(config::list("kinds", &[]), ["a", "b", "c"]);
            assert_eq!(config::list("unset", &["x"]), ["x"]);
            assert_eq!(config::all().len(), 3);
        });
        // Outside `run` the plugin sees no configuration.
        assert_eq!(config::raw("base-ms"), None);
    }

    #[test]
    fn the_test_host_keeps_logs_and_clock_across_runs() {
        let mut host = TestHost::new().now_ms(42);
        host.run(|| crate::log::info("first", &[("n", &1)]));
        let now = host.run(|| {
            crate::log::warn("second", &[]);
            crate::now_ms()
        });
        assert_eq!(now, 42);
        assert_eq!(host.logs().len(), 2);
        assert_eq!(host.logs()[0].field("n"), Some("1"));
        assert_eq!(host.logs()[1].level, Level::Warn);
    }

    #[test]
    fn a_failing_call_gives_the_host_back() {
        let mut host = TestHost::new().config("k", "v");
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            host.run(|| {
                crate::log::info("before the panic", &[]);
                panic!("assertion failed")
            })
        }));
        assert!(panicked.is_err());
        assert_eq!(host.logs().len(), 1);
        assert_eq!(host.run(|| config::raw("k")), Some("v".to_string()));
    }

    #[test]
    fn slots_fill_the_roomiest_first_and_skip_cooling_ones() {
        let mut cooling = slot(2, 5);
        cooling.cooling_until_ms = Some(1);
        let mut slots = FreeSlots::new(&[slot(0, 1), slot(1, 2), cooling]);
        assert_eq!(slots.total(), 3);
        assert_eq!([slots.take(), slots.take(), slots.take(), slots.take()], [Some(1), Some(0), Some(1), None]);

        let candidates: Vec<_> = ["a", "b", "c"].map(|id| candidate(job(id))).into();
        let mut input = schedule_input(candidates, vec![slot(0, 1), slot(1, 1)]);
        let started: Vec<_> = fill_slots(&input, &input.candidates).into_iter().map(|a| (a.job_id, a.slot)).collect();
        assert_eq!(started, [("a".to_string(), 0), ("b".to_string(), 1)]);
        input.capacity = 1;
        assert_eq!(fill_slots(&input, &input.candidates).len(), 1);
    }
}
