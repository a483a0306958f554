//! The token pool: the accounts agents run under, as slots with their own
//! concurrency, rate limit and cooldown.
//!
//! Tokens come from `CLAUDE_CODE_OAUTH_TOKEN`, and from the older servers'
//! `CLAUDE_CODE_TOKEN` and `CLAUDE_CODE_TOKEN1`..`CLAUDE_CODE_TOKEN10`, in
//! that order, duplicates removed. A token is a [`Secret`]: it prints as
//! `<redacted>` everywhere, so it cannot reach a log, a record or an error by
//! accident. Records name the slot by index. With no token at all there is
//! one slot, and agents inherit the environment's credentials.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

/// A credential. Only [`Secret::expose`] reveals it, for the child's environment.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Reads tokens from the environment, in the documented order.
pub fn tokens_from_env(get: impl Fn(&str) -> Option<String>) -> Vec<Secret> {
    let mut names = vec!["CLAUDE_CODE_OAUTH_TOKEN".to_string(), "CLAUDE_CODE_TOKEN".to_string()];
    names.extend((1..=10).map(|i| format!("CLAUDE_CODE_TOKEN{i}")));
    let mut tokens: Vec<Secret> = Vec::new();
    for value in names.iter().filter_map(|name| get(name)).filter(|v| !v.trim().is_empty()) {
        let secret = Secret::new(value.trim().to_string());
        if !tokens.contains(&secret) {
            tokens.push(secret);
        }
    }
    tokens
}

/// One account.
#[derive(Debug)]
pub struct Slot {
    pub token: Option<Secret>,
    pub concurrency: u32,
    pub running: u32,
    /// Set after a rejected rate limit: no new job starts here before it.
    pub cooling_until: Option<Instant>,
    /// Starts within the rate window, for the sliding-window limit.
    starts: VecDeque<Instant>,
    pub recent: VecDeque<(Instant, SlotOutcome)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotOutcome {
    Ok,
    Failed,
    RateLimited,
}

/// How long outcomes count as recent, for the scheduler's per-slot statistics.
const RECENT: Duration = Duration::from_secs(300);

#[derive(Debug)]
pub struct TokenPool {
    pub slots: Vec<Slot>,
    /// At most this many starts per slot per `rate_window` (0: unlimited).
    rate_limit: u32,
    rate_window: Duration,
}

impl TokenPool {
    pub fn new(tokens: Vec<Secret>, per_token_concurrency: u32, rate_limit: u32, rate_window: Duration) -> TokenPool {
        let tokens: Vec<Option<Secret>> =
            if tokens.is_empty() { vec![None] } else { tokens.into_iter().map(Some).collect() };
        let slots = tokens
            .into_iter()
            .map(|token| Slot {
                token,
                concurrency: per_token_concurrency.max(1),
                running: 0,
                cooling_until: None,
                starts: VecDeque::new(),
                recent: VecDeque::new(),
            })
            .collect();
        TokenPool { slots, rate_limit, rate_window }
    }

    /// How many more jobs slot `index` may start now.
    pub fn free(&mut self, index: usize, now: Instant) -> u32 {
        let (rate_limit, window) = (self.rate_limit, self.rate_window);
        let slot = &mut self.slots[index];
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

    pub fn start(&mut self, index: usize, now: Instant) {
        let slot = &mut self.slots[index];
        slot.running += 1;
        slot.starts.push_back(now);
    }

    pub fn finish(&mut self, index: usize, outcome: SlotOutcome, now: Instant) {
        let slot = &mut self.slots[index];
        slot.running = slot.running.saturating_sub(1);
        slot.recent.push_back((now, outcome));
        while slot.recent.front().is_some_and(|(t, _)| now.duration_since(*t) > RECENT) {
            slot.recent.pop_front();
        }
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
    fn tokens_never_print() {
        let secret = Secret::new("sk-ant-oat01-very-secret".into());
        assert_eq!(format!("{secret:?}"), "<redacted>");
        assert_eq!(format!("{:?}", Some(&secret)), "Some(<redacted>)");
    }

    #[test]
    fn tokens_are_read_in_order_without_duplicates() {
        let env = |name: &str| match name {
            "CLAUDE_CODE_OAUTH_TOKEN" => Some("a".to_string()),
            "CLAUDE_CODE_TOKEN" => Some("a".to_string()),
            "CLAUDE_CODE_TOKEN2" => Some("c".to_string()),
            "CLAUDE_CODE_TOKEN1" => Some(" b ".to_string()),
            "CLAUDE_CODE_TOKEN3" => Some("".to_string()),
            _ => None,
        };
        let tokens: Vec<String> = tokens_from_env(env).iter().map(|t| t.expose().to_string()).collect();
        assert_eq!(tokens, ["a", "b", "c"]);
    }

    #[test]
    fn slots_limit_concurrency_rate_and_cool_down() {
        let now = Instant::now();
        let mut pool = TokenPool::new(vec![Secret::new("x".into())], 2, 3, Duration::from_secs(60));
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
        assert_eq!(pool.free(0, now + Duration::from_secs(61)), 2, "the window slides");
        pool.cool_down(0, now + Duration::from_secs(100));
        assert_eq!(pool.free(0, now + Duration::from_secs(90)), 0);
        assert_eq!(pool.free(0, now + Duration::from_secs(100)), 2);
    }

    #[test]
    fn no_token_means_one_inheriting_slot() {
        let pool = TokenPool::new(vec![], 4, 0, Duration::from_secs(60));
        assert_eq!(pool.slots.len(), 1);
        assert!(pool.slots[0].token.is_none());
        assert_eq!(pool.capacity(), 4);
    }
}
