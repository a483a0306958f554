//! The job lifecycle events the engine fires through the hook pipeline, and
//! the JSON each handler reads. Every event carries the job's fields:
//!
//! * `JobSubmit`: `job_id`, `root_job_id`, `parent_job_id`, `depth`, `prompt`,
//!   `agent`, `model`, `priority`, `tags`, `timeout_s`, `max_retries`,
//!   `max_turns`, `allowed_tools`, `cwd`. A handler may deny the job, or
//!   rewrite any of `prompt`, `agent`, `model`, `priority`, `tags`,
//!   `timeout_s`, `max_retries`, `max_turns`, `allowed_tools` through
//!   `hookSpecificOutput.updatedInput`; `additionalContext` is appended to
//!   the prompt (as Claude Code does for `UserPromptSubmit`).
//! * `PreJobStart`, `PostJob`, `JobFailed`, `JobRetry`: the job record (as
//!   `job_status` returns it) plus the full `prompt`, `allowed_tools` and
//!   `cwd`. `PreJobStart` may deny the job (it fails without running) or
//!   delay it (`hookSpecificOutput.delaySeconds`); `PostJob` and `JobFailed`
//!   may attach `additionalContext`, which lands in the record's `notes`;
//!   `JobRetry` adds `delay_ms`.
//! * `Notification`: `kind` (e.g. `rate_limited`) and `message`.
//! * `Shutdown`: `reason`, `queued`, `running`, when ringmaster shuts down.
//! * `TreeFinished`: a job tree's last job ended: `root_job_id`, `client`,
//!   `status` (the root's), `jobs`, `by_status`, `cost_usd`,
//!   `created_at_ms`, `finished_at_ms`.
//!
//! Matchers of job events see the job's agent and tags; `Notification`'s
//! see its `kind`; `TreeFinished`'s the root's status.

use crate::contract::JobInfo;
use crate::hooks::{Event, EventName};
use crate::job::{JobRecord, JobSpec, TreeSummary};
use serde_json::{Map, Value, json};

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => unreachable!("payloads are objects"),
    }
}

fn subjects(agent: &str, tags: &[String]) -> Vec<String> {
    std::iter::once(agent.to_string()).chain(tags.iter().cloned()).collect()
}

/// `JobSubmit`, before the job exists.
pub fn job_submit(id: &str, depth: u32, root: &str, spec: &JobSpec, agent: &str) -> Event {
    let payload = json!({
        "job_id": id,
        "root_job_id": root,
        "parent_job_id": spec.parent_job_id,
        "depth": depth,
        "prompt": spec.prompt,
        "agent": agent,
        "model": spec.model,
        "priority": spec.priority,
        "tags": spec.tags,
        "timeout_s": spec.timeout_s,
        "max_retries": spec.max_retries,
        "max_turns": spec.max_turns,
        "allowed_tools": spec.allowed_tools,
        "cwd": spec.cwd,
    });
    Event { name: EventName::JobSubmit, subjects: subjects(agent, &spec.tags), payload: object(payload), job: None }
}

/// An event about an existing job: its record and the spec's full fields.
pub fn about_job(name: EventName, spec: &JobSpec, record: &JobRecord, info: JobInfo) -> Event {
    let mut payload = object(serde_json::to_value(record).expect("records serialise"));
    payload.insert("prompt".into(), Value::String(spec.prompt.clone()));
    payload.insert("allowed_tools".into(), json!(spec.allowed_tools));
    if let Some(cwd) = &spec.cwd {
        payload.insert("cwd".into(), json!(cwd));
    }
    Event { name, subjects: subjects(&record.agent, &record.tags), payload, job: Some(info) }
}

pub fn notification(kind: &str, message: String) -> Event {
    let payload = object(json!({ "kind": kind, "message": message }));
    Event { name: EventName::Notification, subjects: vec![kind.to_string()], payload, job: None }
}

/// `TreeFinished`: the last live job of a tree ended.
pub fn tree_finished(summary: &TreeSummary) -> Event {
    let payload = object(serde_json::to_value(summary).expect("summaries serialise"));
    let subjects = vec![summary.status.as_str().to_string()];
    Event { name: EventName::TreeFinished, subjects, payload, job: None }
}

/// `Shutdown`: ringmaster is stopping. (Not `Stop`, which is Claude Code's
/// name for an agent finishing its turn, relayed from inside agents.)
pub fn shutdown(queued: usize, running: u32) -> Event {
    let payload = object(json!({ "reason": "shutdown", "queued": queued, "running": running }));
    Event { name: EventName::Shutdown, subjects: Vec::new(), payload, job: None }
}

/// Applies a `JobSubmit` hook's rewrite to `spec`. A field of the wrong type
/// is an error naming it; a field that cannot be rewritten is ignored with a
/// warning.
pub fn rewrite(spec: &mut JobSpec, updates: &Map<String, Value>) -> Result<(), String> {
    fn take<T: serde::de::DeserializeOwned>(key: &str, value: &Value, expected: &str) -> Result<T, String> {
        serde_json::from_value(value.clone())
            .map_err(|_| format!("a JobSubmit hook set `{key}` to {value}, which is not {expected}"))
    }
    for (key, value) in updates {
        match key.as_str() {
            "prompt" => spec.prompt = take(key, value, "a string")?,
            "agent" => spec.agent = take(key, value, "a string or null")?,
            "model" => spec.model = take(key, value, "a string or null")?,
            "priority" => spec.priority = take(key, value, "a whole number")?,
            "tags" => spec.tags = take(key, value, "a list of strings")?,
            "timeout_s" => spec.timeout_s = take(key, value, "a whole number of seconds or null")?,
            "max_retries" => spec.max_retries = take(key, value, "a whole number or null")?,
            "max_turns" => spec.max_turns = take(key, value, "a whole number or null")?,
            "allowed_tools" => spec.allowed_tools = take(key, value, "a list of strings")?,
            other => tracing::warn!("a JobSubmit hook rewrote `{other}`, which hooks cannot change; ignored"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_apply_and_bad_types_are_named() {
        let mut spec = JobSpec { prompt: "a".into(), ..JobSpec::default() };
        let updates = object(json!({"prompt": "b", "priority": 3, "tags": ["x"], "model": null, "job_id": "no"}));
        rewrite(&mut spec, &updates).unwrap();
        assert_eq!((spec.prompt.as_str(), spec.priority, spec.tags.as_slice()), ("b", 3, ["x".to_string()].as_slice()));
        let err = rewrite(&mut spec, &object(json!({"priority": "high"}))).unwrap_err();
        assert!(err.contains("`priority`") && err.contains("whole number"), "{err}");
    }

    #[test]
    fn job_events_match_on_agent_and_tags() {
        let spec = JobSpec { prompt: "p".into(), tags: vec!["review".into()], ..JobSpec::default() };
        let event = job_submit("id", 0, "id", &spec, "claude");
        assert_eq!(event.subjects, ["claude", "review"]);
        assert_eq!(event.payload["prompt"], "p");
    }
}
