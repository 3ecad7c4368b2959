#!/usr/bin/env bash
# Benchmarks Tailor against llama.cpp on the same machine, in the same run, same files.
#
#   LLAMA_BENCH=/path/to/llama-bench Benchmarks/compare_llamacpp.sh MODEL.gguf [MODEL2.gguf ...]
#
# For each model it alternates llama-bench and `tailor bench` (pp512 and tg128, 2 threads,
# 3 rounds each) so that both see the same machine load, then prints the medians and the ratio
# Tailor / llama.cpp. Build llama-bench once from the llama-cpp-python sdist (vendor/llama.cpp,
# cmake -DGGML_NATIVE=ON); it is not built in CI.
source "$(dirname "$0")/llamacpp_common.sh"

printf '| model | test | llama.cpp t/s | Tailor t/s | Tailor / llama.cpp |\n|---|---|---|---|---|\n'
for model in "$@"; do
  name=$(basename "$model")
  lpp=(); ltg=(); tpp=(); ttg=()
  for _ in $(seq "$ROUNDS"); do
    out=$("$LLAMA_BENCH" -m "$model" -t "$THREADS" -p 512 -n 128 -r 1 -o csv 2>/dev/null)
    lpp+=("$(echo "$out" | awk -F, 'NR>1 && $0 ~ /"512","0"/ {gsub(/"/,""); print $(NF-1)}' | tail -1)")
    ltg+=("$(echo "$out" | awk -F, 'NR>1 && $0 ~ /"0","128"/ {gsub(/"/,""); print $(NF-1)}' | tail -1)")
    js=$("$TAILOR" bench --model "$model" -t "$THREADS" -p 512 -n 128 -r 1 --json)
    tpp+=("$(echo "$js" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pp512"])')")
    ttg+=("$(echo "$js" | python3 -c 'import json,sys; print(json.load(sys.stdin)["tg128"])')")
  done
  for test in pp512 tg128; do
    if [ "$test" = pp512 ]; then l=$(printf '%s\n' "${lpp[@]}" | median); t=$(printf '%s\n' "${tpp[@]}" | median)
    else l=$(printf '%s\n' "${ltg[@]}" | median); t=$(printf '%s\n' "${ttg[@]}" | median); fi
    printf '| %s | %s | %.1f | %.1f | %.2f |\n' "$name" "$test" "$l" "$t" "$(python3 -c "print($t/$l)")"
  done
done
