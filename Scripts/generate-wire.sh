#!/usr/bin/env bash
# Regenerates the protobuf-c code of Proto/ into Sources/TailorWireC, and the Python code into
# Clients/python/tailor_client/proto (both committed, so builds need neither compiler). With
# --check, regenerates into a temp dir and fails if the committed code differs.
#   apt-get install protobuf-c-compiler protobuf-compiler
set -euo pipefail
cd "$(dirname "$0")/.."
out=Sources/TailorWireC
check=0
[ "${1:-}" = "--check" ] && check=1

gen=$(mktemp -d)
trap 'rm -rf "$gen"' EXIT
protoc-c -I Proto --c_out="$gen" Proto/tailor/v1/*.proto
# Headers go under include/ (the C target's public headers); sources beside them.
mkdir -p "$gen/tree/include/tailor/v1" "$gen/tree/tailor/v1"
mv "$gen"/tailor/v1/*.pb-c.h "$gen/tree/include/tailor/v1/"
mv "$gen"/tailor/v1/*.pb-c.c "$gen/tree/tailor/v1/"
py=Clients/python/tailor_client/proto
mkdir -p "$gen/py"
protoc -I Proto --python_out="$gen/py" Proto/tailor/v1/*.proto

if [ "$check" = 1 ]; then
  if diff -r "$gen/tree/include" "$out/include" >/dev/null && diff -r "$gen/tree/tailor" "$out/tailor" >/dev/null \
     && diff -r "$gen/py/tailor" "$py/tailor" >/dev/null; then
    echo "generate-wire: committed protobuf-c code is current"
  else
    echo "generate-wire: generated code is stale; run Scripts/generate-wire.sh" >&2
    diff -r "$gen/tree/include" "$out/include" | head -20 >&2 || true
    exit 1
  fi
else
  rm -rf "$out/include/tailor" "$out/tailor"
  mkdir -p "$out/include"
  cp -r "$gen/tree/include/tailor" "$out/include/"
  cp -r "$gen/tree/tailor" "$out/"
  rm -rf "$py/tailor"
  mkdir -p "$py"
  cp -r "$gen/py/tailor" "$py/"
  echo "generate-wire: wrote $out and $py"
fi
