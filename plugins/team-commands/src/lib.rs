//! Slash commands a team might share, computed rather than templated:
//!
//! * `/review [ref] [focus...]` submits a review job of the diff against `ref`
//!   (default `main`), tagged `review`, at priority 1.
//! * `/fanout-help` answers directly with a reminder of how to split work
//!   across jobs, without starting an agent.

wit_bindgen::generate!({ path: "../../wit", world: "commands-plugin" });

use exports::ringmaster::plugin::commands::{CommandInfo, Guest, JobOptions, JobRequest, Outcome};

struct TeamCommands;

impl Guest for TeamCommands {
    fn list_commands() -> Vec<CommandInfo> {
        vec![
            CommandInfo {
                name: "review".into(),
                description: "Review the diff against a base ref, optionally with a focus".into(),
                argument_hint: Some("[ref] [focus...]".into()),
            },
            CommandInfo {
                name: "fanout-help".into(),
                description: "How to split a large task into parallel ringmaster jobs".into(),
                argument_hint: None,
            },
        ]
    }

    fn run(name: String, arguments: String) -> Result<Outcome, String> {
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
                        agent: None,
                        model: None,
                        priority: Some(1),
                        tags: vec!["review".into()],
                        timeout_ms: None,
                        max_retries: None,
                        allowed_tools: vec!["Read".into(), "Grep".into(), "Glob".into(), "Bash(git diff:*)".into()],
                    },
                }))
            }
            "fanout-help" => Ok(Outcome::Text(
                "Split the task into independent parts, submit each with job_submit_batch (one prompt per part, \
                 shared tags), then job_wait on the returned ids and merge the results with job_result."
                    .into(),
            )),
            other => Err(format!("unknown command {other:?}; this plugin provides /review and /fanout-help")),
        }
    }
}

export!(TeamCommands);
