//! Running one handler and reading its verdict.
//!
//! Command handlers follow Claude Code's contract: the event's JSON on
//! stdin; exit 0 is success, and stdout, when it is a JSON object, carries
//! the decision fields (plain text is context); exit 2 blocks, with stderr
//! as the reason; any other exit is a non-blocking error. WASM handlers
//! answer through the hook-handler interface.

use super::config::{Action, Handler};
use super::{Event, Permission, Verdict};
use crate::contract::ExtensionPoint;
use crate::contract::{HookCall, HookPermission};
use crate::executor::shell::{Run, Shell};
use crate::plugin::registry::PluginHost;
use serde_json::{Map, Value};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// What every handler of one dispatch shares.
pub struct Context<'a> {
    pub event: &'a Event,
    /// The event's JSON.
    pub input: &'a [u8],
    pub project_dir: &'a Path,
    pub default_timeout: Duration,
    pub shell: &'a Shell,
    pub plugins: &'a Arc<PluginHost>,
}

/// Runs `handler`; an `Err` says why it has no say.
pub async fn run(handler: &Handler, context: Context<'_>) -> Result<Verdict, String> {
    match &handler.action {
        Action::Command(command) => {
            let timeout = handler.timeout.unwrap_or(context.default_timeout);
            run_command(command, timeout, &context).await
        }
        Action::Wasm(plugin) => run_wasm(plugin, &context).await,
        Action::Unsupported(kind) => Err(format!("handler type {kind:?} is not supported")),
    }
}

async fn run_command(command: &str, timeout: Duration, context: &Context<'_>) -> Result<Verdict, String> {
    let mut env = vec![
        ("CLAUDE_PROJECT_DIR".to_string(), context.project_dir.display().to_string()),
        ("RINGMASTER_HOOK_EVENT".to_string(), context.event.name.to_string()),
    ];
    if let Some(job) = &context.event.job {
        env.push((crate::job::env::JOB_ID.to_string(), job.id.clone()));
        env.push((crate::job::env::DEPTH.to_string(), job.depth.to_string()));
        env.push((crate::job::env::ROOT_JOB_ID.to_string(), job.root_id.clone()));
    }
    let run = Run { command, args: &[], cwd: context.project_dir, env: &env, stdin: context.input, timeout };
    let output = context.shell.run(run).await.map_err(|e| e.to_string())?;
    match output.code {
        Some(0) => read_stdout(&output.stdout).map_err(|err| format!("`{command}` answered {err}")),
        Some(2) => {
            let reason = output.stderr.trim();
            let reason = if reason.is_empty() { format!("`{command}` exited with 2") } else { reason.to_string() };
            Ok(Verdict { permission: Some(Permission::Deny), reason: Some(reason), ..Verdict::default() })
        }
        code => Err(format!(
            "`{command}` failed ({}): {}",
            code.map_or("killed by a signal".to_string(), |c| format!("exit code {c}")),
            output.stderr.trim()
        )),
    }
}

/// The longest start delay a hook may ask for (`delaySeconds`): a day.
pub const MAX_DELAY_S: f64 = 86_400.0;

/// A successful command's stdout: JSON decision fields, or context text. A
/// field out of its range makes the whole answer invalid: the handler then
/// has no say, rather than a say nobody meant.
pub fn read_stdout(stdout: &str) -> Result<Verdict, String> {
    let Ok(Value::Object(json)) = serde_json::from_str::<Value>(stdout.trim()) else {
        let text = stdout.trim();
        return Ok(Verdict { additional_context: (!text.is_empty()).then(|| text.to_string()), ..Verdict::default() });
    };
    let text = |map: &Map<String, Value>, key: &str| map.get(key).and_then(Value::as_str).map(String::from);
    let mut verdict = Verdict { system_message: text(&json, "systemMessage"), ..Verdict::default() };
    if let Some(decision) = text(&json, "decision").as_deref().and_then(Permission::parse) {
        verdict.permission = Some(decision);
        verdict.reason = text(&json, "reason");
    }
    if let Some(Value::Object(specific)) = json.get("hookSpecificOutput") {
        if let Some(decision) = text(specific, "permissionDecision").as_deref().and_then(Permission::parse) {
            verdict.permission = Some(decision);
            verdict.reason = text(specific, "permissionDecisionReason").or(verdict.reason);
        }
        if let Some(Value::Object(input)) = specific.get("updatedInput") {
            verdict.updated_input = Some(input.clone());
        }
        verdict.additional_context = text(specific, "additionalContext");
        verdict.delay = match specific.get("delaySeconds") {
            None | Some(Value::Null) => None,
            Some(value) => match value.as_f64() {
                Some(s) if (0.0..=MAX_DELAY_S).contains(&s) => Some(Duration::from_secs_f64(s)),
                _ => return Err(format!("delaySeconds {value}, which is not between 0 and {MAX_DELAY_S} seconds")),
            },
        };
    }
    // `continue: false` stops everything, whatever else was said.
    if json.get("continue") == Some(&Value::Bool(false)) {
        verdict.permission = Some(Permission::Deny);
        verdict.reason = text(&json, "stopReason").or(verdict.reason).or_else(|| Some("a hook stopped it".into()));
    }
    Ok(verdict)
}

async fn run_wasm(plugin: &str, context: &Context<'_>) -> Result<Verdict, String> {
    let event = HookCall {
        name: context.event.name.to_string(),
        payload_json: String::from_utf8_lossy(context.input).into_owned(),
        job: context.event.job.clone(),
    };
    let plugins = context.plugins.clone();
    let name = plugin.to_string();
    let response = tokio::task::spawn_blocking(move || {
        plugins.call(&name, ExtensionPoint::HookHandler, |p| p.handle_hook(&event))
    })
    .await
    .map_err(|err| format!("the plugin call panicked: {err}"))?
    .map_err(|err| err.to_string())?;
    let updated_input = match response.updated_input_json.as_deref().map(serde_json::from_str::<Value>) {
        None => None,
        Some(Ok(Value::Object(map))) => Some(map),
        Some(_) => {
            tracing::warn!(plugin, "hook handler's updated-input-json is not a JSON object; ignored");
            None
        }
    };
    let permission = response.permission.map(|permission| match permission {
        HookPermission::Allow => Permission::Allow,
        HookPermission::Ask => Permission::Ask,
        HookPermission::Deny => Permission::Deny,
    });
    Ok(Verdict {
        permission,
        reason: response.reason,
        updated_input,
        additional_context: response.additional_context,
        ..Verdict::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(stdout: &str) -> Verdict {
        read_stdout(stdout).unwrap()
    }

    #[test]
    fn json_output_fields() {
        let v = read(
            r#"{"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny",
                "permissionDecisionReason": "no rm", "updatedInput": {"command": "ls"}, "additionalContext": "ctx",
                "delaySeconds": 2}, "systemMessage": "careful"}"#,
        );
        assert_eq!(v.permission, Some(Permission::Deny));
        assert_eq!(v.reason.as_deref(), Some("no rm"));
        assert_eq!(v.updated_input.unwrap()["command"], "ls");
        assert_eq!(v.additional_context.as_deref(), Some("ctx"));
        assert_eq!(v.system_message.as_deref(), Some("careful"));
        assert_eq!(v.delay, Some(Duration::from_secs(2)));
    }

    #[test]
    fn block_continue_and_plain_text() {
        let v = read(r#"{"decision": "block", "reason": "tests fail"}"#);
        assert_eq!((v.permission, v.reason.as_deref()), (Some(Permission::Deny), Some("tests fail")));
        let v = read(r#"{"continue": false, "stopReason": "frozen", "decision": "approve"}"#);
        assert_eq!((v.permission, v.reason.as_deref()), (Some(Permission::Deny), Some("frozen")));
        let v = read("remember the style guide\n");
        assert_eq!((v.permission, v.additional_context.as_deref()), (None, Some("remember the style guide")));
        assert_eq!(read(""), Verdict::default());
        let v = read(r#"{"hookSpecificOutput": {"permissionDecision": "ask"}}"#);
        assert_eq!((v.permission, v.reason), (Some(Permission::Ask), None));
    }

    #[test]
    fn a_delay_out_of_range_invalidates_the_answer() {
        for delay in ["1e300", "-1", "86401", "\"soon\""] {
            let out = format!(r#"{{"hookSpecificOutput": {{"delaySeconds": {delay}}}}}"#);
            let err = read_stdout(&out).unwrap_err();
            assert!(err.contains("delaySeconds") && err.contains("86400"), "{delay}: {err}");
        }
        assert_eq!(read(r#"{"hookSpecificOutput": {"delaySeconds": 0.5}}"#).delay, Some(Duration::from_millis(500)));
    }
}
