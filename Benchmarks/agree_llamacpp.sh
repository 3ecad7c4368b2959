#!/usr/bin/env bash
# Top-1 agreement of Tailor with llama.cpp on the same GGUF file: 256 teacher-forced positions
# of a fixed random token sequence, each side's argmax per position, and the share that agree.
# On random-weight shapes many positions are near-ties (top two logits within 0.01), where two
# correct implementations round differently; so beside Tailor = llama.cpp it prints llama.cpp
# against itself in 16-token micro-batches (its own rounding floor), over all positions and
# over those where Tailor's top logit leads its second by at least 0.2. Prints table rows:
# | file | Tailor = llama.cpp | llama.cpp = itself | the same two where the lead >= 0.2 |
#   LLAMACPP_LOGITS=/path/to/llamacpp-logits Benchmarks/agree_llamacpp.sh MODEL.gguf [...]
# llamacpp-logits is Benchmarks/llamacpp_logits.c built against llama.cpp (its header says how).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${LLAMACPP_LOGITS:?set LLAMACPP_LOGITS to the built Benchmarks/llamacpp_logits.c}"
TAILOR=${TAILOR:-.build/release/tailor}
POSITIONS=${POSITIONS:-256}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for model in "$@"; do
  tokens=$(python3 -c "import random; r = random.Random(7)
print(','.join(str(r.randrange(300, 30000)) for _ in range($POSITIONS)))")
  "$LLAMACPP_LOGITS" "$model" "$tokens" 2>/dev/null > "$work/llamacpp.json"
  LLAMACPP_UBATCH=16 "$LLAMACPP_LOGITS" "$model" "$tokens" 2>/dev/null > "$work/llamacpp16.json"
  "$TAILOR" logits --model "$model" -t 2 --tokens "$tokens" --all --top 2 > "$work/tailor.json"
  python3 - "$model" "$work" <<'PY'
import json, os, sys
work = sys.argv[2]
ours = json.load(open(f"{work}/tailor.json"))
theirs = json.load(open(f"{work}/llamacpp.json"))["argmax"]
self16 = json.load(open(f"{work}/llamacpp16.json"))["argmax"]
n = len(theirs)
def row(index):
    a = sum(ours[i]["top"][0][0] == theirs[i] for i in index)
    b = sum(self16[i] == theirs[i] for i in index)
    return f"{a}/{len(index)} | {b}/{len(index)}"
lead = [r["top"][0][1] - r["top"][1][1] for r in ours]
print(f"| {os.path.basename(sys.argv[1])} | {row(range(n))} | {row([i for i in range(n) if lead[i] >= 0.2])} |")
PY
done
