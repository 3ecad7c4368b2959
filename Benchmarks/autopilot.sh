#!/usr/bin/env bash
# The autopilot on a real model, with the daemon's defaults but for the idle period (0 s here,
# 120 s by default) and how often it looks (1 s):
#   1. wall time from the threshold being crossed (48 history items of one author imported at
#      once) to the round's verdict, with the verdict and each stage's time;
#   2. interactive decoding while a round runs against the same requests idle
#      (`tailor daemon bench-training --kind autopilot`), in a fresh daemon.
# Usage: Benchmarks/autopilot.sh [BIN_DIR]   (default .build/release)
#   MODEL=… (default: SmolLM2-135M-Instruct Q4_1 in Tailor's models directory)
#   DATA=…  (default: ../shared/data/commit_subject/users.json)  AUTHOR=… (default: Guido van Rossum)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-.build/release}
model=${MODEL:-$HOME/.local/share/tailor/models/SmolLM2-135M-Instruct.Q4_1.gguf}
data=${DATA:-../shared/data/commit_subject/users.json}
author=${AUTHOR:-Guido van Rossum}
task=commit_subject
[ -f "$data" ] || { echo "autopilot.sh: no $data (../shared/data)" >&2; exit 1; }
dir=$(mktemp -d)
pid=""
stop() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; pid=""; }
trap 'stop; rm -rf "$dir"' EXIT

python3 - "$data" "$author" > "$dir/history.jsonl" <<'PY'
import json, sys
users = json.load(open(sys.argv[1]))
user = next(u for u in users if u["user_id"] == sys.argv[2])
for item in user["profile"][:48]:
    print(json.dumps({"id": item["id"], "input": item["input"], "output": item["output"]}))
PY
[ "$(wc -l < "$dir/history.jsonl")" = 48 ] || { echo "autopilot.sh: $author has fewer than 48 items" >&2; exit 1; }

printf 'model = %s\nautopilot_idle_seconds = 0\nautopilot_check_seconds = 1\n' "$model" > "$dir/tailord.conf"
start() {
  "$bin/tailord" --socket "$dir/s.sock" --state-dir "$dir/$1" --config "$dir/tailord.conf" 2> "$dir/$1.log" &
  pid=$!
  for _ in $(seq 100); do [ -S "$dir/s.sock" ] && return; sleep 0.1; done
  echo "autopilot.sh: tailord did not start: $(cat "$dir/$1.log")" >&2; exit 1
}
tailor() { "$bin/tailor" "$@" --socket "$dir/s.sock"; }

echo "== 1. threshold to verdict: 48 items of $author, $(nproc) cores, training_threads 1"
start state1
t0=$(date +%s.%N)
tailor data import --user "$author" --task "$task" "$dir/history.jsonl" > /dev/null
until tailor autopilot status | grep -Eq "job-[a-z0-9-]+ (succeeded|failed)"; do sleep 1; done
t1=$(date +%s.%N)
python3 -c "print(f'threshold to verdict: {$t1 - $t0:.0f} s')"
tailor autopilot status
tailor adapters show --user "$author" --task "$task" | tail -n 3
stop
rm -f "$dir/s.sock"

echo "== 2. decoding while a round runs, against idle (same run)"
start state2
tailor autopilot pause --user "$author" > /dev/null
tailor data import --user "$author" --task "$task" "$dir/history.jsonl" > /dev/null
tailor daemon bench-training --kind autopilot --user "$author" --task "$task"
stop
