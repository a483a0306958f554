//! The plugin's configuration: the `config:` map of its manifest
//! (`NAME.yaml`), overridden by the host's `ringmaster.yaml`. Values are
//! strings; these functions parse them and say which key was wrong.
//!
//! ```ignore
//! let base_ms: u64 = config::get_or("base-ms", 2000)?;      // default when unset
//! let cap: Option<u32> = config::get("max-per-root")?;      // none when unset
//! let events = config::list("events", &["JobSubmit"]);      // "a, b" or one per line
//! ```

use std::fmt::{self, Display};
use std::str::FromStr;

/// A configuration value that does not parse as the type asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub key: String,
    pub value: String,
    /// The type asked for, e.g. `u32`.
    pub expected: &'static str,
    /// What the parser said.
    pub reason: String,
}

impl Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config key `{}`: {:?} is not a valid {} ({})", self.key, self.value, self.expected, self.reason)
    }
}

impl std::error::Error for ConfigError {}

/// The value of `key` parsed as `T`, `None` when it is not set.
pub fn get<T>(key: &str) -> Result<Option<T>, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    let Some(value) = raw(key) else { return Ok(None) };
    value.trim().parse().map(Some).map_err(|e: T::Err| ConfigError {
        key: key.to_string(),
        value,
        expected: short_type_name::<T>(),
        reason: e.to_string(),
    })
}

/// The value of `key` parsed as `T`, `default` when it is not set.
pub fn get_or<T>(key: &str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    Ok(get(key)?.unwrap_or(default))
}

/// The value of `key` as written, `None` when it is not set.
pub fn raw(key: &str) -> Option<String> {
    crate::host::config_get(key)
}

/// A list written as comma-separated items or one per line (trimmed, blank
/// items dropped); `default` when the key is not set.
pub fn list(key: &str, default: &[&str]) -> Vec<String> {
    match raw(key) {
        Some(value) => {
            value.split([',', '\n']).map(str::trim).filter(|item| !item.is_empty()).map(String::from).collect()
        }
        None => default.iter().map(|item| item.to_string()).collect(),
    }
}

/// Every key and value, sorted by key.
pub fn all() -> Vec<(String, String)> {
    crate::host::config_all()
}

/// `u32` rather than `core::primitive::u32`, `String` rather than `alloc::string::String`.
fn short_type_name<T>() -> &'static str {
    let name = std::any::type_name::<T>();
    name.rsplit("::").next().unwrap_or(name)
}
