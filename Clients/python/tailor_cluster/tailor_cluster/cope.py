"""CoPe decoding as a transformers LogitsProcessor: the reference for GPU servers.

At each step CoPe keeps the plausible tokens of the user's model,
V_head = {v : π_user(v) ≥ τ·max π_user}, and scores them by log π̃_user(v) − α·log π_base(v),
where π̃_user is π_user renormalized over V_head and π_base is the same model without the
user's adapter. Greedy decoding takes the best score (the lowest token id on a tie), which is
what tailord's ContrastiveSelector does; sampling draws from softmax(score / T), so generate()'s
own temperature, top-k and top-p warpers then act on the contrast as tailord's do.
"""

import math

import torch
from transformers import LogitsProcessor


class CoPeLogitsProcessor(LogitsProcessor):
    """Turns π_user's next-token logits into CoPe's scores.

    `model` is the PEFT model generate() runs, with the user's adapter active: the logits it
    hands in are π_user's. The processor runs the same model with the adapter disabled on the
    same tokens (its own KV cache, fed only the new tokens each step) to get π_base's. One
    processor serves one generate() call over one sequence, or a batch of equal-length prompts
    without padding; it starts over when it sees a shorter input than the last.
    Put it first among the processors, so that it sees π_user's raw logits.
    """

    def __init__(self, model, alpha=0.1, tau=0.1):
        if not (0 < tau <= 1):
            raise ValueError(f"tau must be in (0, 1], not {tau}")
        if not (alpha >= 0 and math.isfinite(alpha)):
            raise ValueError(f"alpha must be finite and >= 0, not {alpha}")
        self.model = model
        self.alpha = alpha
        self.log_tau = math.log(tau)
        self.reset()

    def reset(self):
        """Forgets the base pass's cache (a new sequence follows)."""
        self._cache = None
        self._seen = 0
        #: |V_head| at each step, per row: how much room the contrast had.
        self.head_sizes = []

    @torch.no_grad()
    def _base_logits(self, input_ids):
        if input_ids.shape[1] <= self._seen:
            self.reset()
        new = input_ids[:, self._seen :]
        with self.model.disable_adapter():
            out = self.model(input_ids=new, cache=self._cache, use_cache=True)
        self._cache = out.cache
        self._seen = input_ids.shape[1]
        return out.logits[:, -1, :].float()

    def __call__(self, input_ids, scores):
        base = torch.log_softmax(self._base_logits(input_ids), -1)
        user = scores.float()
        top = user.max(-1, keepdim=True).values
        head = user >= top + self.log_tau
        self.head_sizes.append(head.sum(-1).tolist())
        log_head_mass = torch.logsumexp(user.masked_fill(~head, -math.inf), -1, keepdim=True)
        contrast = (user - log_head_mass) - self.alpha * base
        return contrast.masked_fill(~head, -math.inf).to(scores.dtype)


def cope_generate(model, input_ids, max_new_tokens, alpha=0.1, tau=0.1, **generate_kwargs):
    """Greedy (or, with `do_sample=True`, sampled) CoPe decoding of one prompt.

    `model` is a PEFT model whose active adapter is the user's, over the base with the task
    adapter merged (see `merge_task_adapter`). Returns the new token ids."""
    if input_ids.dim() == 1:
        input_ids = input_ids[None, :]
    processor = CoPeLogitsProcessor(model, alpha=alpha, tau=tau)
    generate_kwargs.setdefault("do_sample", False)
    out = model.generate(
        input_ids=input_ids,
        attention_mask=torch.ones_like(input_ids),
        max_new_tokens=max_new_tokens,
        logits_processor=[processor],
        **generate_kwargs,
    )
    return out[0, input_ids.shape[1] :].tolist()
