"""Tailor's CoPe personalization on a cluster, with the tools that field trusts.

Tailor personalizes one person's model on their own machine. This package runs the same
pipeline for many users where GPUs are: TRL's SFTTrainer and PEFT train each user's adapter
(OPPU) over the task adapter (TAM), synthetic negatives are sampled and scored with Tailor's
implicit reward, TRL's DPOTrainer finishes the adapter, and Ray fans users out. The adapters it
writes are PEFT directories that `tailor adapters import` (or `tailor-cluster push`) brings home
to any tailord, where CoPe decoding serves them.

Everything that decides what is learned follows Tailor exactly: the token sequences
(`TailorFormatter`), the hyperparameters (`tailor train KIND --print-config`), the reward and
the rule that picks a negative (`negatives`), and the contrast at decoding time
(`CoPeLogitsProcessor`).
"""

from .config import StageConfig, load_config
from .cope import CoPeLogitsProcessor, cope_generate
from .formatting import TailorFormatter
from .models import load_base, merge_task_adapter
from .negatives import NegativeSampler, ScoredSample, choose_negative
from .pipeline import personalize_user, train_task_adapter

__all__ = [
    "CoPeLogitsProcessor",
    "NegativeSampler",
    "ScoredSample",
    "StageConfig",
    "TailorFormatter",
    "choose_negative",
    "cope_generate",
    "load_base",
    "load_config",
    "merge_task_adapter",
    "personalize_user",
    "train_task_adapter",
]
