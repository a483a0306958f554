//! The token pool: the accounts agents run under, as slots with their own
//! concurrency, rate limit and cooldown.
//!
//! Tokens come from the config's `tokens:` (each read from an environment
//! variable or a file, never written in the config itself, with its own
//! concurrency and rate limit if wanted), then from `CLAUDE_CODE_OAUTH_TOKEN`
//! and the older servers' `CLAUDE_CODE_TOKEN` and
//! `CLAUDE_CODE_TOKEN1`..`CLAUDE_CODE_TOKEN10`, in that order, duplicates
//! removed. A token is a [`Secret`]: it prints as
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

/// One token and its slot's own limits (`None`: the engine's defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub secret: Secret,
    pub concurrency: Option<u32>,
    pub starts_per_minute: Option<u32>,
}

impl From<Secret> for Token {
    fn from(secret: Secret) -> Token {
        Token { secret, concurrency: None, starts_per_minute: None }
    }
}

/// The variables the environment's tokens are read from, in order.
fn token_vars() -> Vec<String> {
    let mut names = vec!["CLAUDE_CODE_OAUTH_TOKEN".to_string(), "CLAUDE_CODE_TOKEN".to_string()];
    names.extend((1..=10).map(|i| format!("CLAUDE_CODE_TOKEN{i}")));
    names
}

/// Every variable that holds a credential ringmaster knows of: the token
/// variables, those the config reads tokens from, and the API keys that
/// outrank them. No child inherits these; an agent is given its own token.
pub fn credential_vars(configured: &[TokenConfig]) -> Vec<String> {
    let mut names = token_vars();
    names.extend(OUTRANKING_CREDENTIALS.map(String::from));
    names.extend(configured.iter().filter_map(|t| t.env.clone()));
    names
}

/// Variables a child never inherits when ringmaster hands it a token: they
/// outrank `CLAUDE_CODE_OAUTH_TOKEN` and would bypass rotation.
pub const OUTRANKING_CREDENTIALS: [&str; 2] = ["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"];

/// The configured tokens, then the environment's, duplicates removed.
pub fn tokens(configured: &[TokenConfig], get: impl Fn(&str) -> Option<String>) -> Result<Vec<Token>, String> {
    let mut tokens: Vec<Token> = Vec::new();
    for (i, config) in configured.iter().enumerate() {
        let token = config.read(&get).map_err(|e| format!("tokens[{i}]: {e}"))?;
        if !tokens.iter().any(|t| t.secret == token.secret) {
            tokens.push(token);
        }
    }
    for value in token_vars().iter().filter_map(|name| get(name)).filter(|v| !v.trim().is_empty()) {
        let secret = Secret::new(value.trim().to_string());
        if !tokens.iter().any(|t| t.secret == secret) {
            tokens.push(secret.into());
        }
    }
    Ok(tokens)
}

/// The most a token file may hold.
const MAX_TOKEN_FILE_BYTES: u64 = 64 * 1024;

/// A `tokens:` entry of `ringmaster.yaml`: where to read a token, and its
/// slot's limits. Tokens themselves never go in the config.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct TokenConfig {
    /// Environment variable holding the token.
    pub env: Option<String>,
    /// File holding the token (surrounding whitespace ignored).
    pub file: Option<std::path::PathBuf>,
    /// Jobs running at once on this token (default `engine.per-token-concurrency`).
    pub concurrency: Option<u32>,
    /// Starts per minute on this token (default `engine.token-starts-per-minute`).
    pub starts_per_minute: Option<u32>,
}

impl TokenConfig {
    /// Reads the token. Errors name where it was looked for, never a value.
    fn read(&self, get: &impl Fn(&str) -> Option<String>) -> Result<Token, String> {
        let value = match (&self.env, &self.file) {
            (Some(name), None) => get(name).ok_or_else(|| format!("the environment variable {name} is not set"))?,
            (None, Some(path)) => crate::untrusted::read_text(path, None, MAX_TOKEN_FILE_BYTES)
                .map_err(|err| format!("cannot read the token file {}: {err}", path.display()))?,
            _ => return Err("give exactly one of `env` (a variable name) or `file` (a path)".into()),
        };
        let value = value.trim();
        if value.is_empty() {
            return Err("the token is empty".into());
        }
        Ok(Token {
            secret: Secret::new(value.to_string()),
            concurrency: self.concurrency,
            starts_per_minute: self.starts_per_minute,
        })
    }
}

/// One account.
#[derive(Debug)]
pub struct Slot {
    pub token: Option<Secret>,
    pub concurrency: u32,
    pub running: u32,
    /// Set after a rejected rate limit: no new job starts here before it.
    pub cooling_until: Option<Instant>,
    /// At most this many starts per rate window (0: unlimited).
    rate_limit: u32,
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
            .map(|token| Slot {
                concurrency: token.as_ref().and_then(|t| t.concurrency).unwrap_or(per_token_concurrency).max(1),
                rate_limit: token.as_ref().and_then(|t| t.starts_per_minute).unwrap_or(rate_limit),
                token: token.map(|t| t.secret),
                running: 0,
                cooling_until: None,
                starts: VecDeque::new(),
                recent: VecDeque::new(),
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
        let tokens: Vec<String> = tokens(&[], env).unwrap().iter().map(|t| t.secret.expose().to_string()).collect();
        assert_eq!(tokens, ["a", "b", "c"]);
    }

    #[test]
    fn configured_tokens_come_first_with_their_own_limits() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t"), "from-file\n").unwrap();
        let configured = [
            TokenConfig { env: Some("TEAM_TOKEN".into()), concurrency: Some(1), ..Default::default() },
            TokenConfig { file: Some(dir.path().join("t")), starts_per_minute: Some(2), ..Default::default() },
        ];
        let env = |name: &str| match name {
            "TEAM_TOKEN" => Some("team".to_string()),
            "CLAUDE_CODE_OAUTH_TOKEN" => Some("team".to_string()),
            "CLAUDE_CODE_TOKEN1" => Some("env".to_string()),
            _ => None,
        };
        let found = tokens(&configured, env).unwrap();
        let values: Vec<&str> = found.iter().map(|t| t.secret.expose()).collect();
        assert_eq!(values, ["team", "from-file", "env"]);
        let mut pool = TokenPool::new(found, 5, 0, Duration::from_secs(60));
        let now = Instant::now();
        assert_eq!((pool.free(0, now), pool.free(1, now), pool.free(2, now)), (1, 2, 5));

        let missing = [TokenConfig { env: Some("NOPE".into()), ..Default::default() }];
        let err = tokens(&missing, |_| None).unwrap_err();
        assert_eq!(err, "tokens[0]: the environment variable NOPE is not set");
        let both = [TokenConfig { env: Some("A".into()), file: Some("f".into()), ..Default::default() }];
        assert!(tokens(&both, |_| None).unwrap_err().contains("exactly one"));
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
    fn no_token_means_one_inheriting_slot() {
        let pool = TokenPool::new(vec![], 4, 0, Duration::from_secs(60));
        assert_eq!(pool.slots.len(), 1);
        assert!(pool.slots[0].token.is_none());
        assert_eq!(pool.capacity(), 4);
    }
}
