#!/usr/bin/env python3
"""The torch + PEFT peer of `tailor train-bench`: LoRA training steps (forward, backward,
AdamW) over one sequence of N tokens, all learned, fp32 (or with --bf16 under CPU autocast to
bfloat16, the peer of Tailor's bf16 path), on a model of the named shape with random weights
(speed does not depend on the values).

    pip install "torch==2.13.0+cpu" transformers peft
    python3 Benchmarks/torch_lora_train.py --shape qwen05b --rank 8 --targets all --tokens 256 --threads 2
"""

import argparse
import statistics
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

SHAPES = {
    # SmolLM2-135M-Instruct
    "smollm2": (
        LlamaConfig,
        LlamaForCausalLM,
        dict(
            hidden_size=576,
            intermediate_size=1536,
            num_hidden_layers=30,
            num_attention_heads=9,
            num_key_value_heads=3,
            vocab_size=49152,
            tie_word_embeddings=True,
            rope_theta=100000.0,
        ),
    ),
    # Qwen2.5-0.5B (Benchmarks/make_qwen05b_shape.py)
    "qwen05b": (
        Qwen2Config,
        Qwen2ForCausalLM,
        dict(
            hidden_size=896,
            intermediate_size=4864,
            num_hidden_layers=24,
            num_attention_heads=14,
            num_key_value_heads=2,
            vocab_size=151936,
            tie_word_embeddings=True,
        ),
    ),
}
ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", choices=SHAPES, default="qwen05b")
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--targets", default="all")
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--bf16", action="store_true", help="forward under torch.autocast(cpu, bfloat16)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config_class, model_class, dims = SHAPES[args.shape]
    model = model_class(config_class(**dims, max_position_embeddings=4096))
    targets = (
        ALL if args.targets == "all" else [t if t.endswith("_proj") else t + "_proj" for t in args.targets.split(",")]
    )
    model = get_peft_model(
        model, LoraConfig(r=args.rank, lora_alpha=2 * args.rank, target_modules=targets, lora_dropout=0.0)
    )
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.01)
    ids = torch.randint(0, dims["vocab_size"], (1, args.tokens))
    times = []
    for i in range(args.steps + 1):
        t0 = time.perf_counter()
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        if i > 0:
            times.append(time.perf_counter() - t0)
    s = statistics.median(times)
    autocast = ", bf16 autocast" if args.bf16 else ""
    print(
        f"torch {torch.__version__} + peft, {args.shape}: r={args.rank} {args.targets}, 1x{args.tokens} tokens, "
        f"{args.threads} threads{autocast}: {s:.2f} s/step, {args.tokens / s:.1f} tok/s (median of {args.steps})"
    )


if __name__ == "__main__":
    main()
