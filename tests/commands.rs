//! Slash commands: the repository's examples, markdown files rendered into
//! jobs, name clashes, hot reload, and plugin commands.

use crate::support;
use ringmaster::commands::CommandStatus;

use ringmaster::commands::{Commands, CommandsOptions, Prepared};
use ringmaster::config::PluginsConfig;
use ringmaster::plugin::registry::PluginHost;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn no_plugins() -> Arc<PluginHost> {
    PluginHost::new(PluginsConfig::default(), None).unwrap()
}

fn catalog(dirs: Vec<PathBuf>, project: &Path, plugins: Arc<PluginHost>) -> Arc<Commands> {
    Commands::new(CommandsOptions { dirs, project_dir: project.to_path_buf(), shell: None }, plugins)
}

fn job(prepared: Prepared) -> ringmaster::job::JobSpec {
    match prepared {
        Prepared::Job(spec) => *spec,
        Prepared::Text(text) => panic!("expected a job, got text {text:?}"),
    }
}

#[tokio::test]
async fn the_repository_examples_load_and_render() {
    let project = repo("");
    let commands = catalog(vec![repo("commands")], &project, no_plugins());
    let listed = commands.list();
    let names: Vec<&str> = listed.iter().map(|c| c.name.as_str()).collect();
    for name in ["review-diff", "fix-failing-tests", "explain-module", "component"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    assert!(listed.iter().all(|c| c.status == CommandStatus::Active && c.warnings.is_empty()), "{listed:#?}");
    let component = listed.iter().find(|c| c.name == "component").unwrap();
    assert!(component.description.ends_with("(project:frontend)"), "{}", component.description);

    let spec = job(commands.prepare("explain-module", "host/src/engine 'why one mutex?'").await.unwrap());
    assert!(spec.prompt.contains("module at `host/src/engine`"), "{}", spec.prompt);
    assert!(spec.prompt.contains("answer it first: why one mutex?"), "{}", spec.prompt);
    assert_eq!(spec.model.as_deref(), Some("sonnet"));
    assert_eq!(spec.allowed_tools, ["Read", "Grep", "Glob"]);

    let spec = job(commands.prepare("/fix-failing-tests", "").await.unwrap());
    assert_eq!(
        (spec.tags.as_slice(), spec.timeout_s, spec.max_retries),
        (["fix", "tests"].map(String::from).as_slice(), Some(1800), Some(1))
    );
    let spec = job(commands.prepare("review-diff", "release/1.2").await.unwrap());
    assert!(spec.prompt.contains("git diff release/1.2...HEAD"), "{}", spec.prompt);
    assert_eq!(spec.priority, 1);

    let err = commands.prepare("no-such-command", "").await.unwrap_err();
    assert!(err.contains("unknown command /no-such-command") && err.contains("command_list"), "{err}");
}

#[tokio::test]
async fn the_first_directory_wins_a_name_clash() {
    let project = tempfile::tempdir().unwrap();
    let user = tempfile::tempdir().unwrap();
    std::fs::create_dir(project.path().join("commands")).unwrap();
    std::fs::write(project.path().join("commands/deploy.md"), "Deploy the project way").unwrap();
    std::fs::write(user.path().join("deploy.md"), "Deploy the user way").unwrap();
    std::fs::write(user.path().join("standup.md"), "Write my standup").unwrap();
    let dirs = vec![project.path().join("commands"), user.path().to_path_buf()];
    let commands = catalog(dirs, project.path(), no_plugins());
    let listed = commands.list();
    let status: Vec<(&str, CommandStatus)> = listed.iter().map(|c| (c.name.as_str(), c.status)).collect();
    use CommandStatus::{Active, Shadowed};
    assert_eq!(status, [("deploy", Active), ("deploy", Shadowed), ("standup", Active)]);
    assert_eq!(job(commands.prepare("deploy", "").await.unwrap()).prompt, "Deploy the project way");
}

#[tokio::test]
async fn command_files_reload_live_and_a_broken_file_keeps_its_last_good_version() {
    let project = tempfile::tempdir().unwrap();
    let dir = project.path().join("commands");
    std::fs::create_dir(&dir).unwrap();
    let commands = catalog(vec![dir.clone()], project.path(), no_plugins());
    let _watcher = commands.watch().unwrap();
    let mut changes = commands.subscribe();
    let mut next_change = async || {
        tokio::time::timeout(support::WAIT, changes.changed()).await.expect("reloaded in time").unwrap();
    };

    std::fs::write(dir.join("triage.md"), "---\ndescription: Triage an issue\n---\nTriage issue $0").unwrap();
    next_change().await;
    assert_eq!(job(commands.prepare("triage", "42").await.unwrap()).prompt, "Triage issue 42");

    std::fs::write(dir.join("triage.md"), "---\ndescription: never closed\nTriage v2 $0").unwrap();
    next_change().await;
    let listed = commands.list();
    assert_eq!((listed[0].status, listed[0].description.as_str()), (CommandStatus::Stale, "Triage an issue"));
    assert!(listed[0].error.as_deref().unwrap().contains("never closed"), "{:?}", listed[0].error);
    assert_eq!(job(commands.prepare("triage", "7").await.unwrap()).prompt, "Triage issue 7");

    std::fs::write(dir.join("bad.md"), b"\xff\xfe not text").unwrap();
    next_change().await;
    let bad = commands.list().into_iter().find(|c| c.name == "bad").unwrap();
    assert_eq!(bad.status, CommandStatus::Failed);
    assert!(commands.prepare("bad", "").await.is_err(), "a file that never parsed cannot run");

    std::fs::remove_file(dir.join("triage.md")).unwrap();
    next_change().await;
    assert!(commands.list().iter().all(|c| c.name != "triage"));
}

#[tokio::test]
async fn plugin_commands_are_listed_and_run() {
    let host = support::TestHost::new("");
    host.load("team-commands", "team-commands", None).unwrap();
    let project = tempfile::tempdir().unwrap();
    std::fs::write(project.path().join("review.md"), "Review, the markdown way").unwrap();
    let commands = catalog(vec![project.path().to_path_buf()], project.path(), host.host.clone());
    let listed = commands.list();
    let plugin: Vec<(&str, CommandStatus)> =
        listed.iter().filter(|c| c.source == "plugin:team-commands").map(|c| (c.name.as_str(), c.status)).collect();
    let expected = [("review", CommandStatus::Shadowed), ("fanout-help", CommandStatus::Active)];
    assert_eq!(plugin, expected, "files win over plugin commands");

    match commands.prepare("fanout-help", "").await.unwrap() {
        Prepared::Text(text) => assert!(text.contains("job_submit_batch"), "{text}"),
        other => panic!("expected text, got {other:?}"),
    }
    std::fs::remove_file(project.path().join("review.md")).unwrap();
    commands.reload();
    let spec = job(commands.prepare("review", "dev security").await.unwrap());
    assert!(
        spec.prompt.contains("git diff dev...HEAD") && spec.prompt.contains("Focus on: security."),
        "{}",
        spec.prompt
    );
    assert_eq!((spec.priority, spec.tags.as_slice()), (1, ["review".to_string()].as_slice()));
}

/// Command files in the shapes found in Claude Code's docs and published
/// plugins (`tests/fixtures/claude-code-commands`) all load, as Claude Code
/// reads them.
#[tokio::test]
async fn claude_code_command_files_in_the_wild_load_as_claude_code_reads_them() {
    let dir = repo("tests/fixtures/claude-code-commands");
    let commands = catalog(vec![dir.clone()], &dir, no_plugins());
    let listed = commands.list();
    let expected: [(&str, &str, Option<&str>); 10] = [
        ("commit", "Create a git commit", None),
        ("deploy", "Deploy: staging first", Some("[environment]")),
        ("empty-values", "Do the thing.", None),
        ("fix-issue", "Fix the issue: read it, reproduce it, fix it", Some("<issue-url>")),
        ("component", "Scaffold a UI component (project:frontend)", Some("<ComponentName> [--with-tests]")),
        ("new-app", "Create and set up a new agent application", Some("[project-name]")),
        ("review-pr", "Review a pull request", None),
        (
            "pdf-tools",
            "This skill should be used when the user asks to \"fill a PDF form\", \"extract text from a \
                       PDF\", or \"merge PDFs\". (project:skills)",
            None,
        ),
        ("standup", "Write my standup", None),
        ("triage", "Triage an issue", Some("[issue-number] [priority]")),
    ];
    let got: Vec<(&str, &str, Option<&str>)> =
        listed.iter().map(|c| (c.name.as_str(), c.description.as_str(), c.argument_hint.as_deref())).collect();
    let mut want = expected.to_vec();
    want.sort();
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(sorted, want, "the skill's material is not a command");
    assert!(listed.iter().all(|c| c.status == CommandStatus::Active && c.error.is_none()), "{listed:#?}");

    let review = job(commands.prepare("review-pr", "42").await.unwrap());
    assert_eq!(
        review.allowed_tools,
        ["Bash(gh pr view:*)", "Bash(gh pr diff:*)", "Bash(gh pr comment:*)", "mcp__github__create_comment"]
    );
    let commit = job(commands.prepare("commit", "").await.unwrap());
    assert_eq!(commit.allowed_tools.len(), 3);
    let fix = job(commands.prepare("fix-issue", "https://x/1").await.unwrap());
    assert_eq!(
        (fix.model.as_deref(), fix.prompt.as_str()),
        (Some("claude-3-5-haiku-20241022"), "Fix the issue at https://x/1.")
    );
    assert_eq!(
        job(commands.prepare("triage", "12 high").await.unwrap()).prompt,
        "Triage issue #12 with priority high."
    );
    assert!(job(commands.prepare("pdf-tools", "").await.unwrap()).prompt.starts_with("# PDF tools"));
}
