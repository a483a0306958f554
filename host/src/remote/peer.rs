//! Who is on the other end of a connection, and what it may ask.
//!
//! Identity comes from the engine, not from the request: a process inside a
//! job proves which job with the job's key (`RINGMASTER_JOB_TOKEN`, handed
//! to the agent and inherited by its children), and everything it asks is
//! then done inside that job's tree: what it submits is a descendant of the
//! job whatever the request says; it sees, waits for and cancels only the
//! job and its descendants. Only a client outside every job creates root
//! jobs.
//!
//! A process inside a job that presents no key is refused. Inside means: a
//! descendant of the engine process (agents and whatever they start), or a
//! process still carrying a job's markers in its environment (one that left
//! the engine's process tree by daemonising). What escapes both, a process
//! that daemonises *and* rewrites its environment, is not told apart; a
//! cgroup per job (the isolation work) closes that, as for the sweep of
//! leftovers (`executor::sweep`).

use super::Request;
use crate::engine::Engine;
use crate::job::{After, env};

/// Who a connection speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// A client outside every job: may create root jobs.
    Outside,
    /// A process of this job (proved by its key).
    Job(String),
}

/// Who process `pid` (the peer of a connection) is, given the key its
/// hello presented.
pub fn identify(pid: Option<i32>, key: Option<&str>, engine: &Engine) -> Result<Peer, String> {
    if let Some(key) = key {
        return engine.job_of_key(key).map(Peer::Job).ok_or_else(|| {
            "the job token presented (RINGMASTER_JOB_TOKEN) is not that of an unfinished job of this engine: \
             the job has ended, or the engine restarted since it started"
                .to_string()
        });
    }
    match pid.is_some_and(inside_a_job) {
        true => Err(format!(
            "this process runs inside a ringmaster job but presented no job token; \
             requests from inside a job carry the job's {} (set for its agent)",
            env::JOB_TOKEN
        )),
        false => Ok(Peer::Outside),
    }
}

/// Whether process `pid` runs inside a job of this engine (see the module doc).
fn inside_a_job(pid: i32) -> bool {
    let me = std::process::id() as i32;
    if pid == me {
        return false;
    }
    let mut at = pid;
    // Process trees are shallow; the bound stops a loop on a racing reuse of pids.
    for _ in 0..256 {
        match parent_of(at) {
            Some(parent) if parent == me => return true,
            Some(parent) if parent > 1 => at = parent,
            _ => break,
        }
    }
    std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|environ| {
        environ.split(|b| *b == 0).any(|var| var.starts_with(format!("{}=", env::ATTEMPT).as_bytes()))
    })
}

/// The parent of `pid`, from `/proc/PID/stat` (after the command name,
/// which may hold anything, the state then the parent's pid).
fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(1)?.parse().ok()
}

/// `request` as `peer` may ask it: rewritten to act inside its job, or
/// refused with the reason.
pub async fn scope(request: Request, peer: &Peer, engine: &Engine) -> Result<Request, String> {
    let Peer::Job(job) = peer else {
        return match &request {
            Request::Submit { spec } if spec.parent_job_id.is_some() => Err(unproven("submit a sub-job")),
            Request::Mcp { job_id: Some(_) } => Err(unproven("serve a job's MCP session")),
            Request::Hook { job_id: Some(_), .. } => Err(unproven("relay a job's hook event")),
            _ => Ok(request),
        };
    };
    let within =
        |id: String| async move { engine.check_within(&id, job).await.map(|()| id).map_err(|e| e.to_string()) };
    Ok(match request {
        Request::Submit { mut spec } => {
            // A sub-job is told apart by its parent.
            spec.client = None;
            spec.parent_job_id = Some(match spec.parent_job_id.take() {
                Some(parent) => within(parent).await?,
                None => job.clone(),
            });
            // What it runs after is quoted into its prompt: only its own tree.
            for parent in spec.after.iter().filter_map(After::job) {
                within(parent.to_string()).await?;
            }
            Request::Submit { spec }
        }
        Request::Status { job_id } => Request::Status { job_id: within(job_id).await? },
        Request::Cancel { job_id } => Request::Cancel { job_id: within(job_id).await? },
        Request::Retry { job_id, resume_session } => Request::Retry { job_id: within(job_id).await?, resume_session },
        Request::Diff { job_id, request } => Request::Diff { job_id: within(job_id).await?, request },
        Request::Wait { job_ids, timeout_ms } => {
            let mut checked = Vec::with_capacity(job_ids.len());
            for id in job_ids {
                checked.push(within(id).await?);
            }
            Request::Wait { job_ids: checked, timeout_ms }
        }
        request @ Request::List { .. } => request,
        Request::Hook { event, payload, .. } => Request::Hook { event, payload, job_id: Some(job.clone()) },
        Request::Mcp { .. } => Request::Mcp { job_id: Some(job.clone()) },
        Request::Engine | Request::Stop { .. } | Request::Plugin { .. } => {
            return Err("a job cannot inspect or stop the engine; ask from outside ringmaster's jobs".into());
        }
        Request::Pause { .. } => {
            return Err("a job cannot pause or resume the project's queue; ask from outside ringmaster's jobs".into());
        }
        Request::Merge { .. } | Request::Discard { .. } | Request::Restore { .. } => {
            return Err(
                "a job cannot merge, discard or restore the project's files; ask from outside ringmaster's jobs".into(),
            );
        }
        Request::ScheduleCreate { .. } | Request::Schedules | Request::ScheduleChange { .. } => {
            return Err("a job cannot see or change the project's schedules; ask from outside ringmaster's jobs".into());
        }
    })
}

fn unproven(what: &str) -> String {
    format!(
        "only a process of a job may {what}, and it proves which job with its {} \
         (a parent or job named in a request is not taken on trust)",
        env::JOB_TOKEN
    )
}
