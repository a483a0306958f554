//! `ringmaster job ...`: the engine's job calls from a shell. Inside a job
//! (an agent, its scripts) it reaches the root engine through
//! `RINGMASTER_SOCKET` and submits sub-jobs of that job, so the tree's limits
//! hold; outside, it reaches the engine of the state directory, starting it
//! when none runs.

use crate::job::{JobFilter, JobRecord, JobSpec, JobStatus};
use crate::remote::client::Client;
use crate::remote::launch::EngineCommand;
use clap::{Args, Subcommand};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// Queue a job and print its id
    Submit(SubmitArgs),
    /// Queue a job, wait for it, and print its result (exit 1 unless it succeeded)
    Run(SubmitArgs),
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
    /// Print recent job records, newest first
    List {
        /// Only jobs with this status (queued, running, retry_wait, succeeded, failed, timed_out, cancelled)
        #[arg(long)]
        status: Option<String>,
        /// Only jobs with this tag
        #[arg(long)]
        tag: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// What the agent should do
    prompt: String,
    /// Agent profile from ringmaster.yaml
    #[arg(long)]
    agent: Option<String>,
    #[arg(long)]
    model: Option<String>,
    #[arg(long, default_value_t = 0)]
    priority: i32,
    /// Label (repeatable)
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Hard timeout per attempt, in seconds
    #[arg(long)]
    timeout_s: Option<u64>,
    #[arg(long)]
    max_retries: Option<u32>,
    /// Working directory of the agent (default: the engine's project)
    #[arg(long)]
    cwd: Option<std::path::PathBuf>,
    /// Print the whole record as JSON instead of the id (or the result)
    #[arg(long)]
    json: bool,
}

impl SubmitArgs {
    fn spec(&self) -> JobSpec {
        JobSpec {
            prompt: self.prompt.clone(),
            agent: self.agent.clone(),
            model: self.model.clone(),
            priority: self.priority,
            tags: self.tags.clone(),
            timeout_s: self.timeout_s,
            max_retries: self.max_retries,
            cwd: self.cwd.as_ref().map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone())),
            // Inside a job the engine files it under the job instead.
            client: Some("cli".into()),
            ..JobSpec::default()
        }
    }
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
        JobCommand::List { status, tag, limit } => {
            let status = match status {
                None => None,
                Some(text) => Some(serde_json::from_value(serde_json::Value::String(text.clone())).map_err(|_| {
                    anyhow::anyhow!(
                        "unknown status {text:?}; use one of queued, running, retry_wait, succeeded, failed, timed_out, cancelled"
                    )
                })?),
            };
            print_json(&engine.list(JobFilter { status, tag: tag.clone(), client: None }, *limit)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
