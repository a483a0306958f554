"""The real Claude Code CLI as a client: after `claude mcp add`, `claude mcp list`
connects to `ringmaster serve` (initialize, initialized, tools/list) and reports it
connected. Claude Code is installed from npm by `cargo xtask test`."""

import os
import pathlib
import subprocess

import pytest

from conftest import RINGMASTER, TARGET

CLAUDE = pathlib.Path(os.environ.get("CLAUDE_BIN", TARGET / "claude-code" / "node_modules" / ".bin" / "claude"))


@pytest.mark.skipif(not CLAUDE.is_file(), reason="Claude Code is installed by `cargo xtask test`")
def test_claude_mcp_list_reports_ringmaster_connected(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    project = tmp_path / "project"
    project.mkdir()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "MCP_TIMEOUT": "20000",
    }
    run = lambda *args: subprocess.run(
        [str(CLAUDE), *args], cwd=project, env=env, capture_output=True, text=True, timeout=120
    )
    added = run("mcp", "add", "ringmaster", "--", str(RINGMASTER), "serve")
    assert added.returncode == 0, added.stderr
    listed = run("mcp", "list")
    # `claude mcp list` exits 0 either way: the verdict is in its output.
    assert "ringmaster" in listed.stdout and "✔ Connected" in listed.stdout, listed.stdout + listed.stderr
