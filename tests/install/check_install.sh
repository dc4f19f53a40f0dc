#!/usr/bin/env bash
# Installs the build tree into a scratch prefix, then configures, builds and
# runs each consumer project, which finds it with find_package(bufferpool) as
# a user's project would.
# Usage: check_install.sh BUILD_DIR SCRATCH_DIR CONSUMER_SOURCE_DIR...
set -euo pipefail
build_dir=$1 scratch=$2
shift 2
rm -rf "$scratch"
cmake --install "$build_dir" --prefix "$scratch/prefix" >/dev/null
for consumer_dir in "$@"; do
  name=$(basename "$consumer_dir")
  cmake -S "$consumer_dir" -B "$scratch/$name" -DCMAKE_PREFIX_PATH="$scratch/prefix" >/dev/null
  cmake --build "$scratch/$name" >/dev/null
  "$scratch/$name/consumer"
done
