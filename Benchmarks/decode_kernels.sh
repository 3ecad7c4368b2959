#!/usr/bin/env bash
# Decode speed of Tailor's integer kernel paths against llama.cpp, same files, same run.
#
#   LLAMA_BENCH=/path/to/llama-bench Benchmarks/decode_kernels.sh MODEL.gguf [MODEL2.gguf ...]
#
# Per model and round it runs llama-bench tg128, then `tailor bench` tg128 on the AVX2 kernels
# (TAILOR_NO_AVX512=1) and on the kernels this CPU picks (AVX-512 VNNI for K-quant rows where it
# has them), and a CoPe-shaped two-row step (`--rows 2`) on each path. Prints medians and
# ratios. Both Tailor paths give the same logits bit for bit; only speed differs.
source "$(dirname "$0")/llamacpp_common.sh"

tg() { "$TAILOR" bench "$@" -t "$THREADS" -p 0 -n 128 -r 1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["tg128"])'; }

printf '| file | llama.cpp tg128 | Tailor AVX2 | Tailor picked | picked / llama.cpp | picked / AVX2 | 2 rows: AVX2 | 2 rows: picked |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for model in "$@"; do
  l=(); a=(); p=(); a2=(); p2=()
  for _ in $(seq "$ROUNDS"); do
    out=$("$LLAMA_BENCH" -m "$model" -t "$THREADS" -p 0 -n 128 -r 1 -o csv 2>/dev/null)
    l+=("$(echo "$out" | awk -F, 'NR>1 && $0 ~ /"0","128"/ {gsub(/"/,""); print $(NF-1)}' | tail -1)")
    a+=("$(TAILOR_NO_AVX512=1 tg --model "$model")")
    p+=("$(tg --model "$model")")
    a2+=("$(TAILOR_NO_AVX512=1 tg --model "$model" --rows 2)")
    p2+=("$(tg --model "$model" --rows 2)")
  done
  ml=$(printf '%s\n' "${l[@]}" | median); ma=$(printf '%s\n' "${a[@]}" | median)
  mp=$(printf '%s\n' "${p[@]}" | median); ma2=$(printf '%s\n' "${a2[@]}" | median)
  mp2=$(printf '%s\n' "${p2[@]}" | median)
  printf '| %s | %.1f | %.1f | %.1f | %.2f | %.2f | %.1f | %.1f |\n' "$(basename "$model")" "$ml" "$ma" "$mp" \
    "$(python3 -c "print($mp/$ml)")" "$(python3 -c "print($mp/$ma)")" "$ma2" "$mp2"
done
kernels=$("$TAILOR" bench --model "$1" -t 1 -p 0 -n 1 -r 1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["kernels"])')
echo "kernels picked on this CPU: $kernels"
