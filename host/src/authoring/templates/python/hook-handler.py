"""{{name}}: a ringmaster hook handler. It sees lifecycle events (which ones:
`events` in the manifest's config) and may deny or rewrite them."""

from ringmaster_plugin import config_get, config_list, deny, info, pass_
from wit_world import exports


class HookHandler(exports.HookHandler):
    def events(self):
        return config_list("events", ["JobSubmit"])

    def handle(self, event):
        """Denies a job whose prompt is longer than `max-prompt-bytes`."""
        limit = config_get("max-prompt-bytes", int, default=100_000)
        job = event.job
        if job is not None and job.prompt_bytes > limit:
            info("denied a long prompt", job=job.id, bytes=job.prompt_bytes)
            return deny(f"the prompt has {job.prompt_bytes} bytes; this project allows {limit}")
        return pass_()
