//! The job model: what is submitted ([`JobSpec`]), what is reported
//! ([`JobRecord`]), and the environment contract between ringmaster and the
//! agents it starts ([`env`]); with what jobs run after ([`after`]), what
//! they may spend ([`budget`]) and what a finished tree comes to
//! ([`TreeSummary`]). Plain data, serialisable, no secrets.
//!
//! A leaf module: the store persists these types, the executor and the hook
//! runner set the [`env`] variables, the engine moves jobs through their
//! states, and the front-ends show them. It imports nothing of ringmaster's.

pub mod after;
pub mod budget;
pub mod env;
mod pause;
mod record;
mod spec;
mod tree;
pub mod workspace;

pub use after::After;
pub use pause::{Held, Pauses};
pub use record::{AttemptOutcome, AttemptRecord, Cancelled, JobFilter, JobRecord, JobStatus};
pub use spec::{JobSpec, bounds, check_tag};
pub use tree::TreeSummary;

/// The first `max` characters of `text`.
pub fn preview(text: &str, max: usize) -> String {
    // A slice copied at once: the scheduler asks for one per queued job it offers.
    let end = text.char_indices().nth(max).map_or(text.len(), |(at, _)| at);
    text[..end].to_string()
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_preview_keeps_whole_characters() {
        assert_eq!(super::preview("héllo wörld", 7), "héllo w");
        assert_eq!(super::preview("ab", 5), "ab");
        assert_eq!(super::preview("", 3), "");
    }
}
