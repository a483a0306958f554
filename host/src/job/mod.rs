//! The job model: what is submitted ([`JobSpec`]), what is reported
//! ([`JobRecord`]), and the environment contract between ringmaster and the
//! agents it starts ([`env`]). Plain data, serialisable, no secrets.
//!
//! A leaf module: the store persists these types, the executor and the hook
//! runner set the [`env`] variables, the engine moves jobs through their
//! states, and the front-ends show them. It imports nothing of ringmaster's.

pub mod env;
mod record;
mod spec;

pub use record::{AttemptOutcome, AttemptRecord, JobFilter, JobRecord, JobStatus};
pub use spec::{JobSpec, bounds};

/// The first `max` characters of `text`.
pub fn preview(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
