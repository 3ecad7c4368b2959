#!/usr/bin/env python3
"""Two settings of `tailor demo` compared commit by commit over the same held-out sets.

Reads OUT_DIR/A-c*.json and OUT_DIR/B-c*.json written by Benchmarks/demo_windows.sh and
prints, for OPPU and CoPe, the mean ROUGE-L under each setting, the paired mean difference
B - A with a bootstrap 95% interval (10,000 resamples of the shown commits), wins / ties /
losses, and how many subjects loop (a word of 3+ characters 3+ times, the demo's count) or
have fewer than 3 words; then CoPe - OPPU under each setting, paired the same way.

    python3 Benchmarks/demo_pairs.py /tmp/windows ep1 ep2
"""

import glob
import json
import random
import re
import sys


def load(out, name):
    shown = {}
    for path in glob.glob(f"{out}/{name}-c*.json"):
        cut = path.rsplit("-c", 1)[1]
        for commit in json.load(open(path))["commits"]:
            shown[(cut, commit["hash"])] = commit["methods"]
    return shown


def loops(text):
    # The demo's count (TailorEval's Repetition): rouge_score's tokens, lowercased runs of
    # [a-z0-9], of 3+ characters, one of them 3+ times.
    words = [w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) >= 3]
    return any(words.count(w) >= 3 for w in set(words))


def interval(diffs, resamples=10_000):
    rng = random.Random(0)
    means = sorted(sum(rng.choice(diffs) for _ in diffs) / len(diffs) for _ in range(resamples))
    return means[int(0.025 * resamples)], means[int(0.975 * resamples) - 1]


def main(out, a_name, b_name):
    a, b = load(out, a_name), load(out, b_name)
    keys = sorted(set(a) & set(b))
    if not keys:
        sys.exit(f"no commits shown under both {a_name} and {b_name} in {out}")
    print(f"{len(keys)} commits shown under both")
    for method in ("oppu", "cope"):
        diffs = [b[k][method]["rouge_l"] - a[k][method]["rouge_l"] for k in keys]
        low, high = interval(diffs)
        wins, losses = sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)
        mean_a = sum(a[k][method]["rouge_l"] for k in keys) / len(keys)
        mean_b = sum(b[k][method]["rouge_l"] for k in keys) / len(keys)
        count = lambda s, test: sum(test(s[k][method]["text"]) for k in keys)
        short = lambda t: len(t.split()) < 3
        print(
            f"{method}: {mean_a:.3f} -> {mean_b:.3f}, {sum(diffs) / len(diffs):+.3f} "
            f"[{low:+.3f}, {high:+.3f}], {wins} / {len(keys) - wins - losses} / {losses}; "
            f"loops {count(a, loops)} -> {count(b, loops)}, under 3 words {count(a, short)} -> {count(b, short)}"
        )
    for name, shown in ((a_name, a), (b_name, b)):
        diffs = [shown[k]["cope"]["rouge_l"] - shown[k]["oppu"]["rouge_l"] for k in keys]
        low, high = interval(diffs)
        same = sum(shown[k]["cope"]["text"] == shown[k]["oppu"]["text"] for k in keys)
        print(
            f"CoPe - OPPU under {name}: {sum(diffs) / len(diffs):+.3f} [{low:+.3f}, {high:+.3f}], "
            f"{sum(d > 0 for d in diffs)} wins, {sum(d < 0 for d in diffs)} losses, same text on {same}"
        )


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
