//! Hook config files: the `hooks` key of Claude Code's settings, in JSON or
//! YAML, so a user can paste theirs unchanged.
//!
//! ```json
//! {"hooks": {"JobSubmit": [
//!   {"matcher": "*",
//!    "hooks": [{"type": "command", "command": "\"$CLAUDE_PROJECT_DIR\"/hooks/check.sh", "timeout": 30}]}
//! ]}}
//! ```
//!
//! Three levels: event name -> matcher groups -> handlers. A whole
//! `settings.json` is accepted; only its `hooks` key is read. Besides
//! Claude Code's `command` handlers, ringmaster runs `wasm` handlers
//! (`{"type": "wasm", "plugin": "NAME"}`: that plugin's hook-handler). Other
//! handler types of Claude Code (`http`, `prompt`, `agent`, `mcp_tool`) load
//! but are listed as unsupported and never run.

use super::EventName;
use super::matcher::Matcher;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The longest `timeout` a handler may set, in seconds (a day).
pub const MAX_TIMEOUT_S: f64 = 86_400.0;

/// What a handler runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    /// A shell command, with the event's JSON on stdin.
    Command(String),
    /// A plugin's hook-handler.
    Wasm(String),
    /// A Claude Code handler type ringmaster does not run.
    Unsupported(String),
}

impl Action {
    /// The plugin a `wasm` handler runs.
    pub fn plugin(&self) -> Option<&str> {
        match self {
            Action::Wasm(plugin) => Some(plugin),
            _ => None,
        }
    }
}

/// One handler, with where it applies.
#[derive(Debug, Clone, PartialEq)]
pub struct Handler {
    pub event: String,
    pub matcher_text: String,
    pub matcher: Matcher,
    pub action: Action,
    /// The handler's own timeout (command handlers).
    pub timeout: Option<Duration>,
    pub source: PathBuf,
}

#[derive(Debug, Deserialize)]
struct Settings {
    #[serde(default)]
    hooks: Option<BTreeMap<String, Vec<Group>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Group {
    #[serde(default)]
    matcher: Option<String>,
    hooks: Vec<Value>,
}

/// Parses a hook config; `path`'s extension chooses JSON or YAML. Errors
/// name the line where the parser can, and the handler's place otherwise.
/// Non-fatal remarks (unknown events, unsupported handler types) are logged.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Vec<Handler>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "the file is not valid UTF-8; save it as UTF-8".to_string())?;
    if text.trim().is_empty() {
        return Err("the file is empty; a hook config holds {\"hooks\": {EVENT: [groups]}}".into());
    }
    let yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
    let settings: Settings = if yaml {
        crate::untrusted::check_yaml_nesting(text)?;
        serde_yaml::from_str(text).map_err(|err| match err.location() {
            Some(loc) => format!("line {}: {err}", loc.line()),
            None => err.to_string(),
        })?
    } else {
        serde_json::from_str(text).map_err(|err| format!("line {}: {err}", err.line()))?
    };
    // A Claude Code settings file without hooks is still a settings file.
    let Some(events) = settings.hooks else { return Ok(Vec::new()) };
    let mut handlers = Vec::new();
    for (event, groups) in events {
        if EventName::parse(&event).is_none() {
            let known: Vec<&str> = EventName::ALL.iter().map(|e| e.as_str()).collect();
            tracing::warn!(file = %path.display(), "hook event {event:?} is never fired by ringmaster; its handlers will not run (ringmaster's events: {})", known.join(", "));
        }
        for (g, group) in groups.into_iter().enumerate() {
            let at = format!("hooks.{event}[{g}]");
            let matcher = Matcher::parse(group.matcher.as_deref()).map_err(|e| format!("{at}: {e}"))?;
            for (h, raw) in group.hooks.into_iter().enumerate() {
                let at = format!("{at}.hooks[{h}]");
                let (action, timeout) = handler(&raw).map_err(|e| format!("{at}: {e}"))?;
                if let Action::Unsupported(kind) = &action {
                    tracing::warn!(file = %path.display(), "{at}: handler type {kind:?} is not supported by ringmaster (command and wasm are); it will not run");
                }
                handlers.push(Handler {
                    event: event.clone(),
                    matcher_text: group.matcher.clone().unwrap_or_default(),
                    matcher: matcher.clone(),
                    action,
                    timeout,
                    source: path.to_path_buf(),
                });
            }
        }
    }
    Ok(handlers)
}

fn handler(raw: &Value) -> Result<(Action, Option<Duration>), String> {
    let field = |name: &str| raw.get(name);
    let kind = field("type").and_then(Value::as_str).ok_or("a handler needs a `type` (command or wasm)")?;
    let timeout = match field("timeout") {
        None | Some(Value::Null) => None,
        Some(value) => match value.as_f64() {
            Some(s) if s > 0.0 && s <= MAX_TIMEOUT_S => Some(Duration::from_secs_f64(s)),
            _ => {
                return Err(format!(
                    "`timeout` must be a number of seconds above 0 and at most {MAX_TIMEOUT_S}, not {value}"
                ));
            }
        },
    };
    let action = match kind {
        "command" => {
            let command = field("command").and_then(Value::as_str).filter(|c| !c.trim().is_empty());
            Action::Command(command.ok_or("a command handler needs a non-empty `command`")?.to_string())
        }
        "wasm" => {
            let plugin = field("plugin").and_then(Value::as_str).filter(|p| !p.trim().is_empty());
            Action::Wasm(plugin.ok_or("a wasm handler needs `plugin`: the name of a hook-handler plugin")?.to_string())
        }
        other => Action::Unsupported(other.to_string()),
    };
    Ok((action, timeout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_claude_code_settings_file_is_accepted() {
        let settings = r#"{
          "permissions": {"allow": ["Bash(ls:*)"]},
          "model": "sonnet",
          "hooks": {
            "PreToolUse": [
              {"matcher": "Edit|Write",
               "hooks": [{"type": "command", "command": "\"$CLAUDE_PROJECT_DIR\"/hooks/check.sh", "timeout": 30,
                          "statusMessage": "Checking", "once": false}]},
              {"hooks": [{"type": "http", "url": "http://x"}]}
            ],
            "SessionStart": [{"hooks": [{"type": "command", "command": "echo hi"}]}]
          }
        }"#;
        let handlers = parse(Path::new("settings.json"), settings.as_bytes()).unwrap();
        assert_eq!(handlers.len(), 3);
        let check = handlers.iter().find(|h| h.event == "PreToolUse" && h.matcher_text == "Edit|Write").unwrap();
        assert_eq!(check.action, Action::Command("\"$CLAUDE_PROJECT_DIR\"/hooks/check.sh".into()));
        assert_eq!(check.timeout, Some(Duration::from_secs(30)));
        assert!(handlers.iter().any(|h| h.action == Action::Unsupported("http".into())));
    }

    #[test]
    fn yaml_and_wasm_handlers() {
        let yaml = "hooks:\n  JobSubmit:\n    - matcher: review\n      hooks:\n        - type: wasm\n          plugin: deny-patterns\n";
        let handlers = parse(Path::new("h.yaml"), yaml.as_bytes()).unwrap();
        assert_eq!(handlers[0].action, Action::Wasm("deny-patterns".into()));
        assert!(handlers[0].matcher.matches(&["claude", "review"]));
    }

    #[test]
    fn errors_say_where() {
        let err = parse(Path::new("h.json"), b"{\"hooks\": {\n\"Stop\": [}}").unwrap_err();
        assert!(err.starts_with("line 2:"), "{err}");
        let err = parse(Path::new("h.yaml"), b"hooks:\n  Stop:\n    - hooks: [ {type: command} ]\n").unwrap_err();
        assert!(err.contains("hooks.Stop[0].hooks[0]") && err.contains("`command`"), "{err}");
        let err = parse(Path::new("h.yaml"), b"hooks:\n  Stop:\n    - matcher: \"a(\"\n      hooks: []\n").unwrap_err();
        assert!(err.contains("not a valid regex"), "{err}");
        assert_eq!(parse(Path::new("settings.json"), b"{\"model\": \"x\"}"), Ok(Vec::new()));
        let deep = format!("hooks: {}", "{a: ".repeat(100_000));
        assert!(parse(Path::new("h.yaml"), deep.as_bytes()).unwrap_err().contains("nest more than"));
        let err = parse(Path::new("h.json"), b"  ").unwrap_err();
        assert!(err.contains("empty"), "{err}");
        let err = parse(
            Path::new("h.yaml"),
            b"hooks:\n  Stop:\n    - hooks:\n      - {type: command, command: x, timeout: -1}\n",
        )
        .unwrap_err();
        assert!(err.contains("above 0"), "{err}");
        for huge in ["1e300", "86401", "1e19"] {
            let text =
                format!("hooks:\n  Stop:\n    - hooks:\n      - {{type: command, command: x, timeout: {huge}}}\n");
            let err = parse(Path::new("h.yaml"), text.as_bytes()).unwrap_err();
            assert!(err.contains("at most 86400"), "{huge}: {err}");
        }
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        /// JSON values of any shape, a few levels deep.
        fn json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<f64>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                "[a-zA-Z*|()]{0,8}".prop_map(Value::from),
                prop::sample::select(vec!["command", "wasm", "http", "JobSubmit", "Stop"]).prop_map(Value::from),
            ];
            leaf.prop_recursive(4, 32, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                    prop::collection::btree_map(
                        prop::sample::select(vec![
                            "hooks",
                            "matcher",
                            "type",
                            "command",
                            "timeout",
                            "plugin",
                            "JobSubmit"
                        ]),
                        inner,
                        0..4
                    )
                    .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
                ]
            })
        }

        proptest! {
            #[test]
            fn any_config_gives_handlers_with_sane_timeouts_or_an_error(value in json()) {
                let text = serde_json::json!({ "hooks": value }).to_string();
                if let Ok(handlers) = parse(Path::new("h.json"), text.as_bytes()) {
                    for handler in handlers {
                        prop_assert!(handler.timeout.is_none_or(|t| t > Duration::ZERO && t.as_secs_f64() <= MAX_TIMEOUT_S));
                    }
                }
                let yaml = serde_yaml::to_string(&serde_json::json!({ "hooks": serde_json::from_str::<Value>(&text).unwrap()["hooks"] })).unwrap();
                let _ = parse(Path::new("h.yaml"), yaml.as_bytes());
            }

            #[test]
            fn any_bytes_give_handlers_or_an_error(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
                let _ = parse(Path::new("h.json"), &bytes);
                let _ = parse(Path::new("h.yaml"), &bytes);
            }
        }
    }
}
