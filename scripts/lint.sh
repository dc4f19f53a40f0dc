#!/usr/bin/env bash
# clang-format and clang-tidy over the project's sources, with the configs in
# the repository. Builds build/release first if it is missing (for
# compile_commands.json).
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.cpp' '*.hpp')
clang-format --dry-run -Werror "${files[@]}"
[[ -f build/release/compile_commands.json ]] || scripts/build.sh release
mapfile -t sources < <(git ls-files 'src/*.cpp' 'tools/*.cpp')
report=$(mktemp)
trap 'rm -f "$report"' EXIT
# One clang-tidy per core, a few files each: the checks are per file.
if ! printf '%s\0' "${sources[@]}" |
  xargs -0 -n 4 -P "$(nproc)" clang-tidy -p build/release --quiet >"$report" 2>&1; then
  grep -v "warnings generated" "$report" >&2
  echo "lint: clang-tidy found problems" >&2
  exit 1
fi
echo "lint: clang-format and clang-tidy clean (${#files[@]} files formatted, ${#sources[@]} checked)"
