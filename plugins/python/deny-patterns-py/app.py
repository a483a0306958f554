"""Hook handler, in Python: denies jobs and tool calls whose input contains one
of the configured patterns (case-insensitive substrings), e.g. destructive
shell commands or production hostnames. The same decisions as
`plugins/deny-patterns` (a test holds them to it).

Config: `patterns` (one per line), `events` (comma-separated; default
`JobSubmit,PreToolUse`).
"""

import json

from ringmaster_plugin import config_get, config_list, deny, info, pass_
from wit_world import exports


class HookHandler(exports.HookHandler):
    def events(self):
        return config_list("events", ["JobSubmit", "PreToolUse"])

    def handle(self, event):
        payload = event.payload_json.lower()
        # One per line: a pattern may contain commas.
        patterns = [p.strip() for p in config_get("patterns", default="").splitlines() if p.strip()]
        hit = next((p for p in patterns if p.lower() in payload), None)
        if hit is None:
            return pass_()
        info("denied", event=event.name, pattern=hit)
        return deny(f"input matches the denied pattern {json.dumps(hit, ensure_ascii=False)}")
