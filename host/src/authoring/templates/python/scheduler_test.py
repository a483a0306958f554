import unittest

from app import Scheduler
from ringmaster_plugin import TestHost
from wit_world.exports.scheduler import Candidate, ScheduleInput, Slot
from wit_world.imports.types import JobInfo


def candidate(id):
    job = JobInfo(id=id, prompt_preview="", prompt_bytes=0, agent="claude", model=None, priority=0, tags=[],
                  depth=0, root_id=id, parent_id=None, attempt=1, submitted_at_ms=0)
    return Candidate(job=job, rank=0, waited_ms=0)


class SchedulerTest(unittest.TestCase):
    def test_starts_at_most_max_starts_best_first(self):
        slot = Slot(index=0, running=0, free=4, cooling_until_ms=None, recent_started=0, recent_failed=0,
                    recent_rate_limited=0)
        input = ScheduleInput(candidates=[candidate(id) for id in "abc"], slots=[slot], capacity=4, roots=[],
                              queued_total=3, now_ms=0)
        with TestHost(config={"max-starts": "2"}):
            chosen = Scheduler().select(input)
        self.assertEqual([a.job_id for a in chosen], ["a", "b"])
