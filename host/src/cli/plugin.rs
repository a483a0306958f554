//! `ringmaster plugin new | wit | check | list`: a plugin author's tools.
//! `check` and `list` load plugins exactly as the server does (same checks,
//! smoke calls, grants from the configuration), without running a server.

use crate::authoring::{self, embedded, new::Lang, new::Project};
use crate::config::{Config, PluginsConfig};
use crate::contract::ExtensionPoint;
use crate::plugin::registry::{PluginHost, PluginInfo};
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `--kind` takes the extension point's interface name, e.g. `retry-policy`.
impl clap::ValueEnum for ExtensionPoint {
    fn value_variants<'a>() -> &'a [Self] {
        ExtensionPoint::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.interface()))
    }
}

pub fn new(name: &str, kind: ExtensionPoint, lang: Lang, dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let project = Project::new(name, kind, lang)?;
    let dir = dir.map_or_else(|| PathBuf::from(name), Path::to_path_buf);
    project.create(&dir)?;
    // stdout-ok: CLI output
    println!(
        "created {dir}: a {kind} plugin in {lang:?} for {contract}\nnext:\n  cd {dir}\n  {steps}",
        dir = dir.display(),
        contract = embedded::contract(),
        steps = project.steps().join("\n  "),
    );
    Ok(ExitCode::SUCCESS)
}

pub fn wit(dir: Option<&Path>, force: bool) -> anyhow::Result<ExitCode> {
    let dir = dir.unwrap_or(Path::new("wit"));
    let files: Vec<(PathBuf, String)> =
        embedded::WIT.iter().map(|(name, text)| (PathBuf::from(name), text.to_string())).collect();
    let changed = authoring::write_all(dir, &files, force)?;
    // stdout-ok: CLI output
    println!("{}: {} ({} of {} files written)", dir.display(), embedded::contract(), changed.len(), files.len());
    Ok(ExitCode::SUCCESS)
}

pub fn check(config: Config, cache_dir: Option<PathBuf>, path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let host = PluginHost::new(config.plugins, cache_dir)?;
    let loaded = host.load(path);
    let name = crate::plugin::loader::plugin_name(path);
    let info = host.list().into_iter().find(|i| i.name == name).context("the plugin left no record")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&info)?); // stdout-ok: CLI output
    } else {
        match &loaded {
            Ok(()) => print_details(&host, &info),
            Err(err) => eprintln!("error: {err}"),
        }
    }
    Ok(if loaded.is_ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

pub fn list(config: Config, cache_dir: Option<PathBuf>, dirs: Vec<PathBuf>, json: bool) -> anyhow::Result<ExitCode> {
    let plugins = if dirs.is_empty() { config.plugins } else { PluginsConfig { dirs, ..config.plugins } };
    if plugins.dirs.is_empty() {
        anyhow::bail!("no plugin directories: pass --dir DIR or set plugins.dirs in ringmaster.yaml");
    }
    let host = PluginHost::new(plugins, cache_dir)?;
    host.load_all();
    let infos = host.list();
    if json {
        println!("{}", serde_json::to_string_pretty(&infos)?); // stdout-ok: CLI output
        return Ok(ExitCode::SUCCESS);
    }
    if infos.is_empty() {
        println!(
            "no plugins in {}",
            host.config().dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
        ); // stdout-ok
    }
    for info in &infos {
        let points: Vec<&str> = info.extension_points.iter().map(|p| p.interface()).collect();
        println!(
            // stdout-ok: CLI output
            "{:<20} {:<12} {:<40} {}",
            info.name,
            info.status.as_str(),
            if points.is_empty() { "-".to_string() } else { points.join(",") },
            info.error.as_deref().unwrap_or(""),
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn print_details(host: &PluginHost, info: &PluginInfo) {
    let plugin = host.get(&info.name).expect("a loaded plugin is active");
    let limits = plugin.limits();
    let mut lines = vec![
        format!("{}: loadable", plugin.identity),
        format!("  file:         {}", info.path.display()),
        format!(
            "  provides:     {}",
            info.extension_points.iter().map(|p| p.qualified()).collect::<Vec<_>>().join(", ")
        ),
        format!("  imports:      {}", info.imports.join(", ")),
        format!(
            "  limits:       policy calls {} ms, hook and command calls {} ms, memory {} MiB",
            limits.policy_deadline_ms, limits.hook_deadline_ms, limits.memory_mib
        ),
    ];
    if let Some(description) = &info.description {
        lines.insert(1, format!("  description:  {description}"));
    }
    let caps = plugin.capabilities();
    let mut granted = Vec::new();
    if !caps.filesystem.is_empty() {
        granted.push(format!("filesystem {:?}", caps.filesystem));
    }
    if !caps.env.is_empty() {
        granted.push(format!("env {:?}", caps.env));
    }
    if caps.network {
        granted.push("network".into());
    }
    if caps.stdio {
        granted.push("stdio".into());
    }
    lines.push(format!("  capabilities: {}", if granted.is_empty() { "none".into() } else { granted.join(", ") }));
    if !plugin.manifest.config.is_empty() {
        let config: Vec<String> = plugin.manifest.config.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        lines.push(format!("  config:       {}", config.join(", ")));
    }
    if plugin.provides(ExtensionPoint::Commands)
        && let Ok(commands) = plugin.list_commands()
    {
        for command in commands {
            let hint = command.argument_hint.map(|h| format!(" {h}")).unwrap_or_default();
            lines.push(format!("  command:      /{}{hint} — {}", command.name, command.description));
        }
    }
    if plugin.provides(ExtensionPoint::HookHandler) {
        lines.push(format!("  hook events:  {}", plugin.hook_events.join(", ")));
    }
    println!("{}", lines.join("\n")); // stdout-ok: CLI output
}
