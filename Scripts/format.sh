#!/usr/bin/env bash
# Formats the Swift sources with swift-format (.swift-format: 120 columns) and the Python ones
# with ruff (ruff.toml: 120 columns, when ruff is installed; CI installs it), or with --check
# lists the files whose formatting differs and fails, changing nothing.
#   Scripts/format.sh           # format in place
#   Scripts/format.sh --check   # what CI runs
set -euo pipefail
cd "$(dirname "$0")/.."
paths=(Sources Tests Package.swift)
ruff=$(command -v ruff || true)
if [ "${1:-}" != "--check" ]; then
  swift format --in-place --recursive --parallel "${paths[@]}"
  if [ -n "$ruff" ]; then "$ruff" format --quiet .; else echo "ruff is not installed: Python left as it is"; fi
  exit 0
fi
python_status=0
if [ -n "$ruff" ]; then
  "$ruff" format --check . || { echo "ruff would reformat these files (run Scripts/format.sh)"; python_status=1; }
else
  echo "ruff is not installed: the Python sources are not checked (pip install ruff)"
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
[ "$python_status" = 0 ] || status=1
exit "$status"
