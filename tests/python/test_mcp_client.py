"""`ringmaster serve` driven end to end by the Python MCP SDK's stdio client."""

import json
import os
import subprocess

import anyio
import pytest

pytestmark = pytest.mark.anyio

TOOLS = {
    "job_submit", "job_submit_batch", "job_run", "job_status", "job_wait", "job_result",
    "job_output", "job_list", "job_cancel", "job_retry", "queue_pause", "queue_resume", "schedule_create",
    "schedule_list", "schedule_delete", "schedule_pause", "schedule_resume", "engine_stats", "plugin_list",
    "command_list", "command_run", "hook_list", "job_diff", "job_merge", "job_discard", "checkpoint_restore",
}


async def test_every_tool_is_listed_with_a_schema(session_factory):
    async with session_factory() as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert TOOLS <= set(tools)
        assert tools["job_submit"].input_schema["required"] == ["prompt"]


async def test_a_job_is_submitted_waited_for_and_its_result_read(session_factory):
    async with session_factory() as session:
        submitted = await session.call_tool("job_submit", {"prompt": "summarise the repo @cost:0.3", "tags": ["py"]})
        assert not submitted.is_error
        job_id = submitted.structured_content["job_id"]
        assert submitted.structured_content["queue_position"] in (1, None)
        assert "estimated_start_s" in submitted.structured_content
        waited = await session.call_tool("job_wait", {"job_ids": [job_id]})
        record = waited.structured_content["jobs"][0]
        assert record["status"] == "succeeded"
        assert record["cost_usd"] == 0.3
        result = await session.call_tool("job_result", {"job_id": job_id})
        assert result.structured_content["result"] == "Done: summarise the repo @cost:0.3"
        output = await session.call_tool("job_output", {"job_id": job_id})
        kinds = [event["event"]["type"] for event in output.structured_content["events"]]
        assert kinds[0] == "system" and kinds[-1] == "result"
        listed = await session.call_tool("job_list", {"tag": "py"})
        assert [job["job_id"] for job in listed.structured_content["jobs"]] == [job_id]


async def test_job_run_sends_increasing_progress(session_factory):
    seen = []

    async def on_progress(progress, total, message):
        seen.append((progress, message))

    async with session_factory() as session:
        result = await session.call_tool("job_run", {"prompt": "@sleep:2.5 migrate"}, progress_callback=on_progress)
        assert result.structured_content["status"] == "succeeded"
    assert seen, "no progress notifications"
    steps = [step for step, _ in seen]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)
    assert any(message.startswith("running") for _, message in seen)
    # The agent's activity shows while it works (at most once a second).
    assert any("agent events" in message for _, message in seen), seen


async def test_cancelling_job_run_cancels_the_job(session_factory):
    async with session_factory() as session:
        with anyio.move_on_after(1.5):
            await session.call_tool("job_run", {"prompt": "@hang"})
        with anyio.fail_after(30):
            while True:
                jobs = (await session.call_tool("job_list", {})).structured_content["jobs"]
                if jobs and jobs[0]["status"] == "cancelled":
                    break
                await session.call_tool("job_wait", {"job_ids": [jobs[0]["job_id"]], "timeout_s": 1})


async def test_bad_input_is_explained_and_the_session_survives(session_factory):
    async with session_factory() as session:
        unknown = await session.call_tool("job_status", {"job_id": "no-such-job"})
        assert unknown.is_error and "no job no-such-job" in unknown.content[0].text
        typo = await session.call_tool("job_submit", {"prompt": "x", "prority": 2})
        assert typo.is_error and "prority" in typo.content[0].text
        stats = await session.call_tool("engine_stats", {})
        assert stats.structured_content["max_concurrent"] == 2


async def test_the_configured_plugin_loads_in_the_background(session_factory):
    async with session_factory() as session:
        with anyio.fail_after(30):
            while True:
                plugins = (await session.call_tool("plugin_list", {})).structured_content["plugins"]
                if plugins and plugins[0]["status"] == "active":
                    break
                await anyio.sleep(0.05)
        assert plugins[0]["name"] == "fair-share"
        assert plugins[0]["extension_points"] == ["scheduler"]


async def test_jobs_stats_and_plugins_are_readable_resources(session_factory):
    async with session_factory() as session:
        uris = [str(resource.uri) for resource in (await session.list_resources()).resources]
        assert uris == ["ringmaster://stats", "ringmaster://plugins"]
        templates = [t.uri_template for t in (await session.list_resource_templates()).resource_templates]
        assert "ringmaster://jobs/{job_id}" in templates
        run = await session.call_tool("job_run", {"prompt": "read me back"})
        job_id = run.structured_content["job_id"]
        record = await session.read_resource(f"ringmaster://jobs/{job_id}")
        assert '"status": "succeeded"' in record.contents[0].text
        transcript = await session.read_resource(f"ringmaster://jobs/{job_id}/transcript")
        assert json.loads(transcript.contents[0].text.splitlines()[-1])["type"] == "result"


async def test_plugin_logs_reach_a_client_that_asks_for_them(session_factory):
    lines = []
    logged = anyio.Event()

    async def on_log(params):
        lines.append(params)
        if params.logger == "plugin:fair-share":
            logged.set()

    async with session_factory(logging_callback=on_log) as session:
        await session.set_logging_level("debug")
        with anyio.fail_after(30):
            while (await session.call_tool("plugin_list", {})).structured_content["plugins"][0]["status"] != "active":
                await anyio.sleep(0.05)
        run = await session.call_tool("job_run", {"prompt": "schedule me fairly"})
        assert run.structured_content["status"] == "succeeded"
        with anyio.fail_after(30):
            await logged.wait()
    line = next(p for p in lines if p.logger == "plugin:fair-share")
    assert line.level == "debug"
    assert line.data["message"] == "fair-share selected jobs"
    assert line.data["plugin"].startswith("fair-share")


async def test_batches_are_queued_in_order_and_jobs_can_be_inspected_and_cancelled(session_factory):
    async with session_factory() as session:
        batch = await session.call_tool("job_submit_batch", {"jobs": [
            {"prompt": "@hang first", "tags": ["batch"]},
            {"prompt": "second", "tags": ["batch"], "priority": 3},
        ]})
        first, second = batch.structured_content["job_ids"]
        status = await session.call_tool("job_status", {"job_id": second})
        assert status.structured_content["priority"] == 3 and status.structured_content["tags"] == ["batch"]
        cancelled = await session.call_tool("job_cancel", {"job_id": first})
        assert cancelled.structured_content["status"] == "cancelled"
        waited = await session.call_tool("job_wait", {"job_ids": [second]})
        assert waited.structured_content["jobs"][0]["status"] == "succeeded"
        refused = await session.call_tool("job_submit_batch", {"jobs": [{"prompt": "ok"}, {"prompt": "  "}]})
        assert refused.is_error and "job 1 of the batch was refused" in refused.content[0].text


async def test_a_retried_submission_with_its_idempotency_key_runs_once(session_factory):
    async with session_factory() as session:
        keyed = {"prompt": "@sleep:0.2 triage", "idempotency_key": "triage-py"}
        first = (await session.call_tool("job_submit", keyed)).structured_content["job_id"]
        again = await session.call_tool("job_submit", {**keyed, "prompt": "triage, retried"})
        assert again.structured_content["job_id"] == first
        batch = await session.call_tool("job_submit_batch", {"jobs": [keyed, {"prompt": "other"}]})
        assert batch.structured_content["job_ids"][0] == first
        schema = (await session.list_tools()).tools
        submit = next(tool for tool in schema if tool.name == "job_submit")
        assert "idempotency_key" in submit.input_schema["properties"]


async def test_a_paused_tag_holds_its_jobs_until_resumed(session_factory):
    async with session_factory() as session:
        paused = await session.call_tool("queue_pause", {"tag": "py-held"})
        assert paused.structured_content["paused"]["tags"] == ["py-held"]
        held = (await session.call_tool("job_submit", {"prompt": "held", "tags": ["py-held"]})).structured_content
        other = (await session.call_tool("job_submit", {"prompt": "free"})).structured_content
        waited = await session.call_tool("job_wait", {"job_ids": [other["job_id"]]})
        assert waited.structured_content["jobs"][0]["status"] == "succeeded"
        status = await session.call_tool("job_status", {"job_id": held["job_id"]})
        assert status.structured_content["status"] == "queued"
        assert "paused" in status.structured_content["waiting_for"]
        resumed = await session.call_tool("queue_resume", {"tag": "py-held"})
        assert resumed.structured_content["paused"]["tags"] == []
        waited = await session.call_tool("job_wait", {"job_ids": [held["job_id"]]})
        assert waited.structured_content["jobs"][0]["status"] == "succeeded"


async def test_a_pipeline_is_one_batch_and_cancelling_its_head_cancels_the_rest(session_factory):
    async with session_factory() as session:
        pipeline = await session.call_tool("job_submit_batch", {"jobs": [
            {"prompt": "@sleep:30 tests"},
            {"prompt": "fix {{after.0.result}}", "after": [0]},
            {"prompt": "review {{after.0.result}}", "after": [1]},
            {"prompt": "report {{after.0.status}}", "after": [0], "after_any_outcome": True},
        ]})
        assert not pipeline.is_error, pipeline.content
        tests, fix, review, report = pipeline.structured_content["job_ids"]
        status = await session.call_tool("job_status", {"job_id": review})
        assert status.structured_content["status"] == "waiting"
        assert status.structured_content["waiting_for"] == f"after job {fix} (waiting)"
        listed = await session.call_tool("job_list", {"status": "waiting"})
        assert {j["job_id"] for j in listed.structured_content["jobs"]} >= {fix, review, report}
        cancelled = await session.call_tool("job_cancel", {"job_id": tests})
        assert cancelled.structured_content["cancelled_dependants"] == [fix, review]
        assert "also cancelled" in cancelled.content[0].text
        waited = await session.call_tool("job_wait", {"job_ids": [report]})
        assert waited.structured_content["jobs"][0]["status"] == "succeeded"
        stats = await session.call_tool("engine_stats", {})
        assert stats.structured_content["waiting"] == 0
        cycle = await session.call_tool("job_submit_batch", {"jobs": [{"prompt": "a", "after": [1]}, {"prompt": "b"}]})
        assert cycle.is_error and "cycle" in cycle.content[0].text
        unknown = await session.call_tool("job_submit", {"prompt": "x", "after": ["no-such-job"]})
        assert unknown.is_error and "does not exist" in unknown.content[0].text


async def test_the_session_that_submitted_a_tree_is_told_when_it_finishes(session_factory):
    trees = []
    told = anyio.Event()

    async def on_log(params):
        if params.logger == "ringmaster" and "root_job_id" in params.data:
            trees.append(params.data)
            told.set()

    async with session_factory() as other:
        async with session_factory(logging_callback=on_log) as session:
            job_id = (await session.call_tool("job_submit", {"prompt": "@cost:0.25 tree"})).structured_content["job_id"]
            await other.call_tool("job_run", {"prompt": "someone else's"})
            with anyio.fail_after(30):
                await told.wait()
    assert [tree["root_job_id"] for tree in trees] == [job_id], trees
    assert trees[0]["jobs"] == 1 and trees[0]["by_status"] == {"succeeded": 1} and trees[0]["cost_usd"] == 0.25
    assert trees[0]["message"].startswith(f"job tree {job_id} finished: 1 job (1 succeeded), $0.25")


async def test_a_schedule_runs_its_job_and_is_paused_listed_and_deleted(session_factory):
    async with session_factory() as session:
        created = await session.call_tool("schedule_create", {
            "name": "py-every-second", "cron": "* * * * * *", "job": {"prompt": "tick", "tags": ["py"]},
        })
        assert not created.is_error, created.content
        assert created.structured_content["next_at_ms"] % 1000 == 0
        with anyio.fail_after(30):
            while True:
                runs = await session.call_tool("job_list", {"tag": "schedule:py-every-second"})
                if runs.structured_content["jobs"]:
                    break
                await anyio.sleep(0.05)
        assert "py" in runs.structured_content["jobs"][0]["tags"]
        paused = await session.call_tool("schedule_pause", {"schedule_id": "py-every-second"})
        assert paused.structured_content["paused"] is True
        listed = await session.call_tool("schedule_list", {})
        assert [s["schedule_id"] for s in listed.structured_content["schedules"]] == ["py-every-second"]
        stats = await session.call_tool("engine_stats", {})
        assert stats.structured_content["schedules"] == 1
        deleted = await session.call_tool("schedule_delete", {"schedule_id": "py-every-second"})
        assert not deleted.is_error
        bad = await session.call_tool("schedule_create", {"cron": "0 2 * * *", "timezone": "Nowhere", "job": {"prompt": "x"}})
        assert bad.is_error and "IANA" in bad.content[0].text
        missing = await session.call_tool("schedule_create", {"cron": "0 2 * * *"})
        assert missing.is_error and "needs `job`" in missing.content[0].text


async def test_a_tree_budget_is_shown_while_its_tree_runs_and_bad_ones_are_refused(session_factory):
    async with session_factory() as session:
        root = await session.call_tool("job_submit", {"prompt": "@sleep:1 @cost:0.25", "budget_usd": 1.5})
        job_id = root.structured_content["job_id"]
        stats = await session.call_tool("engine_stats", {})
        budgets = {b["name"]: b for b in stats.structured_content["budgets"]}
        assert budgets[f"tree {job_id}"]["usd"] == 1.5 and budgets[f"tree {job_id}"]["spent"] is False
        waited = await session.call_tool("job_wait", {"job_ids": [job_id]})
        attempt = waited.structured_content["jobs"][0]["history"][0]
        assert attempt["cost_usd"] == 0.25 and attempt["tokens"] > 0
        bad = await session.call_tool("job_submit", {"prompt": "x", "budget_usd": 0})
        assert bad.is_error and "budget_usd is 0" in bad.content[0].text


async def test_a_failed_job_is_retried_as_the_same_job(session_factory):
    async with session_factory() as session:
        job_id = (await session.call_tool("job_submit", {"prompt": "@fail once", "max_retries": 0})).structured_content["job_id"]
        waited = await session.call_tool("job_wait", {"job_ids": [job_id]})
        assert waited.structured_content["jobs"][0]["status"] == "failed"
        retried = await session.call_tool("job_retry", {"job_id": job_id})
        assert retried.structured_content["job_id"] == job_id and retried.structured_content["status"] == "queued"
        waited = await session.call_tool("job_wait", {"job_ids": [job_id]})
        assert waited.structured_content["jobs"][0]["attempts"] == 2
        refused = await session.call_tool("job_retry", {"job_id": job_id, "resume_session": "yes"})
        assert refused.is_error


async def test_two_sessions_share_one_engine_and_a_closed_session_leaves_its_jobs(session_factory):
    async with session_factory() as b:
        async with session_factory() as a:
            submitted = await a.call_tool("job_submit", {"prompt": "@sleep:0.5 outlive my session"})
            job_id = submitted.structured_content["job_id"]
            seen = await b.call_tool("job_list", {})
            assert job_id in [j["job_id"] for j in seen.structured_content["jobs"]]
            mine = await b.call_tool("job_list", {"mine": True})
            assert mine.structured_content["jobs"] == []
        # A's session is closed; its job goes on and B collects the result.
        waited = await b.call_tool("job_wait", {"job_ids": [job_id], "timeout_s": 60})
        record = waited.structured_content["jobs"][0]
        assert record["status"] == "succeeded", record
        assert record["client"].startswith("mcp/") or "/" in record["client"], record


async def test_worktree_and_checkpoint_jobs_are_reviewed_merged_and_restored_over_mcp(project, session_factory):
    git_env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
               "GIT_COMMITTER_EMAIL": "t@t"}
    (project / ".gitignore").write_text("state/\nserver.log\n")
    (project / "a.txt").write_text("one\n")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "start"]):
        subprocess.run(["git", *args], cwd=project, check=True, env=git_env)
    async with session_factory() as session:
        run = await session.call_tool(
            "job_run", {"prompt": "@write:a.txt=two edit", "isolation": "worktree", "max_retries": 0})
        job = run.structured_content
        assert job["workspace"]["files"] == [{"path": "a.txt", "added": 1, "deleted": 1}], job
        assert (project / "a.txt").read_text() == "one\n"
        diff = await session.call_tool("job_diff", {"job_id": job["job_id"], "context": 0})
        assert "-one\n+two\n" in diff.structured_content["text"], diff
        bad = await session.call_tool("job_merge", {"job_id": job["job_id"], "strategy": "octopus"})
        assert bad.is_error and (project / "a.txt").read_text() == "one\n"
        merged = await session.call_tool("job_merge", {"job_id": job["job_id"], "strategy": "rebase"})
        assert not merged.is_error, merged
        assert merged.structured_content["workspace"]["state"] == "merged"
        assert (project / "a.txt").read_text() == "two\n"

        run = await session.call_tool(
            "job_run", {"prompt": "@write:b.txt=new @delete:a.txt tidy", "checkpoint": True, "max_retries": 0})
        job = run.structured_content
        assert [f["path"] for f in job["checkpoints"]["files"]] == ["a.txt", "b.txt"], job
        restored = await session.call_tool("checkpoint_restore", {"job_id": job["job_id"], "which": "before"})
        assert sorted(restored.structured_content["paths"]) == ["a.txt", "b.txt"], restored
        assert (project / "a.txt").read_text() == "two\n" and not (project / "b.txt").exists()
        gone = await session.call_tool("job_discard", {"job_id": job["job_id"]})
        assert gone.is_error and "without a worktree" in gone.content[0].text, gone
