#!/usr/bin/env bash
# Installs the Python module alone (cmake --install --component python) into
# a scratch prefix, imports it from there with the interpreter it was built
# for, and checks that the configured prefix is one that interpreter searches.
# Usage: check_install.sh BUILD_DIR SCRATCH_DIR MODULE_DIR PYTHON INSTALL_PREFIX
# (MODULE_DIR relative to the prefix: BUFFERPOOL_PYTHON_INSTALL_DIR)
set -euo pipefail
build_dir=$1 scratch=$2 module_dir=$3 python=$4 install_prefix=$5
rm -rf "$scratch"
mkdir -p "$scratch"
cmake --install "$build_dir" --component python --prefix "$scratch/prefix" >/dev/null
cd "$scratch"  # away from the build tree, so that only the installed module can be found
PYTHONPATH="$scratch/prefix/$module_dir" "$python" - "$scratch/prefix" <<'PY'
import sys

import bufferpool

assert bufferpool.__file__.startswith(sys.argv[1]), bufferpool.__file__
pool = bufferpool.BufferPool()
pool.get_buffer(4096).release()
pool.get_buffer(4096).release()
assert pool.metrics()["hits"] == 1, pool.metrics()
print(f"installed module: {bufferpool.__file__}")
PY
# Debian's python3 searches /usr/local/lib/python3.X/dist-packages and
# /usr/lib/python3/dist-packages; other prefixes need PYTHONPATH.
case "$install_prefix" in
  /usr | /usr/local)
    "$python" - "$install_prefix/$module_dir" <<'PY'
import sys
target = sys.argv[1]
assert target in sys.path, (
    f"{sys.executable} does not search {target}, where cmake --install puts the module; "
    f"configure with -DBUFFERPOOL_PYTHON_INSTALL_DIR= one of {sys.path}")
print(f"{sys.executable} imports from {target}")
PY
    ;;
  *) echo "prefix $install_prefix: python3 finds the module with PYTHONPATH=$install_prefix/$module_dir" ;;
esac
