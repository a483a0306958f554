//! Live reload of `ringmaster.yaml`: save the file and the running server
//! takes the new policy selection, engine limits and defaults, and agent
//! profiles for everything it starts from then on. A file that does not
//! parse is reported and the previous configuration stays in force;
//! sections that need a restart (plugin directories and limits, command and
//! hook directories, tokens) are named in the log when they change.

use super::Config;
use crate::watch::{DirWatcher, Watched, watch_dirs};
use parking_lot::Mutex;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Quiet period after the last write to the file before reloading.
const DEBOUNCE: Duration = Duration::from_millis(50);

/// The state of the live configuration.
pub struct LiveConfig {
    path: PathBuf,
    current: Mutex<Config>,
    /// Why the file on disk is not in force, if it is not.
    error: Mutex<Option<String>>,
    reloads: watch::Sender<u64>,
}

impl LiveConfig {
    /// The configuration loaded from `path`, in force now.
    pub fn new(path: PathBuf, current: Config) -> Arc<LiveConfig> {
        Arc::new(LiveConfig {
            path,
            current: Mutex::new(current),
            error: Mutex::new(None),
            reloads: watch::Sender::new(0),
        })
    }

    /// Sees every reload attempt, good or bad.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.reloads.subscribe()
    }

    /// Why the file on disk is not in force, if it is not.
    pub fn error(&self) -> Option<String> {
        self.error.lock().clone()
    }

    /// Re-reads the file; if it parses, hands it to `apply`, which may still
    /// refuse it with a reason.
    pub fn reload(&self, apply: &mut impl FnMut(&Config) -> Result<(), String>) {
        let loaded = Config::load(&self.path).map_err(|e| e.to_string());
        match loaded.and_then(|new| apply(&new).map(|()| new)) {
            Err(err) => {
                tracing::error!("{err}; the previous configuration stays in force");
                *self.error.lock() = Some(err);
            }
            Ok(new) => {
                let mut current = self.current.lock();
                let restart = current.restart_only_changes(&new);
                if !restart.is_empty() {
                    tracing::warn!(
                        "{}: changes to {} take effect after a restart",
                        self.path.display(),
                        restart.join(", ")
                    );
                }
                tracing::info!(file = %self.path.display(), "configuration reloaded");
                *current = new;
                *self.error.lock() = None;
            }
        }
        self.reloads.send_modify(|n| *n += 1);
    }

    /// Reloads whenever the file changes, until dropped.
    pub fn watch(
        self: &Arc<Self>,
        mut apply: impl FnMut(&Config) -> Result<(), String> + Send + 'static,
    ) -> notify::Result<DirWatcher> {
        let dir = self.path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
        let file = self.path.file_name().map(|n| n.to_os_string());
        let is_config = move |path: &Path| (path.file_name().map(|n| n.to_os_string()) == file).then_some(());
        let live = self.clone();
        let dirs = [dir];
        let watched = Watched {
            thread: "config-watch",
            dirs: &dirs,
            recursive: false,
            create_missing: false,
            debounce: DEBOUNCE,
        };
        watch_dirs(watched, is_config, move |()| live.reload(&mut apply))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_save_keeps_the_configuration_in_force_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ringmaster.yaml");
        std::fs::write(&path, "engine: { max-depth: 2 }\n").unwrap();
        let live = LiveConfig::new(path.clone(), Config::load(&path).unwrap());
        let mut applied = Vec::new();
        let mut apply = |c: &Config| {
            applied.push(c.engine.max_depth);
            Ok(())
        };

        std::fs::write(&path, "engine: { max-depth: 3 }\n").unwrap();
        live.reload(&mut apply);
        std::fs::write(&path, "engine:\n  max-depht: 4\n").unwrap();
        live.reload(&mut apply);
        let error = live.error().unwrap();
        assert!(error.contains("line 2") && error.contains("max-depht"), "{error}");
        assert_eq!(live.current.lock().engine.max_depth, 3);

        let mut refuse = |_: &Config| Err("CLAUDE_MAX_RECURSION_DEPTH: expected a whole number".to_string());
        std::fs::write(&path, "engine: { max-depth: 5 }\n").unwrap();
        live.reload(&mut refuse);
        assert!(live.error().unwrap().contains("CLAUDE_MAX_RECURSION_DEPTH"));
        assert_eq!(live.current.lock().engine.max_depth, 3);

        live.reload(&mut apply);
        assert_eq!((applied.as_slice(), live.error()), ([3, 5].as_slice(), None));
        assert_eq!(*live.subscribe().borrow(), 4, "every attempt is signalled");
    }
}
