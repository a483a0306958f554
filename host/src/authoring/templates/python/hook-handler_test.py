import unittest

from app import HookHandler
from ringmaster_plugin import TestHost
from wit_world.exports.hook_handler import Event, Permission
from wit_world.imports.types import JobInfo


def event(prompt_bytes):
    job = JobInfo(id="j", prompt_preview="", prompt_bytes=prompt_bytes, agent="claude", model=None, priority=0,
                  tags=[], depth=0, root_id="j", parent_id=None, attempt=1, submitted_at_ms=0)
    return Event(name="JobSubmit", payload_json="{}", job=job)


class HookHandlerTest(unittest.TestCase):
    def test_denies_long_prompts_only(self):
        with TestHost(config={"max-prompt-bytes": "10"}):
            self.assertEqual(HookHandler().handle(event(11)).permission, Permission.DENY)
            self.assertEqual(HookHandler().handle(event(10)).permission, Permission.NONE)
