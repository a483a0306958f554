//! Debounced directory watching, shared by everything that hot-reloads from
//! disk: plugins, slash commands, hook configs and `ringmaster.yaml`.
//!
//! A changed path is mapped to a *key* (a plugin name, or `()` for "the
//! command set"); the callback runs for a key once no event for it has
//! arrived for the debounce period, so a file written in many chunks is read
//! once, after the last chunk. Reads of our own (access events) are ignored,
//! so a reload never triggers another.

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode, Watcher as _};
use std::collections::HashMap;
use std::hash::Hash;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Keeps directories watched until dropped; dropping it also ends the
/// thread that runs the callbacks.
pub struct DirWatcher {
    _inner: notify::RecommendedWatcher,
}

/// Changes that can alter a file's content or existence.
fn is_change(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Create(_)
            | EventKind::Modify(_)
            | EventKind::Remove(_)
            | EventKind::Access(AccessKind::Close(AccessMode::Write))
    )
}

/// Which directories to watch, and how.
pub struct Watched<'a> {
    /// Name of the thread that runs the callbacks.
    pub thread: &'a str,
    pub dirs: &'a [PathBuf],
    pub recursive: bool,
    /// Create missing directories (configured plugin directories), or skip
    /// them with a log line (a project's optional `commands/`, which we do
    /// not litter projects with).
    pub create_missing: bool,
    pub debounce: Duration,
}

/// Watches `watched.dirs` and calls `on_change(key)` `debounce` after the
/// last change to a path that `key` maps to `Some`.
pub fn watch_dirs<K, F, C>(watched: Watched<'_>, key: F, mut on_change: C) -> notify::Result<DirWatcher>
where
    K: Eq + Hash + Clone + Send + 'static,
    F: Fn(&Path) -> Option<K> + Send + 'static,
    C: FnMut(K) + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let mut inner = notify::recommended_watcher(move |event| {
        let _ = tx.send(event);
    })?;
    let mode = if watched.recursive { RecursiveMode::Recursive } else { RecursiveMode::NonRecursive };
    for dir in watched.dirs {
        if !dir.is_dir() && !watched.create_missing {
            tracing::info!(dir = %dir.display(), "directory does not exist; create it and restart to use it");
            continue;
        }
        if let Err(err) = std::fs::create_dir_all(dir) {
            tracing::warn!(dir = %dir.display(), error = %err, "cannot create watched directory");
            continue;
        }
        inner.watch(dir, mode)?;
        tracing::info!(dir = %dir.display(), "watching for changes");
    }
    let debounce = watched.debounce;
    std::thread::Builder::new()
        .name(watched.thread.into())
        .spawn(move || debounce_loop(&rx, debounce, key, &mut on_change))
        .expect("spawning a watcher thread");
    Ok(DirWatcher { _inner: inner })
}

/// Runs until the watcher is dropped (which closes the channel).
fn debounce_loop<K: Eq + Hash + Clone>(
    events: &mpsc::Receiver<notify::Result<notify::Event>>,
    debounce: Duration,
    key: impl Fn(&Path) -> Option<K>,
    on_change: &mut impl FnMut(K),
) {
    let mut due: HashMap<K, Instant> = HashMap::new();
    loop {
        let received = match due.values().min() {
            Some(next) => events.recv_timeout(next.saturating_duration_since(Instant::now())),
            None => events.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
        };
        match received {
            Ok(Ok(event)) if is_change(&event.kind) => {
                for k in event.paths.iter().filter_map(|p| key(p)) {
                    due.insert(k, Instant::now() + debounce);
                }
            }
            Ok(Ok(_)) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Ok(Err(err)) => tracing::warn!(error = %err, "directory watch error"),
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        let ready: Vec<K> = due.iter().filter(|(_, at)| **at <= now).map(|(k, _)| k.clone()).collect();
        for k in ready {
            due.remove(&k);
            // A reload that panics (a bug) must not end the watching: the
            // last good version stays in force and the next change retries.
            if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| on_change(k))) {
                tracing::error!("a reload panicked (a bug in ringmaster): {}", crate::panic::message(&*panic));
            }
        }
    }
}

/// Whether a file name is an editor's or a writer's temporary (hidden files,
/// `name~` backups): never worth a reload.
pub fn is_hidden_or_backup(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_none_or(|n| n.starts_with('.') || n.ends_with('~'))
}
