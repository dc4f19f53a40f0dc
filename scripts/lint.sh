#!/usr/bin/env bash
# clang-format and clang-tidy over the project's sources, with the configs in
# the repository. Builds build/release first if it is missing (for
# compile_commands.json).
# Usage: scripts/lint.sh [--deep]
#   The static analyzer (clang-analyzer-*) runs in its shallow mode, which
#   follows calls into small functions only: CI runs this, in two thirds of
#   the time.
#   --deep follows them as far as clang-tidy does by default.
set -euo pipefail
cd "$(dirname "$0")/.."
analyzer_mode=shallow
case "${1:-}" in
  "") ;;
  --deep) analyzer_mode=deep ;;
  *) echo "lint: unknown option '$1' (--deep)" >&2; exit 2 ;;
esac
mapfile -t files < <(git ls-files '*.cpp' '*.hpp')
clang-format --dry-run -Werror "${files[@]}"
[[ -f build/release/compile_commands.json ]] || scripts/build.sh release
# Largest first, one file per clang-tidy, so that no core waits at the end on
# a long file started last.
mapfile -t sources < <(git ls-files -z 'src/*.cpp' 'tools/*.cpp' | xargs -0 wc -c |
                       sort -rn | awk '$2 != "total" { print $2 }')
report=$(mktemp)
trap 'rm -f "$report"' EXIT
if ! printf '%s\0' "${sources[@]}" |
  xargs -0 -n 1 -P "$(nproc)" clang-tidy -p build/release --quiet \
    --extra-arg=-Xclang --extra-arg=-analyzer-config \
    --extra-arg=-Xclang "--extra-arg=mode=$analyzer_mode" >"$report" 2>&1; then
  grep -v "warnings generated" "$report" >&2
  echo "lint: clang-tidy found problems" >&2
  exit 1
fi
echo "lint: clang-format and clang-tidy clean (${#files[@]} files formatted, ${#sources[@]} checked, analyzer ${analyzer_mode})"
