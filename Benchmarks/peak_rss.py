#!/usr/bin/env python3
"""Peak resident memory of a `tailor run` against the engine's memory budget:
model file + 20% + KV cache (weights are mmapped, not copied).

    python3 Benchmarks/peak_rss.py MODEL.gguf [--ctx 2048]
"""

import argparse
import os
import resource
import subprocess
import sys

import gguf


def kv_bytes(path, ctx):
    r = gguf.GGUFReader(path)
    arch = r.fields["general.architecture"].contents()
    f = lambda k, d=None: r.fields[f"{arch}.{k}"].contents() if f"{arch}.{k}" in r.fields else d
    layers, heads = f("block_count"), f("attention.head_count")
    kv_heads = f("attention.head_count_kv", heads)
    head_dim = f("attention.key_length", f("embedding_length") // heads)
    return layers * 2 * ctx * kv_heads * head_dim * 4


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--ctx", type=int, default=2048)
    ap.add_argument("--tailor", default=".build/release/tailor")
    a = ap.parse_args()
    cmd = [a.tailor, "run", "--model", a.model, "--ctx", str(a.ctx), "-n", "64", "Tell me about the sea."]
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    size = os.path.getsize(a.model)
    kv = kv_bytes(a.model, a.ctx)
    budget = size * 1.2 + kv
    mib = lambda b: f"{b / 2**20:.0f} MiB"
    print(
        f"| {os.path.basename(a.model)} | {a.ctx} | {mib(size)} | {mib(kv)} | {mib(peak)} | {mib(budget)} | "
        f"{peak / budget:.2f} |"
    )
    return 0 if peak <= budget else 1


if __name__ == "__main__":
    sys.exit(main())
