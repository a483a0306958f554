"""The real Claude Code CLI as a client: after `claude mcp add`, `claude mcp list`
connects to `ringmaster serve` (initialize, initialized, tools/list) and reports it
connected. Claude Code is installed from npm by `cargo xtask test`."""

import os
import pathlib
import subprocess

import pytest

from conftest import RINGMASTER, TARGET, connect

CLAUDE = pathlib.Path(os.environ.get("CLAUDE_BIN", TARGET / "claude-code" / "node_modules" / ".bin" / "claude"))


def claude_env(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "MCP_TIMEOUT": "20000",
    }


def claude(project, env, *args, wait=True):
    command = [str(CLAUDE), *args]
    if not wait:
        return subprocess.Popen(command, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=120)


def assert_connected(listed):
    # `claude mcp list` exits 0 either way: the verdict is in its output.
    assert "ringmaster" in listed.stdout and "✔ Connected" in listed.stdout, listed.stdout + listed.stderr


@pytest.mark.skipif(not CLAUDE.is_file(), reason="Claude Code is installed by `cargo xtask test`")
def test_claude_mcp_list_reports_ringmaster_connected(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    env = claude_env(tmp_path)
    added = claude(project, env, "mcp", "add", "ringmaster", "--", str(RINGMASTER), "serve")
    assert added.returncode == 0, added.stderr
    assert_connected(claude(project, env, "mcp", "list"))


@pytest.mark.skipif(not CLAUDE.is_file(), reason="Claude Code is installed by `cargo xtask test`")
@pytest.mark.anyio
async def test_two_claude_sessions_connect_while_a_job_of_a_third_runs(project, tmp_path):
    env = claude_env(tmp_path)
    state = f"RINGMASTER_STATE_DIR={project / 'state'}"
    added = claude(project, env, "mcp", "add", "ringmaster", "-e", state, "--", str(RINGMASTER), "serve")
    assert added.returncode == 0, added.stderr
    async with connect(project) as session:
        submitted = await session.call_tool("job_submit", {"prompt": "@sleep:3 long work"})
        job_id = submitted.structured_content["job_id"]
        # Two Claude Code sessions at once, each starting its own `ringmaster serve`.
        first, second = (claude(project, env, "mcp", "list", wait=False) for _ in range(2))
        for listing in (first, second):
            stdout, stderr = listing.communicate(timeout=120)
            assert_connected(subprocess.CompletedProcess(listing.args, listing.returncode, stdout, stderr))
        assert not (project / ".ringmaster").exists(), "their front-ends joined the running engine"
        status = await session.call_tool("job_status", {"job_id": job_id})
        assert status.structured_content["status"] == "running", status.structured_content
        waited = await session.call_tool("job_wait", {"job_ids": [job_id], "timeout_s": 60})
        assert waited.structured_content["jobs"][0]["status"] == "succeeded"
