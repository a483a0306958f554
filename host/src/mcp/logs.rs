//! Plugin log lines as MCP log notifications.
//!
//! Plugins log through the host (`host.log`), which emits tracing events on
//! the `ringmaster::plugin` target. [`layer`] captures those events, at every
//! level whatever `RUST_LOG` says, into a broadcast channel; each MCP session
//! whose client asked for logging (`logging/setLevel`) forwards the lines at
//! or above its level as `notifications/message`, logger `plugin:NAME`.
//!
//! MCP's logging is deprecated (SEP-2577) in favour of a successor not yet
//! specified; clients, Claude Code among them, still use it.
#![allow(deprecated)]

use rmcp::model::LoggingLevel;
use serde_json::{Map, Value};
use std::sync::OnceLock;
use tokio::sync::broadcast;
use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;

/// Lines a slow session may fall behind by before it skips some.
const BACKLOG: usize = 1024;

/// One plugin log line.
#[derive(Debug, Clone)]
pub struct PluginLog {
    pub level: LoggingLevel,
    /// The plugin's name.
    pub plugin: String,
    /// The line: `message`, `plugin` (its identity: name, version, hash),
    /// `job` and the plugin's own `fields`.
    pub data: Map<String, Value>,
}

fn channel() -> &'static broadcast::Sender<PluginLog> {
    static CHANNEL: OnceLock<broadcast::Sender<PluginLog>> = OnceLock::new();
    CHANNEL.get_or_init(|| broadcast::channel(BACKLOG).0)
}

/// Plugin log lines from now on.
pub fn subscribe() -> broadcast::Receiver<PluginLog> {
    channel().subscribe()
}

/// The tracing layer that captures plugin log lines (install it beside the
/// stderr one).
pub fn layer<S>() -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    Capture.with_filter(Targets::new().with_target("ringmaster::plugin", tracing::Level::TRACE))
}

struct Capture;

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if channel().receiver_count() == 0 {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let level = match *event.metadata().level() {
            tracing::Level::ERROR => LoggingLevel::Error,
            tracing::Level::WARN => LoggingLevel::Warning,
            tracing::Level::INFO => LoggingLevel::Info,
            tracing::Level::DEBUG | tracing::Level::TRACE => LoggingLevel::Debug,
        };
        let identity = fields.0.get("plugin").and_then(Value::as_str).unwrap_or_default();
        let plugin = identity.split(['@', ' ']).next().unwrap_or_default().to_string();
        let _ = channel().send(PluginLog { level, plugin, data: fields.0 });
    }
}

#[derive(Default)]
struct Fields(Map<String, Value>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), Value::String(value.into()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().into(), Value::String(format!("{value:?}")));
    }
}

/// Whether a line at `level` passes a session's `threshold`.
pub fn passes(level: LoggingLevel, threshold: LoggingLevel) -> bool {
    rank(level) >= rank(threshold)
}

fn rank(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}
