//! Engines for the engine's unit tests, with a shell script as the agent
//! (unit tests cannot name the `fake-claude` binary).

use super::{Engine, EngineOptions, Wiring};
use crate::config::EngineConfig;
use crate::executor::agent::AgentProfile;
use crate::job::JobSpec;
use crate::plugin::registry::PluginHost;
use crate::policy::Policies;
use crate::store::Store;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub const WAIT: Duration = Duration::from_secs(30);

/// An engine in `dir` (no retries) whose agent notes
/// each run's prompt in `dir/runs`, waits for the file `$GO` when the job
/// sets it, and succeeds.
pub async fn script_engine(dir: &Path, config: EngineConfig) -> Engine {
    let script = dir.join("agent.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprompt=$(cat)\necho \"$prompt\" >> {}\n\
             while [ -n \"$GO\" ] && [ ! -f \"$GO\" ]; do sleep 0.02; done\n\
             echo '{{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"s\"}}'\n\
             echo '{{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"result\":\"done\",\"session_id\":\"s\"}}'\n",
            dir.join("runs").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let agent = AgentProfile { command: Some(script), ..AgentProfile::default() };
    Engine::start(EngineOptions {
        config: EngineConfig { default_max_retries: 0, ..config },
        agents: BTreeMap::from([("claude".to_string(), agent)]),
        project_dir: dir.to_path_buf(),
        tokens: Vec::new(),
        credential_vars: Vec::new(),
        policies: Arc::new(Policies::new(PluginHost::new(Default::default(), None).unwrap())),
        hooks: None,
        store: Store::in_memory().unwrap(),
        wiring: Wiring::default(),
        state_dir: dir.join(".ringmaster"),
    })
    .await
    .unwrap()
}

/// A job whose agent (of a [`script_engine`]) waits until the file `go` exists.
pub fn held_job(prompt: &str, go: &Path) -> JobSpec {
    let env = BTreeMap::from([("GO".to_string(), go.display().to_string())]);
    JobSpec { prompt: prompt.into(), env, ..JobSpec::default() }
}

/// An engine configuration with room for one running job.
pub fn one_place() -> EngineConfig {
    EngineConfig { max_concurrent: Some(1), ..EngineConfig::default() }
}

/// Waits until `ready`, failing the test after [`WAIT`].
pub async fn until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !ready() {
        assert!(tokio::time::Instant::now() < deadline, "{what} did not happen within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
