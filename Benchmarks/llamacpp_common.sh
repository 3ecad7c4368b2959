# Sourced by the scripts that run Tailor beside llama-bench: moves to the repository, checks
# LLAMA_BENCH, reads THREADS (2) and ROUNDS (3), builds `tailor` and defines `median`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
: "${LLAMA_BENCH:?set LLAMA_BENCH to the llama-bench binary}"
THREADS="${THREADS:-2}"
ROUNDS="${ROUNDS:-3}"
swift build -c release --product tailor >/dev/null
TAILOR=.build/release/tailor

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
