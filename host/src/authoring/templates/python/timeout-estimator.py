"""{{name}}: a ringmaster timeout estimator. It decides how long the next
attempt of a job may run, and how long it may stay silent."""

from ringmaster_plugin import config_get
from wit_world import exports
from wit_world.exports.timeout_estimator import Timeouts


class TimeoutEstimator(exports.TimeoutEstimator):
    def estimate(self, job, similar, requested_ms, fallback):
        """Twice (`factor`) the slowest typical run of the most similar jobs,
        once there are `min-samples` of them; the host's answer before that."""
        if requested_ms is not None:
            return fallback
        factor = config_get("factor", float, default=2.0)
        min_samples = config_get("min-samples", int, default=5)
        groups = [history for _, history in similar.by_tag]
        groups += [similar.by_model, similar.by_agent, similar.by_prompt_size, similar.overall]
        for history in groups:
            if history.count >= min_samples:
                hard_ms = int(history.p95_ms * factor)
                return Timeouts(hard_ms=hard_ms, idle_ms=min(fallback.idle_ms, hard_ms))
        return fallback
