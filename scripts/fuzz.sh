#!/usr/bin/env bash
# Builds the pool's libFuzzer target (fuzz/pool_model_fuzzer.cpp) with clang,
# AddressSanitizer and UndefinedBehaviorSanitizer, then either
#   --replay            runs every input of the checked-in corpus once (CI), or
#   --fuzz-seconds N    fuzzes for N seconds from the corpus and merges the
#                       inputs that reach new code (new edges, so the corpus
#                       stays small) into tests/model/corpus; review and commit
#                       them. A divergence or crash stops it, leaves crash-* (a
#                       hang: timeout-*) in the current folder and prints the
#                       operations that led to it; replay one input with:
#                       build/fuzz/fuzz/pool_model_fuzzer FILE
# At exit the fuzzer prints what it ran (inputs, operations, requests, faults)
# and how often the model saw each path of the pool (splits, merges, empty
# segments freed, limit shrinks and refusals, out-of-memory retries, ...). The
# corpus replay in bufferpool_model_tests requires every path to be reached.
# The build goes to build/fuzz (BUFFERPOOL_FUZZ_BUILD_DIR overrides it).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: scripts/fuzz.sh --replay | --fuzz-seconds N" >&2; }
case "${1:-}" in
  --replay) mode=replay ;;
  --fuzz-seconds)
    mode=fuzz
    seconds=${2:-}
    [[ "$seconds" =~ ^[0-9]+$ ]] || { usage; exit 2; }
    ;;
  *) usage; exit 2 ;;
esac

command -v clang++ >/dev/null || { echo "fuzz: clang++ is missing (scripts/setup.sh)" >&2; exit 1; }
build=${BUFFERPOOL_FUZZ_BUILD_DIR:-build/fuzz}
corpus=tests/model/corpus
cmake -S . -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DBUFFERPOOL_SANITIZE=address -DBUFFERPOOL_BUILD_FUZZERS=ON -DBUFFERPOOL_BUILD_TESTS=OFF \
  -DBUFFERPOOL_BUILD_EXAMPLES=OFF -DBUFFERPOOL_BUILD_TOOLS=OFF -DBUFFERPOOL_WERROR=ON >/dev/null
cmake --build "$build" -j "$(nproc)" --target pool_model_fuzzer
fuzzer="$build/fuzz/pool_model_fuzzer"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

if [[ "$mode" == replay ]]; then
  mapfile -t inputs < <(find "$corpus" -type f | sort)
  ((${#inputs[@]} > 0)) || { echo "fuzz: no corpus in $corpus" >&2; exit 1; }
  "$fuzzer" "${inputs[@]}"
  echo "fuzz: replayed ${#inputs[@]} corpus inputs, all agree with the model"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$fuzzer" -max_total_time="$seconds" -max_len=2048 -timeout=30 -rss_limit_mb=4096 \
  -print_final_stats=1 "$work" "$corpus"
before=$(find "$corpus" -type f | wc -l)
"$fuzzer" -merge=1 -use_counters=0 "$corpus" "$work" 2>&1 | grep -E "MERGE-OUTER: [0-9]+ new files" || true
after=$(find "$corpus" -type f | wc -l)
echo "fuzz: ${seconds}s without a divergence; corpus $before -> $after inputs"
