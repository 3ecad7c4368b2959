"""Export → personalize_user → push → serve: a user's data leaves a live tailord as TRL
datasets, is personalized with TRL and PEFT, comes back as PEFT adapters through the client,
and tailord then computes what the PEFT model computes.

Needs a live tailord serving the tiny llama as "tiny" (TAILOR_TEST_SOCKET; Scripts/test.sh)."""

import json
import os
import shutil
import tempfile
import unittest

from support import SKIP_ML, SOCKET, TASK_ADAPTER, TINY, cope_config, load_tiny, load_user_model, tailor, tailor_jsonl

USER, TASK = "cluster-rt", "cluster-rt-task"
HISTORY = [
    {"id": f"h{i}", "task": TASK, "input": f"subject for change {i}: the {w}", "output": f"fix the {w} {i}"}
    for i, w in enumerate(["cat", "hat", "log", "fog", "dog", "mat", "bat", "rat"])
]
PAIRS = [
    {"id": "p1", "task": TASK, "prompt": "subject for the cat", "chosen": "fix the cat", "rejected": "update files"}
]


@unittest.skipIf(SKIP_ML, SKIP_ML)
@unittest.skipUnless(SOCKET, "no live tailord (TAILOR_TEST_SOCKET; Scripts/test.sh starts one)")
class RoundTripTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from tailor_client import Client

        cls.client = Client(SOCKET, timeout=60)
        cls.forget()
        cls.client.add_history(USER, HISTORY)
        cls.client.add_pairs(USER, PAIRS)
        cls.work = tempfile.mkdtemp()

    @classmethod
    def forget(cls):
        """Removes what an earlier run left: the user (data and adapter) and the task adapter."""
        from tailor_client import TailorError

        for forget in (lambda: cls.client.delete_user(USER), lambda: cls.client.delete_adapter(TASK)):
            try:
                forget()
            except TailorError:
                pass

    @classmethod
    def tearDownClass(cls):
        cls.forget()
        cls.client.close()
        shutil.rmtree(cls.work, ignore_errors=True)

    def export(self, fmt):
        return [json.loads(line) for line in self.client.export_data(USER, task=TASK, format=fmt).splitlines()]

    def test_round_trip(self):
        from tailor_cluster import TailorFormatter, personalize_user
        from tailor_cluster.push import push

        sft, dpo = self.export("trl-sft"), self.export("trl-dpo")
        self.assertEqual(len(sft), len(HISTORY))
        self.assertEqual(dpo, [{k: PAIRS[0][k] for k in ("prompt", "chosen", "rejected")}])

        # The exported prompts, tokenized by the package, are the sequences Tailor's trainer
        # builds from the same records (its own export, read by the offline trainer).
        model, tokenizer = load_tiny()
        formatter = TailorFormatter(tokenizer, 256, context_length=model.config.max_position_embeddings)
        own = os.path.join(self.work, "tailor-export.jsonl")
        with open(own, "wb") as f:
            f.write(self.client.export_data(USER, task=TASK))
        for kind, rows, make in [
            ("oppu", sft, lambda r: formatter.sft_row(r["prompt"], r["completion"])),
            ("dpo", dpo, lambda r: formatter.dpo_row(r["prompt"], r["chosen"], r["rejected"])),
        ]:
            theirs = tailor_jsonl(
                "train", kind, "--offline", "--model", TINY, "--data", own, "--task", TASK, "--print-examples"
            )
            key = lambda row: json.dumps(row, sort_keys=True)  # noqa: E731
            self.assertEqual(sorted(map(key, map(make, rows))), sorted(map(key, theirs)), kind)

        # Personalize with TRL and PEFT, then bring both adapters home through the client.
        config = cope_config(self.work, "--epochs", "2", "--samples", "2", "--max-new-tokens", "8", "--lr", "0.01")
        out = os.path.join(self.work, "run")
        shutil.copytree(TASK_ADAPTER, os.path.join(out, "task"))
        metrics = personalize_user(
            USER,
            sft,
            (model, tokenizer),
            config,
            os.path.join(out, "users", USER),
            pairs=dpo,
            task_adapter=os.path.join(out, "task"),
            log=lambda *_: None,
        )
        self.assertEqual(metrics["negatives"]["pairs"], len(HISTORY))
        self.assertEqual(metrics["dpo"]["pairs"], len(HISTORY) + 1)
        uploaded = push(out, TASK, self.client, model="tiny", log=lambda *_: None)
        self.assertEqual([u for u, _ in uploaded], ["", USER])
        current = {(a.ref.kind, a.ref.user): a.ref.version for a in self.client.list_adapters(task=TASK)}
        self.assertEqual(current, {("task", ""): uploaded[0][1], ("user", USER): uploaded[1][1]})

        # What tailord stored, exported again, gives the PEFT model's logits.
        dirs = {}
        for name, user in [("task", None), ("user", USER)]:
            header, weights = self.client.export_adapter(TASK, user=user, model="tiny")
            d = dirs[name] = os.path.join(self.work, "home", name)
            os.makedirs(d)
            with open(os.path.join(d, "adapter_config.json"), "w") as f:
                f.write(header.peft_config_json)
            with open(os.path.join(d, "adapter_model.safetensors"), "wb") as f:
                f.write(weights)
        tokens = formatter.prompt("subject for change 3: the fog") + formatter.completion("fix the fog 3")
        vocab = model.config.vocab_size
        rows = json.loads(
            tailor(
                "logits",
                "--model",
                TINY,
                "--lora",
                dirs["task"],
                "--lora",
                dirs["user"],
                "--tokens",
                ",".join(map(str, tokens)),
                "--all",
                "--top",
                str(vocab),
            )
        )
        import torch

        peft, _, _ = load_user_model(os.path.join(out, "users", USER))
        with torch.no_grad():
            expected = peft(torch.tensor([tokens])).logits[0]
            with peft.disable_adapter():
                plain = peft(torch.tensor([tokens])).logits[0]
        worst = 0.0
        for row in rows:
            got = torch.zeros(vocab)
            for token, logit in row["top"]:
                got[token] = logit
            worst = max(worst, (got - expected[row["position"]]).abs().max().item())
        self.assertLess(worst, 1e-3)
        self.assertGreater((expected - plain).abs().max().item(), 1e-2, "the user's adapter changes the logits")

        # And tailord's own CoPe decoding of the imported pair equals the reference processor's.
        from tailor_cluster import cope_generate

        g = self.client.generate(
            prompt="subject for change 3: the fog", model="tiny", max_tokens=12, user=USER, task=TASK, mode="cope"
        )
        served = [e.token_id for e in g if hasattr(e, "token_id")]
        self.assertEqual(g.stats.mode, "cope")
        reference = cope_generate(
            peft, torch.tensor(formatter.prompt("subject for change 3: the fog")), 12, eos_token_id=None
        )
        self.assertGreater(len(served), 0)
        self.assertEqual(served, reference[: len(served)])


if __name__ == "__main__":
    unittest.main()
