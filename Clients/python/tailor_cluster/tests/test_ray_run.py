"""`tailor-cluster run` on a local Ray with 2 workers and 3 users, one of whose workers is
killed mid-task; running it again finishes only that user."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from support import PACKAGE, REPO, SKIP_ML, TASK_ADAPTER, TINY, cope_config, missing, tailor, write_jsonl

SKIP = SKIP_ML or (f"{missing('ray')} is not installed" if missing("ray") else None)


def events(out):
    path = os.path.join(out, "run.jsonl")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.endswith("\n")]


@unittest.skipIf(SKIP, SKIP)
class RayRunTests(unittest.TestCase):
    def setUp(self):
        self.drivers = []

    def run_cluster(self, users, config, out, kill=None):
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join([PACKAGE, os.path.join(REPO, "Clients", "python")]),
            RAY_AUTH_MODE="disabled",
        )
        p = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tailor_cluster",
                "run",
                "--users",
                users,
                "--base",
                TINY,
                "--config",
                config,
                "--out",
                out,
                "--workers",
                "2",
                "--task-adapter",
                TASK_ADAPTER,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        killed = None
        deadline = time.time() + 240
        while kill and killed is None and p.poll() is None and time.time() < deadline:
            started = [e for e in events(out) if e["user"] == kill and e["state"] == "started"]
            if started:
                killed = started[-1]["pid"]
                os.kill(killed, signal.SIGKILL)
            time.sleep(0.02)
        stdout, stderr = p.communicate(timeout=300)
        if kill:
            self.assertIsNotNone(killed, f"{kill}'s task never started: {stderr[-2000:]}")
        lines = [line for line in stdout.splitlines() if line.startswith("{")]
        self.assertTrue(lines, f"no summary; stderr: {stderr[-2000:]}")
        self.drivers.append(p.pid)
        return p.returncode, json.loads(lines[-1])

    def test_two_workers_three_users_and_a_resume_after_a_kill(self):
        with tempfile.TemporaryDirectory() as work:
            for user, n in [("alice", 6), ("bob", 40), ("carol", 6)]:
                write_jsonl(
                    os.path.join(work, f"{user}.sft.jsonl"),
                    [{"prompt": f"{user}'s change {i}", "completion": f"{user} fixed {i}"} for i in range(n)],
                )
            users = os.path.join(work, "users.jsonl")
            write_jsonl(users, [{"user": u, "history": f"{u}.sft.jsonl"} for u in ("alice", "bob", "carol")])
            config = cope_config(work, "--epochs", "1", "--samples", "2", "--max-new-tokens", "8")
            out = os.path.join(work, "out")

            code, summary = self.run_cluster(users, config, out, kill="bob")
            self.assertEqual(code, 1)
            self.assertEqual(sorted(summary["finished"]), ["alice", "carol"])
            self.assertEqual(list(summary["failed"]), ["bob"])
            self.assertFalse(os.path.exists(os.path.join(out, "users", "bob", "metrics.json")))
            # The users ran in Ray worker processes, not in the driver (which of them ran at
            # the same time depends on how fast each worker starts; a CI run saw bob killed and
            # reported before alice's worker began).
            pids = {e["pid"] for e in events(out) if e["state"] == "started"}
            self.assertGreaterEqual(len(pids), 2)
            self.assertFalse(pids & set(self.drivers), "no user ran in the driver")

            code, summary = self.run_cluster(users, config, out)
            self.assertEqual(code, 0)
            self.assertEqual(summary, {"failed": {}, "finished": ["bob"], "skipped": ["alice", "carol"]})
            states = [(e["user"], e["state"]) for e in events(out)]
            self.assertEqual(states.count(("bob", "started")), 2)
            self.assertEqual(states.count(("bob", "failed")), 1)
            self.assertEqual(states.count(("bob", "finished")), 1)
            self.assertEqual(states.count(("alice", "finished")), 1)
            self.assertEqual([d for d in os.listdir(os.path.join(out, "users")) if d.startswith(".")], [])
            for user, n in [("alice", 6), ("bob", 40), ("carol", 6)]:
                directory = os.path.join(out, "users", user)
                with open(os.path.join(directory, "metrics.json")) as f:
                    metrics = json.load(f)
                self.assertEqual((metrics["user"], metrics["items"]), (user, n))
                self.assertEqual(set(metrics["seconds"]), {"load", "oppu", "negatives", "dpo", "total"})
                # Each adapter loads in Tailor over the task adapter.
                tailor("logits", "--model", TINY, "--lora", TASK_ADAPTER, "--lora", directory, "--tokens", "5,67")


if __name__ == "__main__":
    unittest.main()
