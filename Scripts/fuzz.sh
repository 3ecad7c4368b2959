#!/usr/bin/env bash
# Fuzzes the parsers of untrusted bytes with libFuzzer and AddressSanitizer: the frame decoder,
# the HTTP request parser, safetensors, GGUF and GGUF-LoRA headers, and the JSONL importer
# (Sources/TailorFuzz). Each target starts from its seed corpus in Tests/Fuzz/Corpus; new
# inputs go to a scratch folder, never into the repository.
#
#   Scripts/fuzz.sh                    # every target for 20 s (what CI runs)
#   Scripts/fuzz.sh 600 gguf-lora      # one target for 10 minutes
#
# A finding stops the run with libFuzzer's report and the crashing input's path; fix the bug,
# then commit the input under Tests/Fuzz/Corpus/<target>/ so the test suite replays it.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(frames http-request safetensors gguf gguf-lora jsonl)

TAILOR_FUZZ=1 swift build --product tailor-fuzz -Xswiftc -sanitize=fuzzer,address --scratch-path .build-fuzz || exit 1
bin=.build-fuzz/debug/tailor-fuzz
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0; failed=0
for t in "${targets[@]}"; do
  mkdir -p "$work/$t" "$work/artifacts-$t"
  echo "== fuzzing $t for ${seconds}s"
  if "$bin" "$t" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$work/artifacts-$t/" "$work/$t" "Tests/Fuzz/Corpus/$t" 2> "$work/$t.log"; then
    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$work/$t.log" | tr '\n' ' '; echo
    passed=$((passed + 1))
  else
    tail -40 "$work/$t.log"
    for a in "$work/artifacts-$t"/*; do
      [ -e "$a" ] && cp "$a" . && echo "crashing input saved as ./$(basename "$a")"
    done
    failed=$((failed + 1))
  fi
done
echo "Fuzz: $passed passed, $failed failed"
[ "$failed" = 0 ]
