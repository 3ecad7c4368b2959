#!/usr/bin/env bash
# Runs Tailor's tests: the whole suite, then the engine's model tests again on the portable
# (non-AVX2) kernels, which is the path aarch64 and older x86 CPUs take.
# Tests that need ../shared or a fetched model skip with a message when those are absent.
set -euo pipefail
cd "$(dirname "$0")/.."

swift build --build-tests
swift test --skip-build --parallel --num-workers 1
echo "== portable kernels (TAILOR_PORTABLE=1)"
TAILOR_PORTABLE=1 swift test --skip-build --filter "TinyModelLogitTests|RealModelTests"
