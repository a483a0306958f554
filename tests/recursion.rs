//! Jobs spawning jobs across processes: agents reach the root engine
//! through its socket (`fake-claude @spawn`, `ringmaster job ...`,
//! `ringmaster hook-relay`, `ringmaster serve` inside a job), and the tree's
//! limits hold whatever process submits.

use crate::support;

use ringmaster::config::{EngineConfig, PluginsConfig};
use ringmaster::engine::Engine;
use ringmaster::job::{JobRecord, JobSpec, JobStatus};
use ringmaster::plugin::registry::PluginHost;
use ringmaster::remote;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// An engine answering on a socket in a scratch state directory, as
/// `ringmaster serve` runs it.
struct Root {
    dir: tempfile::TempDir,
    engine: Engine,
    _socket: remote::server::Listening,
}

impl Root {
    async fn start(config: EngineConfig) -> Root {
        Root::with_hooks(config, &[], PluginHost::new(PluginsConfig::default(), None).unwrap()).await
    }

    /// A root whose `hooks/` holds `files`, relaying agents' tool hooks to them.
    async fn with_hooks(config: EngineConfig, files: &[(&str, &str)], plugins: Arc<PluginHost>) -> Root {
        let dir = tempfile::tempdir().unwrap();
        let hooks = support::hooks_in(dir.path(), files, plugins.clone());
        let socket = remote::socket_path(dir.path());
        let bound = remote::server::bind(&socket).await.unwrap();
        let wiring = remote::wiring(Path::new(env!("CARGO_BIN_EXE_ringmaster")), &socket, true);
        let engine = support::fake_engine(dir.path(), config, plugins, Some(hooks.clone()), wiring).await;
        let listening = bound.serve(remote::server::Services {
            engine: engine.clone(),
            hooks: Some(hooks),
            mcp: None,
            control: None,
            plugins: None,
            settings: Default::default(),
        });
        Root { dir, engine, _socket: listening }
    }

    fn socket(&self) -> PathBuf {
        remote::socket_path(self.dir.path())
    }

    async fn run(&self, prompt: &str) -> JobRecord {
        support::run_job(&self.engine, JobSpec { prompt: prompt.into(), ..Default::default() }).await
    }

    /// Every job of the tree rooted at `root`, oldest first.
    fn tree(&self, root: &str) -> Vec<JobRecord> {
        let mut jobs: Vec<JobRecord> = self
            .engine
            .list(&Default::default(), 1000)
            .unwrap()
            .into_iter()
            .filter(|j| j.root_job_id == root)
            .collect();
        jobs.reverse();
        jobs
    }
}

#[tokio::test]
async fn agents_spawn_sub_jobs_through_the_socket_two_levels_deep() {
    let root = Root::start(EngineConfig { max_concurrent: Some(8), ..Default::default() }).await;
    let top = root.run("@spawn:2 @spawn:2 write the module").await;
    assert_eq!(top.status, JobStatus::Succeeded, "{top:#?}");
    let tree = root.tree(&top.job_id);
    assert_eq!(tree.len(), 7, "1 + 2 + 4 jobs: {tree:#?}");
    assert!(tree.iter().all(|j| j.status == JobStatus::Succeeded));
    let depths: Vec<u32> = tree.iter().map(|j| j.depth).collect();
    assert_eq!(depths.iter().filter(|d| **d == 1).count(), 2);
    assert_eq!(depths.iter().filter(|d| **d == 2).count(), 4);
    for job in tree.iter().filter(|j| j.depth > 0) {
        let parent = tree.iter().find(|p| Some(&p.job_id) == job.parent_job_id.as_ref()).expect("parent in tree");
        assert_eq!(parent.depth + 1, job.depth);
    }
    // The top job's result names its children.
    let children: Vec<&JobRecord> = tree.iter().filter(|j| j.depth == 1).collect();
    let result = top.result.unwrap();
    assert!(children.iter().all(|c| result.contains(&format!("{}=succeeded", c.job_id))), "{result}");
}

#[tokio::test]
async fn the_depth_limit_holds_across_processes() {
    let root = Root::start(EngineConfig { max_depth: 1, max_concurrent: Some(4), ..Default::default() }).await;
    let top = root.run("@spawn:1 @spawn:1 dig").await;
    let tree = root.tree(&top.job_id);
    let child = tree.iter().find(|j| j.depth == 1).expect("the child at depth 1 ran");
    assert_eq!(child.status, JobStatus::Failed);
    let error = child.error.as_deref().unwrap();
    assert!(error.contains("beyond the maximum depth of 1"), "{error}");
    assert_eq!(tree.len(), 2, "nothing ran at depth 2");
}

#[tokio::test]
async fn the_tree_total_holds_across_processes() {
    let root = Root::start(EngineConfig { max_jobs_per_root: 3, max_concurrent: Some(4), ..Default::default() }).await;
    let top = root.run("@spawn:5 fan out").await;
    assert_eq!(top.status, JobStatus::Failed);
    let error = top.error.as_deref().unwrap();
    assert!(error.contains("refused part 3") && error.contains("has already submitted 3 jobs"), "{error}");
    assert_eq!(root.tree(&top.job_id).len(), 3);
}

#[tokio::test]
async fn per_depth_concurrency_holds_for_sub_jobs() {
    let config = EngineConfig { max_concurrent_per_depth: 1, max_concurrent: Some(4), ..Default::default() };
    let root = Root::start(config).await;
    let top = root.run("@spawn:3 @sleep:0.3 work").await;
    assert_eq!(top.status, JobStatus::Succeeded, "{top:#?}");
    let mut children: Vec<(u64, u64)> = root
        .tree(&top.job_id)
        .iter()
        .filter(|j| j.depth == 1)
        .map(|j| (j.history[0].started_at_ms, j.history[0].finished_at_ms.unwrap()))
        .collect();
    children.sort();
    assert_eq!(children.len(), 3);
    for pair in children.windows(2) {
        assert!(pair[1].0 >= pair[0].1, "depth-1 jobs overlapped: {children:?}");
    }
}

#[test]
fn the_job_cli_inside_a_job_says_when_its_engine_is_gone_and_starts_none() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("engine.sock");
    let out = Command::new(env!("CARGO_BIN_EXE_ringmaster"))
        .args(["job", "list", "--state"])
        .arg(dir.path())
        .env("RINGMASTER_SOCKET", &socket)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no ringmaster engine answers at") && err.contains("engine.sock"), "{err}");
    assert!(out.stdout.is_empty());
    assert!(!dir.path().join("engine.lock").exists(), "no engine was started for the job's state directory");
}

#[tokio::test]
async fn tool_calls_inside_agents_go_through_the_root_hooks() {
    let deny_shell = json!({ "hooks": { "PreToolUse": [{ "matcher": "Bash", "hooks": [
        { "type": "command", "command": "echo \"no shell for job $RINGMASTER_JOB_ID\" >&2; exit 2" },
    ]}]}});
    let root = Root::with_hooks(
        EngineConfig::default(),
        &[("deny-shell.json", &deny_shell.to_string())],
        PluginHost::new(PluginsConfig::default(), None).unwrap(),
    )
    .await;
    let denied = root.run("@tool:Bash:ls").await;
    assert_eq!(
        denied.result.as_deref(),
        Some(format!("tool Bash denied: no shell for job {}", denied.job_id).as_str())
    );
    let allowed = root.run("@tool:Read:README.md").await;
    assert_eq!(allowed.result.as_deref(), Some("tool Read ran"));
}

#[tokio::test]
async fn a_wasm_hook_governs_tool_calls_inside_agents() {
    let host = support::TestHost::new("config:\n  deny-patterns:\n    patterns: \"credentials\"\n");
    host.load("deny-patterns", "deny-patterns", None).unwrap();
    let config = "hooks:\n  PreToolUse:\n    - matcher: Bash\n      hooks: [{ type: wasm, plugin: deny-patterns }]\n";
    let root = Root::with_hooks(EngineConfig::default(), &[("deny-patterns.yaml", config)], host.host.clone()).await;
    let denied = root.run("@tool:Bash:cat~/.aws/credentials").await;
    assert_eq!(denied.result.as_deref(), Some("tool Bash denied: input matches the denied pattern \"credentials\""));
    assert_eq!(root.run("@tool:Bash:ls").await.result.as_deref(), Some("tool Bash ran"));
}

#[tokio::test]
async fn a_job_acts_only_inside_its_own_tree_and_only_with_its_token() {
    let root = Root::start(EngineConfig { max_concurrent: Some(4), ..Default::default() }).await;
    let spec = JobSpec { prompt: "@hang another tree".into(), ..Default::default() };
    let stranger = root.engine.submit(spec).await.unwrap().job_id;
    let forged = root.run(&format!("@forge:{stranger}")).await;
    let said = forged.result.as_deref().unwrap();
    assert!(said.starts_with("refused") && said.contains("not in the tree of job"), "{said}");
    let bare = root.run("@forge:bare").await;
    let said = bare.result.as_deref().unwrap();
    assert!(said.starts_with("refused") && said.contains("presented no job token"), "{said}");
    let cancel = root.run(&format!("@cancel:{stranger}")).await;
    let said = cancel.result.as_deref().unwrap();
    assert!(said.starts_with("refused") && said.contains("not in the tree of job"), "{said}");
    for what in ["engine", "stop", "fair-share"] {
        let control = root.run(&format!("@control:{what}")).await;
        let said = control.result.as_deref().unwrap();
        assert!(said.starts_with("refused") && said.contains("a job cannot inspect or stop the engine"), "{said}");
    }
    // Nothing was created under the stranger or as a new root; it runs on.
    let roots: Vec<JobRecord> =
        root.engine.list(&Default::default(), 100).unwrap().into_iter().filter(|j| j.parent_job_id.is_none()).collect();
    assert_eq!(roots.len(), 7, "the stranger and the six jobs that tried: {roots:#?}");
    assert_eq!(root.tree(&stranger).len(), 1);
    assert!(!root.engine.status(&stranger).await.unwrap().status.is_terminal());
    root.engine.cancel(&stranger).await.unwrap();
}

#[tokio::test]
async fn agents_get_ringmaster_as_an_mcp_server_except_at_the_maximum_depth() {
    let root = Root::start(EngineConfig { max_depth: 1, max_concurrent: Some(4), ..Default::default() }).await;
    let argv = |record: &JobRecord| -> Vec<String> { serde_json::from_str(record.result.as_deref().unwrap()).unwrap() };
    let top = root.run("@argv").await;
    let args = argv(&top);
    let at = args.iter().position(|a| a == "--mcp-config").expect("--mcp-config at depth 0");
    let config: serde_json::Value = serde_json::from_str(&args[at + 1]).unwrap();
    assert_eq!(config["mcpServers"]["ringmaster"]["args"], json!(["serve"]));
    assert!(config["mcpServers"]["ringmaster"]["command"].as_str().unwrap().ends_with("ringmaster"));
    let settings = &args[args.iter().position(|a| a == "--settings").unwrap() + 1];
    assert!(settings.contains("hook-relay PreToolUse"), "{settings}");

    let spec = JobSpec { prompt: "@argv".into(), parent_job_id: Some(top.job_id.clone()), ..Default::default() };
    let id = root.engine.submit(spec).await.unwrap().job_id;
    let deepest = root.engine.wait(&[id], support::WAIT).await.unwrap().remove(0);
    assert!(!argv(&deepest).contains(&"--mcp-config".to_string()), "no sub-jobs are possible at the maximum depth");
}

#[tokio::test]
async fn a_connection_that_does_not_say_hello_first_is_told_how_and_closed() {
    let root = Root::start(EngineConfig::default()).await;
    let socket = root.socket();
    let (reply, then) = tokio::task::spawn_blocking(move || {
        use std::io::{BufRead, Read, Write};
        let mut stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
        writeln!(stream, r#"{{"op":"list","limit":5}}"#).unwrap();
        let mut reader = std::io::BufReader::new(stream);
        let mut reply = String::new();
        reader.read_line(&mut reply).unwrap();
        let mut then = String::new();
        reader.read_to_string(&mut then).unwrap();
        (reply, then)
    })
    .await
    .unwrap();
    let reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
    let error = reply["error"].as_str().unwrap();
    assert!(error.contains("must be a hello") && error.contains("\"protocol\":1"), "{error}");
    assert_eq!(then, "", "the connection is closed after saying so");
}

#[tokio::test]
async fn the_socket_answers_bad_requests_with_an_error_and_stays_up() {
    let root = Root::start(EngineConfig::default()).await;
    let socket = root.socket();
    let replies = tokio::task::spawn_blocking(move || {
        use std::io::{BufRead, Write};
        let stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
        let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        let mut ask = |line: &str| {
            writeln!(writer, "{line}").unwrap();
            let mut reply = String::new();
            reader.read_line(&mut reply).unwrap();
            serde_json::from_str::<serde_json::Value>(&reply).unwrap()
        };
        let welcome = ask(&support::hello_line());
        [
            welcome,
            ask("not json"),
            ask(r#"{"op":"status","job_id":"nope"}"#),
            ask(r#"{"op":"list","status":null,"limit":5}"#),
        ]
    })
    .await
    .unwrap();
    assert_eq!(replies[0]["protocol"], json!(remote::PROTOCOL), "{}", replies[0]);
    assert!(replies[1]["error"].as_str().unwrap().starts_with("malformed request"), "{}", replies[1]);
    assert!(replies[2]["error"].as_str().unwrap().contains("no job nope"), "{}", replies[2]);
    assert_eq!(replies[3]["ok"], json!([]), "the connection still answers");
}
