"""Tailor's training sequences, token for token.

TRL tokenizes `prompt + completion` as one string, so a token can merge across the boundary and
the sequence differs from the one Tailor trains on and decodes from. Tailor tokenizes the two
sides apart: `BOS? + prompt` as generation sees it, then `completion + EOS`. This module builds
exactly those sequences (ExampleFormatter in Sources/TailorTraining/Trainer/TrainingData.swift)
and hands them to TRL pre-tokenized. `tailor train KIND --offline --print-examples` prints
Tailor's own, and the tests hold the two equal.
"""


class TailorFormatter:
    """Prompt and completion tokens as Tailor's trainer makes them.

    max_tokens is the longest sequence (Tailor's `--max-tokens`, capped by the model's
    context); a longer one keeps the BOS and the end of the prompt, where the task instruction
    sits, and the start of the completion (at most half of max_tokens).
    """

    def __init__(self, tokenizer, max_tokens, max_completion_tokens=None, context_length=None):
        self.tokenizer = tokenizer
        self.max_tokens = min(max_tokens, context_length) if context_length else max_tokens
        limit = max_completion_tokens if max_completion_tokens is not None else self.max_tokens // 2
        self.max_completion_tokens = min(limit, self.max_tokens - 2)
        self.bos_id = tokenizer.bos_token_id
        self.eos_id = tokenizer.eos_token_id

    def prompt(self, text):
        """The prompt's tokens, as generation sees them (the tokenizer's BOS rule applies)."""
        return list(self.tokenizer(text, add_special_tokens=True)["input_ids"])

    def completion(self, text):
        """The completion's tokens then EOS; empty when the text has no tokens."""
        ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        if not ids:
            return []
        return ids + ([self.eos_id] if self.eos_id is not None else [])

    def fit(self, prompt, completion):
        """(prompt, completion) truncated as Tailor truncates them."""
        c = completion[: self.max_completion_tokens]
        p = list(prompt)
        if len(p) + len(c) > self.max_tokens:
            keep = max(1, self.max_tokens - len(c))
            if self.bos_id is not None and p and p[0] == self.bos_id and keep > 1:
                p = [self.bos_id] + p[len(p) - (keep - 1) :]
            else:
                p = p[len(p) - keep :]
        return p, c

    def sft_row(self, prompt, completion):
        """TRL's pre-tokenized SFT columns for one history item; None when the output is empty."""
        c = self.completion(completion)
        if not c:
            return None
        p, c = self.fit(self.prompt(prompt), c)
        return {"input_ids": p + c, "completion_mask": [0] * len(p) + [1] * len(c)}

    def dpo_row(self, prompt, chosen, rejected):
        """TRL's pre-tokenized DPO columns for one pair; None when a side is empty.

        Each side is truncated on its own, as Tailor does; when that leaves the rejected side a
        shorter prompt, the row also carries `rejected_prompt_ids`."""
        c, r = self.completion(chosen), self.completion(rejected)
        if not c or not r:
            return None
        full = self.prompt(prompt)
        pc, c = self.fit(full, c)
        pr, r = self.fit(full, r)
        row = {"prompt_ids": pc, "chosen_ids": c, "rejected_ids": r}
        if pr != pc:
            row["rejected_prompt_ids"] = pr
        return row
