"""The real `claude` CLI as ringmaster's agent, offline against a local
stand-in for the Messages API: ringmaster must read its session id, result,
cost and usage exactly as it reads fake-claude's, which keeps fake-claude
honest. Claude Code is installed from npm by `cargo xtask test`."""

import json
import os
import pathlib
import subprocess

import pytest

from conftest import FAKE_CLAUDE, connect
from messages_standin import REPLY, StandIn
from test_claude_code import CLAUDE

pytestmark = pytest.mark.anyio


def offline_env(home, standin):
    """What the real CLI needs to run offline against `standin`, with `home` as its HOME."""
    return {"HOME": str(home), "ANTHROPIC_BASE_URL": standin.url, "ANTHROPIC_API_KEY": "sk-ant-standin",
            "DISABLE_AUTOUPDATER": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}


@pytest.fixture
def standin():
    with StandIn() as standin:
        yield standin


@pytest.fixture
def agents_project(tmp_path, standin):
    """A project with two agent profiles: the real CLI (`claude`) and `fake-claude` (`fake`)."""
    home = tmp_path / "home"
    home.mkdir()
    env = offline_env(home, standin)
    (tmp_path / "ringmaster.yaml").write_text(
        "agents:\n"
        f"  claude: {{ command: '{CLAUDE}', env: {json.dumps(env)} }}\n"
        f"  fake: {{ command: '{FAKE_CLAUDE}' }}\n"
    )
    return tmp_path


async def run_and_read(session, agent, prompt):
    """The job's record, and the agent's own init and result lines from its transcript."""
    run = await session.call_tool("job_run", {"prompt": prompt, "agent": agent, "max_retries": 0})
    record = run.structured_content
    output = await session.call_tool("job_output", {"job_id": record["job_id"], "limit": 1000})
    events = [e["event"] for e in output.structured_content["events"]]
    init = next(e for e in events if e.get("type") == "system" and e.get("subtype") == "init")
    result = next(e for e in events if e.get("type") == "result")
    return record, init, result


@pytest.mark.skipif(not CLAUDE.is_file(), reason="Claude Code is installed by `cargo xtask test`")
@pytest.mark.parametrize("agent", ["claude", "fake"])
async def test_ringmaster_reads_the_real_cli_as_it_reads_fake_claude(agents_project, standin, agent):
    async with connect(agents_project) as session:
        record, init, result = await run_and_read(session, agent, "say hello @cost:0.25")
    assert record["status"] == "succeeded", record
    assert record["session_id"] == init["session_id"] == result["session_id"]
    assert record["result"] == result["result"]
    assert record["cost_usd"] == pytest.approx(result["total_cost_usd"])
    assert record["usage"] == result["usage"]
    assert record["history"][0]["session_id"] == record["session_id"]
    if agent == "claude":
        assert record["result"] == REPLY
        assert any(path.startswith("/v1/messages") for path, _ in standin.requests)
        assert record["usage"]["output_tokens"] == 7


@pytest.mark.skipif(not CLAUDE.is_file(), reason="Claude Code is installed by `cargo xtask test`")
async def test_the_real_cli_tool_calls_go_through_ringmaster_hooks(tmp_path):
    """`hooks.in-agents`: the agent's PreToolUse hook is `ringmaster hook-relay`, which asks the
    root's hook pipeline; its deny reaches the model as the tool's error."""
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "hooks").mkdir()
    (tmp_path / "hooks" / "no-shell.json").write_text(json.dumps({"hooks": {"PreToolUse": [
        {"matcher": "Bash", "hooks": [{"type": "command", "command": "echo 'no shell for agents' >&2; exit 2"}]},
    ]}}))
    with StandIn(tool=("Bash", {"command": "rm -rf build", "description": "clean"})) as standin:
        env = offline_env(home, standin)
        (tmp_path / "ringmaster.yaml").write_text(
            f"agents:\n  claude: {{ command: '{CLAUDE}', env: {json.dumps(env)}, allowed-tools: [Bash] }}\n"
            "hooks: { in-agents: true }\n"
        )
        async with connect(tmp_path) as session:
            run = await session.call_tool("job_run", {"prompt": "clean the build", "max_retries": 0})
            record = run.structured_content
            output = await session.call_tool("job_output", {"job_id": record["job_id"], "limit": 1000})
    assert record["status"] == "succeeded", record
    results = [
        part
        for event in (e["event"] for e in output.structured_content["events"])
        if event.get("type") == "user"
        for part in event["message"]["content"]
        if part.get("type") == "tool_result"
    ]
    assert results and results[0]["is_error"], results
    assert "no shell for agents" in json.dumps(results[0]["content"]), results


@pytest.mark.skipif(not CLAUDE.is_file(), reason="Claude Code is installed by `cargo xtask test`")
async def test_a_prompt_that_looks_like_a_flag_and_is_past_the_argument_limit_is_text(agents_project, standin):
    """The prompt goes to the agent on stdin: never read as an option, and not held to the
    kernel's 128 KiB limit on one argument."""
    prompt = "--dangerously-skip-permissions " + "x" * (200 * 1024)
    async with connect(agents_project) as session:
        record, init, _ = await run_and_read(session, "claude", prompt)
    assert record["status"] == "succeeded", record
    assert init["permissionMode"] == "default", init
    sent = [
        json.dumps(request["messages"])
        for path, request in standin.requests
        if path.startswith("/v1/messages") and request and "count_tokens" not in path
    ]
    assert any(prompt in text for text in sent), "the prompt did not reach the API whole"


@pytest.mark.skipif(not CLAUDE.is_file(), reason="Claude Code is installed by `cargo xtask test`")
async def test_the_real_cli_edits_files_in_a_worktree_of_its_own_and_the_project_stays_as_it_was(tmp_path):
    """`isolation: worktree`: the real CLI runs in the job's worktree; what its Bash tool writes lands on
    the job's branch (committed by ringmaster), listed on the record, and the project is untouched."""
    project = tmp_path / "project"
    home = tmp_path / "home"
    project.mkdir()
    home.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=project, check=True)
    (project / "README.md").write_text("hello\n")
    (project / ".gitignore").write_text("state/\nserver.log\n")
    git_env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
               "GIT_COMMITTER_EMAIL": "t@t"}
    with StandIn(tool=("Bash", {"command": "echo from-claude > claude.txt", "description": "write"})) as standin:
        env = offline_env(home, standin)
        (project / "ringmaster.yaml").write_text(
            f"agents:\n  claude: {{ command: '{CLAUDE}', env: {json.dumps(env)}, allowed-tools: [Bash], "
            "isolation: worktree }\n"
        )
        subprocess.run(["git", "add", "-A"], cwd=project, check=True, env=git_env)
        subprocess.run(["git", "commit", "-q", "-m", "start"], cwd=project, check=True, env=git_env)
        async with connect(project) as session:
            run = await session.call_tool("job_run", {"prompt": "write claude.txt", "max_retries": 0})
            record = run.structured_content
            diff = await session.call_tool("job_diff", {"job_id": record["job_id"]})
    assert record["status"] == "succeeded", record
    workspace = record["workspace"]
    assert [f["path"] for f in workspace["files"]] == ["claude.txt"], workspace
    assert workspace["clean"] is False and workspace["leftovers"] == workspace["head"], workspace
    assert pathlib.Path(workspace["path"], "claude.txt").read_text() == "from-claude\n"
    assert "+from-claude" in diff.structured_content["text"], diff
    assert not (project / "claude.txt").exists()
    status = subprocess.run(["git", "status", "--porcelain"], cwd=project, capture_output=True, text=True, check=True)
    assert status.stdout == "", status.stdout
