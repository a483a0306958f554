//! Processes that escaped their group. A hook script or an agent can put a
//! child in a session of its own (`setsid`, a daemonising tool), out of the
//! process group that is killed when the hook or the attempt ends. Every
//! process ringmaster starts carries a marker in its environment
//! (`RINGMASTER_JOB_ID=<id>` for agents, `RINGMASTER_SHELL_RUN=<id>` for
//! shell commands), which its children inherit; once the group is gone,
//! whatever still carries the marker is found in `/proc` and killed.
//!
//! Scanning `/proc` costs a few milliseconds, so the common case is batched:
//! [`soon`] queues a marker for a sweeper thread that scans once for
//! everything queued in the last moments, and sleeps (using no CPU) while
//! nothing is queued. [`now`] scans at once, for a timeout.
//!
//! What remains: a process that rewrites its environment (`env -i`) loses
//! the marker and is not found; a cgroup per run would catch it, and is
//! left for the isolation work.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use parking_lot::{Condvar, Mutex};
use std::sync::OnceLock;
use std::time::Duration;

/// How long queued markers wait, so one scan serves many.
const BATCH: Duration = Duration::from_millis(200);

/// The processes of this user whose environment holds one of `needles`
/// (`NAME=value`, exactly). Empty where `/proc` does not exist.
pub fn marked(needles: &[String]) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let me = std::process::id() as i32;
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
                env.split(|b| *b == 0).any(|var| needles.iter().any(|needle| var == needle.as_bytes()))
            })
        })
        .collect()
}

/// Kills every process carrying one of `needles` now; returns how many.
pub fn now(needles: &[String]) -> usize {
    let pids = marked(needles);
    for pid in &pids {
        let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
    }
    pids.len()
}

/// Kills whatever carries `needle` shortly, on the sweeper thread.
pub fn soon(needle: String) {
    let sweeper = SWEEPER.get_or_init(|| {
        std::thread::Builder::new()
            .name("process-sweeper".into())
            .spawn(sweep_loop)
            .expect("spawning the process sweeper");
        Sweeper::default()
    });
    sweeper.queued.lock().push(needle);
    sweeper.wake.notify_one();
}

#[derive(Default)]
struct Sweeper {
    queued: Mutex<Vec<String>>,
    wake: Condvar,
}

static SWEEPER: OnceLock<Sweeper> = OnceLock::new();

fn sweep_loop() {
    let sweeper = loop {
        // The thread starts inside `get_or_init`: wait for it to finish.
        if let Some(sweeper) = SWEEPER.get() {
            break sweeper;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    loop {
        {
            let mut queued = sweeper.queued.lock();
            while queued.is_empty() {
                sweeper.wake.wait(&mut queued);
            }
        }
        std::thread::sleep(BATCH);
        let needles = std::mem::take(&mut *sweeper.queued.lock());
        let killed = now(&needles);
        if killed > 0 {
            tracing::warn!(killed, "killed processes that outlived the hook or agent that started them");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_in_a_session_of_its_own_is_found_by_its_marker_and_killed() {
        let needle = format!("RINGMASTER_SHELL_RUN=test-{}", uuid::Uuid::new_v4());
        let (name, value) = needle.split_once('=').unwrap();
        let mut child = std::process::Command::new("setsid").args(["sleep", "300"]).env(name, value).spawn().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while marked(std::slice::from_ref(&needle)).is_empty() {
            assert!(std::time::Instant::now() < deadline, "the marked process never showed up");
            std::thread::yield_now();
        }
        soon(needle.clone());
        let status = child.wait().unwrap();
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9));
        assert!(marked(&[needle]).is_empty());
    }
}
