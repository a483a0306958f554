//! The engine as a process of its own: detaching from whoever started it,
//! and its log. (The lock that makes it the only engine of its state
//! directory is [`crate::remote::lock`], which clients use too.)

use anyhow::Context;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The log's file name in the state directory (for an engine started detached).
pub const LOG_NAME: &str = "engine.log";
/// Size at which the log is rotated (one older file, `engine.log.1`, is kept).
const LOG_MAX_BYTES: u64 = 8 << 20;

/// Which side of [`detach`] this is.
pub enum Detached {
    /// The starter: exits with this once the engine is ready or has failed.
    Starter(ExitCode),
    /// The engine, in a session of its own, stdio away from the starter.
    Engine(Readiness),
}

/// How the detached engine tells its starter that it serves, or why not.
pub struct Readiness(Option<OwnedFd>);

impl Readiness {
    /// The engine serves: the starter exits 0.
    pub fn ready(mut self) {
        self.send("ready\n");
    }

    /// The engine could not start: the starter prints `why` and exits 1.
    pub fn failed(mut self, why: &str) {
        self.send(why);
    }

    fn send(&mut self, text: &str) {
        if let Some(fd) = self.0.take() {
            let _ = File::from(fd).write_all(text.as_bytes());
        }
    }
}

/// Forks the engine off: the child goes on in a new session with stdin and
/// stdout on `/dev/null` and stderr appending to `log`; the parent waits
/// until the child reports (see [`Readiness`]) and becomes the exit status,
/// so whoever started `ringmaster engine` learns whether it serves.
///
/// Must run before any thread is started (before the async runtime).
pub fn detach(log: &Path) -> anyhow::Result<Detached> {
    let log_file = open_log(log)?;
    let (read, write) = nix::unistd::pipe().context("cannot make a pipe")?;
    // SAFETY: no other thread exists yet (see above), so the child may run
    // anything after the fork.
    match unsafe { nix::unistd::fork() }.context("cannot fork the engine")? {
        nix::unistd::ForkResult::Parent { .. } => {
            drop(write);
            let mut said = String::new();
            let _ = File::from(read).read_to_string(&mut said);
            Ok(Detached::Starter(match said.as_str() {
                "ready\n" => ExitCode::SUCCESS,
                "" => {
                    eprintln!("error: the engine exited while starting; see {}", log.display());
                    ExitCode::FAILURE
                }
                why => {
                    eprintln!("error: {why}");
                    ExitCode::FAILURE
                }
            }))
        }
        nix::unistd::ForkResult::Child => {
            drop(read);
            nix::unistd::setsid().context("cannot start a session")?;
            let null = File::options().read(true).write(true).open("/dev/null")?;
            nix::unistd::dup2_stdin(&null)?;
            nix::unistd::dup2_stdout(&null)?;
            nix::unistd::dup2_stderr(&log_file)?;
            drop((null, log_file));
            close_inherited(write.as_raw_fd());
            Ok(Detached::Engine(Readiness(Some(write))))
        }
    }
}

/// Closes every descriptor above stderr but `keep`: whatever the starter
/// left open without close-on-exec (a pipe someone waits on for EOF, a
/// build tool's jobserver) must not live as long as the engine.
fn close_inherited(keep: RawFd) {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else { return };
    let open: Vec<RawFd> = entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect();
    for fd in open.into_iter().filter(|fd| *fd > 2 && *fd != keep) {
        // The directory's own descriptor is among them, closed already: EBADF.
        let _ = nix::unistd::close(fd);
    }
}

fn open_log(path: &Path) -> anyhow::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot open the engine log {}", path.display()))
}

/// Log lines for a detached engine: written to stderr (which [`detach`]
/// pointed at the log, so a panic's message lands there too), and the log
/// rotated once it passes [`LOG_MAX_BYTES`]: renamed to `engine.log.1`
/// (replacing the older one) and stderr pointed at a fresh file.
pub struct RotatingLog {
    path: PathBuf,
    written: parking_lot::Mutex<u64>,
}

impl RotatingLog {
    pub fn new(path: PathBuf) -> RotatingLog {
        let written = std::fs::metadata(&path).map_or(0, |m| m.len());
        RotatingLog { path, written: parking_lot::Mutex::new(written) }
    }

    fn rotate(&self) -> anyhow::Result<()> {
        let mut older = self.path.clone().into_os_string();
        older.push(".1");
        std::fs::rename(&self.path, older)?;
        let fresh = open_log(&self.path)?;
        std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o600))?;
        nix::unistd::dup2_stderr(&fresh)?;
        Ok(())
    }
}

impl std::io::Write for &RotatingLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut written = self.written.lock();
        let n = std::io::stderr().write(buf)?;
        *written += n as u64;
        if *written > LOG_MAX_BYTES {
            *written = 0;
            if let Err(err) = self.rotate() {
                let _ = writeln!(std::io::stderr(), "cannot rotate the engine log: {err:#}");
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RotatingLog {
    type Writer = &'a RotatingLog;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_rotates_past_its_cap_keeping_one_older_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOG_NAME);
        std::fs::write(&path, vec![b'x'; LOG_MAX_BYTES as usize]).unwrap();
        let log = RotatingLog::new(path.clone());
        // Rotation points stderr at the new file: keep this test's stderr.
        let saved = nix::unistd::dup(std::io::stderr()).unwrap();
        (&log).write_all(b"one more line\n").unwrap();
        nix::unistd::dup2_stderr(&saved).unwrap();
        let older = dir.path().join("engine.log.1");
        assert_eq!(std::fs::metadata(&older).unwrap().len(), LOG_MAX_BYTES);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0, "the fresh log starts empty");
    }
}
