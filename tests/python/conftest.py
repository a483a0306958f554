"""Fixtures for driving `ringmaster serve` with the Python MCP SDK's stdio client.

`serve` runs as a front-end to the project's engine process (started by the
first session, shared by the others), so every test here goes through it;
the engine is stopped when the test ends.
"""

import contextlib
import os
import pathlib
import shutil
import subprocess

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

ROOT = pathlib.Path(__file__).resolve().parents[2]
TARGET = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
RINGMASTER = pathlib.Path(os.environ.get("RINGMASTER_BIN", TARGET / "debug" / "ringmaster"))
FAKE_CLAUDE = pathlib.Path(os.environ.get("FAKE_CLAUDE_BIN", TARGET / "debug" / "fake-claude"))
PLUGINS = TARGET / "plugins"


@pytest.fixture
def anyio_backend():
    return "asyncio"


def stop_engine(state):
    """Stops the engine of `state` (if one runs) and waits until it is gone."""
    stopped = subprocess.run(
        [str(RINGMASTER), "engine", "stop", "--state", str(state)], capture_output=True, text=True, timeout=120
    )
    assert stopped.returncode == 0, stopped.stderr


@pytest.fixture(autouse=True)
def stop_engines(tmp_path):
    """After each test, stops every engine its sessions started under its tmp_path."""
    yield
    for lock in tmp_path.rglob("engine.lock"):
        stop_engine(lock.parent)


@pytest.fixture
def project(tmp_path):
    """A project directory with a ringmaster.yaml running fake-claude, and a plugin directory."""
    assert RINGMASTER.is_file(), f"{RINGMASTER} missing: run `cargo xtask test`"
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    shutil.copy(PLUGINS / "fair-share.wasm", plugins / "fair-share.wasm")
    # The repository's example commands and credential hook, as a team would drop them in.
    shutil.copytree(ROOT / "commands", tmp_path / "commands")
    (tmp_path / "hooks" / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "hooks" / "deny-credentials.json", tmp_path / "hooks")
    shutil.copy(ROOT / "hooks" / "scripts" / "deny-credentials.sh", tmp_path / "hooks" / "scripts")
    (tmp_path / "ringmaster.yaml").write_text(
        "engine: { max-concurrent: 2 }\n"
        f"agents:\n  claude: {{ command: '{FAKE_CLAUDE}' }}\n"
        "plugins:\n"
        "  dirs: [plugins]\n"
        "  policies: { scheduler: fair-share }\n"
        "  limits: { policy-deadline-ms: 2000 }\n"
    )
    return tmp_path


@contextlib.asynccontextmanager
async def connect(project, **session_options):
    env = {k: v for k, v in os.environ.items() if k not in ("RINGMASTER_CONFIG", "RINGMASTER_JOB_ID")}
    env["RINGMASTER_STATE_DIR"] = str(project / "state")
    env["CLAUDE_PROJECT_DIR"] = str(project)
    params = StdioServerParameters(command=str(RINGMASTER), args=["serve"], cwd=str(project), env=env)
    with open(project / "server.log", "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write, **session_options) as session:
                await session.initialize()
                yield session


@pytest.fixture
def session_factory(project):
    return lambda **session_options: connect(project, **session_options)
