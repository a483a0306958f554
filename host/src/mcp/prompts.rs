//! Slash commands as MCP prompts. Claude Code shows a server's prompts as
//! `/mcp__ringmaster__NAME`, so every command a team drops into `commands/`
//! is a slash command in every session that has ringmaster registered.
//!
//! A prompt's arguments come from the command's `argument-hint`: `[name]`
//! is optional, `<name>` required (`[focus...]` is `focus`). A command with
//! no hint takes one optional `arguments`. `prompts/get` joins the values in
//! that order, shell-quoted, into the argument string the command renders
//! with; an `arguments` value is passed as typed.

use crate::commands::CommandInfo;
use rmcp::model::{Prompt, PromptArgument};
use serde_json::{Map, Value};

/// The whole argument string, as typed after `/name`.
const RAW: &str = "arguments";

/// (name, required) of each argument the hint names.
pub fn arguments(hint: Option<&str>) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut rest = hint.unwrap_or("");
    while let Some(start) = rest.find(['[', '<']) {
        let close = if rest.as_bytes()[start] == b'[' { ']' } else { '>' };
        let Some(len) = rest[start + 1..].find(close) else { break };
        let name = rest[start + 1..start + 1 + len].trim().trim_end_matches("...").trim();
        let name: String =
            name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
        if !name.is_empty() && name != RAW && !out.iter().any(|(n, _)| *n == name) {
            out.push((name, close == '>'));
        }
        rest = &rest[start + 1 + len + 1..];
    }
    if out.is_empty() {
        out.push((RAW.to_string(), false));
    }
    out
}

pub fn prompt(command: &CommandInfo) -> Prompt {
    let args = arguments(command.argument_hint.as_deref())
        .into_iter()
        .map(|(name, required)| {
            let description = match (&command.argument_hint, name.as_str()) {
                (Some(hint), RAW) => format!("Arguments: {hint}"),
                (None, RAW) => "Arguments, as typed after the command".to_string(),
                (_, name) => format!("The {name} argument"),
            };
            let mut arg = PromptArgument::new(name).with_description(description);
            arg.required = Some(required);
            arg
        })
        .collect();
    Prompt::new(&command.name, Some(&command.description), Some(args))
}

/// The argument string for a `prompts/get` of a command with `hint`.
pub fn argument_string(hint: Option<&str>, values: Option<&Map<String, Value>>) -> Result<String, String> {
    let empty = Map::new();
    let values = values.unwrap_or(&empty);
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let params = arguments(hint);
    for key in values.keys() {
        if key != RAW && !params.iter().any(|(n, _)| n == key) {
            let known: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
            return Err(format!("unknown argument {key:?}; this prompt takes: {}", known.join(", ")));
        }
    }
    if let Some(raw) = values.get(RAW) {
        return Ok(text(raw));
    }
    let mut parts = Vec::new();
    for (name, required) in params {
        match values.get(&name).map(text).filter(|v| !v.is_empty()) {
            Some(value) => parts.push(shlex::try_quote(&value).map_err(|e| format!("{name}: {e}"))?.into_owned()),
            None if required => return Err(format!("missing required argument {name:?}")),
            None => {}
        }
    }
    Ok(parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hints_become_arguments() {
        assert_eq!(
            arguments(Some("[pr-number] [priority]")),
            [("pr-number".into(), false), ("priority".into(), false)]
        );
        assert_eq!(arguments(Some("<path> [question]")), [("path".into(), true), ("question".into(), false)]);
        assert_eq!(arguments(Some("[ref] [focus...]"))[1], ("focus".to_string(), false));
        assert_eq!(arguments(Some("free text")), [("arguments".into(), false)]);
        assert_eq!(arguments(None), [("arguments".into(), false)]);
    }

    #[test]
    fn values_join_in_order_quoted() {
        let values = json!({"question": "how does it fail?", "path": "src/lib.rs"});
        let joined = argument_string(Some("<path> [question]"), values.as_object()).unwrap();
        assert_eq!(joined, "src/lib.rs 'how does it fail?'");
        let raw = json!({"arguments": "a \"b c\""});
        assert_eq!(argument_string(Some("<path>"), raw.as_object()).unwrap(), "a \"b c\"");
        let err = argument_string(Some("<path>"), None).unwrap_err();
        assert!(err.contains("missing required argument \"path\""), "{err}");
        let err = argument_string(Some("<path>"), json!({"paht": "x"}).as_object()).unwrap_err();
        assert!(err.contains("unknown argument \"paht\"") && err.contains("path"), "{err}");
    }
}
