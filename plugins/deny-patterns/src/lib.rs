//! Hook handler: denies jobs and tool calls whose input contains one of the
//! configured patterns (case-insensitive substrings), e.g. destructive shell
//! commands or production hostnames.
//!
//! Config: `patterns` (one per line), `events` (comma-separated; default
//! `JobSubmit,PreToolUse`).

use ringmaster_plugin::hook_handler::{Event, HookHandler, Response};
use ringmaster_plugin::{Result, config, log};

struct DenyPatterns;

impl HookHandler for DenyPatterns {
    fn events() -> Result<Vec<String>> {
        Ok(config::list("events", &["JobSubmit", "PreToolUse"]))
    }

    fn handle(event: Event) -> Result<Response> {
        let payload = event.payload_json.to_lowercase();
        // One per line: a pattern may contain commas.
        let patterns = config::raw("patterns").unwrap_or_default();
        let hit =
            patterns.lines().map(str::trim).filter(|p| !p.is_empty()).find(|p| payload.contains(&p.to_lowercase()));
        Ok(match hit {
            Some(pattern) => {
                log::info("denied", &[("event", &event.name), ("pattern", &pattern)]);
                Response::deny(format!("input matches the denied pattern {pattern:?}"))
            }
            None => Response::pass(),
        })
    }
}

ringmaster_plugin::export_hook_handler!(DenyPatterns);

#[cfg(test)]
mod tests {
    use super::*;
    use ringmaster_plugin::hook_handler::Permission;
    use ringmaster_plugin::testing::TestHost;

    fn event(payload: &str) -> Event {
        Event { name: "PreToolUse".into(), payload_json: payload.into(), job: None }
    }

    #[test]
    fn a_pattern_in_any_case_denies_and_says_which() {
        let mut host = TestHost::new().config("patterns", "rm -rf /\nPROD.example.com, eu\n");
        let denied = host.run(|| DenyPatterns::handle(event(r#"{"command":"ssh prod.EXAMPLE.com, eu"}"#))).unwrap();
        assert_eq!(denied.permission, Permission::Deny);
        assert_eq!(denied.reason.as_deref(), Some("input matches the denied pattern \"PROD.example.com, eu\""));
        assert_eq!(host.logs()[0].field("pattern"), Some("PROD.example.com, eu"));

        let passed = host.run(|| DenyPatterns::handle(event(r#"{"command":"ls"}"#))).unwrap();
        assert_eq!(passed.permission, Permission::None);
    }

    #[test]
    fn events_default_and_configured() {
        assert_eq!(TestHost::new().run(DenyPatterns::events).unwrap(), ["JobSubmit", "PreToolUse"]);
        let mut host = TestHost::new().config("events", "JobSubmit");
        assert_eq!(host.run(DenyPatterns::events).unwrap(), ["JobSubmit"]);
    }
}
