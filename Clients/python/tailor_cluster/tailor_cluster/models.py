"""The base model and the task adapter under a user's adapter.

A base is a Hugging Face model (a hub id or a directory) or a GGUF file, the same one a tailord
serves: transformers dequantizes GGUF weights to float, so the cluster trains on the weights the
desktop decodes with (up to the quantization, which a float copy does not repeat).
"""

import os


def load_base(base, dtype=None, device=None):
    """(model, tokenizer) for `base`: a `.gguf` file, a model directory or a hub id.

    The model is in eval mode on `device` (default: this process's device as accelerate
    assigns it: its own GPU under `accelerate launch`, the GPU when there is one, else the
    CPU), in float32 on the CPU and bfloat16 on a GPU unless `dtype` says otherwise."""
    import torch
    from accelerate import PartialState
    from transformers import AutoModelForCausalLM

    device = torch.device(device) if device else PartialState().device
    dtype = dtype or (torch.bfloat16 if device.type != "cpu" else torch.float32)
    source, kwargs = _source(base)
    tokenizer = load_tokenizer(base)
    model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **kwargs).to(device)
    if (
        kwargs
        and getattr(model, "hf_quantizer", None) is not None
        and all(t.dtype.is_floating_point for t in list(model.parameters()) + list(model.buffers()))
    ):
        # transformers unpacked every GGUF block to float but keeps a "quantized" marker that
        # refuses training; the model it hands back is a plain float model.
        model.hf_quantizer.remove_quantization_config(model)
    model.eval()
    return model, tokenizer


def _source(base):
    """(from_pretrained's first argument, its extra arguments) for `base`."""
    if not base.endswith(".gguf"):
        return base, {}
    if not os.path.isfile(base):
        raise FileNotFoundError(f"no GGUF file at {base}")
    directory, name = os.path.split(os.path.abspath(base))
    return directory, {"gguf_file": name}


def load_tokenizer(base):
    """`base`'s tokenizer alone (a GGUF file's is built from its vocabulary), padding with EOS
    when it has no pad token."""
    from transformers import AutoTokenizer

    source, kwargs = _source(base)
    tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def merge_task_adapter(model, task_adapter):
    """`model` with the task adapter (a PEFT directory) merged into its weights: π_base.

    The user's adapter then trains over it exactly as Tailor's trains over the frozen task
    adapter (LoRA deltas add, so merged or stacked is the same function)."""
    if not task_adapter:
        return model
    from peft import PeftModel

    return PeftModel.from_pretrained(model, task_adapter).merge_and_unload()


def end_of_generation_ids(model, tokenizer):
    """The tokens that end a generation: the tokenizer's EOS and the model's own list."""
    ids = set()
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    configured = getattr(model.generation_config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(configured)
    return sorted(ids)
