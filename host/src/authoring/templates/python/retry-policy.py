"""{{name}}: a ringmaster retry policy. It decides whether and when a failed
attempt runs again."""

from ringmaster_plugin import config_get, config_list
from wit_world import exports
from wit_world.exports.retry_policy import Decision_GiveUp, Decision_Retry, FailureKind, Retry


class RetryPolicy(exports.RetryPolicy):
    def decide(self, job, attempt, max_retries, failure):
        """Waits `delay-ms` times the attempt number, resuming the agent's
        session; gives up on failures listed in `give-up-on`."""
        kind = failure.kind.name.lower().replace("_", "-")
        if attempt > max_retries or kind in config_list("give-up-on", ["could-not-start"]):
            return Decision_GiveUp(f"{kind}: {failure.message}")
        delay_ms = config_get("delay-ms", int, default=5_000)
        resume = failure.has_session and failure.kind != FailureKind.AGENT_ERROR
        return Decision_Retry(Retry(delay_ms=delay_ms * attempt, resume_session=resume, priority=None, timeout_ms=None))
