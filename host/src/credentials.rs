//! Credentials: where the tokens agents run under come from, and the
//! variables that hold credentials, which no child inherits by accident.
//!
//! Tokens come from the config's `tokens:` (each read from an environment
//! variable or a file, never written in the config itself, with its own
//! concurrency and rate limit if wanted), then from `CLAUDE_CODE_OAUTH_TOKEN`
//! and the older servers' `CLAUDE_CODE_TOKEN` and
//! `CLAUDE_CODE_TOKEN1`..`CLAUDE_CODE_TOKEN10`, in that order, duplicates
//! removed. A token is a [`Secret`]: it prints as `<redacted>` everywhere, so
//! it cannot reach a log, a record or an error by accident.
//!
//! A leaf module: the config embeds [`TokenConfig`], the engine's token pool
//! holds [`Token`]s, and the servers build the list of
//! [`credential_vars`] every child is stripped of.

use std::fmt;

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

    /// A short SHA-256 fingerprint: tells tokens apart in the store without
    /// holding them.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        sha2::Sha256::digest(self.0.as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect()
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
    fn configured_tokens_come_first_and_errors_say_where() {
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
        assert_eq!((found[0].concurrency, found[1].starts_per_minute), (Some(1), Some(2)));

        let missing = [TokenConfig { env: Some("NOPE".into()), ..Default::default() }];
        let err = tokens(&missing, |_| None).unwrap_err();
        assert_eq!(err, "tokens[0]: the environment variable NOPE is not set");
        let both = [TokenConfig { env: Some("A".into()), file: Some("f".into()), ..Default::default() }];
        assert!(tokens(&both, |_| None).unwrap_err().contains("exactly one"));
    }
}
