#!/usr/bin/env python3
"""The Python hit: get_buffer + release of a cached 4 KiB buffer, against
numpy.empty(4096, numpy.uint8), both from Python, in one process.

Each round times a loop of `--iterations` operations of each kind, the kinds
alternating round by round so that the machine's drift moves them alike; the
figures are medians over `--rounds` rounds, in nanoseconds per operation
(the loop's own cost included, the same for every kind).

    PYTHONPATH=build/release/python python3 python/bench_hit.py
"""

import argparse
import json
import statistics
import sys
import time

import numpy

import bufferpool

SIZE_BYTES = 4096


def time_loop(operation, iterations):
    """Nanoseconds per call of operation() over a loop of `iterations`."""
    start = time.perf_counter_ns()
    for _ in range(iterations):
        operation()
    return (time.perf_counter_ns() - start) / iterations


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    pool = bufferpool.BufferPool()  # host memory
    get_buffer = pool.get_buffer
    empty = numpy.empty
    uint8 = numpy.uint8

    def pool_hit():
        buffer = get_buffer(SIZE_BYTES)
        buffer.release()

    def pool_hit_dropped():
        get_buffer(SIZE_BYTES)  # released when the handle is freed

    def numpy_empty():
        empty(SIZE_BYTES, uint8)

    def nothing():
        pass

    kinds = {
        "pool get_buffer + release()": pool_hit,
        "pool get_buffer, handle dropped": pool_hit_dropped,
        "numpy.empty(4096, uint8)": numpy_empty,
        "empty Python call (loop overhead)": nothing,
    }
    pool_hit()  # the first request is the miss that makes the segment
    samples = {name: [] for name in kinds}
    for _ in range(args.rounds):
        for name, operation in kinds.items():
            samples[name].append(time_loop(operation, args.iterations))

    metrics = pool.metrics()
    requests = metrics["hits"] + metrics["misses"]
    assert metrics["misses"] == 1 and metrics["buffers_in_use"] == 0, metrics

    medians = {name: statistics.median(values) for name, values in samples.items()}
    reference = medians["numpy.empty(4096, uint8)"]
    print(f"python {sys.version.split()[0]}, numpy {numpy.__version__}, "
          f"{args.rounds} rounds of {args.iterations} operations, medians")
    for name, value in medians.items():
        print(f"  {name:36s} {value:7.1f} ns  ({value / reference:.2f}x numpy.empty)")
    print(f"  pool: {requests} requests, {metrics['hits']} hits, {metrics['misses']} miss")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"medians_ns": medians, "rounds": args.rounds,
                       "iterations": args.iterations}, out, indent=2)


if __name__ == "__main__":
    main()
