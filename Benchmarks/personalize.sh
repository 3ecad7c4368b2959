#!/usr/bin/env bash
# Time to personalize: OPPU + negatives + DPO for one user with 32 history items (peps-dev's
# most active author), SmolLM2, 2 threads, through tailor demo's private daemon. Each binary
# directory given (holding tailor and tailord) runs in turn, alternating, ROUNDS times; prints
# one line per run with the seconds of each stage from `tailor demo --json`.
#   Benchmarks/personalize.sh /path/to/before-bin /path/to/after-bin
set -euo pipefail
rounds=${ROUNDS:-1}
bundle=${BUNDLE:-$(cd "$(dirname "$0")/../.." && pwd)/shared/repos/peps-dev.bundle}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone -q "$bundle" "$work/peps-dev"
for r in $(seq "$rounds"); do
  for bin in "$@"; do
    "$bin/tailor" demo --repo "$work/peps-dev" --max-history 32 --shown 10 -t 2 --json 2>/dev/null > "$work/out.json"
    python3 - "$bin" "$work/out.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[2])); s = d["seconds"]
stages = ["oppu", "negatives", "dpo"]
print("%-28s oppu %5.1f  negatives %5.1f  dpo %5.1f  personalize %6.1f  task %5.1f  demo total %6.1f  ROUGE-L %s" % (
    sys.argv[1], *(s[k] for k in stages), sum(s[k] for k in stages), s["tam"],
    sum(v for k, v in s.items() if k not in stages),
    " / ".join("%s %.3f" % (m, d["mean_rouge_l"][m]) for m in ("base", "oppu", "cope"))))
PY
  done
done
