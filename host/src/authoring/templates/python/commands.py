"""{{name}}: ringmaster slash commands computed by code."""

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.commands import CommandInfo, JobOptions, JobRequest, Outcome_Submit


class Commands(exports.Commands):
    def list_commands(self):
        return [CommandInfo(name="explain", description="Explain a file or symbol in a job of its own",
                            argument_hint="TARGET")]

    def run(self, name, arguments):
        """`raise Err(message)` answers the user with `message`."""
        if name != "explain":
            raise Err(f"unknown command /{name}")
        if not arguments.strip():
            raise Err("usage: /explain TARGET")
        prompt = f"Explain {arguments.strip()} to a new team member: what it does, why, and how it is used."
        options = JobOptions(agent=None, model=None, priority=None, tags=["explain"], timeout_ms=None,
                             max_retries=None, allowed_tools=[])
        return Outcome_Submit(JobRequest(prompt=prompt, options=options))
