"""The sequences tailor_cluster hands TRL are the ones Tailor's trainer uses, token for token
(`tailor train KIND --offline --print-examples` prints Tailor's)."""

import os
import tempfile
import unittest

from support import SKIP_ML, TINY, load_tiny, tailor_jsonl, write_jsonl

HISTORY = [
    {"id": "1", "input": "the cat sat on the mat", "output": "the hat"},
    {"id": "2", "input": "a dog ran", "output": " the log, then the fog"},
    {"id": "3", "input": "Grüße aus Köln — ünïcödé", "output": "naïve café ☕"},
    {"id": "4", "input": "the " * 60 + "end", "output": "short"},  # prompt truncated
    {"id": "5", "input": "tiny", "output": "the very " * 40 + "long answer"},  # completion cut
    {"id": "6", "input": "no output here", "output": ""},  # no sequence (Tailor refuses to import it)
]
PAIRS = [
    {"id": "p1", "prompt": "the cat", "chosen": "the hat", "rejected": "a bat"},
    {"id": "p2", "prompt": "the " * 50 + "x", "chosen": "a", "rejected": "the much longer rejected side " * 3},
    {"id": "p3", "prompt": "ok", "chosen": "", "rejected": "dropped"},  # as above
]


@unittest.skipIf(SKIP_ML, SKIP_ML)
class FormattingTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from tailor_cluster import TailorFormatter

        cls.model, cls.tokenizer = load_tiny()
        cls.formatter = TailorFormatter(cls.tokenizer, 64, context_length=cls.model.config.max_position_embeddings)

    def tailor_examples(self, kind, rows):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "data.jsonl")
            write_jsonl(path, rows)
            return tailor_jsonl(
                "train",
                kind,
                "--offline",
                "--model",
                TINY,
                "--data",
                path,
                "--task",
                "t",
                "--max-tokens",
                "64",
                "--print-examples",
            )

    def test_sft_rows_equal_tailors_training_sequences(self):
        ours = [self.formatter.sft_row(h["input"], h["output"]) for h in HISTORY]
        self.assertIsNone(ours[-1], "an empty output gives no sequence")
        theirs = self.tailor_examples("oppu", HISTORY[:-1])
        self.assertEqual([r for r in ours if r], theirs)
        # The cases that exercise the truncation rules did truncate.
        self.assertEqual(len(theirs[3]["input_ids"]), 64)
        self.assertEqual(sum(theirs[4]["completion_mask"]), 32)

    def test_dpo_rows_equal_tailors_pair_sequences(self):
        ours = [self.formatter.dpo_row(p["prompt"], p["chosen"], p["rejected"]) for p in PAIRS]
        self.assertIsNone(ours[-1])
        theirs = self.tailor_examples("dpo", PAIRS[:-1])
        self.assertEqual([r for r in ours if r], theirs)
        self.assertIn("rejected_prompt_ids", theirs[1], "each side keeps its own truncated prompt")

    def test_the_real_smollm2_tokenizer_agrees_too(self):
        path = os.path.join(
            os.environ.get("XDG_DATA_HOME", os.path.expanduser("~/.local/share")),
            "tailor",
            "models",
            "SmolLM2-135M-Instruct.Q4_1.gguf",
        )
        if not os.path.isfile(path):
            self.skipTest("no SmolLM2 model (Scripts/fetch-model.sh fetches it)")
        from tailor_cluster import TailorFormatter
        from tailor_cluster.models import load_tokenizer

        tokenizer = load_tokenizer(path)
        formatter = TailorFormatter(tokenizer, 64)
        with tempfile.TemporaryDirectory() as d:
            data = os.path.join(d, "data.jsonl")
            write_jsonl(data, HISTORY[:-1])
            theirs = tailor_jsonl(
                "train",
                "oppu",
                "--offline",
                "--model",
                path,
                "--data",
                data,
                "--task",
                "t",
                "--max-tokens",
                "64",
                "--print-examples",
            )
        self.assertEqual([formatter.sft_row(h["input"], h["output"]) for h in HISTORY[:-1]], theirs)


if __name__ == "__main__":
    unittest.main()
