//! The agent's `--output-format stream-json` output, one JSON object per
//! line, turned into the few events the engine acts on. Everything else is
//! kept verbatim in the transcript; a line that is not JSON is kept too.

use serde_json::Value;
use std::borrow::Cow;

/// What one output line means to the engine.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentEvent {
    /// `system/init`: the agent started a session.
    Init { session_id: String },
    /// The agent said or did something (assistant text, tool use, tool result).
    Activity,
    /// A rate limit report; `rejected` means this token is blocked until `resets_at`.
    RateLimit { rejected: bool, resets_at_ms: Option<u64> },
    /// The API answered an error (429: a rate limit) and the agent retries
    /// after `retry_delay_ms` (the API's `retry-after`, when it gave one).
    ApiRetry { status: Option<u16>, retry_delay_ms: Option<u64> },
    /// The final line: the outcome of the run.
    Result(ResultLine),
    /// Anything else (other system lines, hook output, text that is not JSON).
    Other,
}

/// The `result` line, the last one the agent prints.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct ResultLine {
    pub is_error: bool,
    /// `success`, `error_during_execution`, `error_max_turns`, ...
    pub subtype: String,
    pub session_id: Option<String>,
    /// The final text.
    pub result: Option<String>,
    pub total_cost_usd: Option<f64>,
    pub usage: Option<Value>,
    pub num_turns: Option<u64>,
    pub duration_ms: Option<u64>,
}

/// What decides a line's meaning, read without building the rest.
#[derive(serde::Deserialize)]
struct Head<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    subtype: Option<Cow<'a, str>>,
}

/// Parses one line of stream-json output.
pub fn parse_line(line: &str) -> AgentEvent {
    // Most lines are the agent talking (long `assistant` and `user`
    // messages): their type is all that matters, and reading it allocates
    // nothing. The few lines the engine reads further are parsed whole.
    let Ok(head) = serde_json::from_str::<Head>(line) else {
        return AgentEvent::Other;
    };
    match (head.kind.as_deref(), head.subtype.as_deref()) {
        (Some("assistant" | "user"), _) => return AgentEvent::Activity,
        (Some("system"), Some("init" | "api_retry")) | (Some("rate_limit_event" | "result"), _) => {}
        _ => return AgentEvent::Other,
    }
    let Ok(value) = serde_json::from_str::<Value>(line) else {
        return AgentEvent::Other;
    };
    let text = |key: &str| value.get(key).and_then(Value::as_str);
    match (text("type"), text("subtype")) {
        (Some("system"), Some("init")) => match text("session_id") {
            Some(id) => AgentEvent::Init { session_id: id.to_string() },
            None => AgentEvent::Other,
        },
        (Some("system"), Some("api_retry")) => AgentEvent::ApiRetry {
            status: value.get("error_status").and_then(Value::as_u64).and_then(|s| u16::try_from(s).ok()),
            retry_delay_ms: value.get("retry_delay_ms").and_then(Value::as_u64),
        },
        (Some("assistant" | "user"), _) => AgentEvent::Activity,
        (Some("rate_limit_event"), _) => {
            let info = value.get("rate_limit_info");
            let field = |key: &str| info.and_then(|i| i.get(key));
            AgentEvent::RateLimit {
                rejected: field("status").and_then(Value::as_str) == Some("rejected"),
                // `resetsAt` is in Unix seconds.
                resets_at_ms: field("resetsAt").and_then(Value::as_u64).and_then(|s| s.checked_mul(1000)),
            }
        }
        (Some("result"), _) => AgentEvent::Result(ResultLine {
            is_error: value.get("is_error").and_then(Value::as_bool).unwrap_or(false),
            subtype: text("subtype").unwrap_or_default().to_string(),
            session_id: text("session_id").map(str::to_string),
            result: text("result").map(str::to_string),
            total_cost_usd: value.get("total_cost_usd").and_then(Value::as_f64),
            usage: value.get("usage").cloned(),
            num_turns: value.get("num_turns").and_then(Value::as_u64),
            duration_ms: value.get("duration_ms").and_then(Value::as_u64),
        }),
        _ => AgentEvent::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_gives_the_session_id() {
        let line = r#"{"type":"system","subtype":"init","session_id":"abc","cwd":"/","tools":[]}"#;
        assert_eq!(parse_line(line), AgentEvent::Init { session_id: "abc".into() });
    }

    #[test]
    fn assistant_and_tool_results_are_activity() {
        assert_eq!(parse_line(r#"{"type":"assistant","message":{"content":[]}}"#), AgentEvent::Activity);
        assert_eq!(parse_line(r#"{"type":"user","message":{"content":[]}}"#), AgentEvent::Activity);
        // Escapes in the type are read like any string.
        assert_eq!(parse_line(r#"{"type":"assist\u0061nt","message":{}}"#), AgentEvent::Activity);
    }

    #[test]
    fn rate_limits_and_api_retries_are_recognised() {
        let line = r#"{"type":"rate_limit_event","rate_limit_info":{"status":"rejected","resetsAt":1700000000}}"#;
        assert_eq!(parse_line(line), AgentEvent::RateLimit { rejected: true, resets_at_ms: Some(1_700_000_000_000) });
        let line = r#"{"type":"rate_limit_event","rate_limit_info":{"status":"allowed_warning","utilization":0.9}}"#;
        assert_eq!(parse_line(line), AgentEvent::RateLimit { rejected: false, resets_at_ms: None });
        let line = r#"{"type":"system","subtype":"api_retry","attempt":1,"error_status":429}"#;
        assert_eq!(parse_line(line), AgentEvent::ApiRetry { status: Some(429), retry_delay_ms: None });
        let line = r#"{"type":"system","subtype":"api_retry","attempt":2,"error_status":429,"retry_delay_ms":30000}"#;
        assert_eq!(parse_line(line), AgentEvent::ApiRetry { status: Some(429), retry_delay_ms: Some(30_000) });
    }

    #[test]
    fn result_line_carries_outcome_cost_and_usage() {
        let line = r#"{"type":"result","subtype":"success","session_id":"s","duration_ms":12,"is_error":false,
            "num_turns":2,"result":"done","total_cost_usd":0.0123,"usage":{"input_tokens":5,"output_tokens":7}}"#
            .replace('\n', "");
        let AgentEvent::Result(result) = parse_line(&line) else { panic!("not a result") };
        assert_eq!(result.result.as_deref(), Some("done"));
        assert_eq!(result.total_cost_usd, Some(0.0123));
        assert_eq!(result.usage.unwrap()["output_tokens"], 7);
        assert_eq!((result.num_turns, result.duration_ms, result.is_error), (Some(2), Some(12), false));
    }

    #[test]
    fn other_lines_are_kept_as_other() {
        assert_eq!(parse_line("not json"), AgentEvent::Other);
        assert_eq!(parse_line(r#"{"type":3}"#), AgentEvent::Other);
        assert_eq!(parse_line(r#"["result"]"#), AgentEvent::Other);
        assert_eq!(parse_line(r#"{"type":"system","subtype":"hook_started"}"#), AgentEvent::Other);
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_line_has_a_meaning(line in ".{0,200}") {
                let _ = parse_line(&line);
            }

            #[test]
            fn any_numbers_in_known_lines_are_read_without_overflow(
                kind in prop::sample::select(vec!["result", "rate_limit_event", "system"]),
                resets in any::<u64>(), cost in any::<f64>(), status in any::<u64>(),
            ) {
                let line = serde_json::json!({
                    "type": kind, "subtype": "api_retry", "error_status": status, "total_cost_usd": cost,
                    "rate_limit_info": {"status": "rejected", "resetsAt": resets},
                });
                if let AgentEvent::RateLimit { resets_at_ms: Some(ms), .. } = parse_line(&line.to_string()) {
                    prop_assert_eq!(ms / 1000, resets);
                }
            }
        }
    }
}
