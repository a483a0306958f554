//! Hooks: handlers that see, and may veto or rewrite, what happens to jobs.
//!
//! Configs come from the hook directories in Claude Code's settings format
//! (see [`config`]); they reload live, and a broken file keeps its previous
//! version. [`Hooks::dispatch`] runs every handler whose matcher accepts the
//! event, all at once, each under its timeout ([`run`]); identical handlers
//! run once. Their verdicts combine: deny > defer > ask > allow; rewritten
//! input merges in config order; added context accumulates. A handler that
//! fails, crashes or times out is logged and has no say: hooks never block
//! the engine.
//!
//! The engine fires the job lifecycle events (`JobSubmit`, `PreJobStart`,
//! `PostJob`, `JobFailed`, `JobRetry`, `Notification`, `Shutdown`); agent
//! events (`PreToolUse`, `PostToolUse`, `Stop`) arrive from inside agents
//! through `hook-relay`.
//!
//! Length: the pipeline (listing, dispatch, combining verdicts) is 370
//! lines; parsing, matching and running a handler are in their own files.

pub mod config;
mod event;
pub mod matcher;
pub mod run;

use crate::contract::ExtensionPoint;
use crate::executor::shell::Shell;
use crate::fileset::{FileSet, FileStatus};
use crate::plugin::loader::LoadedPlugin;
use crate::plugin::registry::PluginHost;
use crate::watch::{DirWatcher, watch_dirs};
use config::{Action, Handler};
pub use event::{Event, EventName};
use matcher::Matcher;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// A handler's say on an event. Ordered by precedence: the highest wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    Allow,
    Ask,
    Defer,
    Deny,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Allow => "allow",
            Permission::Ask => "ask",
            Permission::Defer => "defer",
            Permission::Deny => "deny",
        }
    }

    pub fn parse(text: &str) -> Option<Permission> {
        match text {
            "allow" | "approve" => Some(Permission::Allow),
            "ask" => Some(Permission::Ask),
            "defer" => Some(Permission::Defer),
            "deny" | "block" => Some(Permission::Deny),
            _ => None,
        }
    }
}

/// What one handler said.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    pub permission: Option<Permission>,
    pub reason: Option<String>,
    pub updated_input: Option<Map<String, Value>>,
    pub additional_context: Option<String>,
    pub system_message: Option<String>,
    /// Start the job later (`PreJobStart` only).
    pub delay: Option<Duration>,
}

/// What all the matching handlers said together.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HookOutcome {
    /// The strongest permission given.
    pub permission: Option<Permission>,
    /// The reason given with it.
    pub reason: Option<String>,
    /// Every handler's rewritten fields, later handlers winning a clash.
    pub updated_input: Map<String, Value>,
    pub additional_context: Vec<String>,
    pub system_messages: Vec<String>,
    /// The longest delay asked for.
    pub delay: Option<Duration>,
    /// Handlers that ran.
    pub ran: usize,
}

impl HookOutcome {
    /// Why the event is refused, when a handler denied it. Outside an agent
    /// there is nobody to ask, so ask and defer refuse too.
    pub fn refusal(&self) -> Option<String> {
        match self.permission {
            Some(Permission::Deny | Permission::Ask | Permission::Defer) => {
                Some(self.reason.clone().unwrap_or_else(|| "a hook denied it without giving a reason".into()))
            }
            _ => None,
        }
    }

    fn add(&mut self, verdict: Verdict) {
        self.ran += 1;
        if verdict.permission > self.permission {
            self.permission = verdict.permission;
            self.reason = verdict.reason;
        }
        self.updated_input.extend(verdict.updated_input.unwrap_or_default());
        self.additional_context.extend(verdict.additional_context.filter(|c| !c.trim().is_empty()));
        self.system_messages.extend(verdict.system_message);
        self.delay = self.delay.max(verdict.delay);
    }
}

/// One handler as `hook_list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct HookInfo {
    pub event: String,
    pub matcher: String,
    /// `command`, `wasm`, or the unsupported type's name.
    #[serde(rename = "type")]
    pub kind: String,
    pub command: Option<String>,
    pub plugin: Option<String>,
    pub timeout_s: Option<f64>,
    pub source: String,
    pub status: HookStatus,
    pub error: Option<String>,
}

/// Where a hook handler stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HookStatus {
    Active,
    /// Its file's last change is broken; this version runs.
    Stale,
    /// The file never parsed.
    Failed,
    /// A handler type ringmaster does not run (`http`, `prompt`, ...).
    Unsupported,
}

impl From<FileStatus> for HookStatus {
    fn from(status: FileStatus) -> HookStatus {
        match status {
            FileStatus::Active => HookStatus::Active,
            FileStatus::Stale => HookStatus::Stale,
            FileStatus::Failed => HookStatus::Failed,
        }
    }
}

/// Settings of the hook pipeline.
#[derive(Debug, Clone)]
pub struct HooksOptions {
    pub dirs: Vec<PathBuf>,
    /// Where command handlers run, and `CLAUDE_PROJECT_DIR`.
    pub project_dir: PathBuf,
    /// For command handlers that set no timeout.
    pub command_timeout: Duration,
    /// Runs the command handlers.
    pub shell: Arc<Shell>,
}

/// The live hook pipeline.
pub struct Hooks {
    options: HooksOptions,
    plugins: Arc<PluginHost>,
    files: FileSet<Vec<Handler>>,
}

impl Hooks {
    /// A pipeline over `options.dirs`, loaded at once.
    pub fn new(options: HooksOptions, plugins: Arc<PluginHost>) -> Arc<Hooks> {
        let files = FileSet::new("hook config", options.dirs.clone());
        let hooks = Arc::new(Hooks { options, plugins, files });
        hooks.reload();
        hooks
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.files.subscribe()
    }

    pub fn reload(&self) {
        self.files.reload(discover, |_, path, bytes| config::parse(path, bytes));
    }

    /// Reloads on every change in the hook directories until dropped.
    pub fn watch(self: &Arc<Self>) -> notify::Result<DirWatcher> {
        let hooks = self.clone();
        let is_config = |path: &Path| is_config_file(path).then_some(());
        watch_dirs(self.files.watched("hooks-watch", false), is_config, move |()| hooks.reload())
    }

    /// Every configured handler, every file that failed to parse, and every
    /// hook plugin running on its own (one entry per event it asked for).
    pub fn list(&self) -> Vec<HookInfo> {
        let mut out = Vec::new();
        let snapshot = self.files.snapshot();
        let named: HashSet<String> = snapshot
            .iter()
            .filter_map(|(_, _, e)| e.good.as_ref())
            .flatten()
            .filter_map(|h| h.action.plugin().map(String::from))
            .collect();
        for (name, plugin) in self.unnamed_hook_plugins(&named) {
            out.extend(plugin.hook_events.iter().map(|event| HookInfo {
                event: event.clone(),
                matcher: String::new(),
                kind: "wasm".into(),
                command: None,
                plugin: Some(name.clone()),
                timeout_s: None,
                source: format!("plugin:{name}"),
                status: HookStatus::Active,
                error: None,
            }));
        }
        for (_, path, entry) in snapshot {
            let source = path.display().to_string();
            let status = HookStatus::from(entry.status());
            if entry.good.is_none() {
                out.push(HookInfo {
                    event: String::new(),
                    matcher: String::new(),
                    kind: String::new(),
                    command: None,
                    plugin: None,
                    timeout_s: None,
                    source,
                    status,
                    error: entry.error,
                });
                continue;
            }
            for handler in entry.good.into_iter().flatten() {
                let (kind, command, plugin, status) = match handler.action {
                    Action::Command(c) => ("command".to_string(), Some(c), None, status),
                    Action::Wasm(p) => ("wasm".to_string(), None, Some(p), status),
                    Action::Unsupported(kind) => (kind, None, None, HookStatus::Unsupported),
                };
                out.push(HookInfo {
                    event: handler.event,
                    matcher: handler.matcher_text,
                    kind,
                    command,
                    plugin,
                    timeout_s: handler.timeout.map(|t| t.as_secs_f64()),
                    source: source.clone(),
                    status,
                    error: entry.error.clone(),
                });
            }
        }
        out
    }

    /// The handlers that apply to `event`, each once: the configured ones
    /// whose matcher accepts it (a hook plugin only for events its
    /// `events()` names), then every loaded hook plugin no config names,
    /// for the events its `events()` names.
    fn matching(&self, event: &Event) -> Vec<Handler> {
        let subjects: Vec<&str> = event.subjects.iter().map(String::as_str).collect();
        let configured: Vec<Handler> =
            self.files.snapshot().into_iter().filter_map(|(_, _, entry)| entry.good).flatten().collect();
        let named: HashSet<String> = configured.iter().filter_map(|h| h.action.plugin().map(String::from)).collect();
        let wants = |plugin: &str| self.plugins.get(plugin).is_none_or(|p| p.wants_event(event.name.as_str()));
        let mut seen = HashSet::new();
        let mut handlers: Vec<Handler> = configured
            .iter()
            .filter(|h| h.event == event.name.as_str() && !matches!(h.action, Action::Unsupported(_)))
            .filter(|h| h.matcher.matches(&subjects))
            .filter(|h| h.action.plugin().is_none_or(wants))
            .filter(|h| seen.insert(h.action.clone()))
            .cloned()
            .collect();
        for (name, plugin) in self.unnamed_hook_plugins(&named) {
            if plugin.wants_event(event.name.as_str()) && seen.insert(Action::Wasm(name.clone())) {
                handlers.push(Handler {
                    event: event.name.to_string(),
                    matcher_text: String::new(),
                    matcher: Matcher::All,
                    action: Action::Wasm(name),
                    timeout: None,
                    source: plugin.path.clone(),
                });
            }
        }
        handlers
    }

    /// Loaded hook plugins that no hook config names: they run on their own.
    fn unnamed_hook_plugins(&self, named: &HashSet<String>) -> Vec<(String, Arc<LoadedPlugin>)> {
        self.plugins
            .providers(ExtensionPoint::HookHandler)
            .into_iter()
            .filter(|name| !named.contains(name))
            .filter_map(|name| self.plugins.get(&name).map(|plugin| (name, plugin)))
            .collect()
    }

    /// Runs the handlers that match `event`, in parallel, and combines what they say.
    pub async fn dispatch(&self, mut event: Event) -> HookOutcome {
        let handlers = self.matching(&event);
        let mut outcome = HookOutcome::default();
        if handlers.is_empty() {
            return outcome;
        }
        event.payload.insert("hook_event_name".into(), Value::String(event.name.to_string()));
        if event.payload.get("cwd").is_none_or(Value::is_null) {
            event.payload.insert("cwd".into(), Value::String(self.options.project_dir.display().to_string()));
        }
        let input = serde_json::to_vec(&event.payload).expect("JSON values serialise");
        let runs = handlers.iter().map(|handler| {
            let context = run::Context {
                event: &event,
                input: &input,
                project_dir: &self.options.project_dir,
                default_timeout: self.options.command_timeout,
                shell: &self.options.shell,
                plugins: &self.plugins,
            };
            run::run(handler, context)
        });
        for (handler, verdict) in handlers.iter().zip(futures::future::join_all(runs).await) {
            match verdict {
                Ok(verdict) => outcome.add(verdict),
                Err(err) => tracing::warn!(
                    event = %event.name,
                    source = %handler.source.display(),
                    "hook handler failed and has no say: {err}"
                ),
            }
        }
        outcome
    }
}

fn is_config_file(path: &Path) -> bool {
    !crate::watch::is_hidden_or_backup(path)
        && path.extension().is_some_and(|e| e == "json" || e == "yaml" || e == "yml")
}

/// The hook configs in `dir`, by name: every entry but folders, so that a
/// FIFO or a device named `x.json` is reported rather than passed over.
fn discover(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
        .map(|e| e.path())
        .filter(|p| is_config_file(p))
        .collect();
    paths.sort();
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_beats_defer_beats_ask_beats_allow() {
        let say =
            |p: Permission, why: &str| Verdict { permission: Some(p), reason: Some(why.into()), ..Verdict::default() };
        let mut outcome = HookOutcome::default();
        outcome.add(say(Permission::Allow, "fine"));
        assert_eq!(outcome.refusal(), None);
        outcome.add(say(Permission::Ask, "check"));
        outcome.add(say(Permission::Deny, "no"));
        outcome.add(say(Permission::Defer, "later"));
        outcome.add(say(Permission::Allow, "fine"));
        assert_eq!((outcome.permission, outcome.refusal().as_deref()), (Some(Permission::Deny), Some("no")));
        assert_eq!(outcome.ran, 5);
    }

    #[test]
    fn rewrites_merge_and_context_accumulates() {
        let mut outcome = HookOutcome::default();
        let rewrite = |k: &str, v: &str, ctx: &str| Verdict {
            updated_input: Some(Map::from_iter([(k.to_string(), Value::String(v.into()))])),
            additional_context: Some(ctx.into()),
            delay: Some(Duration::from_secs(ctx.len() as u64)),
            ..Verdict::default()
        };
        outcome.add(rewrite("prompt", "a", "one"));
        outcome.add(rewrite("prompt", "b", "three"));
        outcome.add(rewrite("model", "haiku", ""));
        assert_eq!(outcome.updated_input["prompt"], "b");
        assert_eq!(outcome.updated_input["model"], "haiku");
        assert_eq!(outcome.additional_context, ["one", "three"]);
        assert_eq!(outcome.delay, Some(Duration::from_secs(5)));
    }
}
