//! {{name}}: a ringmaster hook handler. It sees lifecycle events (which
//! ones: `events` in the manifest's config) and may deny or rewrite them.

use ringmaster_plugin::hook_handler::{Event, HookHandler, Response};
use ringmaster_plugin::{Result, config, log};

struct {{Type}};

impl HookHandler for {{Type}} {
    fn events() -> Result<Vec<String>> {
        Ok(config::list("events", &["JobSubmit"]))
    }

    /// Denies a job whose prompt is longer than `max-prompt-bytes`.
    fn handle(event: Event) -> Result<Response> {
        let max: u32 = config::get_or("max-prompt-bytes", 100_000)?;
        Ok(match &event.job {
            Some(job) if job.prompt_bytes > max => {
                log::info("denied a long prompt", &[("job", &job.id), ("bytes", &job.prompt_bytes)]);
                Response::deny(format!("the prompt has {} bytes; this project allows {max}", job.prompt_bytes))
            }
            _ => Response::pass(),
        })
    }
}

ringmaster_plugin::export_hook_handler!({{Type}});

#[cfg(test)]
mod tests {
    use super::*;
    use ringmaster_plugin::hook_handler::Permission;
    use ringmaster_plugin::testing::{TestHost, job};

    #[test]
    fn denies_long_prompts_only() {
        let event = |bytes| Event {
            name: "JobSubmit".into(),
            payload_json: "{}".into(),
            job: Some(ringmaster_plugin::JobInfo { prompt_bytes: bytes, ..job("j") }),
        };
        let mut host = TestHost::new().config("max-prompt-bytes", "10");
        assert_eq!(host.run(|| {{Type}}::handle(event(11))).unwrap().permission, Permission::Deny);
        assert_eq!(host.run(|| {{Type}}::handle(event(10))).unwrap().permission, Permission::None);
    }
}
