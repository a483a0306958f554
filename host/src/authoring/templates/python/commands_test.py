import unittest

from app import Commands
from componentize_py_types import Err
from wit_world.exports.commands import Outcome_Submit


class CommandsTest(unittest.TestCase):
    def test_explain_submits_a_tagged_job_and_needs_a_target(self):
        outcome = Commands().run("explain", "src/main.rs")
        self.assertIsInstance(outcome, Outcome_Submit)
        self.assertTrue(outcome.value.prompt.startswith("Explain src/main.rs"))
        self.assertEqual(outcome.value.options.tags, ["explain"])
        with self.assertRaises(Err):
            Commands().run("explain", " ")
