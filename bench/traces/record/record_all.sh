#!/usr/bin/env bash
# Records the six model traces of bench/traces/ again: builds the allocation
# shim (alloc_shim.c) with cc, runs each workload of workloads.py on the CPU
# with the shim preloaded, and writes bench/traces/<workload>.csv.
#
#   bench/traces/record/record_all.sh [WORKLOAD]...   # default: all six
#
# Needs Debian's PyTorch (apt-get install -y python3-torch python3-torchvision),
# run as /usr/bin/python3 or $BUFFERPOOL_PYTHON. Not needed to build or test
# the project: only to re-record.
set -euo pipefail

record_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
traces_dir="$(dirname "$record_dir")"
python="${BUFFERPOOL_PYTHON:-/usr/bin/python3}"
max_trace_bytes=2000000  # each trace stays a plain CSV of at most 2 MB

if ! "$python" -c 'import torch, torchvision' 2>/dev/null; then
  echo "record_all.sh: $python cannot import torch and torchvision;" \
       "install python3-torch python3-torchvision or set BUFFERPOOL_PYTHON" >&2
  exit 1
fi

work_dir="$(mktemp -d)"
trap 'rm -rf "$work_dir"' EXIT
shim="$work_dir/alloc_shim.so"
"${CC:-cc}" -O2 -Wall -Wextra -Werror -shared -fPIC -o "$shim" "$record_dir/alloc_shim.c" \
  -ldl -lpthread

workloads=("$@")
if [ ${#workloads[@]} -eq 0 ]; then
  workloads=(small_cnn_train resnet18_train transformer_train lstm_infer mlp_infer
             mlp_serve_2threads)
fi

echo "torch $("$python" -c 'import torch; print(torch.__version__)')," \
     "torchvision $("$python" -c 'import torchvision; print(torchvision.__version__)')"
for workload in "${workloads[@]}"; do
  out="$work_dir/$workload.csv"
  start_ns=$(date +%s%N)
  LD_PRELOAD="$shim" BUFFERPOOL_TRACE_OUT="$out" "$python" "$record_dir/workloads.py" "$workload"
  seconds=$(( ($(date +%s%N) - start_ns) / 1000000000 ))
  bytes=$(stat -c %s "$out")
  # Every allocation of the workload is freed again before recording stops.
  read -r allocations frees failures threads < <(awk -F, 'NR > 1 {
      if ($3 == "allocate") a++; else if ($3 == "free") f++; else x++; t[$1] = 1 }
    END { n = 0; for (k in t) n++; print a + 0, f + 0, x + 0, n }' "$out")
  echo "$workload: ${seconds} s, $allocations allocations, $frees frees, $failures failures," \
       "$threads thread(s), $bytes bytes"
  if [ "$bytes" -gt "$max_trace_bytes" ]; then
    echo "record_all.sh: $workload.csv is $bytes bytes, over $max_trace_bytes;" \
         "lower its iterations in workloads.py" >&2
    exit 1
  fi
  if [ "$allocations" -ne "$frees" ]; then
    echo "record_all.sh: $workload left $((allocations - frees)) allocations live" >&2
    exit 1
  fi
  cp "$out" "$traces_dir/$workload.csv"
done
