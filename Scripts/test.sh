#!/usr/bin/env bash
# Runs Tailor's tests: the whole suite; the engine's model tests again on the portable
# (non-AVX2) kernels, which is the path aarch64 and older x86 CPUs take; the wire layer under
# AddressSanitizer and LeakSanitizer. Checks first that the committed protobuf-c code matches
# Proto/ when protoc-c is installed. Ends with one line
# "Tests: N passed, N failed" totalling all runs.
# Tests that need ../shared or a fetched model skip with a message when those are absent.
set -uo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0

if command -v protoc-c >/dev/null; then
  Scripts/generate-wire.sh --check || exit 1
fi
swift build --build-tests || exit 1
swift test --skip-build --disable-swift-testing 2>&1 | tee -a "$log" || status=1
echo "== portable kernels (TAILOR_PORTABLE=1)"
TAILOR_PORTABLE=1 swift test --skip-build --disable-swift-testing \
    --filter "TinyModelLogitTests|RealModelTests|GeneratorTests|DequantizeTests" 2>&1 | tee -a "$log" || status=1
echo "== AddressSanitizer + LeakSanitizer over the wire layer"
swift build --build-tests --sanitize=address --scratch-path .build-asan || exit 1
LSAN_OPTIONS="suppressions=$PWD/Scripts/lsan.supp" swift test --skip-build --sanitize=address \
    --scratch-path .build-asan --disable-swift-testing --filter TailorWireTests 2>&1 | tee -a "$log" || status=1

# XCTest prints "Executed N tests, with F failures" per suite and once more for the whole run,
# right after "Test Suite 'All tests' passed|failed" ('Selected tests' when filtered); total those.
read -r ran failed < <(awk '/Test Suite .(All|Selected) tests. (passed|failed)/ {want=1; next}
    want && /Executed [0-9]+ tests?, with [0-9]+ failures?/ {
        for (i = 1; i <= NF; i++) { if ($i == "Executed") n += $(i+1); if ($i == "with") f += $(i+1) }
        want = 0 }
    END { print n + 0, f + 0 }' "$log")
echo "Tests: $((ran - failed)) passed, $failed failed"
[ "$status" = 0 ] && [ "$failed" = 0 ] && [ "$ran" -gt 0 ]
