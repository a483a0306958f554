//! Runs one attempt of a job: the agent as a child process in its own
//! process group, its stream-json output parsed as it arrives, its hard and
//! idle timeouts enforced, and the whole group gone when the attempt ends.
//!
//! Why a process group: agents start their own children (shells, language
//! servers, MCP servers). Signalling the group reaches all of them, so a
//! timed-out or cancelled agent leaves nothing behind. Termination is
//! SIGTERM to the group, then SIGKILL after a grace period; each attempt
//! waits for its own group concurrently, so fifty attempts timing out
//! together are all gone in about one grace period.

pub mod agent;
mod limits;
pub mod shell;
pub mod stream;
pub mod sweep;

use crate::job::{self, AttemptOutcome};
use crate::untrusted::{Line, Lines};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::collections::VecDeque;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};
use stream::{AgentEvent, ResultLine, parse_line};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio_util::sync::CancellationToken;

/// Bytes of stderr kept for the failure report.
const STDERR_TAIL: usize = 4096;
/// The longest line of agent output kept; a longer one is dropped (and
/// noted in the transcript), so an agent cannot make ringmaster hold more.
pub const MAX_LINE: usize = 8 << 20;

/// Everything needed to start one attempt.
#[derive(Debug, Clone)]
pub struct AttemptSpec {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Written to the agent's stdin, which is then closed (the prompt).
    pub stdin: Option<String>,
    pub cwd: PathBuf,
    /// Variables set for the child on top of the inherited environment.
    pub env: Vec<(String, String)>,
    /// Variables removed from the inherited environment.
    pub env_remove: Vec<String>,
    pub hard_timeout: Duration,
    pub idle_timeout: Duration,
    /// Time between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
}

/// What the engine learns from an attempt.
#[derive(Debug, Clone)]
pub struct AttemptReport {
    /// Never [`AttemptOutcome::Interrupted`]: that is the engine's finding.
    pub outcome: AttemptOutcome,
    /// When the agent said a rate limit lifts (with [`AttemptOutcome::RateLimited`]).
    pub resets_at_ms: Option<u64>,
    /// One line for people, e.g. "no output for 300 s".
    pub message: String,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub session_id: Option<String>,
    pub result: Option<ResultLine>,
    pub stderr_tail: String,
    pub duration: Duration,
}

impl AttemptReport {
    /// The report of an attempt whose agent never started.
    pub fn could_not_start(message: String) -> AttemptReport {
        AttemptReport {
            outcome: AttemptOutcome::CouldNotStart,
            resets_at_ms: None,
            message,
            exit_code: None,
            signal: None,
            session_id: None,
            result: None,
            stderr_tail: String::new(),
            duration: Duration::ZERO,
        }
    }
}

/// Why we stopped the agent ourselves.
#[derive(Debug, Clone, PartialEq)]
enum Stop {
    Hard,
    Idle,
    Cancel,
    /// Waiting for the agent failed: we cannot know how it ends.
    Lost(String),
}

/// Runs one attempt to its end. `on_line` sees every stdout line with its
/// meaning, as it arrives (for the transcript and live progress).
pub async fn run_attempt(
    spec: &AttemptSpec,
    cancel: &CancellationToken,
    mut on_line: impl FnMut(&str, &AgentEvent),
) -> AttemptReport {
    let started = Instant::now();
    let mut report = AttemptReport::could_not_start(String::new());
    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .current_dir(&spec.cwd)
        .stdin(if spec.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    for var in &spec.env_remove {
        command.env_remove(var);
    }
    command.envs(spec.env.iter().map(|(k, v)| (k, v)));
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) => {
            report.message = format!("could not start {} in {}: {err}", spec.program.display(), spec.cwd.display());
            return report;
        }
    };
    let group = child.id().map(|pid| Pid::from_raw(pid as i32));
    let writer = match (child.stdin.take(), &spec.stdin) {
        (Some(stdin), Some(text)) => write_stdin(stdin, text),
        _ => None,
    };
    let stderr = tokio::spawn(read_tail(child.stderr.take()));
    let mut lines = Lines::new(BufReader::new(child.stdout.take().expect("stdout is piped")), MAX_LINE);
    let mut rate_limited: Option<Option<u64>> = None;

    let mut handle = |line: Line, report: &mut AttemptReport| {
        let line = match line {
            Line::Text(text) => text,
            // Kept in the transcript as a note of what was dropped.
            Line::TooLong { bytes } => {
                serde_json::json!({"type": "ringmaster", "subtype": "line_dropped", "bytes": bytes, "max": MAX_LINE})
                    .to_string()
            }
        };
        let line = line.as_str();
        let event = parse_line(line);
        match &event {
            AgentEvent::Init { session_id } => report.session_id = Some(session_id.clone()),
            AgentEvent::RateLimit { rejected: true, resets_at_ms } => rate_limited = Some(*resets_at_ms),
            AgentEvent::ApiRetry { status: Some(429), retry_delay_ms } => {
                // The API's `retry-after`, unless the stream named the reset.
                let after = retry_delay_ms.map(|ms| crate::job::now_ms().saturating_add(ms));
                rate_limited = Some(rate_limited.flatten().or(after));
            }
            AgentEvent::Result(result) => {
                if let Some(id) = &result.session_id {
                    report.session_id = Some(id.clone());
                }
                report.result = Some(result.clone());
            }
            _ => {}
        }
        on_line(line, &event);
    };

    // Each made once: the idle one is pushed back on every line.
    let hard = tokio::time::sleep(spec.hard_timeout);
    let idle = tokio::time::sleep(spec.idle_timeout);
    tokio::pin!(hard, idle);
    let mut stdout_open = true;
    let ended: Result<ExitStatus, Stop> = loop {
        // Biased: when several are ready at once, an exit beats a timeout,
        // and the hard timeout beats the idle one (they coincide when the
        // idle limit is not shorter than the hard one).
        tokio::select! {
            biased;
            status = child.wait() => break status.map_err(|err| Stop::Lost(err.to_string())),
            () = cancel.cancelled() => break Err(Stop::Cancel),
            () = &mut hard => break Err(Stop::Hard),
            () = &mut idle => break Err(Stop::Idle),
            line = lines.next_line(), if stdout_open => match line {
                Ok(Some(line)) => {
                    idle.as_mut().reset(tokio::time::Instant::now() + spec.idle_timeout);
                    handle(line, &mut report);
                }
                _ => stdout_open = false,
            },
        }
    };
    let status = match ended {
        Ok(status) => {
            // The agent is gone; its children must not outlive it.
            kill_group(group, Signal::SIGKILL);
            Ok(status)
        }
        Err(stop) => Err((stop, terminate(&mut child, group, spec.kill_grace).await)),
    };
    // Whatever the agent printed before it ended still counts.
    while let Ok(Ok(Some(line))) = tokio::time::timeout(Duration::from_secs(2), lines.next_line()).await {
        handle(line, &mut report);
    }
    if let Some(writer) = writer {
        writer.abort();
    }
    report.stderr_tail = stderr.await.unwrap_or_default();
    report.duration = started.elapsed();

    let exit = match &status {
        Ok(status) | Err((_, Some(status))) => Some(*status),
        Err((_, None)) => None,
    };
    report.exit_code = exit.and_then(|s| s.code());
    report.signal = exit.and_then(|s| s.signal());
    (report.outcome, report.message) = match status {
        Err((Stop::Hard, _)) => {
            (AttemptOutcome::TimedOut, format!("ran past its {} s timeout", spec.hard_timeout.as_secs()))
        }
        Err((Stop::Idle, _)) => {
            (AttemptOutcome::IdleTimedOut, format!("no output for {} s", spec.idle_timeout.as_secs()))
        }
        Err((Stop::Cancel, _)) => (AttemptOutcome::Cancelled, "cancelled".into()),
        Err((Stop::Lost(err), _)) => (AttemptOutcome::Crashed, format!("ringmaster lost track of the agent: {err}")),
        Ok(_) => {
            // A usage limit said in words, in the result text.
            let said = report.result.as_ref().filter(|r| r.is_error).and_then(|r| r.result.as_deref());
            if let Some(reset) = said.and_then(|text| limits::usage_limit_reset(text, crate::job::now_ms())) {
                rate_limited = Some(rate_limited.flatten().or(Some(reset)));
            }
            classify(&report, rate_limited)
        }
    };
    if report.outcome == AttemptOutcome::RateLimited {
        report.resets_at_ms = rate_limited.flatten();
    }
    report
}

/// Writes `text` to the agent's stdin and closes it. What the pipe takes at
/// once (most prompts) is written here; the rest on the side, since an agent
/// may print before it has read it all.
fn write_stdin(mut stdin: ChildStdin, text: &str) -> Option<tokio::task::JoinHandle<()>> {
    let mut written = 0;
    while written < text.len() {
        // A plain write on the (non-blocking) pipe: tokio would wait for the
        // reactor to see a new pipe writable first.
        match nix::unistd::write(&stdin, &text.as_bytes()[written..]) {
            Ok(n) if n > 0 => written += n,
            Err(nix::errno::Errno::EINTR) => {}
            Err(nix::errno::Errno::EAGAIN) => {
                // Bytes: a pipe may take part of a character.
                let rest = text.as_bytes()[written..].to_vec();
                return Some(tokio::spawn(async move {
                    let _ = stdin.write_all(&rest).await;
                }));
            }
            // The agent closed its stdin: it will not read the prompt.
            Ok(_) | Err(_) => return None,
        }
    }
    None
}

/// The outcome of an attempt that ended by itself.
fn classify(report: &AttemptReport, rate_limited: Option<Option<u64>>) -> (AttemptOutcome, String) {
    match (&report.result, rate_limited) {
        (Some(result), _) if !result.is_error => (AttemptOutcome::Succeeded, "succeeded".into()),
        (Some(_), Some(_)) => (AttemptOutcome::RateLimited, "rate limited".into()),
        (Some(result), None) => {
            let text = result.result.clone().unwrap_or_default();
            (AttemptOutcome::AgentError, format!("the agent reported an error ({}): {text}", result.subtype))
        }
        (None, _) => {
            let how = match (report.exit_code, report.signal) {
                (Some(code), _) => format!("exited with code {code}"),
                (None, Some(signal)) => format!("was killed by signal {signal}"),
                (None, None) => "ended".into(),
            };
            let last = report.stderr_tail.lines().last().unwrap_or("").trim();
            let detail = if last.is_empty() { String::new() } else { format!(": {last}") };
            (AttemptOutcome::Crashed, format!("the agent {how} without a result{detail}"))
        }
    }
}

fn kill_group(group: Option<Pid>, signal: Signal) {
    if let Some(group) = group {
        // ESRCH (nothing left in the group) is the common, good case.
        let _ = killpg(group, signal);
    }
}

/// SIGTERM to the group, SIGKILL after the grace period; reaps the agent.
async fn terminate(child: &mut Child, group: Option<Pid>, grace: Duration) -> Option<ExitStatus> {
    kill_group(group, Signal::SIGTERM);
    let status = match tokio::time::timeout(grace, child.wait()).await {
        Ok(status) => status.ok(),
        Err(_) => {
            kill_group(group, Signal::SIGKILL);
            child.wait().await.ok()
        }
    };
    // Children that ignored SIGTERM, or outlived the agent.
    kill_group(group, Signal::SIGKILL);
    status
}

/// The marker every process of attempt `attempt` of job `job_id` carries,
/// swept up once the attempt ended (see [`sweep`]). Not `RINGMASTER_JOB_ID`,
/// which the job's hook commands carry too.
pub fn attempt_marker(job_id: &str, attempt: u32) -> (String, String) {
    (job::env::ATTEMPT.to_string(), format!("{job_id}:{attempt}"))
}

/// The marker every process of job `job_id` carries (see [`sweep`]).
pub fn job_marker(job_id: &str) -> String {
    format!("{}={job_id}", job::env::JOB_ID)
}

/// Processes (on this machine, of this user) started for job `job_id`: the
/// agent and everything it started. Empty where `/proc` does not exist.
pub fn job_processes(job_id: &str) -> Vec<i32> {
    sweep::marked(&[job_marker(job_id)])
}

/// Kills what is left of an attempt whose host died (`kill -9`, a crash):
/// its agent and the agent's children, which kept running without it.
/// Returns how many processes were signalled.
pub fn kill_leftovers(job_id: &str) -> usize {
    sweep::now(&[job_marker(job_id)])
}

/// The last [`STDERR_TAIL`] bytes of a stream.
async fn read_tail(stream: Option<tokio::process::ChildStderr>) -> String {
    let Some(mut stream) = stream else { return String::new() };
    let mut tail: VecDeque<u8> = VecDeque::with_capacity(STDERR_TAIL);
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            break;
        }
        tail.extend(&buf[..n]);
        let excess = tail.len().saturating_sub(STDERR_TAIL);
        tail.drain(..excess);
    }
    String::from_utf8_lossy(tail.make_contiguous()).into_owned()
}
