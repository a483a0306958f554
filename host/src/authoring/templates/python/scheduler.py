"""{{name}}: a ringmaster scheduler. It decides which queued jobs start now,
and on which token slot."""

from ringmaster_plugin import FreeSlots, config_get, debug
from wit_world import exports
from wit_world.exports.scheduler import Assignment


class Scheduler(exports.Scheduler):
    def rank(self, jobs):
        """Orders the queue: by priority (the host breaks ties by submission time)."""
        return [job.priority for job in jobs]

    def select(self, input):
        """The best-ranked candidates, at most `max-starts` per round."""
        max_starts = config_get("max-starts", int, default=len(input.candidates))
        slots = FreeSlots(input.slots)
        chosen = []
        for candidate in input.candidates[:max_starts]:
            slot = slots.take()
            if slot is None or len(chosen) == input.capacity:
                break
            chosen.append(Assignment(job_id=candidate.job.id, slot=slot))
        debug("selected", started=len(chosen), queued=input.queued_total)
        return chosen
