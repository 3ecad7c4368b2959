#!/usr/bin/env bash
# Formats the Swift sources with swift-format (.swift-format: 120 columns), or with --check
# lists the files whose formatting differs and fails, changing nothing.
#   Scripts/format.sh           # format in place
#   Scripts/format.sh --check   # what CI runs
set -euo pipefail
cd "$(dirname "$0")/.."
paths=(Sources Tests Package.swift)
if [ "${1:-}" != "--check" ]; then
  exec swift format --in-place --recursive --parallel "${paths[@]}"
fi
copy=$(mktemp -d)
trap 'rm -rf "$copy"' EXIT
cp -r "${paths[@]}" .swift-format "$copy"/
(cd "$copy" && swift format --in-place --recursive --parallel "${paths[@]}")
status=0
for p in "${paths[@]}"; do
  if ! diff -rq "$p" "$copy/$p" >> "$copy/report" 2>&1; then status=1; fi
done
if [ "$status" != 0 ]; then
  echo "swift-format would change these files (run Scripts/format.sh):"
  sed -e "s|$copy/||g" "$copy/report"
fi
exit "$status"
