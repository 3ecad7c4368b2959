#!/usr/bin/env bash
# One user personalized by Tailor on the CPU and by tailor_cluster (TRL + PEFT + torch) on the
# CPU, same data, same hyperparameters, same threads: the 32 oldest commit_subject items of
# ../shared's most active author but one (Barry Warsaw), SmolLM2 Q4_1, no task adapter,
# `tailor train cope` defaults (OPPU, K=3 negatives, DPO). Prints each side's wall seconds and
# seconds per stage.
#   Benchmarks/cluster_vs_tailor.sh [tailor-binary-dir]     (default .build/release)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-.build/release}
threads=${THREADS:-2}
data=${DATA:-../shared/data/commit_subject/users.json}
model=${MODEL:-${XDG_DATA_HOME:-$HOME/.local/share}/tailor/models/SmolLM2-135M-Instruct.Q4_1.gguf}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$data" "$work" <<'PY'
import json, sys
users = json.load(open(sys.argv[1]))
user = next(u for u in users if u["user_id"] == "Barry Warsaw")
items = user["profile"][:32]
with open(sys.argv[2] + "/user.jsonl", "w") as f:
    for i in items:
        f.write(json.dumps({"id": i["id"], "input": i["input"], "output": i["output"]}) + "\n")
with open(sys.argv[2] + "/user.sft.jsonl", "w") as f:
    for i in items:
        f.write(json.dumps({"prompt": i["input"], "completion": i["output"]}) + "\n")
PY
"$bin/tailor" train cope --task bench --print-config > "$work/cope.json"
# Tailor's cope job is these three stages; run apart, each is timed.
stage() {  # name, then the offline command's own arguments
  local name=$1; shift
  local t0; t0=$(date +%s.%N)
  "$bin/tailor" train "$name" --offline --model "$model" --task bench -t "$threads" "$@" > /dev/null \
      2>> "$work/tailor.log" || { tail -20 "$work/tailor.log"; exit 1; }
  tailor_stages+=("$(printf '%s %.1f s' "$name" "$(echo "$(date +%s.%N) - $t0" | bc)")")
}
tailor_stages=()
start=$(date +%s.%N)
stage oppu --data "$work/user.jsonl" --out "$work/oppu"
stage negatives --data "$work/user.jsonl" --user-adapter "$work/oppu" --out "$work/pairs.jsonl"
stage dpo --data "$work/pairs.jsonl" --user-adapter "$work/oppu" --out "$work/tailor-adapter"
tailor_seconds=$(echo "$(date +%s.%N) - $start" | bc)
start=$(date +%s.%N)
OMP_NUM_THREADS=$threads PYTHONPATH=Clients/python/tailor_cluster:Clients/python \
    python3 -m tailor_cluster personalize --user bench --history "$work/user.sft.jsonl" --base "$model" \
    --config "$work/cope.json" --out "$work/cluster-adapter" > "$work/cluster.json" 2> "$work/cluster.log" \
    || { tail -20 "$work/cluster.log"; exit 1; }
cluster_seconds=$(echo "$(date +%s.%N) - $start" | bc)
printf 'tailor (Swift, CPU, %s threads): %.1f s  stages: %s\n' "$threads" "$tailor_seconds" "${tailor_stages[*]}"
printf 'tailor_cluster (TRL + PEFT, torch CPU, %s threads): %.1f s  stages: %s\n' "$threads" "$cluster_seconds" \
    "$(cat "$work/cluster.json")"
printf 'ratio cluster / tailor: %.2f\n' "$(echo "$cluster_seconds / $tailor_seconds" | bc -l)"
