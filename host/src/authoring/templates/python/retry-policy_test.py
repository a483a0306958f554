import unittest

from app import RetryPolicy
from ringmaster_plugin import TestHost
from wit_world.exports.retry_policy import Decision_GiveUp, Decision_Retry, Failure, FailureKind


def failure(kind):
    return Failure(kind=kind, exit_code=None, signal=9, stderr_tail="", message="killed", has_session=True,
                   rate_limit_resets_at_ms=None)


class RetryPolicyTest(unittest.TestCase):
    def test_retries_later_each_time_and_gives_up_on_what_cannot_be_fixed(self):
        with TestHost(config={"delay-ms": "100"}):
            retry = RetryPolicy().decide(None, 2, 3, failure(FailureKind.CRASHED))
            give_up = RetryPolicy().decide(None, 1, 3, failure(FailureKind.COULD_NOT_START))
        self.assertIsInstance(retry, Decision_Retry)
        self.assertEqual((retry.value.delay_ms, retry.value.resume_session), (200, True))
        self.assertIsInstance(give_up, Decision_GiveUp)
