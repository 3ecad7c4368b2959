#!/usr/bin/env bash
# Runs Tailor's tests: the whole suite; the engine's model tests again on the portable
# (non-AVX2) kernels, which is the path aarch64 and older x86 CPUs take; the Python client's
# tests against a live tailord, and tailor_cluster's (TRL, PEFT, Ray) against it and the CLI;
# llama.cpp's own server test suite against tailord's HTTP endpoint (Tests/LlamaServerSuite);
# `systemd-analyze verify` on the units; the wire layer under AddressSanitizer and
# LeakSanitizer; each parser of untrusted bytes under libFuzzer for 20 s (Scripts/fuzz.sh;
# TAILOR_FUZZ_SECONDS changes it, 0 skips it). Checks first that the committed protobuf-c code
# matches Proto/ when protoc-c is installed, and that the sources are formatted
# (Scripts/format.sh --check). Ends with one line "Tests: N passed, N failed" totalling all runs.
# Tests that need ../shared, a fetched model or an optional Python package skip with a message.
set -uo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0

if command -v protoc-c >/dev/null; then
  Scripts/generate-wire.sh --check || exit 1
fi
# The sources as swift-format (.swift-format) writes them; a difference fails the run at the end.
format_ran=0; format_failed=0
if swift format --version >/dev/null 2>&1; then
  echo "== swift-format --check"
  format_ran=1
  Scripts/format.sh --check || { status=1; format_failed=1; }
fi
swift build --build-tests || exit 1
swift test --skip-build --disable-swift-testing 2>&1 | tee -a "$log" || status=1
echo "== portable kernels (TAILOR_PORTABLE=1)"
TAILOR_PORTABLE=1 swift test --skip-build --disable-swift-testing \
    --filter "TinyModelLogitTests|RealModelTests|GeneratorTests|DequantizeTests|LogSumExpTests|SmallGemmTests" \
    --filter "AttentionKernelTests|GatedActivationTests|ActivationQuantizeTests" 2>&1 | tee -a "$log" || status=1

echo "== Python client against a live tailord"
py_dir=$(mktemp -d)
tiny="$PWD/Tests/TailorEngineTests/Fixtures/tiny/llama.gguf"
: > "$py_dir/empty.conf"
.build/debug/tailord --socket "$py_dir/s.sock" --state-dir "$py_dir/state" --config "$py_dir/empty.conf" \
    --threads 1 2> "$py_dir/tailord.log" &
daemon=$!
for _ in $(seq 200); do [ -S "$py_dir/s.sock" ] && break; sleep 0.05; done
if .build/debug/tailor models load --socket "$py_dir/s.sock" --id tiny "$tiny" >/dev/null; then
  TAILOR_TEST_SOCKET="$py_dir/s.sock" TAILOR_TEST_MODEL="$tiny" \
      python3 -m unittest discover -v -s Clients/python/tests -p "test_*.py" 2>&1 | tee "$py_dir/py.log" || status=1
  # tailor_cluster (TRL, PEFT, Ray) against the tailor CLI and the same daemon; its tests skip,
  # saying what is missing, without torch, transformers, peft, trl, datasets or ray.
  echo "== tailor_cluster against tailor and tailord (Clients/python/tailor_cluster)"
  TAILOR_TEST_SOCKET="$py_dir/s.sock" TAILOR_BIN="$PWD/.build/debug/tailor" RAY_AUTH_MODE=disabled \
      python3 -m unittest discover -v -s Clients/python/tailor_cluster/tests -p "test_*.py" 2>&1 \
      | tee "$py_dir/cluster.log" || status=1
  cat "$py_dir/cluster.log" >> "$py_dir/py.log"
else
  echo "could not load the tiny model into tailord"; cat "$py_dir/tailord.log"; status=1
fi
kill -TERM "$daemon"
wait "$daemon" || { echo "tailord did not exit cleanly on SIGTERM"; status=1; }
py_ran=$(sed -n 's/^Ran \([0-9]*\) tests\{0,1\} in.*/\1/p' "$py_dir/py.log" | awk '{ n += $1 } END { print n + 0 }')
py_failed=$(awk '/^FAILED \(/ {
        while (match($0, /[0-9]+/)) { n += substr($0, RSTART, RLENGTH); $0 = substr($0, RSTART + RLENGTH) }
    }
    END { print n + 0 }' "$py_dir/py.log")
rm -rf "$py_dir"

echo "== llama.cpp's server test suite against tailord (Tests/LlamaServerSuite)"
suite_passed=0; suite_failed=0
suite_model="${XDG_DATA_HOME:-$HOME/.local/share}/tailor/models/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ -f "${TAILOR_SUITE_MODEL:-$suite_model}" ]; then
  # Decoding in a debug build is too slow for the suite's timeouts.
  swift build -c release --product tailord || exit 1
  TAILORD="$PWD/.build/release/tailord" Tests/LlamaServerSuite/run.sh -rs > "$log.suite" 2>&1 || status=1
  tail -n 60 "$log.suite"
  suite_passed=$(sed -n 's/^llama.cpp server suite: \([0-9]*\) tests passed.*/\1/p' "$log.suite" | tail -1)
  suite_failed=$(sed -n 's/^=* \(.*\) in [0-9.]*s.*/\1/p' "$log.suite" \
      | grep -o "[0-9]* \(failed\|error\|errors\|xpassed\)" | awk '{ n += $1 } END { print n + 0 }')
  [ -n "$suite_passed" ] || { suite_passed=0; suite_failed=$((suite_failed + 1)); }
  rm -f "$log.suite"
else
  echo "skipped: no SmolLM2 model (Scripts/fetch-model.sh fetches it)"
fi

if command -v systemd-analyze >/dev/null; then
  echo "== systemd-analyze verify"
  units=$(mktemp -d)
  for mode in user system; do
    .build/debug/tailor daemon units --mode $mode --executable "$PWD/.build/debug/tailord" \
        --output "$units/$mode" || status=1
  done
  mkdir -p "$units/runtime"
  systemd-analyze verify "$units/system/tailord.service" "$units/system/tailord.socket" || status=1
  XDG_RUNTIME_DIR="$units/runtime" systemd-analyze --user verify \
      "$units/user/tailord.service" "$units/user/tailord.socket" || status=1
  rm -rf "$units"
fi

echo "== AddressSanitizer + LeakSanitizer over the wire layer"
swift build --build-tests --sanitize=address --scratch-path .build-asan || exit 1
LSAN_OPTIONS="suppressions=$PWD/Scripts/lsan.supp" swift test --skip-build --sanitize=address \
    --scratch-path .build-asan --disable-swift-testing --filter TailorWireTests 2>&1 | tee -a "$log" || status=1

fuzz_passed=0; fuzz_failed=0
if [ "${TAILOR_FUZZ_SECONDS:-20}" != 0 ]; then
  echo "== libFuzzer + AddressSanitizer over the parsers of untrusted bytes"
  Scripts/fuzz.sh "${TAILOR_FUZZ_SECONDS:-20}" > "$log.fuzz" 2>&1 || status=1
  grep -E "^== fuzzing|^stat::|^Fuzz:|ERROR|SUMMARY|crashing input" "$log.fuzz" | tail -n 40
  read -r fuzz_passed fuzz_failed \
      < <(sed -n 's/^Fuzz: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$log.fuzz" | tail -1)
  [ -n "$fuzz_passed" ] || { fuzz_passed=0; fuzz_failed=1; }
  rm -f "$log.fuzz"
fi

# XCTest prints "Executed N tests, with F failures" per suite and once more for the whole run,
# right after "Test Suite 'All tests' passed|failed" ('Selected tests' when filtered); total those.
# ("with S tests skipped and F failures" when some skipped: skipped tests count as run, not failed).
read -r ran failed < <(awk '/Test Suite .(All|Selected) tests. (passed|failed)/ {want=1; next}
    want && /Executed [0-9]+ tests?, with .*[0-9]+ failures?/ {
        for (i = 1; i <= NF; i++) { if ($i == "Executed") n += $(i+1); if ($i ~ /^failures?$/) f += $(i-1) }
        want = 0 }
    END { print n + 0, f + 0 }' "$log")
ran=$((ran + ${py_ran:-0} + fuzz_passed + fuzz_failed + format_ran + suite_passed + suite_failed))
failed=$((failed + ${py_failed:-0} + fuzz_failed + format_failed + suite_failed))
# Name what failed last, so a CI log cut to its tail still says which test to look at.
grep -E "^Test Case .* failed \(|: error: " "$log" | sort -u | tail -n 40
[ "${py_failed:-0}" = 0 ] || echo "Python client tests: ${py_failed} failed (see above)"
[ "$format_failed" = 0 ] || echo "swift-format --check: files differ (see above; Scripts/format.sh fixes them)"
echo "Tests: $((ran - failed)) passed, $failed failed"
[ "$status" = 0 ] && [ "$failed" = 0 ] && [ "$ran" -gt 0 ]
