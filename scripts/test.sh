#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test.
# Usage: scripts/test.sh [release|asan|tsan] [extra ctest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
flavour=${1:-release}
shift || true
scripts/setup.sh
scripts/build.sh "$flavour"
ctest --test-dir "build/$flavour" --output-on-failure -j "$(nproc)" "$@"
