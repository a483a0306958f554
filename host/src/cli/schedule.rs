//! `ringmaster schedule ...`: the engine's schedules from a shell (see
//! [`crate::schedule`]); the engine is started when none runs.

use crate::mcp::args::{ScheduleArgs, SubmitArgs};
use crate::remote::client::Client;
use crate::remote::launch::EngineCommand;
use clap::{Args, Subcommand};
use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Submit a job whenever a cron pattern comes round; print the schedule
    Create(Box<Create>),
    /// Print the schedules, with when each fires next
    List,
    /// Delete a schedule (the jobs it ran stay)
    Delete { schedule_id: String },
    /// Pause a schedule until `schedule resume`
    Pause { schedule_id: String },
    /// Resume a schedule at its next occurrence
    Resume { schedule_id: String },
}

#[derive(Debug, Args)]
pub struct Create {
    #[command(flatten)]
    schedule: ScheduleArgs,
    #[command(flatten)]
    job: SubmitArgs,
}

fn print_json(value: &impl serde::Serialize) {
    println!("{}", serde_json::to_string_pretty(value).expect("schedules serialise"));
}

pub fn run(command: &ScheduleCommand, state_dir: &Path, start: &EngineCommand) -> anyhow::Result<ExitCode> {
    let mut engine = Client::from_env(Some(state_dir), Some(start))?;
    match command {
        ScheduleCommand::Create(create) => {
            let ScheduleArgs { name, cron, timezone, .. } = create.schedule.clone();
            let mut job = create.job.clone().into_spec();
            // Relative to where the command runs, not to the engine's project.
            job.cwd = job.cwd.map(|p| std::path::absolute(&p).unwrap_or(p));
            print_json(&engine.schedule_create(name, cron, timezone, job)?);
        }
        ScheduleCommand::List => print_json(&engine.schedules()?),
        ScheduleCommand::Delete { schedule_id } => print_json(&engine.schedule_change(schedule_id, None)?),
        ScheduleCommand::Pause { schedule_id } => print_json(&engine.schedule_change(schedule_id, Some(true))?),
        ScheduleCommand::Resume { schedule_id } => print_json(&engine.schedule_change(schedule_id, Some(false))?),
    }
    Ok(ExitCode::SUCCESS)
}
