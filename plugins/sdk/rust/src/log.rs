//! Structured log lines to the host, which tags them with the plugin and the
//! job and sends them to its log and to MCP clients that asked for logs (at
//! most 64 lines per call are kept, each message cut at 4 KiB).
//!
//! ```ignore
//! ringmaster_plugin::log::debug("selected jobs", &[("started", &chosen.len()), ("queued", &input.queued_total)]);
//! ```

use std::fmt::Display;

pub use crate::bindings::host::Level;

/// A field: a name and anything that displays.
pub type Field<'a> = (&'a str, &'a dyn Display);

/// Writes one log line at `level`.
pub fn log(level: Level, message: &str, fields: &[Field<'_>]) {
    let fields: Vec<(String, String)> = fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    crate::host::log(level, message, &fields);
}

pub fn trace(message: &str, fields: &[Field<'_>]) {
    log(Level::Trace, message, fields)
}

pub fn debug(message: &str, fields: &[Field<'_>]) {
    log(Level::Debug, message, fields)
}

pub fn info(message: &str, fields: &[Field<'_>]) {
    log(Level::Info, message, fields)
}

pub fn warn(message: &str, fields: &[Field<'_>]) {
    log(Level::Warn, message, fields)
}

pub fn error(message: &str, fields: &[Field<'_>]) {
    log(Level::Error, message, fields)
}
