"""One user's CoPe personalization with TRL and PEFT: OPPU, synthetic negatives, DPO.

The stages are Tailor's (Sources/TailorTraining/Pipeline/PersonalizationPipeline.swift), with
TRL's trainers in place of Tailor's step loop:

1. OPPU: a fresh LoRA (the config's `peft`) trained by SFTTrainer on the user's history over
   π_base = base + task adapter (merged), loss on the completion only.
2. Negatives: per history item, the lowest-reward of K samples of π_base (NegativeSampler).
3. DPO: DPOTrainer continues the same adapter on the user's own pairs plus the negatives, with
   π_base as the reference, as Tailor's DPO does (TRL's default reference for a pretrained PEFT
   adapter would be the adapter's starting point instead).

Every sequence is tokenized as Tailor's trainer tokenizes it (TailorFormatter) and handed to TRL
pre-tokenized. The adapter is written as a PEFT directory, atomically: a directory that exists
is complete.
"""

import copy
import json
import os
import shutil
import tempfile
import time

from .config import load_config
from .formatting import TailorFormatter
from .models import load_base, merge_task_adapter
from .negatives import NegativeSampler

DONE = "metrics.json"


def _dpo_trainer_class():
    """DPOTrainer reading Tailor's pre-tokenized pairs as they are.

    TRL 1.x tokenizes `prompt + chosen` itself; Tailor's tokens come from TailorFormatter, so
    the dataset preparation is skipped (`_prepare_dataset` is the trainer's own hook for it) and
    the collator below pairs each side with its own prompt."""
    from trl import DPOTrainer

    class TailorDPOTrainer(DPOTrainer):
        def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
            return dataset

    return TailorDPOTrainer


class PreferenceCollator:
    """Chosen sequences then rejected ones, right-padded, with completion masks (TRL's layout);
    a row's `rejected_prompt_ids`, when present, is the rejected side's own prompt."""

    def __init__(self, pad_token_id):
        self.pad_token_id = pad_token_id

    def __call__(self, rows):
        import torch

        seqs, masks = [], []
        for side in ("chosen", "rejected"):
            for r in rows:
                prompt = r.get("rejected_prompt_ids") if side == "rejected" else None
                prompt = prompt or r["prompt_ids"]
                completion = r[f"{side}_ids"]
                seqs.append(prompt + completion)
                masks.append([0] * len(prompt) + [1] * len(completion))
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_token_id, dtype=torch.long)
        attention = torch.zeros((len(seqs), width), dtype=torch.long)
        completion = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, (s, m) in enumerate(zip(seqs, masks)):
            ids[i, : len(s)] = torch.tensor(s)
            attention[i, : len(s)] = 1
            completion[i, : len(m)] = torch.tensor(m)
        return {"input_ids": ids, "attention_mask": attention, "completion_mask": completion}


def _silence(trainer):
    """No printed log lines: the losses stay in trainer.state.log_history for the metrics."""
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)


def _log_losses(trainer):
    return [h["loss"] for h in trainer.state.log_history if "loss" in h]


def _save_atomically(model, out_dir, metrics):
    """The adapter and its metrics into `out_dir`, via a sibling temporary directory renamed
    into place, so a killed run leaves no half-written adapter. Under `accelerate launch` only
    the main process writes."""
    from accelerate import PartialState

    if not PartialState().is_main_process:
        return
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-", dir=parent)
    try:
        model.save_pretrained(tmp)
        with open(os.path.join(tmp, DONE), "w", encoding="utf-8") as f:
            json.dump(metrics, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        for name in os.listdir(tmp):
            fd = os.open(os.path.join(tmp, name), os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
        if os.path.exists(out_dir):
            shutil.rmtree(out_dir)
        os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _supervised(model, tokenizer, formatter, rows, cfg, workdir):
    """SFTTrainer over `rows` (prompt/completion dicts) on `model` (a PEFT model)."""
    from datasets import Dataset
    from trl import SFTTrainer

    data = [x for x in (formatter.sft_row(r["prompt"], r["completion"]) for r in rows) if x]
    if not data:
        raise ValueError("no history item has a non-empty completion")
    trainer = SFTTrainer(
        model=model, args=cfg.sft_config(workdir), train_dataset=Dataset.from_list(data), processing_class=tokenizer
    )
    _silence(trainer)
    trainer.train()
    return trainer, len(data)


def train_task_adapter(items, base, config, out_dir, log=print):
    """The task adapter (TAM): a LoRA trained on other users' items ({"prompt", "completion"}),
    written to `out_dir` as a PEFT directory. Returns its metrics."""
    from peft import get_peft_model
    from transformers import set_seed

    cfg = load_config(config)
    started = time.time()
    model, tokenizer = load_base(base) if isinstance(base, str) else base
    set_seed(int(cfg.sft.get("seed", 42)))
    formatter = TailorFormatter(tokenizer, cfg.max_length, context_length=model.config.max_position_embeddings)
    peft_model = get_peft_model(model, cfg.lora_config())
    with tempfile.TemporaryDirectory() as work:
        trainer, n = _supervised(peft_model, tokenizer, formatter, items, cfg, work)
    metrics = {"stage": "tam", "items": n, "losses": _log_losses(trainer), "seconds": time.time() - started}
    _save_atomically(peft_model, out_dir, metrics)
    log(f"task adapter: {n} items, {metrics['seconds']:.1f} s -> {out_dir}")
    return metrics


def personalize_user(user, history, base, config, out_dir, pairs=(), task_adapter=None, log=print):
    """Personalizes one user and writes their adapter to `out_dir` (a PEFT directory).

    - history: the user's items, TRL's prompt-completion rows (`tailor data export --format
      trl-sft`).
    - pairs: the user's own preference rows (`--format trl-dpo`), learned beside the negatives.
    - base: a GGUF file, a model directory or hub id, or a loaded (model, tokenizer), which
      PEFT then wraps in place (load a fresh one per user).
    - config: a `tailor train cope --print-config` file (path, text or dict); a `oppu` config
      stops after OPPU.
    - task_adapter: the task adapter's PEFT directory (merged under the user's).

    Returns the metrics it also writes to `out_dir/metrics.json`: per stage its seconds and
    losses, the negatives' rewards, the number of items and pairs."""
    from peft import get_peft_model
    from transformers import set_seed

    cfg = load_config(config)
    if cfg.sft is None:
        raise ValueError(f"a {cfg.kind} config has no OPPU stage: use `tailor train cope --print-config`")
    history = check_rows(history, ("prompt", "completion"), "history")
    pairs = check_rows(pairs, ("prompt", "chosen", "rejected"), "pairs")
    metrics = {"user": user, "kind": cfg.kind, "items": len(history), "seconds": {}}
    clock = time.time()
    model, tokenizer = load_base(base) if isinstance(base, str) else base
    model = merge_task_adapter(model, task_adapter)
    # DPO's reference is π_base: a copy taken before PEFT wraps the model in place.
    reference = copy.deepcopy(model) if cfg.dpo is not None else None
    formatter = TailorFormatter(tokenizer, cfg.max_length, context_length=model.config.max_position_embeddings)
    metrics["seconds"]["load"] = time.time() - clock

    clock = time.time()
    set_seed(int(cfg.sft.get("seed", 42)))
    policy = get_peft_model(model, cfg.lora_config())
    with tempfile.TemporaryDirectory() as work:
        trainer, n = _supervised(policy, tokenizer, formatter, history, cfg, work)
    metrics["oppu"] = {"sequences": n, "losses": _log_losses(trainer)}
    metrics["seconds"]["oppu"] = time.time() - clock
    log(f"{user}: oppu {n} sequences, {metrics['seconds']['oppu']:.1f} s")

    if cfg.negatives is not None and cfg.dpo is not None:
        clock = time.time()
        policy.eval()
        sampler = NegativeSampler(policy, tokenizer, formatter, cfg.negatives)
        synthetic, rewards = [], []
        for i, item in enumerate(history):
            worst = sampler.negative(item["prompt"], item["completion"], i)
            if worst is None:
                continue
            rewards.append(worst.reward)
            synthetic.append({"prompt": item["prompt"], "chosen": item["completion"], "rejected": worst.text})
        metrics["negatives"] = {"pairs": len(synthetic), "rewards": rewards}
        metrics["seconds"]["negatives"] = time.time() - clock
        log(f"{user}: {len(synthetic)} negatives, {metrics['seconds']['negatives']:.1f} s")

        clock = time.time()
        rows = [x for x in (formatter.dpo_row(p["prompt"], p["chosen"], p["rejected"]) for p in pairs + synthetic) if x]
        for row in rows:  # one schema for every row of the dataset
            row.setdefault("rejected_prompt_ids", row["prompt_ids"])
        if rows:
            from datasets import Dataset

            policy.train()
            with tempfile.TemporaryDirectory() as work:
                dpo = _dpo_trainer_class()(
                    model=policy,
                    ref_model=reference,
                    args=cfg.dpo_config(work),
                    train_dataset=Dataset.from_list(rows),
                    processing_class=tokenizer,
                    data_collator=PreferenceCollator(tokenizer.pad_token_id),
                )
                _silence(dpo)
                dpo.train()
            metrics["dpo"] = {"pairs": len(rows), "losses": _log_losses(dpo)}
        metrics["seconds"]["dpo"] = time.time() - clock
        log(f"{user}: dpo {len(rows)} pairs, {metrics['seconds']['dpo']:.1f} s")

    metrics["seconds"]["total"] = sum(metrics["seconds"].values())
    _save_atomically(policy, out_dir, metrics)
    return metrics


def check_rows(rows, keys, what):
    """`rows` as a list, each a dict holding string `keys`.
    - Raises: ValueError naming the first bad row and key."""
    rows = list(rows)
    for n, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise ValueError(f"{what} row {n} is not an object")
        for key in keys:
            if not isinstance(row.get(key), str):
                raise ValueError(f"{what} row {n}: '{key}' must be a string")
    return rows


def read_jsonl(path):
    """The objects of a JSONL file (blank lines skipped)."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
