//! `ringmaster job ...`: the engine's job calls from a shell. Inside a job
//! (an agent, its scripts) it reaches the root engine through
//! `RINGMASTER_SOCKET` and submits sub-jobs of that job, so the tree's limits
//! hold; outside, it reaches the engine of the state directory, starting it
//! when none runs.

use crate::job::workspace::{DiffRequest, MergeStrategy, Which};
use crate::job::{JobFilter, JobRecord, JobSpec, JobStatus};
use crate::mcp::args::SubmitArgs;
use crate::remote::client::Client;
use crate::remote::launch::EngineCommand;
use clap::{Args, Subcommand};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// Queue a job and print its id
    Submit(Submit),
    /// Queue a job, wait for it, and print its result (exit 1 unless it succeeded)
    Run(Submit),
    /// Print a job's record
    Status { job_id: String },
    /// Wait for jobs to finish and print their records (exit 1 unless all succeeded)
    Wait {
        job_ids: Vec<String>,
        /// Give up after this many seconds (default: wait as long as it takes)
        #[arg(long)]
        timeout_s: Option<u64>,
    },
    /// Cancel a job and print its record
    Cancel { job_id: String },
    /// Queue a failed, timed-out or cancelled job again (the same job, its history kept); print its record
    Retry {
        job_id: String,
        /// Continue the agent session its last attempt left
        #[arg(long)]
        resume_session: bool,
    },
    /// Print the diff of what a job changed (isolation: worktree, or checkpoint: true)
    Diff {
        job_id: String,
        /// Only this file or directory, relative to the repository's top
        #[arg(long)]
        path: Option<String>,
        /// Lines of context around each change
        #[arg(long, short = 'U')]
        context: Option<u32>,
    },
    /// Merge a finished worktree job's branch into the project and print its record
    Merge {
        job_id: String,
        /// merge (a merge commit), squash (one commit) or rebase (its commits on top)
        #[arg(long, default_value = "merge", value_parser = parse_strategy)]
        strategy: MergeStrategy,
        /// The branch to merge into (default: the project's current branch)
        #[arg(long)]
        into: Option<String>,
    },
    /// Delete a finished worktree job's worktree and branch, and print its record
    Discard { job_id: String },
    /// Put the project's files back as they were before (or after) a checkpoint: true job
    Restore {
        job_id: String,
        /// before or after
        #[arg(value_parser = parse_which)]
        which: Which,
        /// Even though the files changed since the job's checkpoints (those changes are lost)
        #[arg(long)]
        force: bool,
    },
    /// Stop starting queued jobs (all, or those with --tag) until `job resume`; running jobs finish
    Pause {
        #[arg(long)]
        tag: Option<String>,
    },
    /// End a pause of the queue (or, with --tag, of that tag's jobs)
    Resume {
        #[arg(long)]
        tag: Option<String>,
    },
    /// Print recent job records, newest first
    List {
        /// Only jobs with this status (waiting, queued, running, retry_wait, succeeded, failed, timed_out, cancelled)
        #[arg(long)]
        status: Option<String>,
        /// Only jobs with this tag
        #[arg(long)]
        tag: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

/// A job as `job_submit` takes it, and how to print the answer.
#[derive(Debug, Args)]
pub struct Submit {
    #[command(flatten)]
    job: SubmitArgs,
    /// Print the whole record as JSON instead of the id (or the result)
    #[arg(long)]
    json: bool,
}

impl Submit {
    fn spec(&self) -> JobSpec {
        let mut spec = self.job.clone().into_spec();
        // Relative to where the command runs, not to the engine's project.
        spec.cwd = spec.cwd.map(|p| std::path::absolute(&p).unwrap_or(p));
        // Inside a job the engine files it under the job instead.
        spec.client = Some("cli".into());
        spec
    }
}

fn parse_strategy(text: &str) -> Result<MergeStrategy, String> {
    serde_json::from_value(serde_json::Value::String(text.into()))
        .map_err(|_| format!("{text:?}: use merge, squash or rebase"))
}

fn parse_which(text: &str) -> Result<Which, String> {
    serde_json::from_value(serde_json::Value::String(text.into())).map_err(|_| format!("{text:?}: use before or after"))
}

fn print_json(value: &impl serde::Serialize) {
    println!("{}", serde_json::to_string_pretty(value).expect("records serialise"));
}

fn all_succeeded(records: &[JobRecord]) -> ExitCode {
    if records.iter().all(|r| r.status == JobStatus::Succeeded) { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

pub fn run(command: &JobCommand, state_dir: &Path, start: &EngineCommand) -> anyhow::Result<ExitCode> {
    let mut engine = Client::from_env(Some(state_dir), Some(start))?;
    match command {
        JobCommand::Submit(args) => {
            let record = engine.submit(args.spec())?;
            if args.json {
                print_json(&record)
            } else {
                println!("{}", record.job_id)
            }
            Ok(ExitCode::SUCCESS)
        }
        JobCommand::Run(args) => {
            let id = engine.submit(args.spec())?.job_id;
            let record = engine.wait_all(&[id], None)?.remove(0);
            if args.json {
                print_json(&record);
            } else if let Some(result) = &record.result {
                println!("{result}");
            } else {
                eprintln!(
                    "job {} {}: {}",
                    record.job_id,
                    record.status.as_str(),
                    record.error.as_deref().unwrap_or("")
                );
            }
            Ok(all_succeeded(std::slice::from_ref(&record)))
        }
        JobCommand::Status { job_id } => {
            print_json(&engine.status(job_id)?);
            Ok(ExitCode::SUCCESS)
        }
        JobCommand::Wait { job_ids, timeout_s } => {
            if job_ids.is_empty() {
                anyhow::bail!("name the jobs to wait for: ringmaster job wait JOB_ID...");
            }
            let records = engine.wait_all(job_ids, timeout_s.map(Duration::from_secs))?;
            print_json(&records);
            Ok(all_succeeded(&records))
        }
        JobCommand::Cancel { job_id } => {
            print_json(&engine.cancel(job_id)?);
            Ok(ExitCode::SUCCESS)
        }
        JobCommand::Retry { job_id, resume_session } => {
            print_json(&engine.retry(job_id, *resume_session)?);
            Ok(ExitCode::SUCCESS)
        }
        JobCommand::Diff { job_id, path, context } => {
            // Page by page, printed as it comes.
            let mut offset = 0;
            loop {
                let request = DiffRequest { path: path.clone(), context: *context, offset, max_bytes: None };
                let page = engine.diff(job_id, request)?;
                print!("{}", page.text);
                match page.next_offset {
                    Some(next) => offset = next,
                    None => return Ok(ExitCode::SUCCESS),
                }
            }
        }
        JobCommand::Merge { job_id, strategy, into } => {
            print_json(&engine.merge(job_id, *strategy, into.clone())?);
            Ok(ExitCode::SUCCESS)
        }
        JobCommand::Discard { job_id } => {
            print_json(&engine.discard(job_id)?);
            Ok(ExitCode::SUCCESS)
        }
        JobCommand::Restore { job_id, which, force } => {
            print_json(&engine.restore(job_id, *which, *force)?);
            Ok(ExitCode::SUCCESS)
        }
        JobCommand::Pause { tag } | JobCommand::Resume { tag } => {
            let paused = matches!(command, JobCommand::Pause { .. });
            print_json(&engine.set_paused(tag.clone(), paused)?);
            Ok(ExitCode::SUCCESS)
        }
        JobCommand::List { status, tag, limit } => {
            let status = status.as_deref().map(JobStatus::parse).transpose().map_err(anyhow::Error::msg)?;
            print_json(&engine.list(JobFilter { status, tag: tag.clone(), client: None }, *limit)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
