//! Retry policy: exponential backoff with full jitter, no retry for failures
//! a retry cannot fix, and resumption of the agent's session when there is
//! one, so a retried job continues where it stopped instead of starting over.
//!
//! Config: `base-ms` (2000), `cap-ms` (300000), `non-retryable`
//! (comma-separated failure kinds; default `could-not-start`).

use ringmaster_plugin::retry_policy::{Decision, Failure, FailureKind, Retry, RetryPolicy};
use ringmaster_plugin::{JobInfo, Result, config};

struct BackoffRetry;

/// A stable pseudo-random fraction in [0, 1) per job and attempt (FNV-1a), so
/// that many jobs failing together do not all come back at the same moment.
fn jitter(job_id: &str, attempt: u32) -> f64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in job_id.bytes().chain(attempt.to_le_bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

impl RetryPolicy for BackoffRetry {
    fn decide(job: JobInfo, attempt: u32, max_retries: u32, failure: Failure) -> Result<Decision> {
        let kind = failure.kind.name();
        if config::list("non-retryable", &["could-not-start"]).iter().any(|k| k == kind) {
            return Ok(Decision::GiveUp(format!("{kind} is not retryable: {}", failure.message)));
        }
        if attempt > max_retries {
            return Ok(Decision::GiveUp(format!("gave up after {attempt} attempts; last: {}", failure.message)));
        }
        let base: u64 = config::get_or("base-ms", 2000)?;
        let cap: u64 = config::get_or("cap-ms", 300_000)?;
        let ceiling = base.saturating_mul(1 << (attempt.max(1) - 1).min(20)).min(cap);
        let mut delay_ms = (ceiling as f64 * jitter(&job.id, attempt)) as u64;
        if let (FailureKind::RateLimited, Some(reset)) = (failure.kind, failure.rate_limit_resets_at_ms) {
            // Other token slots may be free, but this job should not race the reset.
            delay_ms = delay_ms.max(reset.saturating_sub(ringmaster_plugin::now_ms()));
        }
        Ok(Decision::Retry(Retry {
            resume_session: failure.has_session && failure.kind != FailureKind::AgentError,
            ..Retry::after(delay_ms)
        }))
    }
}

ringmaster_plugin::export_retry_policy!(BackoffRetry);

#[cfg(test)]
mod tests {
    use super::*;
    use ringmaster_plugin::testing::{TestHost, job};

    fn failure(kind: FailureKind) -> Failure {
        Failure {
            kind,
            exit_code: Some(1),
            signal: None,
            stderr_tail: String::new(),
            message: "it broke".into(),
            has_session: true,
            rate_limit_resets_at_ms: None,
        }
    }

    fn decide(host: &mut TestHost, attempt: u32, failure: Failure) -> Decision {
        host.run(|| BackoffRetry::decide(job("j"), attempt, 3, failure)).unwrap()
    }

    #[test]
    fn what_a_retry_cannot_fix_is_not_retried() {
        let mut host = TestHost::new().config("non-retryable", "could-not-start, agent-error");
        for kind in [FailureKind::CouldNotStart, FailureKind::AgentError] {
            let Decision::GiveUp(reason) = decide(&mut host, 1, failure(kind)) else { panic!("{kind:?} retried") };
            assert!(reason.starts_with(&format!("{} is not retryable", kind.name())), "{reason}");
        }
        assert!(matches!(decide(&mut host, 1, failure(FailureKind::Crashed)), Decision::Retry(_)));
    }

    #[test]
    fn the_delay_grows_with_attempts_up_to_the_cap_and_resumes_the_session() {
        let mut host = TestHost::new().config("base-ms", "1000").config("cap-ms", "3000");
        for (attempt, ceiling) in [(1, 1000), (2, 2000), (3, 3000)] {
            let Decision::Retry(retry) = decide(&mut host, attempt, failure(FailureKind::Timeout)) else { panic!() };
            assert!(retry.delay_ms < ceiling, "attempt {attempt}: {} ms", retry.delay_ms);
            assert!(retry.resume_session);
        }
        assert!(matches!(decide(&mut host, 4, failure(FailureKind::Timeout)), Decision::GiveUp(_)));
    }

    #[test]
    fn a_rate_limited_job_waits_for_the_reset() {
        let mut host = TestHost::new().now_ms(10_000).config("base-ms", "1");
        let limited = Failure { rate_limit_resets_at_ms: Some(70_000), ..failure(FailureKind::RateLimited) };
        let Decision::Retry(retry) = decide(&mut host, 1, limited) else { panic!() };
        assert_eq!(retry.delay_ms, 60_000);
    }
}
