#!/usr/bin/env bash
# Prefill on each path against llama.cpp, in the same run, same files.
#
#   LLAMA_BENCH=/path/to/llama-bench Benchmarks/prefill_paths.sh MODEL.gguf [MODEL2.gguf ...]
#
# For each model it alternates llama-bench's pp512 and `tailor bench -p 512` with
# --prefill-path auto, float and integer (2 threads, 3 rounds), then prints the medians, each
# path's ratio to llama.cpp, what the load-time measurement chose and the one-layer timings it
# chose from. Run it again with OPENBLAS_CORETYPE=Nehalem to see a host whose floating point is
# slow (OpenBLAS held to SSE kernels): the measurement must then pick the integer path.
source "$(dirname "$0")/llamacpp_common.sh"
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

printf '| model | llama.cpp pp512 | float | integer | auto (choice) | float / llama.cpp | integer / llama.cpp | probe float / integer ms |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for model in "$@"; do
  name=$(basename "$model")
  lpp=(); fpp=(); ipp=(); app=(); choices=()
  for _ in $(seq "$ROUNDS"); do
    out=$("$LLAMA_BENCH" -m "$model" -t "$THREADS" -p 512 -n 0 -r 1 -o csv 2>/dev/null)
    lpp+=("$(echo "$out" | awk -F, 'NR>1 && $0 ~ /"512","0"/ {gsub(/"/,""); print $(NF-1)}' | tail -1)")
    fpp+=("$("$TAILOR" bench --model "$model" -t "$THREADS" -p 512 -n 0 -r 1 --prefill-path float --json | field pp512)")
    ipp+=("$("$TAILOR" bench --model "$model" -t "$THREADS" -p 512 -n 0 -r 1 --prefill-path integer --json \
      | field pp512)")
    js=$("$TAILOR" bench --model "$model" -t "$THREADS" -p 512 -n 0 -r 1 --prefill-path auto --json)
    app+=("$(echo "$js" | field pp512)")
    choices+=("$(echo "$js" | field prefill_path)")
    probe=$(echo "$js" | python3 -c 'import json,sys; j=json.load(sys.stdin); print("%.1f / %.1f" % (j["probe_float_ms"], j["probe_integer_ms"]))')
  done
  l=$(printf '%s\n' "${lpp[@]}" | median); f=$(printf '%s\n' "${fpp[@]}" | median)
  i=$(printf '%s\n' "${ipp[@]}" | median); a=$(printf '%s\n' "${app[@]}" | median)
  choice=$(printf '%s\n' "${choices[@]}" | sort | uniq -c | awk '{printf "%s%s×%s", (NR>1?", ":""), $1, $2}')
  printf '| %s | %.1f | %.1f | %.1f | %.1f (%s) | %.2f | %.2f | %s |\n' "$name" "$l" "$f" "$i" "$a" "$choice" \
    "$(python3 -c "print($f/$l)")" "$(python3 -c "print($i/$l)")" "$probe"
done
