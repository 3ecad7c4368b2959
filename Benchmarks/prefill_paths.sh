#!/usr/bin/env bash
# Prefill on each path against llama.cpp, in the same run, same files.
#
#   LLAMA_BENCH=/path/to/llama-bench Benchmarks/prefill_paths.sh MODEL.gguf [MODEL2.gguf ...]
#
# For each model it alternates llama-bench's pp512 and `tailor bench -p 512` with
# --prefill-path float, integer, bf16 and auto (2 threads, 3 rounds), then prints the medians,
# each path's ratio to llama.cpp, what the load-time measurement chose and the one-layer
# timings it chose from. Where oneDNN is absent the bf16 column repeats the float path (a forced
# path this host cannot take falls back to float) and the probe shows no bf16 time. Run it
# again with OPENBLAS_CORETYPE=Nehalem to see a host whose floating point is slow (OpenBLAS held
# to SSE kernels): the measurement must then leave the float path.
source "$(dirname "$0")/llamacpp_common.sh"
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }
paths=(float integer bf16)

printf '| model | llama.cpp pp512 | float | integer | bf16 | auto (choice) | float / llama.cpp '
printf '| integer / llama.cpp | bf16 / llama.cpp | auto / llama.cpp | probe ms (float / integer / bf16) |\n'
printf '|---|---|---|---|---|---|---|---|---|---|---|\n'
for model in "$@"; do
  name=$(basename "$model")
  lpp=(); app=(); choices=(); declare -A rates=()
  for _ in $(seq "$ROUNDS"); do
    out=$("$LLAMA_BENCH" -m "$model" -t "$THREADS" -p 512 -n 0 -r 1 -o csv 2>/dev/null)
    lpp+=("$(echo "$out" | awk -F, 'NR>1 && $0 ~ /"512","0"/ {gsub(/"/,""); print $(NF-1)}' | tail -1)")
    for path in "${paths[@]}"; do
      rate=$("$TAILOR" bench --model "$model" -t "$THREADS" -p 512 -n 0 -r 1 --prefill-path "$path" --json \
        | field pp512)
      rates[$path]+="$rate "
    done
    js=$("$TAILOR" bench --model "$model" -t "$THREADS" -p 512 -n 0 -r 1 --prefill-path auto --json)
    app+=("$(echo "$js" | field pp512)")
    choices+=("$(echo "$js" | field prefill_path)")
    probe=$(echo "$js" | python3 -c 'import json,sys; j=json.load(sys.stdin)
print(" / ".join("%.1f" % j[k] if k in j else "-" for k in ("probe_float_ms", "probe_integer_ms", "probe_bf16_ms")))')
  done
  l=$(printf '%s\n' "${lpp[@]}" | median); a=$(printf '%s\n' "${app[@]}" | median)
  declare -A med=()
  for path in "${paths[@]}"; do med[$path]=$(printf '%s\n' ${rates[$path]} | median); done
  choice=$(printf '%s\n' "${choices[@]}" | sort | uniq -c | awk '{printf "%s%s×%s", (NR>1?", ":""), $1, $2}')
  printf '| %s | %.1f | %.1f | %.1f | %.1f | %.1f (%s) | %s | %s | %s | %s | %s |\n' "$name" "$l" \
    "${med[float]}" "${med[integer]}" "${med[bf16]}" "$a" "$choice" \
    "$(ratio "${med[float]}" "$l")" "$(ratio "${med[integer]}" "$l")" "$(ratio "${med[bf16]}" "$l")" \
    "$(ratio "$a" "$l")" "$probe"
  unset rates med
done
