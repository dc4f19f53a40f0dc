#!/usr/bin/env bash
# Configures and builds into build/<name>. Usage: scripts/build.sh [release|asan|tsan]
set -euo pipefail
cd "$(dirname "$0")/.."
flavour=${1:-release}
targets=()
case "$flavour" in
  release) extra=() ;;
  # The sanitizer builds leave out the benchmarks: they test, they do not time.
  asan) extra=(-DBUFFERPOOL_SANITIZE=address -DCMAKE_BUILD_TYPE=Debug -DBUFFERPOOL_BUILD_TOOLS=OFF) ;;
  # TSan runs the concurrency tests, which are the core's: the GPU side is left out.
  # It builds only the programs of the tests labelled `concurrency`.
  tsan) extra=(-DBUFFERPOOL_SANITIZE=thread -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUFFERPOOL_BUILD_TOOLS=OFF
               -DBUFFERPOOL_WITH_VULKAN=OFF -DBUFFERPOOL_BUILD_EXAMPLES=OFF -DBUFFERPOOL_BUILD_PYTHON=OFF)
        targets=(--target bufferpool_concurrency_tests bufferpool_recording_tests
                 bufferpool_stress_tests) ;;
  *) echo "build: unknown flavour '$flavour' (release, asan or tsan)" >&2; exit 2 ;;
esac
cmake -S . -B "build/$flavour" -DBUFFERPOOL_WERROR=ON "${extra[@]}" >/dev/null
cmake --build "build/$flavour" -j "$(nproc)" "${targets[@]}"
