//! MCP resources: the same data as the read-only tools, addressable by URI,
//! for clients that attach context rather than call tools.
//!
//! * `ringmaster://stats` — the engine's statistics
//! * `ringmaster://plugins` — the plugins and their status
//! * `ringmaster://jobs/{job_id}` — a job's record
//! * `ringmaster://jobs/{job_id}/transcript` — its transcript (stream-json lines)

use super::Ringmaster;
use rmcp::ErrorData;
use rmcp::model::{Resource, ResourceContents, ResourceTemplate};
use serde_json::Value;

const JSON: &str = "application/json";

pub fn resources() -> Vec<Resource> {
    vec![
        Resource::new("ringmaster://stats", "engine-stats")
            .with_description("Queued and running jobs, limits, token slots, jobs by status")
            .with_mime_type(JSON),
        Resource::new("ringmaster://plugins", "plugins")
            .with_description("Loaded plugins: version, extension points, status, errors, calls, latency")
            .with_mime_type(JSON),
    ]
}

pub fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new("ringmaster://jobs/{job_id}", "job")
            .with_description("A job's record: status, attempts, result, error, cost")
            .with_mime_type(JSON),
        ResourceTemplate::new("ringmaster://jobs/{job_id}/transcript", "job-transcript")
            .with_description("A job's transcript: the agent's stream-json lines, one per line")
            .with_mime_type("application/x-ndjson"),
    ]
}

fn json(uri: &str, value: Value) -> ResourceContents {
    ResourceContents::TextResourceContents {
        uri: uri.to_string(),
        mime_type: Some(JSON.into()),
        text: serde_json::to_string_pretty(&value).expect("JSON serialises"),
        meta: None,
    }
}

/// The contents behind `uri`, or an error that says which URIs exist.
pub async fn read(session: &Ringmaster, uri: &str) -> Result<ResourceContents, ErrorData> {
    let unknown = || {
        ErrorData::resource_not_found(
            format!(
                "no resource {uri:?}; ringmaster serves ringmaster://stats, ringmaster://plugins, \
                 ringmaster://jobs/{{job_id}} and ringmaster://jobs/{{job_id}}/transcript"
            ),
            None,
        )
    };
    let internal = |err: crate::engine::EngineError| ErrorData::internal_error(err.to_string(), None);
    let path = uri.strip_prefix("ringmaster://").ok_or_else(unknown)?;
    match path.split('/').collect::<Vec<_>>().as_slice() {
        ["stats"] => {
            Ok(json(uri, serde_json::to_value(session.engine.stats().map_err(internal)?).expect("serialises")))
        }
        ["plugins"] => Ok(json(uri, serde_json::to_value(session.plugins.list()).expect("serialises"))),
        ["jobs", id] => {
            let record = session.status(id).await.map_err(|e| ErrorData::resource_not_found(e.to_string(), None))?;
            Ok(json(uri, serde_json::to_value(record).expect("serialises")))
        }
        ["jobs", id, "transcript"] => {
            session.status(id).await.map_err(|e| ErrorData::resource_not_found(e.to_string(), None))?;
            let lines = session.transcript(id, 0, usize::MAX >> 1).await.map_err(internal)?;
            let text: Vec<String> = lines.into_iter().map(|(_, line)| line).collect();
            Ok(ResourceContents::TextResourceContents {
                uri: uri.to_string(),
                mime_type: Some("application/x-ndjson".into()),
                text: text.join("\n"),
                meta: None,
            })
        }
        _ => Err(unknown()),
    }
}
