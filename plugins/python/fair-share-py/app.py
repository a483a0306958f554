"""Fair-share scheduler, in Python: honours priority, and within a priority
shares the free capacity evenly between root jobs, so one big tree of sub-jobs
cannot starve everyone else's work. The same decisions as `plugins/fair-share`
(a test holds them to it).

Config (manifest `config:`):
* `max-per-root`: never run more than this many jobs of one tree at once
  (default: no cap beyond the host's limits).
"""

from ringmaster_plugin import FreeSlots, config_get, debug
from wit_world import exports
from wit_world.exports.scheduler import Assignment


class Scheduler(exports.Scheduler):
    def rank(self, jobs):
        # By priority; the host breaks ties by submission time (first in, first out).
        return [job.priority for job in jobs]

    def select(self, input):
        max_per_root = config_get("max-per-root", int)
        running = {root.root_id: root.running for root in input.roots}
        slots = FreeSlots(input.slots)
        # Candidates arrive best-ranked first; their position breaks ties.
        pending = list(enumerate(input.candidates))
        chosen = []
        while len(chosen) < input.capacity and pending:
            # Highest priority first; within it, the tree running the fewest
            # jobs; then the host's order (rank, then submission time).
            best = min(range(len(pending)), key=lambda i: (
                -pending[i][1].job.priority, running.get(pending[i][1].job.root_id, 0), pending[i][0]))
            job = pending.pop(best)[1].job
            load = running.get(job.root_id, 0)
            if max_per_root is not None and load >= max_per_root:
                continue
            slot = slots.take()
            if slot is None:
                break
            running[job.root_id] = load + 1
            chosen.append(Assignment(job_id=job.id, slot=slot))
        if chosen:
            debug("fair-share selected jobs", started=len(chosen), queued=input.queued_total)
        return chosen
