"""CoPeLogitsProcessor decodes what tailord's CoPe decodes: greedy, token for token, against
`tailor run --cope --json` on the same base, task adapter and user adapter."""

import json
import unittest

from support import SKIP_ML, TASK_ADAPTER, TINY, USER_ADAPTER, load_user_model, tailor

PROMPTS = ["the cat sat", "write the subject line:", "a"]


@unittest.skipIf(SKIP_ML, SKIP_ML)
class CoPeProcessorTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.user, cls.tokenizer, cls.formatter = load_user_model()

    def tailor_cope(self, prompt, *flags):
        out = tailor(
            "run",
            "--model",
            TINY,
            "--lora",
            TASK_ADAPTER,
            "--user-lora",
            USER_ADAPTER,
            "--cope",
            "-n",
            "16",
            "--json",
            *flags,
            prompt,
        )
        return json.loads(out)["tokens"]

    def ours(self, prompt, **kwargs):
        import torch

        from tailor_cluster import cope_generate

        ids = torch.tensor(self.formatter.prompt(prompt))
        return cope_generate(self.user, ids, 16, eos_token_id=None, **kwargs)

    def test_greedy_cope_equals_tailords_for_16_tokens(self):
        for prompt in PROMPTS:
            theirs = self.tailor_cope(prompt)
            self.assertEqual(len(theirs), 16)
            self.assertEqual(self.ours(prompt), theirs, prompt)

    def test_other_alpha_and_tau(self):
        for alpha, tau in [(1.0, 0.1), (0.5, 0.01)]:
            theirs = self.tailor_cope(PROMPTS[0], "--alpha", str(alpha), "--tau", str(tau))
            self.assertEqual(self.ours(PROMPTS[0], alpha=alpha, tau=tau), theirs, (alpha, tau))

    def test_the_contrast_changes_the_text(self):
        # Plain greedy decoding of the user's model differs from CoPe's on these adapters, so
        # the equality above is not plain decoding agreeing with itself.
        import torch

        ids = torch.tensor([self.formatter.prompt(PROMPTS[0])])
        plain = self.user.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=16, do_sample=False, eos_token_id=None
        )[0, ids.shape[1] :].tolist()
        self.assertNotEqual(plain, self.ours(PROMPTS[0], alpha=1.0))

    def test_head_sizes_are_recorded(self):
        import torch

        from tailor_cluster import CoPeLogitsProcessor

        ids = torch.tensor([self.formatter.prompt(PROMPTS[1])])
        processor = CoPeLogitsProcessor(self.user, alpha=0.1, tau=0.1)
        self.user.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=5,
            do_sample=False,
            eos_token_id=None,
            logits_processor=[processor],
        )
        self.assertEqual(len(processor.head_sizes), 5)
        self.assertTrue(all(n[0] >= 1 for n in processor.head_sizes))
        with self.assertRaises(ValueError):
            CoPeLogitsProcessor(self.user, tau=0)


if __name__ == "__main__":
    unittest.main()
