//! A set of files parsed from a list of directories, kept in line with the
//! disk, where a file that breaks keeps its last good version.
//!
//! Slash commands and hook configs are both such sets. A user saving a file
//! half-edited must not lose the command or hook it held: [`FileSet::reload`]
//! records the new error beside the previous good parse, which stays in use,
//! until the file parses again or is deleted.

use crate::untrusted;
use crate::watch::Watched;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::watch;

/// Files read per directory, at most.
pub const MAX_FILES: usize = 10_000;

/// Quiet period after the last change in the directories before reloading.
const DEBOUNCE: Duration = Duration::from_millis(50);

/// One file of the set.
#[derive(Debug, Clone)]
pub struct Entry<T> {
    /// The last version that parsed.
    pub good: Option<T>,
    /// Why the file as it is on disk does not parse.
    pub error: Option<String>,
}

/// Where a file stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileStatus {
    Active,
    /// Broken on disk; the previous version is in use.
    Stale,
    /// Never parsed.
    Failed,
}

impl<T> Entry<T> {
    pub fn status(&self) -> FileStatus {
        match (&self.good, &self.error) {
            (None, _) => FileStatus::Failed,
            (Some(_), Some(_)) => FileStatus::Stale,
            (Some(_), None) => FileStatus::Active,
        }
    }
}

/// The files of a list of directories, earliest directory first.
pub struct FileSet<T> {
    /// What the files are, for log lines ("command file", "hook config").
    what: &'static str,
    dirs: Vec<PathBuf>,
    files: Mutex<Vec<BTreeMap<PathBuf, Entry<T>>>>,
    changed: watch::Sender<u64>,
}

impl<T: Clone + PartialEq> FileSet<T> {
    pub fn new(what: &'static str, dirs: Vec<PathBuf>) -> FileSet<T> {
        let files = Mutex::new(dirs.iter().map(|_| BTreeMap::new()).collect());
        FileSet { what, dirs, files, changed: watch::Sender::new(0) }
    }

    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// How to watch the set's directories for [`crate::watch::watch_dirs`].
    /// Missing directories are not created: these are a project's optional
    /// folders.
    pub fn watched<'a>(&'a self, thread: &'a str, recursive: bool) -> Watched<'a> {
        Watched { thread, dirs: &self.dirs, recursive, create_missing: false, debounce: DEBOUNCE }
    }

    /// A receiver that sees a change whenever a reload changed anything.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Brings the set in line with the disk: `discover` lists a directory's
    /// files, `parse(dir, path, bytes)` reads one. Files are read as
    /// [`untrusted`] input: regular files only, at most
    /// [`untrusted::MAX_TEXT_BYTES`] each, symlinks only within the set's
    /// directories, at most [`MAX_FILES`] per directory. Reading and parsing
    /// happen with no lock held. Returns whether anything changed (and then
    /// notifies subscribers).
    pub fn reload(
        &self,
        discover: impl Fn(&Path) -> Vec<PathBuf>,
        parse: impl Fn(&Path, &Path, &[u8]) -> Result<T, String>,
    ) -> bool {
        let read: Vec<Vec<(PathBuf, Result<T, String>)>> = self
            .dirs
            .iter()
            .map(|dir| {
                let mut found = discover(dir);
                if found.len() > MAX_FILES {
                    tracing::error!(dir = %dir.display(), "more than {MAX_FILES} {}s; only the first {MAX_FILES} are read", self.what);
                    found.truncate(MAX_FILES);
                }
                found
                    .into_iter()
                    .map(|path| {
                        let parsed = untrusted::read(&path, Some(&self.dirs), untrusted::MAX_TEXT_BYTES)
                            .and_then(|bytes| parse(dir, &path, &bytes));
                        (path, parsed)
                    })
                    .collect()
            })
            .collect();
        let mut changed = false;
        let mut all = self.files.lock();
        for (files, found) in all.iter_mut().zip(read) {
            let before = files.len();
            files.retain(|path, _| found.iter().any(|(p, _)| p == path));
            changed |= files.len() != before;
            for (path, parsed) in found {
                let entry = files.entry(path.clone()).or_insert(Entry { good: None, error: None });
                match parsed {
                    Ok(value) => {
                        changed |= entry.good.as_ref() != Some(&value) || entry.error.is_some();
                        entry.good = Some(value);
                        entry.error = None;
                    }
                    Err(error) => {
                        if entry.error.as_ref() != Some(&error) {
                            let kept = if entry.good.is_some() { "; its previous version stays in use" } else { "" };
                            tracing::error!(file = %path.display(), "{} skipped: {error}{kept}", self.what);
                            changed = true;
                        }
                        entry.error = Some(error);
                    }
                }
            }
        }
        drop(all);
        if changed {
            self.changed.send_modify(|n| *n += 1);
        }
        changed
    }

    /// Every file: (directory, path, entry), earliest directory first, then by path.
    pub fn snapshot(&self) -> Vec<(PathBuf, PathBuf, Entry<T>)> {
        let all = self.files.lock();
        self.dirs
            .iter()
            .zip(all.iter())
            .flat_map(|(dir, files)| files.iter().map(|(path, e)| (dir.clone(), path.clone(), e.clone())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(dir: &Path) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        paths.sort();
        paths
    }

    fn parse(_: &Path, _: &Path, bytes: &[u8]) -> Result<u32, String> {
        std::str::from_utf8(bytes).unwrap().trim().parse().map_err(|_| "not a number".to_string())
    }

    #[test]
    fn a_broken_file_keeps_its_last_good_version_and_a_deleted_one_goes() {
        let dir = tempfile::tempdir().unwrap();
        let set = FileSet::new("number file", vec![dir.path().to_path_buf()]);
        std::fs::write(dir.path().join("a"), "1").unwrap();
        std::fs::write(dir.path().join("b"), "x").unwrap();
        assert!(set.reload(numbers, parse));
        let snap = set.snapshot();
        assert_eq!((snap[0].2.good, snap[0].2.status()), (Some(1), FileStatus::Active));
        assert_eq!((snap[1].2.good, snap[1].2.status()), (None, FileStatus::Failed));

        std::fs::write(dir.path().join("a"), "oops").unwrap();
        assert!(set.reload(numbers, parse));
        let snap = set.snapshot();
        assert_eq!((snap[0].2.good, snap[0].2.status()), (Some(1), FileStatus::Stale));
        assert_eq!(snap[0].2.error.as_deref(), Some("not a number"));
        assert!(!set.reload(numbers, parse), "nothing changed on disk");

        std::fs::remove_file(dir.path().join("a")).unwrap();
        assert!(set.reload(numbers, parse));
        assert_eq!(set.snapshot().len(), 1);
    }
}
