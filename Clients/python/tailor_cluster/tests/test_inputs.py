"""Bad input gets an error naming the problem before any training starts, and DPO batches keep
each side's own prompt."""

import json
import os
import tempfile
import unittest

from support import SKIP_ML, write_jsonl


@unittest.skipIf(SKIP_ML, SKIP_ML)
class InputTests(unittest.TestCase):
    def test_rows_are_checked_by_position_and_key(self):
        from tailor_cluster.pipeline import check_rows

        ok = [{"prompt": "a", "completion": "b"}]
        self.assertEqual(check_rows(iter(ok), ("prompt", "completion"), "history"), ok)
        with self.assertRaisesRegex(ValueError, "history row 2: 'completion' must be a string"):
            check_rows(ok + [{"prompt": "a", "completion": 3}], ("prompt", "completion"), "history")
        with self.assertRaisesRegex(ValueError, "pairs row 1 is not an object"):
            check_rows(["x"], ("prompt",), "pairs")

    def test_users_file_is_checked(self):
        from tailor_cluster.runner import read_users

        with tempfile.TemporaryDirectory() as d:
            write_jsonl(os.path.join(d, "a.jsonl"), [{"prompt": "p", "completion": "c"}])
            cases = [
                ([{"user": "../etc", "history": "a.jsonl"}], "'user' must be"),
                ([{"user": "a", "history": "a.jsonl"}, {"user": "a", "history": "a.jsonl"}], "listed twice"),
                ([{"user": "b", "history": []}], "has no history"),
                ([{"user": "b", "history": 5}], "'history' must be a list"),
            ]
            for rows, message in cases:
                path = os.path.join(d, "users.jsonl")
                write_jsonl(path, rows)
                with self.assertRaisesRegex(ValueError, message):
                    read_users(path)
            write_jsonl(path, [{"user": "ada.l@x", "history": "a.jsonl", "pairs": []}])
            self.assertEqual(
                read_users(path), [{"user": "ada.l@x", "history": [{"prompt": "p", "completion": "c"}], "pairs": []}]
            )

    def test_config_must_be_print_config_output(self):
        from tailor_cluster import load_config

        with self.assertRaisesRegex(ValueError, "--print-config"):
            load_config({"lr": 1})
        cfg = load_config(
            json.dumps(
                {"kind": "oppu", "peft": {"r": 4, "lora_alpha": 8, "peft_type": "LORA", "target_modules": ["q_proj"]}}
            )
        )
        self.assertEqual(cfg.lora_config().r, 4)
        with self.assertRaisesRegex(ValueError, "no DPO stage"):
            cfg.dpo_config("/tmp/x")

    def test_preference_batches_pair_each_side_with_its_own_prompt(self):
        from tailor_cluster.pipeline import PreferenceCollator

        rows = [
            {"prompt_ids": [1, 2, 3], "chosen_ids": [4], "rejected_ids": [5, 6], "rejected_prompt_ids": [2, 3]},
            {"prompt_ids": [7], "chosen_ids": [8, 9], "rejected_ids": [10], "rejected_prompt_ids": [7]},
        ]
        batch = PreferenceCollator(pad_token_id=0)(rows)
        self.assertEqual(batch["input_ids"].tolist(), [[1, 2, 3, 4], [7, 8, 9, 0], [2, 3, 5, 6], [7, 10, 0, 0]])
        self.assertEqual(batch["completion_mask"].tolist(), [[0, 0, 0, 1], [0, 1, 1, 0], [0, 0, 1, 1], [0, 1, 0, 0]])
        self.assertEqual(batch["attention_mask"].tolist(), [[1, 1, 1, 1], [1, 1, 1, 0], [1, 1, 1, 1], [1, 1, 0, 0]])


if __name__ == "__main__":
    unittest.main()
