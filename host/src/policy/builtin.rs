//! The built-in policies: what ringmaster does with no plugin, and what it
//! falls back to when a plugin fails. Deliberately plain and predictable.

use crate::contract::JobInfo;
use crate::contract::{Assignment, Decision, Failure, FailureKind, Retry, ScheduleInput, SimilarJobs, Timeouts};

/// Hard timeout when nothing better is known: long tasks must not be cut short.
pub const DEFAULT_HARD_MS: u64 = 60 * 60_000;
/// No-output timeout when nothing better is known.
pub const DEFAULT_IDLE_MS: u64 = 10 * 60_000;
/// Past jobs needed before history changes the default.
const MIN_SAMPLES: u32 = 10;

/// Priority is the rank; the queue keeps submission order within a priority.
pub fn rank(jobs: &[JobInfo]) -> Vec<i64> {
    jobs.iter().map(|job| i64::from(job.priority)).collect()
}

/// Best-ranked first, each on the slot with the most room.
pub fn select(input: &ScheduleInput) -> Vec<Assignment> {
    let mut free: Vec<(u32, u32)> =
        input.slots.iter().filter(|s| s.cooling_until_ms.is_none()).map(|s| (s.index, s.free)).collect();
    let mut chosen = Vec::new();
    for candidate in input.candidates.iter().take(input.capacity as usize) {
        let Some(slot) =
            free.iter_mut().filter(|(_, n)| *n > 0).max_by_key(|(index, n)| (*n, std::cmp::Reverse(*index)))
        else {
            break;
        };
        slot.1 -= 1;
        chosen.push(Assignment { job_id: candidate.job.id.clone(), slot: slot.0 });
    }
    chosen
}

/// The submitter's timeout if given; otherwise three times the p95 of the
/// agent's past jobs once there are enough of them, never below the default.
pub fn estimate(similar: &SimilarJobs, requested_ms: Option<u64>) -> Timeouts {
    let hard_ms = match requested_ms {
        Some(ms) => ms,
        None if similar.by_agent.count >= MIN_SAMPLES => similar.by_agent.p95_ms.saturating_mul(3).max(DEFAULT_HARD_MS),
        None => DEFAULT_HARD_MS,
    };
    Timeouts { hard_ms, idle_ms: DEFAULT_IDLE_MS.min(hard_ms) }
}

/// A fraction of `spread` that is the same for the same job and attempt:
/// jobs failing together come back apart, and a replay of the same work
/// (`ringmaster simulate`) decides the same every time.
fn jitter(job: &str, attempt: u32, spread: u64) -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut hasher = DefaultHasher::new();
    (job, attempt).hash(&mut hasher);
    hasher.finish() % (spread + 1)
}

/// Exponential backoff (2 s, 4 s, 8 s ... up to 5 min) with jitter; waits out
/// a rate limit; resumes the agent's session when there is one; gives up on
/// an agent that cannot start, since retrying will not find the binary.
pub fn decide(job: &JobInfo, attempt: u32, failure: &Failure) -> Decision {
    if failure.kind == FailureKind::CouldNotStart {
        return Decision::GiveUp(format!("the agent could not start: {}", failure.message));
    }
    let ceiling_ms = (2_000u64 << (attempt.saturating_sub(1)).min(20)).min(300_000);
    let mut delay_ms = ceiling_ms / 2 + jitter(&job.id, attempt, ceiling_ms / 2);
    if let (FailureKind::RateLimited, Some(resets_at)) = (failure.kind, failure.rate_limit_resets_at_ms) {
        delay_ms = delay_ms.max(resets_at.saturating_sub(crate::job::now_ms()));
    }
    tracing::debug!(job = %job.id, attempt, delay_ms, "built-in retry policy: retrying");
    Decision::Retry(Retry {
        delay_ms,
        // An agent that reported an error finished its turn: resuming would repeat it.
        resume_session: failure.has_session && failure.kind != FailureKind::AgentError,
        priority: None,
        timeout_ms: None,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::contract::{Candidate, History, SlotLoad};

    pub fn job(id: &str, priority: i32) -> JobInfo {
        JobInfo {
            id: id.into(),
            prompt_preview: "p".into(),
            prompt_bytes: 1,
            agent: "claude".into(),
            model: None,
            priority,
            tags: vec![],
            depth: 0,
            root_id: id.into(),
            parent_id: None,
            attempt: 1,
            submitted_at_ms: 0,
        }
    }

    pub fn candidate(id: &str, priority: i32) -> Candidate {
        Candidate { job: job(id, priority), rank: i64::from(priority), waited_ms: 0 }
    }

    pub fn slot(index: u32, free: u32) -> SlotLoad {
        SlotLoad::idle(index, free)
    }

    pub fn failure(kind: FailureKind, has_session: bool) -> Failure {
        Failure {
            kind,
            exit_code: Some(1),
            signal: None,
            stderr_tail: String::new(),
            message: "boom".into(),
            has_session,
            rate_limit_resets_at_ms: None,
        }
    }

    pub fn no_history() -> SimilarJobs {
        let h = History { count: 0, p50_ms: 0, p95_ms: 0, timeout_rate: 0.0 };
        SimilarJobs { by_tag: vec![], by_agent: h, by_model: h, by_prompt_size: h, overall: h }
    }

    #[test]
    fn select_fills_the_roomiest_slots_in_rank_order_and_skips_cooling_ones() {
        let mut cooling = slot(2, 9);
        cooling.cooling_until_ms = Some(1);
        let input = ScheduleInput {
            candidates: vec![candidate("a", 5), candidate("b", 1), candidate("c", 0)],
            slots: vec![slot(0, 1), slot(1, 2), cooling],
            capacity: 2,
            roots: vec![],
            queued_total: 3,
            now_ms: 0,
        };
        let chosen: Vec<(String, u32)> = select(&input).into_iter().map(|a| (a.job_id, a.slot)).collect();
        assert_eq!(chosen, [("a".to_string(), 1), ("b".to_string(), 0)]);
    }

    #[test]
    fn estimate_prefers_the_request_then_history() {
        let mut similar = no_history();
        assert_eq!(estimate(&similar, None).hard_ms, DEFAULT_HARD_MS);
        assert_eq!(estimate(&similar, Some(5_000)), Timeouts { hard_ms: 5_000, idle_ms: 5_000 });
        similar.by_agent = History { count: 50, p50_ms: 600_000, p95_ms: 2 * DEFAULT_HARD_MS, timeout_rate: 0.0 };
        assert_eq!(estimate(&similar, None).hard_ms, 6 * DEFAULT_HARD_MS);
    }

    #[test]
    fn retries_back_off_resume_sessions_and_never_retry_a_missing_agent() {
        let Decision::Retry(first) = decide(&job("a", 0), 1, &failure(FailureKind::Timeout, true)) else { panic!() };
        assert!((1_000..=2_000).contains(&first.delay_ms) && first.resume_session);
        let Decision::Retry(third) = decide(&job("a", 0), 3, &failure(FailureKind::AgentError, true)) else { panic!() };
        assert!((4_000..=8_000).contains(&third.delay_ms) && !third.resume_session);
        assert!(matches!(decide(&job("a", 0), 1, &failure(FailureKind::CouldNotStart, false)), Decision::GiveUp(_)));
    }
}
