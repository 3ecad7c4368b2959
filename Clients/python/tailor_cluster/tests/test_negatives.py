"""The Python side scores Tailor's own samples as Tailor does and keeps the same negative.

`tailor train negatives --offline --candidates` writes every sample Tailor drew with its reward;
NegativeSampler.score re-scores the same tokens with PEFT (π_user = task + user adapters,
π_base = task adapter) and choose_negative applies the rule that picks one."""

import json
import os
import tempfile
import unittest

from support import SKIP_ML, TASK_ADAPTER, TINY, USER_ADAPTER, load_user_model, tailor, write_jsonl

HISTORY = [
    {"id": str(i), "input": prompt, "output": output}
    for i, (prompt, output) in enumerate(
        [
            ("the cat sat on the mat", "the hat"),
            ("a dog ran", "the log"),
            ("write the subject", "fix the build"),
            ("the end", "the end"),
            ("summarize: the quick brown fox", "a fox"),
            ("x", "y"),
        ]
    )
]


def run_tailor(directory, *flags):
    data = os.path.join(directory, "history.jsonl")
    write_jsonl(data, HISTORY)
    samples = os.path.join(directory, "samples.jsonl")
    tailor(
        "train",
        "negatives",
        "--offline",
        "--model",
        TINY,
        "--data",
        data,
        "--task",
        "t",
        "--task-adapter",
        TASK_ADAPTER,
        "--user-adapter",
        USER_ADAPTER,
        "--out",
        os.path.join(directory, "pairs.jsonl"),
        "--candidates",
        samples,
        "--samples",
        "4",
        *flags,
        # the rewards are compared with PEFT's to 1e-3: the float path, whatever this host's
        # measurement would choose (the bf16 path's rounding moves them by ~1e-2)
        env={"TAILOR_PREFILL_PATH": "float"},
    )
    with open(samples, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@unittest.skipIf(SKIP_ML, SKIP_ML)
class NegativeTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.user, cls.tokenizer, cls.formatter = load_user_model()

    def sampler(self, **config):
        from tailor_cluster import NegativeSampler

        return NegativeSampler(self.user, self.tokenizer, self.formatter, config)

    def check(self, lines, sampler):
        from tailor_cluster import choose_negative

        self.assertEqual(len(lines), len(HISTORY))
        for line, item in zip(lines, HISTORY):
            prompt = line["prompt_tokens"]
            self.assertEqual(sampler.prompt(item["input"]), prompt, "the same prompt tokens")
            theirs = line["samples"]
            ours = sampler.score(prompt, [s["tokens"] for s in theirs])
            self.assertEqual(len(ours), len(theirs))
            by_tokens = {tuple(s.tokens): s for s in ours}
            for s in theirs:
                mine = by_tokens[tuple(s["tokens"])]
                self.assertAlmostEqual(
                    mine.reward, s["reward"], delta=1e-3, msg=f"reward of {s['tokens']} (item {line['index']})"
                )
                self.assertEqual(mine.text, s["text"])
            kept = choose_negative(ours, item["output"])
            if line["kept"] is None:
                self.assertIsNone(kept)
            else:
                self.assertEqual(kept.tokens, theirs[line["kept"]]["tokens"], f"item {line['index']}")

    def test_sums_of_log_probabilities(self):
        with tempfile.TemporaryDirectory() as d:
            lines = run_tailor(d, "--max-new-tokens", "12")
        self.check(lines, self.sampler(alpha=1.0, max_new_tokens=12))
        rewards = [s["reward"] for line in lines for s in line["samples"]]
        self.assertGreater(len(set(round(r, 3) for r in rewards)), 4, "the samples differ in reward")

    def test_length_normalized_with_another_alpha(self):
        with tempfile.TemporaryDirectory() as d:
            lines = run_tailor(d, "--max-new-tokens", "10", "--reward-alpha", "0.5", "--length-normalized")
        self.check(lines, self.sampler(alpha=0.5, max_new_tokens=10, length_normalized=True))

    def test_samples_come_from_the_task_model_and_end_at_eos(self):
        sampler = self.sampler(num_samples=3, max_new_tokens=6, seed=7)
        prompt = sampler.prompt(HISTORY[0]["input"])
        samples = sampler.sample(prompt, 0)
        self.assertEqual(len(samples), 3)
        for s in samples:
            self.assertTrue(1 <= len(s) <= 6)
            self.assertNotIn(self.tokenizer.eos_token_id, s[:-1], "a sample ends at its first EOS")
        self.assertEqual(samples, sampler.sample(prompt, 0), "seeded per (seed, item)")


if __name__ == "__main__":
    unittest.main()
