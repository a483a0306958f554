//! What the queue holds back: every start (`queue_pause` with no tag), or
//! the starts of jobs with a paused tag. Running jobs are never touched; a
//! held job stays queued, in its place, until the pause that holds it ends.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pauses {
    /// No job starts.
    pub all: bool,
    /// Jobs with any of these tags do not start.
    pub tags: BTreeSet<String>,
}

impl Pauses {
    /// What holds back a job with `tags`: the whole queue, or the first of
    /// its tags that is paused.
    pub fn holding<'a>(&self, tags: &'a [String]) -> Option<Held<'a>> {
        if self.all {
            return Some(Held::Queue);
        }
        tags.iter().find(|tag| self.tags.contains(*tag)).map(|tag| Held::Tag(tag))
    }

    /// Pauses (`paused`) or resumes the queue (`tag` none) or one tag; the
    /// pauses after it.
    pub fn set(&mut self, tag: Option<&str>, paused: bool) {
        match (tag, paused) {
            (None, paused) => self.all = paused,
            (Some(tag), true) => {
                self.tags.insert(tag.to_string());
            }
            (Some(tag), false) => {
                self.tags.remove(tag);
            }
        }
    }
}

/// Why a job is held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held<'a> {
    Queue,
    Tag(&'a str),
}

impl std::fmt::Display for Held<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Held::Queue => f.write_str("the queue is paused (queue_resume starts it again)"),
            Held::Tag(tag) => write!(f, "tag {tag:?} is paused (queue_resume with that tag starts it again)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_holds_the_whole_queue_or_the_jobs_of_its_tags() {
        let mut pauses = Pauses::default();
        let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        pauses.set(Some("nightly"), true);
        assert_eq!(pauses.holding(&tags(&["x", "nightly"])), Some(Held::Tag("nightly")));
        assert_eq!(pauses.holding(&tags(&["x"])), None);
        pauses.set(None, true);
        assert_eq!(pauses.holding(&tags(&[])), Some(Held::Queue));
        pauses.set(None, false);
        pauses.set(Some("nightly"), false);
        assert_eq!(pauses, Pauses::default());
    }
}
