#!/usr/bin/env bash
# Installs what is missing, builds, and runs `bufferpool bench` as a user
# would. Usage: scripts/bench.sh [--quick] [--out DIR] [other bench options]
# Without --out, results go to build/bench-results/ (bench.json, table.txt, PNG plots).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh release
arguments=("$@")
if [[ " ${arguments[*]-} " != *" --out "* ]]; then
  arguments+=(--out build/bench-results)
fi
build/release/tools/bufferpool bench "${arguments[@]}"
