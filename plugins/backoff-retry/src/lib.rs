//! Retry policy: exponential backoff with full jitter, no retry for failures
//! a retry cannot fix, and resumption of the agent's session when there is
//! one, so a retried job continues where it stopped instead of starting over.
//!
//! Config: `base-ms` (2000), `cap-ms` (300000), `non-retryable`
//! (comma-separated failure kinds; default `could-not-start`).

wit_bindgen::generate!({ path: "../../wit", world: "retry-policy-plugin" });

use exports::ringmaster::plugin::retry_policy::{Decision, Failure, FailureKind, Guest, JobInfo, Retry};
use ringmaster::plugin::host;

struct BackoffRetry;

fn kind_name(kind: FailureKind) -> &'static str {
    match kind {
        FailureKind::Timeout => "timeout",
        FailureKind::IdleTimeout => "idle-timeout",
        FailureKind::RateLimited => "rate-limited",
        FailureKind::AgentError => "agent-error",
        FailureKind::Crashed => "crashed",
        FailureKind::CouldNotStart => "could-not-start",
        FailureKind::Interrupted => "interrupted",
    }
}

/// A stable pseudo-random fraction in [0, 1) per job and attempt (FNV-1a), so
/// that many jobs failing together do not all come back at the same moment.
fn jitter(job_id: &str, attempt: u32) -> f64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in job_id.bytes().chain(attempt.to_le_bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

impl Guest for BackoffRetry {
    fn decide(job: JobInfo, attempt: u32, max_retries: u32, failure: Failure) -> Decision {
        let kind = kind_name(failure.kind);
        let non_retryable = host::config_get("non-retryable").unwrap_or_else(|| "could-not-start".into());
        if non_retryable.split(',').any(|k| k.trim() == kind) {
            return Decision::GiveUp(format!("{kind} is not retryable: {}", failure.message));
        }
        if attempt > max_retries {
            return Decision::GiveUp(format!("gave up after {attempt} attempts; last: {}", failure.message));
        }
        let base: u64 = host::config_get("base-ms").and_then(|v| v.parse().ok()).unwrap_or(2000);
        let cap: u64 = host::config_get("cap-ms").and_then(|v| v.parse().ok()).unwrap_or(300_000);
        let ceiling = base.saturating_mul(1 << (attempt - 1).min(20)).min(cap);
        let mut delay_ms = (ceiling as f64 * jitter(&job.id, attempt)) as u64;
        if let (FailureKind::RateLimited, Some(reset)) = (failure.kind, failure.rate_limit_resets_at_ms) {
            // Other token slots may be free, but this job should not race the reset.
            delay_ms = delay_ms.max(reset.saturating_sub(host::now_ms()));
        }
        Decision::Retry(Retry {
            delay_ms,
            resume_session: failure.has_session && failure.kind != FailureKind::AgentError,
            priority: None,
            timeout_ms: None,
        })
    }
}

export!(BackoffRetry);
