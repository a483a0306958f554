//! The lock that makes an engine the only one of its state directory.
//!
//! Why a lock and not a look at the socket: two clients that find no engine
//! at the same moment would both start one. The engine holds `engine.lock`
//! (an `flock`, released by the kernel however the process ends, `kill -9`
//! included) for its whole life and binds the socket only once it holds it;
//! the file also says which pid holds it, and waiting for the lock is how a
//! client waits for an engine to be gone.

use anyhow::Context;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// The lock's file name in the state directory.
pub const LOCK_NAME: &str = "engine.lock";
/// Held by clients while they start an engine, so that one starts it and
/// the others find it answering.
pub const START_LOCK_NAME: &str = "engine.start.lock";

/// The state directory, created private (0700) when missing.
pub fn state_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create the state directory {}", dir.display()))
}

/// Makes an existing state directory private (0700), as a new one is: one
/// made by an older ringmaster, or by hand, may be readable by others.
fn make_private(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot make the state directory {} private (0700)", dir.display()))
}

fn open(path: &Path) -> anyhow::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))
}

/// Held while this process is the engine of its state directory.
pub struct EngineLock {
    _file: File,
}

impl EngineLock {
    /// Takes the lock of `state_dir` and writes this pid into it, or says
    /// which engine holds it.
    pub fn take(state_dir: &Path) -> anyhow::Result<EngineLock> {
        self::state_dir(state_dir)?;
        let path = state_dir.join(LOCK_NAME);
        let mut file = open(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = holder(state_dir).map_or_else(String::new, |pid| format!(" (pid {pid})"));
                anyhow::bail!(
                    "an engine already runs for {}{holder}; `ringmaster engine status` shows it, \
                     `ringmaster engine stop` stops it",
                    state_dir.display()
                );
            }
            Err(std::fs::TryLockError::Error(err)) => {
                return Err(err).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
        file.set_len(0)?;
        writeln!(file, "{}", std::process::id())?;
        make_private(state_dir)?;
        Ok(EngineLock { _file: file })
    }
}

/// The pid written by the engine holding (or last holding) the lock.
pub fn holder(state_dir: &Path) -> Option<u32> {
    let mut text = String::new();
    File::open(state_dir.join(LOCK_NAME)).ok()?.take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// Blocks until no engine holds the lock of `state_dir` (at once when none does).
pub fn wait_until_gone(state_dir: &Path) -> std::io::Result<()> {
    match File::open(state_dir.join(LOCK_NAME)) {
        // A shared lock is granted once the engine's exclusive one is gone;
        // it is dropped at once, so it never holds up the next engine.
        Ok(file) => file.lock_shared(),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err),
    }
}

/// Blocks until this process is the one starting an engine for
/// `state_dir`; others wait here meanwhile. Released when dropped.
pub fn starting(state_dir: &Path) -> anyhow::Result<File> {
    self::state_dir(state_dir)?;
    let file = open(&state_dir.join(START_LOCK_NAME))?;
    file.lock()?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_engine_is_refused_naming_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let _first = EngineLock::take(dir.path()).unwrap();
        // flock locks belong to open files: a second open in this process
        // conflicts as another process's would.
        let err = EngineLock::take(dir.path()).err().expect("the lock is held").to_string();
        assert!(err.contains(&format!("pid {}", std::process::id())), "{err}");
        assert_eq!(holder(dir.path()), Some(std::process::id()));
    }

    #[test]
    fn the_engine_makes_its_state_directory_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let _lock = EngineLock::take(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn the_lock_is_free_again_once_its_holder_drops_it() {
        let dir = tempfile::tempdir().unwrap();
        drop(EngineLock::take(dir.path()).unwrap());
        wait_until_gone(dir.path()).unwrap();
        EngineLock::take(dir.path()).expect("free again");
    }
}
