//! Hot reload: watches the plugin directories and brings each changed plugin
//! in line with the disk.
//!
//! Events are debounced per plugin name: a reload starts once no event for
//! that name has arrived for `reload-debounce-ms`, so a file written in many
//! chunks is read once, after the last chunk. A file still being written when
//! it is read fails to parse and is never loaded ([`PluginHost::load`] stays
//! quiet about it when the file changed during the attempt); its next write
//! event triggers another attempt. Writing to a temporary name and renaming
//! over `NAME.wasm` avoids even that.

use super::registry::PluginHost;
use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode, Watcher as _};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

/// Keeps the plugin directories watched until dropped.
pub struct Watcher {
    _inner: notify::RecommendedWatcher,
}

/// The plugin a changed file belongs to: `NAME.wasm` or its manifest `NAME.yaml`.
fn plugin_of(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".wasm").or_else(|| name.strip_suffix(".yaml"))?;
    (!stem.is_empty() && !stem.starts_with('.')).then(|| stem.to_string())
}

/// Changes that can alter a plugin; our own reads of the files are not among them.
fn is_change(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Create(_)
            | EventKind::Modify(_)
            | EventKind::Remove(_)
            | EventKind::Access(AccessKind::Close(AccessMode::Write))
    )
}

/// Starts watching `host`'s plugin directories, creating any that are missing.
pub fn watch(host: Arc<PluginHost>) -> notify::Result<Watcher> {
    let (tx, rx) = mpsc::channel();
    let mut inner = notify::recommended_watcher(move |event| {
        let _ = tx.send(event);
    })?;
    for dir in &host.config().dirs {
        if let Err(err) = std::fs::create_dir_all(dir) {
            tracing::warn!(dir = %dir.display(), error = %err, "cannot create plugin directory");
            continue;
        }
        inner.watch(dir, RecursiveMode::NonRecursive)?;
        tracing::info!(dir = %dir.display(), "watching for plugins");
    }
    let debounce = Duration::from_millis(host.config().reload_debounce_ms);
    std::thread::Builder::new()
        .name("plugin-watch".into())
        .spawn(move || reload_loop(&host, &rx, debounce))
        .expect("spawning the plugin watcher");
    Ok(Watcher { _inner: inner })
}

/// Runs until the watcher is dropped (which closes the channel).
fn reload_loop(host: &PluginHost, events: &mpsc::Receiver<notify::Result<notify::Event>>, debounce: Duration) {
    let mut due: HashMap<String, Instant> = HashMap::new();
    loop {
        let received = match due.values().min() {
            Some(next) => events.recv_timeout(next.saturating_duration_since(Instant::now())),
            None => events.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
        };
        match received {
            Ok(Ok(event)) if is_change(&event.kind) => {
                for name in event.paths.iter().filter_map(|p| plugin_of(p)) {
                    due.insert(name, Instant::now() + debounce);
                }
            }
            Ok(Ok(_)) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Ok(Err(err)) => tracing::warn!(error = %err, "plugin directory watch error"),
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        let ready: Vec<String> = due.iter().filter(|(_, at)| **at <= now).map(|(name, _)| name.clone()).collect();
        for name in ready {
            due.remove(&name);
            // Errors are recorded and published by the host.
            let _ = host.refresh(&name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_files_and_manifests_map_to_their_plugin() {
        assert_eq!(plugin_of(Path::new("/p/fair-share.wasm")).as_deref(), Some("fair-share"));
        assert_eq!(plugin_of(Path::new("/p/fair-share.yaml")).as_deref(), Some("fair-share"));
        assert_eq!(plugin_of(Path::new("/p/.fair-share.wasm.tmp")), None);
        assert_eq!(plugin_of(Path::new("/p/.hidden.wasm")), None);
        assert_eq!(plugin_of(Path::new("/p/notes.txt")), None);
    }
}
