#!/usr/bin/env bash
# The demo's quality over several held-out sets: `tailor demo --json` on clones of REPO
# checked out CUTS commits back from REV (default HEAD; each cut shows a different set of the
# author's latest commits), one JSON file per cut in OUT_DIR, named NAME-cK.json. Pairs of settings are then
# compared commit by commit with Benchmarks/demo_pairs.py.
#   Benchmarks/demo_windows.sh NAME REPO OUT_DIR "0 5 10 15 20 30" [demo options...]
#   Benchmarks/demo_windows.sh ep1 . /tmp/windows "0 5 10 15 20 30" --oppu-epochs 1
#   Benchmarks/demo_windows.sh ep2 . /tmp/windows "0 5 10 15 20 30" --oppu-epochs 2
set -euo pipefail
name=$1 repo=$2 out=$3 cuts=$4
shift 4
tailor=${TAILOR:-$(cd "$(dirname "$0")/.." && pwd)/.build/release/tailor}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for k in $cuts; do
  git clone -q "$repo" "$work/c$k"
  git -C "$work/c$k" checkout -q "${REV:-HEAD}~$k"
  "$tailor" demo --repo "$work/c$k" --json "$@" > "$out/$name-c$k.json" 2> "$out/$name-c$k.log"
  python3 - "$out/$name-c$k.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); s = d["seconds"]; m = d["mean_rouge_l"]
print("%-40s base %.3f  oppu %.3f  cope %.3f  loops oppu %d cope %d  personalize %5.1f s" % (
    sys.argv[1], m["base"], m["oppu"], m["cope"], d["loops"]["oppu"], d["loops"]["cope"],
    s["oppu+negatives+dpo"]))
PY
done
