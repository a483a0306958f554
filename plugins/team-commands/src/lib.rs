//! Slash commands a team might share, computed rather than templated:
//!
//! * `/review [ref] [focus...]` submits a review job of the diff against `ref`
//!   (default `main`), tagged `review`, at priority 1.
//! * `/fanout-help` answers directly with a reminder of how to split work
//!   across jobs, without starting an agent.

use ringmaster_plugin::Result;
use ringmaster_plugin::commands::{CommandInfo, Commands, JobOptions, JobRequest, Outcome};

struct TeamCommands;

impl Commands for TeamCommands {
    fn list_commands() -> Vec<CommandInfo> {
        vec![
            CommandInfo::new("review", "Review the diff against a base ref, optionally with a focus")
                .argument_hint("[ref] [focus...]"),
            CommandInfo::new("fanout-help", "How to split a large task into parallel ringmaster jobs"),
        ]
    }

    fn run(name: String, arguments: String) -> Result<Outcome> {
        match name.as_str() {
            "review" => {
                let mut words = arguments.split_whitespace();
                let base = words.next().unwrap_or("main");
                let focus: Vec<&str> = words.collect();
                let mut prompt = format!(
                    "Review the changes from `git diff {base}...HEAD`. Report bugs, risky changes and missing tests, \
                     most important first, each with file and line."
                );
                if !focus.is_empty() {
                    prompt.push_str(&format!(" Focus on: {}.", focus.join(" ")));
                }
                Ok(Outcome::Submit(JobRequest {
                    prompt,
                    options: JobOptions {
                        priority: Some(1),
                        tags: vec!["review".into()],
                        allowed_tools: ["Read", "Grep", "Glob", "Bash(git diff:*)"].map(String::from).into(),
                        ..JobOptions::defaults()
                    },
                }))
            }
            "fanout-help" => Ok(Outcome::Text(
                "Split the task into independent parts, submit each with job_submit_batch (one prompt per part, \
                 shared tags), then job_wait on the returned ids and merge the results with job_result."
                    .into(),
            )),
            other => Err(ringmaster_plugin::Error::msg(format!(
                "unknown command {other:?}; this plugin provides /review and /fanout-help"
            ))),
        }
    }
}

ringmaster_plugin::export_commands!(TeamCommands);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn review_takes_a_base_and_a_focus() {
        let Ok(Outcome::Submit(job)) = TeamCommands::run("review".into(), "v1.2 error handling".into()) else {
            panic!("review submits a job")
        };
        assert!(job.prompt.contains("git diff v1.2...HEAD"));
        assert!(job.prompt.ends_with("Focus on: error handling."));
        assert_eq!(job.options.tags, ["review"]);
        assert_eq!(job.options.priority, Some(1));
    }

    #[test]
    fn an_unknown_command_names_the_known_ones() {
        let error = TeamCommands::run("deploy".into(), String::new()).unwrap_err();
        assert!(error.to_string().contains("/review and /fanout-help"), "{error}");
    }
}
