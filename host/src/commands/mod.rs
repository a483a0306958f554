//! Slash commands: markdown files in the command directories (Claude Code's
//! format, see [`markdown`]) and commands exported by plugins. Each renders
//! into either a job for the engine or text for the caller.
//!
//! The catalog keeps, per file, the last version that parsed: a file saved
//! broken is reported (in [`CommandInfo::error`] and the log) while its
//! previous version keeps working. Directories earlier in the list win a
//! name clash (the project's before the user's), and files win over plugin
//! commands. [`Commands::subscribe`] sees every change of the listing, which
//! the MCP layer turns into `notifications/prompts/list_changed`.

pub mod markdown;
pub mod render;

use crate::contract::ExtensionPoint;
use crate::contract::{CommandOutcome, JobOptions};
use crate::executor::shell::Shell;
use crate::fileset::{FileSet, FileStatus};
use crate::job::JobSpec;
use crate::plugin::registry::PluginHost;
use crate::watch::{DirWatcher, watch_dirs};
use markdown::MarkdownCommand;
use render::RenderOptions;
use serde::Serialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// One command as `command_list` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommandInfo {
    pub name: String,
    pub description: String,
    pub argument_hint: Option<String>,
    /// The file, or `plugin:NAME`.
    pub source: String,
    pub status: CommandStatus,
    pub error: Option<String>,
    pub warnings: Vec<String>,
}

/// Where a command stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CommandStatus {
    Active,
    /// The file's last change is broken; the previous version runs.
    Stale,
    /// Never parsed; cannot run.
    Failed,
    /// An earlier directory, or a file, has a command of the same name.
    Shadowed,
}

impl CommandStatus {
    /// Whether the command can be run.
    pub fn runs(self) -> bool {
        matches!(self, CommandStatus::Active | CommandStatus::Stale)
    }
}

/// What running a command produces.
#[derive(Debug, Clone, PartialEq)]
pub enum Prepared {
    /// A job to submit.
    Job(Box<JobSpec>),
    /// Text for the caller (a plugin command that answers directly).
    Text(String),
}

/// Settings of the command catalog.
#[derive(Debug, Clone)]
pub struct CommandsOptions {
    /// Command directories, earliest winning a name clash.
    pub dirs: Vec<PathBuf>,
    pub project_dir: PathBuf,
    /// Runs `` !`cmd` ``, when it may run, with its timeout.
    pub shell: Option<(Arc<Shell>, Duration)>,
}

/// The live set of commands.
pub struct Commands {
    options: CommandsOptions,
    plugins: Arc<PluginHost>,
    files: FileSet<MarkdownCommand>,
}

impl Commands {
    /// A catalog over `options.dirs`, loaded at once.
    pub fn new(options: CommandsOptions, plugins: Arc<PluginHost>) -> Arc<Commands> {
        let files = FileSet::new("command file", options.dirs.clone());
        let commands = Arc::new(Commands { options, plugins, files });
        commands.reload();
        commands
    }

    /// A receiver that sees a change whenever the markdown commands change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.files.subscribe()
    }

    /// Re-reads every command directory. Broken files keep their last good
    /// version; deleted files go.
    pub fn reload(&self) {
        self.files.reload(markdown::discover, |dir, path, bytes| {
            // A skill's folder is its name; the namespace is what holds it.
            let folder = match path.file_name().is_some_and(|n| n == markdown::SKILL_FILE) {
                true => path.parent().and_then(Path::parent),
                false => path.parent(),
            };
            let namespace = folder.and_then(|p| p.strip_prefix(dir).ok()).and_then(|rel| {
                let parts: Vec<String> = rel.iter().map(|c| c.to_string_lossy().into_owned()).collect();
                (!parts.is_empty()).then(|| parts.join(":"))
            });
            let command = markdown::parse(path, namespace, bytes)?;
            for warning in &command.warnings {
                tracing::warn!(file = %path.display(), "{warning}");
            }
            Ok(command)
        });
    }

    /// Reloads on every change in the command directories until dropped.
    pub fn watch(self: &Arc<Self>) -> notify::Result<DirWatcher> {
        let commands = self.clone();
        let is_command = |path: &Path| (!crate::watch::is_hidden_or_backup(path)).then_some(());
        watch_dirs(self.files.watched("commands-watch", true), is_command, move |()| commands.reload())
    }

    /// Every command, markdown first (in directory order), then plugins'.
    /// Calls plugins: run it off the async runtime.
    pub fn list(&self) -> Vec<CommandInfo> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for (dir, path, entry) in self.files.snapshot() {
            let (name, description, argument_hint, warnings) = match &entry.good {
                Some(c) => (c.name.clone(), self.describe(&dir, c), c.argument_hint.clone(), c.warnings.clone()),
                None => (stem(&path), String::new(), None, Vec::new()),
            };
            let status = match entry.status() {
                FileStatus::Failed => CommandStatus::Failed,
                _ if !seen.insert(name.clone()) => CommandStatus::Shadowed,
                FileStatus::Stale => CommandStatus::Stale,
                FileStatus::Active => CommandStatus::Active,
            };
            let source = path.display().to_string();
            out.push(CommandInfo { name, description, argument_hint, source, status, error: entry.error, warnings });
        }
        for plugin in self.plugins.providers(ExtensionPoint::Commands) {
            match self.plugins.call(&plugin, ExtensionPoint::Commands, |p| p.list_commands()) {
                Ok(commands) => out.extend(commands.into_iter().map(|c| CommandInfo {
                    status: if seen.insert(c.name.clone()) { CommandStatus::Active } else { CommandStatus::Shadowed },
                    name: c.name,
                    description: c.description,
                    argument_hint: c.argument_hint,
                    source: format!("plugin:{plugin}"),
                    error: None,
                    warnings: Vec::new(),
                })),
                Err(err) => tracing::warn!(plugin = %plugin, error = %err, "cannot list the plugin's commands"),
            }
        }
        out
    }

    /// The description with the namespace, as Claude Code shows it:
    /// `... (project:frontend)`.
    fn describe(&self, dir: &Path, command: &MarkdownCommand) -> String {
        match &command.namespace {
            None => command.description.clone(),
            Some(namespace) => {
                let scope = if dir.starts_with(&self.options.project_dir) { "project" } else { "user" };
                format!("{} ({scope}:{namespace})", command.description)
            }
        }
    }

    /// Renders command `name` with `arguments` (the raw string typed after it).
    pub async fn prepare(&self, name: &str, arguments: &str) -> Result<Prepared, String> {
        let name = name.trim_start_matches('/');
        if let Some(command) = self.markdown(name) {
            let shell = self.options.shell.as_ref().map(|(shell, timeout)| (&**shell, *timeout));
            let options = RenderOptions { project_dir: &self.options.project_dir, shell };
            let prompt =
                render::render(&command.body, arguments, &options).await.map_err(|e| format!("/{name}: {e}"))?;
            let o = command.options;
            return Ok(Prepared::Job(Box::new(JobSpec {
                prompt,
                agent: o.agent,
                model: o.model,
                priority: o.priority.unwrap_or(0),
                tags: o.tags,
                timeout_s: o.timeout_s,
                max_retries: o.max_retries,
                allowed_tools: o.allowed_tools,
                ..JobSpec::default()
            })));
        }
        let plugins = self.plugins.clone();
        let (name, arguments) = (name.to_string(), arguments.to_string());
        tokio::task::spawn_blocking(move || run_plugin_command(&plugins, &name, &arguments))
            .await
            .map_err(|err| format!("the command's plugin call panicked: {err}"))?
    }

    /// The runnable markdown command `name`: the first directory's.
    fn markdown(&self, name: &str) -> Option<MarkdownCommand> {
        self.files.snapshot().into_iter().filter_map(|(_, _, e)| e.good).find(|c| c.name == name)
    }
}

fn stem(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

fn run_plugin_command(plugins: &PluginHost, name: &str, arguments: &str) -> Result<Prepared, String> {
    for plugin in plugins.providers(ExtensionPoint::Commands) {
        let listed = plugins.call(&plugin, ExtensionPoint::Commands, |p| p.list_commands());
        if !listed.is_ok_and(|commands| commands.iter().any(|c| c.name == name)) {
            continue;
        }
        let outcome = plugins
            .call(&plugin, ExtensionPoint::Commands, |p| p.run_command(name, arguments))
            .map_err(|err| format!("/{name} failed in plugin {plugin}: {err}"))?
            .map_err(|message| format!("/{name}: {message}"))?;
        return Ok(match outcome {
            CommandOutcome::Text(text) => Prepared::Text(text),
            CommandOutcome::Submit(request) => {
                Prepared::Job(Box::new(job_from_plugin(request.prompt, request.options)))
            }
        });
    }
    Err(format!("unknown command /{name}; command_list shows the commands there are"))
}

fn job_from_plugin(prompt: String, o: JobOptions) -> JobSpec {
    JobSpec {
        prompt,
        agent: o.agent,
        model: o.model,
        priority: o.priority.unwrap_or(0),
        tags: o.tags,
        timeout_s: o.timeout_ms.map(|ms| ms.div_ceil(1000)),
        max_retries: o.max_retries,
        allowed_tools: o.allowed_tools,
        ..JobSpec::default()
    }
}
