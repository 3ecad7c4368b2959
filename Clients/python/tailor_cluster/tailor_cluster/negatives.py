"""CoPe's synthetic negatives, as Tailor's NegativeSampler draws and picks them.

For a history item, K completions are sampled from π_base (the base with the task adapter: the
user's PEFT model with its adapter disabled) and each is scored with the implicit reward
r = Σ_t log π_user(y_t) − α·Σ_t log π_base(y_t) (per-token means when length-normalized) over
its tokens, including the EOS when the sample ended there. The negative is the lowest-reward
sample whose text differs from the user's real output.
"""

import dataclasses

from .models import end_of_generation_ids


@dataclasses.dataclass
class ScoredSample:
    """One sampled completion: tokens (with the EOS when it ended there), text and reward."""

    tokens: list
    text: str
    reward: float


def choose_negative(scored, real):
    """The negative among `scored` (lowest reward first): the first whose text differs from the
    real output, ignoring surrounding whitespace; None when every sample equals it."""
    real = real.strip()
    for s in scored:
        if s.text.strip() != real:
            return dataclasses.replace(s, text=s.text.replace("\x00", "\ufffd"))
    return None


class NegativeSampler:
    """Samples and scores negatives with `model`, a PEFT model whose active adapter is the
    user's (π_user); with the adapter disabled it is π_base.

    `config` is the `negatives` object of `tailor train cope --print-config`.
    """

    def __init__(self, model, tokenizer, formatter, config):
        self.model = model
        self.tokenizer = tokenizer
        self.formatter = formatter
        self.samples_per_prompt = int(config.get("num_samples", 3))
        self.temperature = float(config.get("temperature", 1.0))
        self.top_p = float(config.get("top_p", 0.95))
        self.max_new_tokens = int(config.get("max_new_tokens", 100))
        self.alpha = float(config.get("alpha", 1.0))
        self.length_normalized = bool(config.get("length_normalized", False))
        self.seed = int(config.get("seed", 42))
        self.end_ids = set(end_of_generation_ids(model, tokenizer))

    def prompt(self, text):
        """The prompt tokens samples start from: its end, leaving room for the samples."""
        prompt = self.formatter.prompt(text)
        room = self.formatter.max_tokens - self.max_new_tokens - 1
        return prompt[len(prompt) - room :] if 0 < room < len(prompt) else prompt

    def sample(self, prompt, index):
        """K token lists from π_base for `prompt`, each cut after its first end token."""
        import torch
        from transformers import GenerationConfig

        room = self.formatter.max_tokens - len(prompt) - 1
        if room < 1:
            raise ValueError(f"a {len(prompt)}-token prompt leaves no room in {self.formatter.max_tokens} tokens")
        generation = GenerationConfig(
            do_sample=True,
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=0,
            max_new_tokens=min(self.max_new_tokens, room),
            num_return_sequences=self.samples_per_prompt,
            eos_token_id=sorted(self.end_ids),
            pad_token_id=self.tokenizer.pad_token_id,
        )
        torch.manual_seed(self.seed + index * 1_000_003)
        device = next(self.model.parameters()).device
        ids = torch.tensor([prompt], device=device)
        with torch.no_grad(), self.model.disable_adapter():
            out = self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=generation)
        samples = []
        for row in out[:, len(prompt) :].tolist():
            tokens = []
            for t in row:
                tokens.append(t)
                if t in self.end_ids:
                    break
            samples.append(tokens)
        return samples

    def score(self, prompt, samples):
        """`samples` (token lists) scored by the implicit reward, lowest first; samples with no
        tokens or no text are dropped, as Tailor drops them."""
        import torch

        texts = {tuple(s): self.text(s) for s in samples if s}
        kept = [s for s in samples if s and texts[tuple(s)]]
        if not kept:
            return []
        device = next(self.model.parameters()).device
        width = len(prompt) + max(len(s) for s in kept)
        ids = torch.full((len(kept), width), self.tokenizer.pad_token_id or 0, device=device)
        mask = torch.zeros_like(ids)
        for i, s in enumerate(kept):
            seq = torch.tensor(prompt + s, device=device)
            ids[i, : len(seq)] = seq
            mask[i, : len(seq)] = 1
        with torch.no_grad():
            user = torch.log_softmax(self.model(input_ids=ids, attention_mask=mask).logits.float(), -1)
            with self.model.disable_adapter():
                base = torch.log_softmax(self.model(input_ids=ids, attention_mask=mask).logits.float(), -1)
        scored = []
        for i, s in enumerate(kept):
            positions = torch.arange(len(prompt) - 1, len(prompt) - 1 + len(s), device=device)
            tokens = torch.tensor(s, device=device)
            lu = user[i, positions, tokens].double().sum().item()
            lb = base[i, positions, tokens].double().sum().item()
            r = lu - self.alpha * lb
            scored.append(
                ScoredSample(tokens=s, text=texts[tuple(s)], reward=r / len(s) if self.length_normalized else r)
            )
        return sorted(scored, key=lambda x: x.reward)

    def text(self, tokens):
        """The text of a sample's tokens, its end token left out."""
        body = tokens[:-1] if tokens and tokens[-1] in self.end_ids else tokens
        return self.tokenizer.decode(body, skip_special_tokens=True)

    def negative(self, prompt_text, output, index):
        """History item `index`'s negative: None when every sample equals the real output."""
        prompt = self.prompt(prompt_text)
        return choose_negative(self.score(prompt, self.sample(prompt, index)), output)
