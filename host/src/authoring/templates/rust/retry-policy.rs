//! {{name}}: a ringmaster retry policy. It decides whether and when a failed
//! attempt runs again.

use ringmaster_plugin::retry_policy::{Decision, Failure, FailureKind, Retry, RetryPolicy};
use ringmaster_plugin::{JobInfo, Result, config};

struct {{Type}};

impl RetryPolicy for {{Type}} {
    /// Waits `delay-ms` times the attempt number, resuming the agent's
    /// session; gives up on failures listed in `give-up-on`.
    fn decide(_job: JobInfo, attempt: u32, max_retries: u32, failure: Failure) -> Result<Decision> {
        let give_up_on = config::list("give-up-on", &["could-not-start"]);
        if attempt > max_retries || give_up_on.iter().any(|kind| kind == failure.kind.name()) {
            return Ok(Decision::GiveUp(format!("{}: {}", failure.kind.name(), failure.message)));
        }
        let delay_ms: u64 = config::get_or("delay-ms", 5_000)?;
        Ok(Decision::Retry(Retry {
            resume_session: failure.has_session && failure.kind != FailureKind::AgentError,
            ..Retry::after(delay_ms * u64::from(attempt))
        }))
    }
}

ringmaster_plugin::export_retry_policy!({{Type}});

#[cfg(test)]
mod tests {
    use super::*;
    use ringmaster_plugin::testing::{TestHost, job};

    fn failure(kind: FailureKind) -> Failure {
        Failure {
            kind,
            exit_code: None,
            signal: Some(9),
            stderr_tail: String::new(),
            message: "killed".into(),
            has_session: true,
            rate_limit_resets_at_ms: None,
        }
    }

    #[test]
    fn retries_later_each_time_and_gives_up_on_what_cannot_be_fixed() {
        let mut host = TestHost::new().config("delay-ms", "100");
        let decision = host.run(|| {{Type}}::decide(job("j"), 2, 3, failure(FailureKind::Crashed))).unwrap();
        assert_eq!(decision, Decision::Retry(Retry { resume_session: true, ..Retry::after(200) }));
        let decision = host.run(|| {{Type}}::decide(job("j"), 1, 3, failure(FailureKind::CouldNotStart))).unwrap();
        assert!(matches!(decision, Decision::GiveUp(_)));
    }
}
