"""The deny-patterns hook handler's decisions, run natively: `python -m
unittest` with the bindings on the path (see `cargo xtask test`)."""

import unittest

from app import HookHandler
from ringmaster_plugin import TestHost
from wit_world.exports.hook_handler import Event, Permission


def event(payload):
    return Event(name="PreToolUse", payload_json=payload, job=None)


class DenyPatternsTest(unittest.TestCase):
    def test_a_pattern_in_any_case_denies_and_says_which(self):
        host = TestHost(config={"patterns": "rm -rf /\nPROD.example.com, eu\n"})
        with host:
            denied = HookHandler().handle(event('{"command":"ssh prod.EXAMPLE.com, eu"}'))
            passed = HookHandler().handle(event('{"command":"ls"}'))
        self.assertEqual(denied.permission, Permission.DENY)
        self.assertEqual(denied.reason, 'input matches the denied pattern "PROD.example.com, eu"')
        self.assertEqual(host.logs[0].fields["pattern"], "PROD.example.com, eu")
        self.assertEqual(passed.permission, Permission.NONE)

    def test_events_default_and_configured(self):
        with TestHost():
            self.assertEqual(HookHandler().events(), ["JobSubmit", "PreToolUse"])
        with TestHost(config={"events": "Stop,\nJobSubmit"}):
            self.assertEqual(HookHandler().events(), ["Stop", "JobSubmit"])


if __name__ == "__main__":
    unittest.main()
