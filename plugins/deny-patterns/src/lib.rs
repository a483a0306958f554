//! Hook handler: denies jobs and tool calls whose input contains one of the
//! configured patterns (case-insensitive substrings), e.g. destructive shell
//! commands or production hostnames.
//!
//! Config: `patterns` (one per line), `events` (comma-separated; default
//! `JobSubmit,PreToolUse`).

wit_bindgen::generate!({ path: "../../wit", world: "hook-handler-plugin" });

use exports::ringmaster::plugin::hook_handler::{Event, Guest, Permission, Response};
use ringmaster::plugin::host;

struct DenyPatterns;

impl Guest for DenyPatterns {
    fn events() -> Vec<String> {
        host::config_get("events")
            .unwrap_or_else(|| "JobSubmit,PreToolUse".into())
            .split(',')
            .map(|e| e.trim().to_string())
            .filter(|e| !e.is_empty())
            .collect()
    }

    fn handle(event: Event) -> Response {
        let payload = event.payload_json.to_lowercase();
        let patterns = host::config_get("patterns").unwrap_or_default();
        let hit =
            patterns.lines().map(str::trim).filter(|p| !p.is_empty()).find(|p| payload.contains(&p.to_lowercase()));
        match hit {
            Some(pattern) => {
                host::log(
                    host::Level::Info,
                    "denied",
                    &[("event".into(), event.name.clone()), ("pattern".into(), pattern.into())],
                );
                Response {
                    permission: Permission::Deny,
                    reason: Some(format!("input matches the denied pattern {pattern:?}")),
                    updated_input_json: None,
                    additional_context: None,
                }
            }
            None => Response {
                permission: Permission::None,
                reason: None,
                updated_input_json: None,
                additional_context: None,
            },
        }
    }
}

export!(DenyPatterns);
