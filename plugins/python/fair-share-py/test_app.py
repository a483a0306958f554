"""The fair-share scheduler's decisions, run natively: `python -m unittest`
with the bindings on the path (see `cargo xtask test`, or a project's README)."""

import unittest

from app import Scheduler
from ringmaster_plugin import ConfigError, TestHost
from wit_world.exports.scheduler import Candidate, RootLoad, ScheduleInput, Slot
from wit_world.imports.types import JobInfo


def job(id, root, priority=0):
    return JobInfo(id=id, prompt_preview="", prompt_bytes=0, agent="claude", model=None, priority=priority,
                   tags=[], depth=0, root_id=root, parent_id=None, attempt=1, submitted_at_ms=0)


def tree(root, ids):
    return [Candidate(job=job(id, root), rank=0, waited_ms=0) for id in ids]


def slot(index, free):
    return Slot(index=index, running=0, free=free, cooling_until_ms=None, recent_started=0, recent_failed=0,
                recent_rate_limited=0)


def schedule(candidates, slots, roots=()):
    return ScheduleInput(candidates=candidates, slots=slots, capacity=sum(s.free for s in slots),
                         roots=list(roots), queued_total=len(candidates), now_ms=0)


def started(test_host, input):
    with test_host:
        return [a.job_id for a in Scheduler().select(input)]


class FairShareTest(unittest.TestCase):
    def test_a_big_tree_shares_the_slots_with_a_small_one(self):
        input = schedule(tree("big", ["b1", "b2", "b3"]) + tree("small", ["s1"]), [slot(0, 1), slot(1, 1)])
        self.assertEqual(started(TestHost(), input), ["b1", "s1"])

    def test_priority_comes_before_fairness(self):
        candidates = tree("big", ["b1", "b2"]) + tree("small", ["s1"])
        candidates[1].job.priority = 5
        self.assertEqual(started(TestHost(), schedule(candidates, [slot(0, 1)])), ["b2"])

    def test_max_per_root_caps_a_tree_counting_what_already_runs(self):
        input = schedule(tree("big", ["b1", "b2", "b3"]), [slot(0, 4)], [RootLoad(root_id="big", running=1)])
        host = TestHost(config={"max-per-root": "2"})
        self.assertEqual(started(host, input), ["b1"])
        self.assertEqual(host.logs[0].fields["started"], "1")

    def test_a_bad_cap_is_an_error_naming_the_key(self):
        input = schedule(tree("big", ["b1"]), [slot(0, 1)])
        with self.assertRaisesRegex(ConfigError, "config key `max-per-root`: 'eight'"):
            started(TestHost(config={"max-per-root": "eight"}), input)


if __name__ == "__main__":
    unittest.main()
