"""The stages' hyperparameters, as `tailor train KIND --print-config` writes them.

The file is the contract between a desktop's tailord and the cluster: `peft` holds LoraConfig's
arguments, `sft` SFTConfig's (TAM, OPPU), `dpo` DPOConfig's and `negatives` the sampling that
makes DPO's rejected texts. Only what a run adds on its own (output directory, logging, device)
is set here; every value that changes what is learned comes from the file.
"""

import dataclasses
import json

# SFTConfig/DPOConfig arguments a run sets itself: no checkpoints or reports (a user's adapter is
# written once, atomically, at the end), Tailor's own tokenization (see TailorFormatter), and
# every column kept (the pre-tokenized ones are not the model's forward arguments).
_RUN_ARGUMENTS = dict(
    save_strategy="no",
    report_to="none",
    logging_steps=1,
    disable_tqdm=True,
    remove_unused_columns=False,
    dataloader_num_workers=0,
)


@dataclasses.dataclass
class StageConfig:
    """One `--print-config` file: the kind and each stage's arguments."""

    kind: str
    peft: dict
    sft: dict | None = None
    negatives: dict | None = None
    dpo: dict | None = None

    @property
    def max_length(self):
        """Tailor's longest training sequence (the same in every stage)."""
        return (self.sft or self.dpo or {}).get("max_length", 256)

    def lora_config(self):
        """PEFT's LoraConfig for the user's (or the task's) adapter."""
        from peft import LoraConfig

        args = {k: v for k, v in self.peft.items() if k != "peft_type"}
        return LoraConfig(**args)

    def sft_config(self, output_dir, **overrides):
        """TRL's SFTConfig for a supervised stage (TAM or OPPU)."""
        from trl import SFTConfig

        if self.sft is None:
            raise ValueError(f"a {self.kind} config has no supervised stage")
        return SFTConfig(output_dir=output_dir, **self._trainer_arguments(self.sft), **overrides)

    def dpo_config(self, output_dir, **overrides):
        """TRL's DPOConfig for the DPO stage."""
        from trl import DPOConfig

        if self.dpo is None:
            raise ValueError(f"a {self.kind} config has no DPO stage")
        return DPOConfig(output_dir=output_dir, **self._trainer_arguments(self.dpo), **overrides)

    @staticmethod
    def _trainer_arguments(stage):
        import torch

        args = dict(stage)
        args.update(_RUN_ARGUMENTS)
        args["use_cpu"] = not torch.cuda.is_available()
        return args


def load_config(source):
    """A StageConfig from a `--print-config` file's path, its text, or its parsed dict."""
    if isinstance(source, StageConfig):
        return source
    if isinstance(source, str):
        if source.lstrip().startswith("{"):
            source = json.loads(source)
        else:
            with open(source, encoding="utf-8") as f:
                source = json.load(f)
    if not isinstance(source, dict) or "peft" not in source or "kind" not in source:
        raise ValueError("not a `tailor train --print-config` file: it needs 'kind' and 'peft'")
    return StageConfig(
        kind=source["kind"],
        peft=source["peft"],
        sft=source.get("sft"),
        negatives=source.get("negatives"),
        dpo=source.get("dpo"),
    )
