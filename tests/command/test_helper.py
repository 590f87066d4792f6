"""The Python helper emsweep_child (worker/command/python/) against the child protocol.

Each case runs a small child program in a fresh interpreter with the environment emsweep would
set, written here by hand on a temporary directory, and checks the files the child leaves.
Run: /usr/bin/python3 tests/command/test_helper.py   (registered with ctest).
"""

import json
import math
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

HELPER_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "worker",
                          "command", "python")

PARAMS = {
    "point_id": "00a1b2c3d4e5f607", "attempt": 2, "replicate": 1, "sweep": "unit",
    "workdir": "/set/below",
    "params": {"lr": 0.001, "optimizer": "adam", "kl_weight": 0, "use_kl": True, "scale": 1,
               "steps": 3},
    "types": {"lr": "number", "optimizer": "string", "kl_weight": "integer", "use_kl": "boolean",
              "scale": "number", "steps": "integer"},
}


class Child:
    """A temporary work directory and the environment emsweep gives a child running in it."""

    def __init__(self, under_emsweep=True):
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("EMSWEEP_")}
        self.env["PYTHONPATH"] = HELPER_DIR
        self.result = os.path.join(self.dir, "result.json")
        self.events = os.path.join(self.dir, "events.jsonl")
        if under_emsweep:
            params = dict(PARAMS, workdir=self.dir)
            with open(os.path.join(self.dir, "params.json"), "w") as f:
                json.dump(params, f)
            self.env.update({
                "EMSWEEP_PARAMS": os.path.join(self.dir, "params.json"),
                "EMSWEEP_RESULT": self.result, "EMSWEEP_EVENTS": self.events,
                "EMSWEEP_WORKDIR": self.dir, "EMSWEEP_POINT_ID": PARAMS["point_id"],
                "EMSWEEP_ATTEMPT": "2", "EMSWEEP_REPLICATE": "1", "EMSWEEP_PARAM_LR": "0.001",
            })

    def run(self, code, expect_rc=0):
        """Runs `code` (dedented) as the child; returns (stdout, stderr)."""
        p = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=self.env,
                           cwd=self.dir, capture_output=True, text=True, timeout=60)
        if p.returncode != expect_rc:
            raise AssertionError(f"exit {p.returncode}, expected {expect_rc}\n{p.stderr}")
        return p.stdout, p.stderr

    def files(self):
        return sorted(os.listdir(self.dir))

    def close(self):
        self._tmp.cleanup()


class HelperTest(unittest.TestCase):
    def setUp(self):
        self.child = Child()

    def tearDown(self):
        self.child.close()

    def test_params_are_typed_and_override_defaults(self):
        out, _ = self.child.run("""
            import json, emsweep_child as es
            p = es.params(defaults={"lr": 0.1, "hidden": 32})
            print(json.dumps({k: [v, type(v).__name__] for k, v in p.items()}))
        """)
        got = json.loads(out)
        self.assertEqual(got["lr"], [0.001, "float"])
        self.assertEqual(got["optimizer"], ["adam", "str"])
        self.assertEqual(got["kl_weight"], [0, "int"])
        self.assertEqual(got["use_kl"], [True, "bool"])
        self.assertEqual(got["scale"], [1.0, "float"])  # a number written as 1 is still a float
        self.assertEqual(got["hidden"], [32, "int"])  # a default the sweep does not declare

    def test_point_information(self):
        out, _ = self.child.run("""
            import emsweep_child as es
            print(es.under_emsweep(), es.point_id(), es.attempt(), es.replicate(),
                  es.workdir() == es.point()["workdir"], es.point()["sweep"])
        """)
        self.assertEqual(out.split(), ["True", PARAMS["point_id"], "2", "1", "True", "unit"])

    def test_report_appends_flushed_json_lines(self):
        with open(self.child.events, "w") as f:
            f.write('{"step": -1, "earlier": 1}\n')  # appended to, never truncated
        self.child.run("""
            import emsweep_child as es
            es.report(0, loss=1.5, kl=0.25)
            es.report(10, loss=float("nan"), kl=None, big=float("inf"))
            es.report(20.5, loss=2)
        """)
        with open(self.child.events) as f:
            lines = f.read().splitlines()
        self.assertEqual(lines, [
            '{"step": -1, "earlier": 1}',
            '{"step": 0, "loss": 1.5, "kl": 0.25}',
            '{"step": 10, "loss": NaN, "kl": null, "big": Infinity}',
            '{"step": 20.5, "loss": 2}',
        ])

    def test_report_lines_survive_a_kill(self):
        # SIGKILL right after report(): nothing buffered may be lost.
        self.child.run("""
            import os, signal, emsweep_child as es
            es.report(1, loss=0.5)
            os.kill(os.getpid(), signal.SIGKILL)
        """, expect_rc=-9)
        with open(self.child.events) as f:
            self.assertEqual(f.read(), '{"step": 1, "loss": 0.5}\n')
        self.assertFalse(os.path.exists(self.child.result))

    def test_finish_writes_the_result_atomically(self):
        self.child.run("""
            import emsweep_child as es
            es.report(0, loss=1.0)
            path = es.finish(final_loss=0.125, gate_corr=float("nan"), worst=-float("inf"), n=3,
                             missing=None)
            assert path.endswith("result.json"), path
        """)
        with open(self.child.result) as f:
            text = f.read()
        self.assertEqual(text, '{"final_loss": 0.125, "gate_corr": NaN, "worst": -Infinity, '
                               '"n": 3, "missing": null}\n')
        result = json.loads(text)
        self.assertTrue(math.isnan(result["gate_corr"]))
        # No temporary file left behind beside it.
        self.assertEqual(self.child.files(), ["events.jsonl", "params.json", "result.json"])

    def test_tensor_like_values_become_floats(self):
        self.child.run("""
            import emsweep_child as es
            class Scalar:  # stands in for a NumPy scalar or a one-element tensor
                def __float__(self): return 0.75
            es.report(1, loss=Scalar())
            es.finish(final_loss=Scalar())
        """)
        with open(self.child.result) as f:
            self.assertEqual(json.load(f), {"final_loss": 0.75})
        with open(self.child.events) as f:
            self.assertEqual(f.read(), '{"step": 1, "loss": 0.75}\n')

    def test_non_numbers_are_refused_before_anything_is_written(self):
        _, err = self.child.run("""
            import emsweep_child as es
            es.finish(ok=True)
        """, expect_rc=1)
        self.assertIn("metric 'ok' is a boolean", err)
        _, err = self.child.run("""
            import emsweep_child as es
            es.finish(name="adam")
        """, expect_rc=1)
        self.assertIn("metric 'name' is a string", err)
        _, err = self.child.run("""
            import emsweep_child as es
            es.report(float("nan"), loss=1)
        """, expect_rc=1)
        self.assertIn("step must be a finite number", err)
        self.assertEqual(self.child.files(), ["params.json"])

    def test_an_unreadable_params_file_says_which(self):
        with open(os.path.join(self.child.dir, "params.json"), "w") as f:
            f.write("{not json")
        _, err = self.child.run("""
            import emsweep_child as es
            es.params()
        """, expect_rc=1)
        self.assertIn("cannot read EMSWEEP_PARAMS=", err)


class ByHandTest(unittest.TestCase):
    """The same calls with no emsweep variables: defaults, messages on stderr, no files."""

    def test_a_script_runs_by_hand(self):
        child = Child(under_emsweep=False)
        try:
            out, err = child.run("""
                import os, emsweep_child as es
                p = es.params(defaults={"lr": 0.1, "steps": 2})
                print(p, es.under_emsweep(), es.point_id(), es.attempt(), es.replicate(),
                      es.workdir() == os.getcwd(), es.params())
                es.report(1, loss=0.5, kl=None)
                print(es.finish(final_loss=0.25))
            """)
            self.assertEqual(out.splitlines(),
                             ["{'lr': 0.1, 'steps': 2} False None 1 0 True {}", "None"])
            self.assertEqual(err.splitlines(), ["[emsweep_child] step 1: loss=0.5 kl=nan",
                                                "[emsweep_child] result: final_loss=0.25"])
            self.assertEqual(child.files(), [])
        finally:
            child.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
