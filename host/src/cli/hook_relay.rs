//! `ringmaster hook-relay EVENT`: the hook command ringmaster puts in the
//! `--settings` of the Claude Code agents it starts (with `hooks.in-agents`).
//! Claude Code runs it with the event's JSON on stdin; it hands the event to
//! the root engine's hook pipeline over the socket and answers in Claude
//! Code's hook output format, so one central policy (command and WASM
//! handlers alike) governs the tool calls of every agent in the tree.
//!
//! When ringmaster cannot be reached the relay exits 1, a non-blocking error
//! to Claude Code: the agent goes on rather than hanging on a dead server.

use crate::remote::HookVerdict;
use crate::remote::client::Client;
use serde_json::{Map, Value, json};
use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

pub fn run(event: &str, state_dir: &Path) -> anyhow::Result<ExitCode> {
    // No more than the engine would take in one request.
    let max = crate::remote::server::MAX_LINE as u64;
    let mut input = String::new();
    std::io::stdin().take(max + 1).read_to_string(&mut input)?;
    if input.len() as u64 > max {
        eprintln!("ringmaster hook-relay: the hook event is larger than {max} bytes; not relayed");
        return Ok(ExitCode::from(1));
    }
    let payload: Map<String, Value> = match serde_json::from_str(&input) {
        Ok(Value::Object(map)) => map,
        _ => {
            eprintln!("ringmaster hook-relay: expected the hook event as a JSON object on stdin");
            return Ok(ExitCode::from(1));
        }
    };
    let verdict = match Client::from_env(Some(state_dir), None).and_then(|mut engine| engine.hook(event, payload)) {
        Ok(verdict) => verdict,
        Err(err) => {
            eprintln!("ringmaster hook-relay: {err}");
            return Ok(ExitCode::from(1));
        }
    };
    if let Some(output) = claude_code_output(event, verdict) {
        println!("{output}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The verdict in the JSON Claude Code reads from a hook's stdout.
fn claude_code_output(event: &str, verdict: HookVerdict) -> Option<Value> {
    let HookVerdict { permission, reason, updated_input, additional_context } = verdict;
    if permission.is_none() && updated_input.is_none() && additional_context.is_none() {
        return None;
    }
    let mut specific = json!({ "hookEventName": event });
    if let Some(context) = additional_context {
        specific["additionalContext"] = json!(context);
    }
    if event == "PreToolUse" {
        if let Some(permission) = permission {
            specific["permissionDecision"] = json!(permission);
            specific["permissionDecisionReason"] = json!(reason);
        }
        if let Some(input) = updated_input {
            specific["updatedInput"] = Value::Object(input);
        }
        return Some(json!({ "hookSpecificOutput": specific }));
    }
    // Other events block with `decision: "block"`.
    let mut output = json!({ "hookSpecificOutput": specific });
    if matches!(permission.as_deref(), Some("deny" | "ask" | "defer")) {
        output["decision"] = json!("block");
        output["reason"] = json!(reason);
    }
    Some(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pre_tool_use_gets_a_permission_decision_others_a_block() {
        let deny = HookVerdict { permission: Some("deny".into()), reason: Some("no".into()), ..Default::default() };
        let out = claude_code_output("PreToolUse", deny.clone()).unwrap();
        assert_eq!(out["hookSpecificOutput"]["permissionDecision"], "deny");
        assert_eq!(out["hookSpecificOutput"]["permissionDecisionReason"], "no");
        let out = claude_code_output("Stop", deny).unwrap();
        assert_eq!((out["decision"].as_str(), out["reason"].as_str()), (Some("block"), Some("no")));
        assert_eq!(claude_code_output("PreToolUse", HookVerdict::default()), None);
    }
}
