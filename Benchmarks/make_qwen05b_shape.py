#!/usr/bin/env python3
"""Writes a random-weight GGUF shaped exactly like a real model, for speed benchmarks and
agreement checks against llama.cpp on the same file: Qwen2.5-0.5B (494M parameters, the
default), Qwen3-0.6B, SmolLM3-3B, Gemma-2-2B, Phi-3.5-mini or Qwen3-30B-A3B (`--shape`; its
128 experts of 768 make 0.6B parameters per block, so `--layers 4` keeps its width at a tenth
of its depth: 2.6 GB in Q8_0 instead of 31). Weights are
N(0, 0.02); the tokenizer is a byte-level vocabulary (SentencePiece-style with byte tokens for
Gemma and Phi) padded to the real size. Phi-3.5-mini's Q/K/V and gate/up are fused as its
converter writes them, with LongRoPE factors of its ranges (short 1-2.5, long 1-50, original
context 4096 of 131072). Qwen3-30B-A3B's router stays f32, as llama-quantize leaves it, and
is scaled so that its logits spread like a trained router's (std ~2), not a random N(0, 0.02)
one's, whose near-ties would make the routing a coin toss. Not a usable language model. Quantize further
with llama-quantize (e.g. Q8_0 -> Q4_K_M with --allow-requantize).

    pip install gguf numpy
    python3 Benchmarks/make_qwen05b_shape.py --type Q8_0 --out /tmp/qwen05b-q8_0.gguf
    python3 Benchmarks/make_qwen05b_shape.py --shape qwen3-0.6b --type Q8_0 --out /tmp/qwen3-q8_0.gguf
    python3 Benchmarks/make_qwen05b_shape.py --shape gemma2-2b --type Q8_0 --out /tmp/gemma2-q8_0.gguf
    python3 Benchmarks/make_qwen05b_shape.py --shape phi3.5-mini --type Q8_0 --out /tmp/phi3-q8_0.gguf
    python3 Benchmarks/make_qwen05b_shape.py --shape qwen3-30b-a3b --layers 4 --type Q8_0 --out /tmp/moe-q8_0.gguf
"""

import math

import argparse

import gguf
import numpy as np
from gguf.quants import quantize

# arch, d, layers, heads, kv heads, head width, ffn, vocab, RoPE base, tied embeddings
SHAPES = {
    "qwen2.5-0.5b": ("qwen2", 896, 24, 14, 2, 64, 4864, 151936, 1000000.0, True),
    "qwen3-0.6b": ("qwen3", 1024, 28, 16, 8, 128, 3072, 151936, 1000000.0, True),
    "smollm3-3b": ("smollm3", 2048, 36, 16, 4, 128, 11008, 128256, 5000000.0, True),
    "gemma2-2b": ("gemma2", 2304, 26, 8, 4, 256, 9216, 256000, 10000.0, True),
    "phi3.5-mini": ("phi3", 3072, 32, 32, 32, 96, 8192, 32064, 10000.0, False),
    "qwen3-30b-a3b": ("qwen3moe", 2048, 48, 32, 4, 128, 6144, 151936, 1000000.0, False),
}
# Qwen3-30B-A3B's mixture: experts per block, experts per token, one expert's width.
EXPERTS, EXPERTS_USED, EXPERT_FFN = 128, 8, 768


def add_spm_vocabulary(w, specials, V, tail=()):
    """SentencePiece: `specials` (control tokens, then unk), the 256 byte tokens, filler pieces,
    and `tail` (control tokens) last."""
    tokens = specials + [f"<0x{b:02X}>" for b in range(256)]
    n = len(tokens)
    tokens += [f"tok{i}" for i in range(V - n - len(tail))] + list(tail)
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * n + [-float(i) for i in range(V - n)])
    return n


def add_byte_level_vocabulary(w, arch, V):
    """A byte-level BPE vocabulary padded to V tokens, as Qwen's and SmolLM's files have."""
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    table = dict(zip(bs, cs))
    # One real merge ("Ġ t"): llama.cpp refuses a BPE vocabulary without merges.
    tokens = [chr(table[b]) for b in range(256)] + ["Ġt"] + [f"tok{i}" for i in range(V - 256 - 2)] + ["<|endoftext|>"]
    types = [1] * (V - 1) + [3]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2" if arch.startswith("qwen") else "llama-bpe")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(["Ġ t"])
    w.add_eos_token_id(V - 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--type", default="Q8_0", choices=["Q8_0", "F16", "F32", "Q4_0"])
    ap.add_argument("--shape", default="qwen2.5-0.5b", choices=sorted(SHAPES))
    ap.add_argument("--layers", type=int, help="blocks to write (default: the model's)")
    ap.add_argument(
        "--output-std",
        type=float,
        default=0.02,
        help="std of an untied output matrix: larger spreads the logits, so fewer positions are near-ties",
    )
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    arch, D, L, H, KV, HD, FFN, V, theta, tied = SHAPES[args.shape]
    L = args.layers or L
    qt = gguf.GGMLQuantizationType[args.type]
    rng = np.random.default_rng(0)
    w = gguf.GGUFWriter(args.out, arch)
    w.add_name(f"{args.shape}-shape-random")
    w.add_block_count(L)
    w.add_context_length(131072 if arch == "phi3" else 32768)
    w.add_embedding_length(D)
    w.add_feed_forward_length(FFN)
    w.add_head_count(H)
    w.add_head_count_kv(KV)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_rope_freq_base(theta)
    w.add_key_length(HD)
    w.add_value_length(HD)
    w.add_rope_dimension_count(HD)
    w.add_file_type({"Q8_0": 7, "F16": 1, "F32": 0, "Q4_0": 2}[args.type])
    if arch == "qwen3moe":
        w.add_expert_count(EXPERTS)
        w.add_expert_used_count(EXPERTS_USED)
        w.add_expert_feed_forward_length(EXPERT_FFN)
    if arch == "gemma2":
        # Gemma 2's switches as its converter writes them: local layers of 4096 keys, both caps.
        w.add_sliding_window(4096)
        w.add_attn_logit_softcapping(50.0)
        w.add_final_logit_softcapping(30.0)
        n = add_spm_vocabulary(w, ["<pad>", "<eos>", "<bos>", "<unk>"], V)
        w.add_token_types([3, 3, 3, 2] + [6] * 256 + [1] * (V - n))
        w.add_bos_token_id(2)
        w.add_eos_token_id(1)
        w.add_unk_token_id(3)
        w.add_pad_token_id(0)
    elif arch == "phi3":
        # Phi-3's chat tokens; llama.cpp looks <|endoftext|> up in a file it takes for Phi-3.
        tail = ["<|endoftext|>", "<|assistant|>", "<|system|>", "<|end|>", "<|user|>"]
        n = add_spm_vocabulary(w, ["<unk>", "<s>", "</s>"], V, tail)
        w.add_token_types([2, 3, 3] + [6] * 256 + [1] * (V - n - len(tail)) + [3] * len(tail))
        w.add_bos_token_id(1)
        w.add_eos_token_id(2)
        w.add_unk_token_id(0)
        w.add_sliding_window(262144)  # Phi-3.5's; llama.cpp and Tailor ignore it
        w.add_rope_scaling_orig_ctx_len(4096)
        w.add_rope_scaling_attn_factors(math.sqrt(1 + math.log(131072 / 4096) / math.log(4096)))
    else:
        add_byte_level_vocabulary(w, arch, V)

    def mat(name, rows, cols, experts=None, std=0.02):
        shape = (rows, cols) if experts is None else (experts, rows, cols)
        x = rng.standard_normal(shape, dtype=np.float32) * std
        if qt in (gguf.GGMLQuantizationType.F32,):
            w.add_tensor(name, x)
        elif qt == gguf.GGMLQuantizationType.F16:
            w.add_tensor(name, x.astype(np.float16))
        else:
            w.add_tensor(name, quantize(x, qt), raw_dtype=qt)

    def vec(name, n, base=1.0):
        w.add_tensor(name, (base + 0.02 * rng.standard_normal(n)).astype(np.float32))

    mat("token_embd.weight", V, D)
    vec("output_norm.weight", D)
    if not tied:
        mat("output.weight", V, D, std=args.output_std)
    if arch == "phi3":
        w.add_tensor("rope_factors_long.weight", np.sort(1 + 49 * rng.random(HD // 2)).astype(np.float32))
        w.add_tensor("rope_factors_short.weight", np.sort(1 + 1.5 * rng.random(HD // 2)).astype(np.float32))
        for i in range(L):
            b = f"blk.{i}."
            vec(b + "attn_norm.weight", D)
            mat(b + "attn_qkv.weight", (H + 2 * KV) * HD, D)
            mat(b + "attn_output.weight", D, H * HD)
            vec(b + "ffn_norm.weight", D)
            mat(b + "ffn_up.weight", 2 * FFN, D)
            mat(b + "ffn_down.weight", D, FFN)
    for i in range(L if arch != "phi3" else 0):
        b = f"blk.{i}."
        vec(b + "attn_norm.weight", D)
        mat(b + "attn_q.weight", H * HD, D)
        mat(b + "attn_k.weight", KV * HD, D)
        mat(b + "attn_v.weight", KV * HD, D)
        if arch == "qwen2":
            vec(b + "attn_q.bias", H * HD, 0.0)
            vec(b + "attn_k.bias", KV * HD, 0.0)
            vec(b + "attn_v.bias", KV * HD, 0.0)
        if arch.startswith("qwen3"):
            vec(b + "attn_q_norm.weight", HD)
            vec(b + "attn_k_norm.weight", HD)
        mat(b + "attn_output.weight", D, H * HD)
        if arch == "gemma2":
            vec(b + "post_attention_norm.weight", D)
        vec(b + "ffn_norm.weight", D)
        if arch == "qwen3moe":
            # RMS-normed inputs have unit entries, so N(0, 2/sqrt(D)) rows give logits of std ~2.
            router = rng.standard_normal((EXPERTS, D), dtype=np.float32) * (2 / math.sqrt(D))
            w.add_tensor(b + "ffn_gate_inp.weight", router)
            mat(b + "ffn_gate_exps.weight", EXPERT_FFN, D, EXPERTS)
            mat(b + "ffn_up_exps.weight", EXPERT_FFN, D, EXPERTS)
            mat(b + "ffn_down_exps.weight", D, EXPERT_FFN, EXPERTS)
            continue
        mat(b + "ffn_gate.weight", FFN, D)
        mat(b + "ffn_up.weight", FFN, D)
        mat(b + "ffn_down.weight", D, FFN)
        if arch == "gemma2":
            vec(b + "post_ffw_norm.weight", D)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
