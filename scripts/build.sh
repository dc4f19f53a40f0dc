#!/usr/bin/env bash
# Configures and builds into build/<name>. Usage: scripts/build.sh [release|core|asan|tsan]
set -euo pipefail
cd "$(dirname "$0")/.."
flavour=${1:-release}
targets=()
case "$flavour" in
  release) extra=() ;;
  # The core alone, as on a machine without Vulkan: its library, examples and
  # tests. The Python module, the benchmarks and the command are built and
  # tested by the release build.
  core) extra=(-DBUFFERPOOL_WITH_VULKAN=OFF -DBUFFERPOOL_BUILD_PYTHON=OFF -DBUFFERPOOL_BUILD_TOOLS=OFF) ;;
  # The sanitizer builds leave out the benchmarks: they test, they do not time.
  asan) extra=(-DBUFFERPOOL_SANITIZE=address -DCMAKE_BUILD_TYPE=Debug -DBUFFERPOOL_BUILD_TOOLS=OFF) ;;
  # TSan runs the concurrency tests, which are the core's: the GPU side is left out.
  # It builds only the programs of the tests labelled `concurrency`.
  tsan) extra=(-DBUFFERPOOL_SANITIZE=thread -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUFFERPOOL_BUILD_TOOLS=OFF
               -DBUFFERPOOL_WITH_VULKAN=OFF -DBUFFERPOOL_BUILD_EXAMPLES=OFF -DBUFFERPOOL_BUILD_PYTHON=OFF)
        targets=(--target bufferpool_concurrency_tests bufferpool_recording_tests
                 bufferpool_stress_tests) ;;
  *) echo "build: unknown flavour '$flavour' (release, core, asan or tsan)" >&2; exit 2 ;;
esac
# Through ccache where it is installed (scripts/setup.sh installs it): an
# object compiled before, in any build folder, is not compiled again; the
# core build reuses the release build's, whose sources and flags are the same.
# The build folder is left out of the hash for that (CCACHE_NOHASHDIR): the
# objects differ only in the folder their debug information names.
launcher=""
if command -v ccache >/dev/null; then launcher="env;CCACHE_NOHASHDIR=true;ccache"; fi
# RelWithDebInfo with line tables only (-g1): perf, heaptrack, gdb's
# backtraces and the sanitizers' reports still name file and line, and the
# build takes about a sixth less time than with -g. For a debugger's view of
# variables, configure with -DCMAKE_BUILD_TYPE=Debug.
cmake -S . -B "build/$flavour" -DBUFFERPOOL_WERROR=ON "-DCMAKE_CXX_COMPILER_LAUNCHER=$launcher" \
      "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" "${extra[@]}" >/dev/null
cmake --build "build/$flavour" -j "$(nproc)" "${targets[@]}"
