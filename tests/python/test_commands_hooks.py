"""Slash commands as MCP prompts and tools, hooks on submissions, and
list_changed notifications when commands or plugins change on disk."""

import shutil

import anyio
import pytest

from conftest import PLUGINS

pytestmark = pytest.mark.anyio


def is_prompts_list_changed(message):
    method = getattr(message, "method", None) or getattr(getattr(message, "root", None), "method", None)
    return method == "notifications/prompts/list_changed"


class PromptListWatcher:
    """Counts prompts/list_changed notifications and lets a test wait for the next one."""

    def __init__(self):
        self.count = 0
        self.event = anyio.Event()

    async def __call__(self, message):
        if is_prompts_list_changed(message):
            self.count += 1
            self.event.set()

    async def until(self, check):
        """Waits until `await check()` is true, re-checking after each notification."""
        with anyio.fail_after(30):
            while not await check():
                await self.event.wait()
                self.event = anyio.Event()


async def _announced(watcher, prompts, name):
    """Whether `name` is offered and a list_changed notification has come."""
    return watcher.count >= 1 and name in await prompts()


async def test_markdown_commands_are_prompts_with_their_arguments(session_factory):
    async with session_factory() as session:
        prompts = {p.name: p for p in (await session.list_prompts()).prompts}
        assert {"review-diff", "fix-failing-tests", "explain-module", "component"} <= set(prompts)
        explain = prompts["explain-module"]
        assert [(a.name, a.required) for a in explain.arguments] == [("path", True), ("question", False)]
        rendered = await session.get_prompt("explain-module", {"path": "src/lib.rs", "question": "why?"})
        text = rendered.messages[0].content.text
        assert "module at `src/lib.rs`" in text and "answer it first: why?" in text
        with pytest.raises(Exception, match="missing required argument"):
            await session.get_prompt("explain-module", {})


async def test_commands_run_as_jobs_with_their_frontmatter(session_factory):
    async with session_factory() as session:
        listed = (await session.call_tool("command_list", {})).structured_content["commands"]
        review = next(c for c in listed if c["name"] == "review-diff")
        assert review["status"] == "active" and review["argument_hint"] == "[base-ref]"
        run = await session.call_tool("command_run", {"name": "review-diff", "arguments": "v1.2", "wait": True})
        record = run.structured_content
        assert record["status"] == "succeeded"
        assert record["tags"] == ["review"] and record["priority"] == 1
        assert "git diff v1.2...HEAD" in record["result"]
        unknown = await session.call_tool("command_run", {"name": "deploy"})
        assert unknown.is_error and "unknown command /deploy" in unknown.content[0].text


async def test_a_new_command_file_is_announced_and_offered(session_factory, project):
    watcher = PromptListWatcher()
    async with session_factory(message_handler=watcher) as session:
        async def prompts():
            return {p.name: p for p in (await session.list_prompts()).prompts}

        async def standup():
            listed = (await session.call_tool("command_list", {})).structured_content["commands"]
            return next((c for c in listed if c["name"] == "standup"), None)

        (project / "commands" / "standup.md").write_text("---\ndescription: Write my standup\n---\nSummarise $ARGUMENTS")
        await watcher.until(lambda: _announced(watcher, prompts, "standup"))
        assert (await prompts())["standup"].description == "Write my standup"
        # A broken save keeps the last good version, and says why.
        (project / "commands" / "standup.md").write_text("---\ndescription: never closed\nx")

        async def is_stale():
            return (await standup())["status"] == "stale"

        await watcher.until(is_stale)
        assert "never closed" in (await standup())["error"]
        assert "standup" in await prompts()


async def test_a_new_plugin_with_commands_is_announced(session_factory, project):
    watcher = PromptListWatcher()
    async with session_factory(message_handler=watcher) as session:
        tmp = project / "plugins" / ".team-commands.wasm.tmp"
        shutil.copy(PLUGINS / "team-commands.wasm", tmp)
        tmp.rename(project / "plugins" / "team-commands.wasm")
        async def prompts():
            return {p.name for p in (await session.list_prompts()).prompts}

        await watcher.until(lambda: _announced(watcher, prompts, "fanout-help"))
        text = (await session.get_prompt("fanout-help")).messages[0].content.text
        assert "job_submit_batch" in text


async def test_hooks_are_listed_and_deny_with_their_reason(session_factory):
    async with session_factory() as session:
        hooks = (await session.call_tool("hook_list", {})).structured_content["hooks"]
        assert [(h["event"], h["type"], h["status"]) for h in hooks] == [("JobSubmit", "command", "active")]
        denied = await session.call_tool("job_submit", {"prompt": "use AKIAIOSFODNN7EXAMPLE to deploy"})
        assert denied.is_error
        assert "JobSubmit hook denied the job" in denied.content[0].text
        assert "AWS access key" in denied.content[0].text
