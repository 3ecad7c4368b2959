#!/usr/bin/env bash
# Installs what Tailor needs on a fresh Debian/Ubuntu machine (OpenBLAS, oneDNN for the bf16
# prefill path, protobuf-c, git for the demo, Neovim for the editor plugin and its test) (the
# Swift toolchain itself is assumed), then fetches the default model. Safe to run again: every step is idempotent.
#
#   Scripts/setup.sh            # system packages + SmolLM2-135M-Instruct
#   Scripts/setup.sh --gemma    # ... and Gemma 3 270M
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

need=()
for pkg in libopenblas-dev libdnnl2 libprotobuf-c-dev protobuf-c-compiler protobuf-compiler python3-pip git neovim; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Python's protobuf (the Python client, wire interop tests) and gguf (llama.cpp's reader, to
# check exported adapters).
python3 -c "import google.protobuf, gguf" 2>/dev/null \
  || python3 -m pip install --quiet --disable-pip-version-check protobuf gguf

Scripts/fetch-model.sh "$@" >/dev/null
echo "setup: ready; default model at $(Scripts/fetch-model.sh --print)" >&2
