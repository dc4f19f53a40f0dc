#!/usr/bin/env bash
# Builds the example programs without sanitizers (valgrind and ASan do not mix)
# into build/valgrind and runs each under valgrind memcheck; fails on any
# memory error or leak. Usage: scripts/valgrind-examples.sh [example-name ...]
# (default: every program in examples/). Extra valgrind options can be given in
# VALGRIND_OPTIONS, e.g. --suppressions=... for a GPU driver's own leaks.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v valgrind >/dev/null || { echo "valgrind-examples: valgrind is missing (apt-get install valgrind)" >&2; exit 1; }
build=${BUFFERPOOL_VALGRIND_BUILD_DIR:-build/valgrind}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DBUFFERPOOL_BUILD_EXAMPLES=ON \
  -DBUFFERPOOL_BUILD_TESTS=OFF -DBUFFERPOOL_BUILD_TOOLS=OFF -DBUFFERPOOL_SANITIZE= >/dev/null
cmake --build "$build" -j "$(nproc)"

if (($# > 0)); then
  programs=()
  for name in "$@"; do programs+=("$build/examples/$name"); done
else
  mapfile -t programs < <(find "$build/examples" -maxdepth 1 -type f -executable | sort)
fi
((${#programs[@]} > 0)) || { echo "valgrind-examples: no example programs in $build/examples" >&2; exit 1; }

# Known false positive outside this project: glibc's dynamic loader compares
# the Vulkan driver's RPATH with a word-at-a-time strncmp that reads past the
# end of its strdup'ed copy (dl-load.c is_dst), when the loader opens the ICD.
suppressions="$build/valgrind-examples.supp"
cat >"$suppressions" <<'SUPP'
{
   glibc ld.so: strncmp in is_dst reads whole words past a strdup'ed RPATH
   Memcheck:Addr8
   fun:strncmp
   fun:is_dst
}
SUPP

failed=0
for program in "${programs[@]}"; do
  log="$build/valgrind-$(basename "$program").log"
  # shellcheck disable=SC2086  # VALGRIND_OPTIONS is a list of options
  if valgrind --leak-check=full --error-exitcode=1 --suppressions="$suppressions" \
    --log-file="$log" ${VALGRIND_OPTIONS:-} \
    "$program" >/dev/null; then
    echo "valgrind-examples: $(basename "$program"): $(grep -E 'ERROR SUMMARY' "$log" | sed 's/^==[0-9]*== //')"
  else
    echo "valgrind-examples: $(basename "$program") FAILED; see $log:" >&2
    grep -E "definitely|indirectly|possibly|Invalid|uninitialised|ERROR SUMMARY" "$log" >&2 || true
    failed=1
  fi
done
exit "$failed"
