//! {{name}}: ringmaster slash commands computed by code.

use ringmaster_plugin::commands::{CommandInfo, Commands, JobOptions, JobRequest, Outcome};
use ringmaster_plugin::{Error, Result};

struct {{Type}};

impl Commands for {{Type}} {
    fn list_commands() -> Vec<CommandInfo> {
        vec![CommandInfo::new("explain", "Explain a file or symbol in a job of its own").argument_hint("TARGET")]
    }

    fn run(name: String, arguments: String) -> Result<Outcome> {
        match name.as_str() {
            "explain" if arguments.trim().is_empty() => Err(Error::msg("usage: /explain TARGET")),
            "explain" => Ok(Outcome::Submit(JobRequest {
                prompt: format!("Explain {} to a new team member: what it does, why, and how it is used.", arguments.trim()),
                options: JobOptions { tags: vec!["explain".into()], ..JobOptions::defaults() },
            })),
            other => Err(Error::msg(format!("unknown command /{other}"))),
        }
    }
}

ringmaster_plugin::export_commands!({{Type}});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explain_submits_a_tagged_job_and_needs_a_target() {
        let Ok(Outcome::Submit(job)) = {{Type}}::run("explain".into(), "src/main.rs".into()) else { panic!() };
        assert!(job.prompt.starts_with("Explain src/main.rs"));
        assert_eq!(job.options.tags, ["explain"]);
        assert!({{Type}}::run("explain".into(), " ".into()).is_err());
    }
}
