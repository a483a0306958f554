import unittest

from app import TimeoutEstimator
from ringmaster_plugin import TestHost
from wit_world.exports.timeout_estimator import History, SimilarJobs, Timeouts


def history(count):
    return History(count=count, p50_ms=1_000, p95_ms=10_000, timeout_rate=0.0)


class TimeoutEstimatorTest(unittest.TestCase):
    def test_enough_history_sets_the_limit(self):
        similar = SimilarJobs(by_tag=[], by_agent=history(9), by_model=history(0), by_prompt_size=history(0),
                              overall=history(9))
        fallback = Timeouts(hard_ms=600_000, idle_ms=60_000)
        with TestHost(config={"factor": "3"}):
            estimate = TimeoutEstimator().estimate(None, similar, None, fallback)
        self.assertEqual(estimate, Timeouts(hard_ms=30_000, idle_ms=30_000))
