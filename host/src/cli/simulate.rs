//! `ringmaster simulate`: the comparison table (or JSON) of one workload
//! (a file, or this project's history) replayed under each policy asked for.

use crate::config::Config;
use crate::job::JobFilter;
use crate::remote::client::Client;
use crate::remote::launch::EngineCommand;
use crate::simulate::{self, Policy, history, metrics, workload::Workload};
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Where the workload comes from.
pub enum Source {
    File(PathBuf),
    /// The engine's records (starting it, as `ringmaster job` does).
    History(EngineCommand),
}

pub fn run(
    config: &Config,
    cache_dir: Option<PathBuf>,
    state_dir: &Path,
    source: Source,
    policies: &[String],
    (json, html): (bool, Option<&Path>),
) -> anyhow::Result<ExitCode> {
    let (workload, jobs) = match source {
        Source::File(path) => {
            let workload = Workload::load(&path)?;
            let jobs = workload.jobs();
            (workload, jobs)
        }
        Source::History(start) => {
            let mut engine = Client::from_env(Some(state_dir), Some(&start))?;
            let records = engine.list(JobFilter::default(), crate::store::MAX_ROWS)?;
            history::workload(records, config.engine.clone())
        }
    };
    if jobs.is_empty() {
        anyhow::bail!("the workload has no job that ran");
    }
    let (mut runs, mut summaries) = (Vec::new(), Vec::new());
    for policy in policies.iter().map(|p| Policy::parse(p)) {
        let started = std::time::Instant::now();
        let run = simulate::run(&workload, &jobs, &policy, &config.plugins, cache_dir.clone())?;
        tracing::info!(policy = %run.policy, jobs = jobs.len(), elapsed_ms = started.elapsed().as_millis() as u64, "replayed");
        summaries.push(metrics::summarise(&workload, &jobs, &run));
        runs.push(run);
    }
    if let Some(file) = html {
        let page = simulate::html::page(&jobs, &runs, &summaries);
        std::fs::write(file, page).with_context(|| format!("cannot write {}", file.display()))?;
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&summaries)?); // stdout-ok: CLI output
    } else {
        print!("{}", metrics::table(&summaries)); // stdout-ok: CLI output
    }
    Ok(ExitCode::SUCCESS)
}
