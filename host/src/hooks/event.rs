//! What hooks are fired with: an [`Event`], named by an [`EventName`].

use serde_json::{Map, Value};
use std::fmt;

/// The events ringmaster fires (the job lifecycle) or relays from inside
/// agents (`PreToolUse`, `PostToolUse`, `Stop`, `SubagentStop`). Hook
/// configs name them as written here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventName {
    JobSubmit,
    PreJobStart,
    PostJob,
    JobFailed,
    JobRetry,
    Notification,
    /// ringmaster itself stops (an agent's end is `Stop`).
    Shutdown,
    /// A job tree (a root and all its descendants) finished.
    TreeFinished,
    Stop,
    PreToolUse,
    PostToolUse,
    SubagentStop,
}

impl EventName {
    pub const ALL: [EventName; 12] = [
        EventName::JobSubmit,
        EventName::PreJobStart,
        EventName::PostJob,
        EventName::JobFailed,
        EventName::JobRetry,
        EventName::Notification,
        EventName::Shutdown,
        EventName::TreeFinished,
        EventName::Stop,
        EventName::PreToolUse,
        EventName::PostToolUse,
        EventName::SubagentStop,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventName::JobSubmit => "JobSubmit",
            EventName::PreJobStart => "PreJobStart",
            EventName::PostJob => "PostJob",
            EventName::JobFailed => "JobFailed",
            EventName::JobRetry => "JobRetry",
            EventName::Notification => "Notification",
            EventName::Shutdown => "Shutdown",
            EventName::TreeFinished => "TreeFinished",
            EventName::Stop => "Stop",
            EventName::PreToolUse => "PreToolUse",
            EventName::PostToolUse => "PostToolUse",
            EventName::SubagentStop => "SubagentStop",
        }
    }

    /// The event `name` names, if ringmaster has it.
    pub fn parse(name: &str) -> Option<EventName> {
        EventName::ALL.into_iter().find(|event| event.as_str() == name)
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event to dispatch.
#[derive(Debug, Clone)]
pub struct Event {
    pub name: EventName,
    /// What matchers are matched against: a job's agent and tags, a tool's name.
    pub subjects: Vec<String>,
    /// The event's fields; `hook_event_name` and `cwd` are added.
    pub payload: Map<String, Value>,
    /// The job the event concerns, for handlers' environment and plugins.
    pub job: Option<crate::contract::JobInfo>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_as_written() {
        for event in EventName::ALL {
            assert_eq!(EventName::parse(event.as_str()), Some(event));
        }
        assert_eq!(EventName::parse("SessionStart"), None);
        assert_eq!(EventName::parse("posttooluse"), None, "names are case-sensitive, as in Claude Code");
    }
}
