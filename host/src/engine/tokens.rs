//! The token pool: the accounts agents run under, as slots with their own
//! concurrency, rate limit and cooldown. Where tokens come from is
//! [`crate::credentials`]. Records name a slot by index, never by token. With
//! no token at all there is one slot, and agents inherit the environment's
//! credentials (less those [`crate::credentials::credential_vars`] names).

use crate::credentials::{Secret, Token};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// One account.
#[derive(Debug)]
pub struct TokenSlot {
    pub token: Option<Secret>,
    pub concurrency: u32,
    pub running: u32,
    /// Set after a rejected rate limit: no new job starts here before it.
    pub cooling_until: Option<Instant>,
    /// At most this many starts per rate window (0: unlimited).
    rate_limit: u32,
    /// Starts within the rate window, for the sliding-window limit.
    starts: VecDeque<Instant>,
    pub recent: Recent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotOutcome {
    Ok,
    Failed,
    RateLimited,
}

/// How long outcomes count as recent, for the scheduler's per-slot statistics.
const RECENT: Duration = Duration::from_secs(300);

/// A slot's outcomes of the last [`RECENT`], counted as they come and go:
/// the scheduler reads the counts at every start, and a busy slot has
/// thousands of outcomes in that time.
#[derive(Debug, Default)]
pub struct Recent {
    outcomes: VecDeque<(Instant, SlotOutcome)>,
    failed: u32,
    rate_limited: u32,
}

impl Recent {
    fn push(&mut self, now: Instant, outcome: SlotOutcome) {
        self.count(outcome, true);
        self.outcomes.push_back((now, outcome));
        while let Some(&(at, old)) = self.outcomes.front() {
            if now.duration_since(at) <= RECENT {
                break;
            }
            self.outcomes.pop_front();
            self.count(old, false);
        }
    }

    fn count(&mut self, outcome: SlotOutcome, add: bool) {
        let counter = match outcome {
            SlotOutcome::Ok => return,
            SlotOutcome::Failed => &mut self.failed,
            SlotOutcome::RateLimited => &mut self.rate_limited,
        };
        *counter = if add { *counter + 1 } else { *counter - 1 };
    }

    /// Attempts that ended.
    pub fn ended(&self) -> u32 {
        self.outcomes.len() as u32
    }

    /// Attempts that failed, rate limits included.
    pub fn failed(&self) -> u32 {
        self.failed + self.rate_limited
    }

    pub fn rate_limited(&self) -> u32 {
        self.rate_limited
    }
}

#[derive(Debug)]
pub struct TokenPool {
    pub slots: Vec<TokenSlot>,
    rate_window: Duration,
}

impl TokenPool {
    /// Slots for `tokens`; those that set no limits of their own get
    /// `per_token_concurrency` and at most `rate_limit` starts per `rate_window`.
    pub fn new(tokens: Vec<Token>, per_token_concurrency: u32, rate_limit: u32, rate_window: Duration) -> TokenPool {
        let tokens: Vec<Option<Token>> =
            if tokens.is_empty() { vec![None] } else { tokens.into_iter().map(Some).collect() };
        let slots = tokens
            .into_iter()
            .map(|token| TokenSlot {
                concurrency: token.as_ref().and_then(|t| t.concurrency).unwrap_or(per_token_concurrency).max(1),
                rate_limit: token.as_ref().and_then(|t| t.starts_per_minute).unwrap_or(rate_limit),
                token: token.map(|t| t.secret),
                running: 0,
                cooling_until: None,
                starts: VecDeque::new(),
                recent: Recent::default(),
            })
            .collect();
        TokenPool { slots, rate_window }
    }

    /// How many more jobs slot `index` may start now.
    pub fn free(&mut self, index: usize, now: Instant) -> u32 {
        let window = self.rate_window;
        let slot = &mut self.slots[index];
        let rate_limit = slot.rate_limit;
        if slot.cooling_until.is_some_and(|until| until > now) {
            return 0;
        }
        slot.cooling_until = None;
        while slot.starts.front().is_some_and(|t| now.duration_since(*t) >= window) {
            slot.starts.pop_front();
        }
        let by_rate = if rate_limit == 0 { u32::MAX } else { rate_limit.saturating_sub(slot.starts.len() as u32) };
        slot.concurrency.saturating_sub(slot.running).min(by_rate)
    }

    /// Why slot `index` can start nothing now, in words; `None` if it can.
    pub fn why_full(&mut self, index: usize, now: Instant) -> Option<String> {
        if self.free(index, now) > 0 {
            return None;
        }
        let slot = &self.slots[index];
        Some(match slot.cooling_until {
            Some(until) => {
                format!(
                    "slot {index}: rate limited, cooling down for {} s",
                    until.saturating_duration_since(now).as_secs()
                )
            }
            None if slot.running >= slot.concurrency => {
                format!("slot {index}: {} of {} running (per-token concurrency)", slot.running, slot.concurrency)
            }
            None => format!("slot {index}: {} starts in the last minute (token-starts-per-minute)", slot.starts.len()),
        })
    }

    pub fn start(&mut self, index: usize, now: Instant) {
        let slot = &mut self.slots[index];
        slot.running += 1;
        slot.starts.push_back(now);
    }

    /// Undoes the latest [`TokenPool::start`] on slot `index`: that start
    /// did not happen.
    pub fn unstart(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        slot.running = slot.running.saturating_sub(1);
        slot.starts.pop_back();
    }

    pub fn finish(&mut self, index: usize, outcome: SlotOutcome, now: Instant) {
        let slot = &mut self.slots[index];
        slot.running = slot.running.saturating_sub(1);
        slot.recent.push(now, outcome);
    }

    /// Takes slot `index` out of rotation until `until`.
    pub fn cool_down(&mut self, index: usize, until: Instant) {
        let slot = &mut self.slots[index];
        slot.cooling_until = Some(slot.cooling_until.map_or(until, |u| u.max(until)));
    }

    /// Total concurrency over all slots.
    pub fn capacity(&self) -> u32 {
        self.slots.iter().map(|s| s.concurrency).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_with_their_own_limits_keep_them() {
        let own = Token { secret: Secret::new("a".into()), concurrency: Some(1), starts_per_minute: Some(2) };
        let mut pool = TokenPool::new(vec![own, Secret::new("b".into()).into()], 5, 0, Duration::from_secs(60));
        let now = Instant::now();
        assert_eq!((pool.free(0, now), pool.free(1, now)), (1, 5));
    }

    #[test]
    fn slots_limit_concurrency_rate_and_cool_down() {
        let now = Instant::now();
        let mut pool = TokenPool::new(vec![Secret::new("x".into()).into()], 2, 3, Duration::from_secs(60));
        assert_eq!(pool.free(0, now), 2);
        pool.start(0, now);
        pool.start(0, now);
        assert_eq!(pool.free(0, now), 0);
        pool.finish(0, SlotOutcome::Ok, now);
        assert_eq!(pool.free(0, now), 1);
        pool.start(0, now);
        pool.finish(0, SlotOutcome::Ok, now);
        pool.finish(0, SlotOutcome::Ok, now);
        assert_eq!(pool.free(0, now), 0, "three starts within the window: rate limited");
        assert_eq!(pool.why_full(0, now).unwrap(), "slot 0: 3 starts in the last minute (token-starts-per-minute)");
        assert_eq!(pool.free(0, now + Duration::from_secs(61)), 2, "the window slides");
        pool.cool_down(0, now + Duration::from_secs(100));
        assert_eq!(pool.free(0, now + Duration::from_secs(90)), 0);
        assert_eq!(
            pool.why_full(0, now + Duration::from_secs(90)).unwrap(),
            "slot 0: rate limited, cooling down for 10 s"
        );
        assert_eq!(pool.free(0, now + Duration::from_secs(100)), 2);
    }

    #[test]
    fn recent_outcomes_are_counted_until_they_age_out() {
        let mut pool = TokenPool::new(vec![], 4, 0, Duration::from_secs(60));
        let now = Instant::now();
        for outcome in [SlotOutcome::Ok, SlotOutcome::Failed, SlotOutcome::RateLimited] {
            pool.start(0, now);
            pool.finish(0, outcome, now);
        }
        let recent = &pool.slots[0].recent;
        assert_eq!((recent.ended(), recent.failed(), recent.rate_limited()), (3, 2, 1));
        pool.start(0, now);
        pool.finish(0, SlotOutcome::Ok, now + RECENT + Duration::from_secs(1));
        let recent = &pool.slots[0].recent;
        assert_eq!((recent.ended(), recent.failed(), recent.rate_limited()), (1, 0, 0), "the first three aged out");
    }

    #[test]
    fn no_token_means_one_inheriting_slot() {
        let pool = TokenPool::new(vec![], 4, 0, Duration::from_secs(60));
        assert_eq!(pool.slots.len(), 1);
        assert!(pool.slots[0].token.is_none());
        assert_eq!(pool.capacity(), 4);
    }
}
