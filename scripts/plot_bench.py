#!/usr/bin/env python3
"""Draws the plots of `bufferpool bench --out DIR` from DIR/bench.json.

usage: plot_bench.py BENCH_JSON OUT_DIR

Writes hit_rate_vs_pool_size.png, bytes_held_over_time.png and
speedup_by_size_class.png into OUT_DIR (needs matplotlib; Debian:
python3-matplotlib).
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def size_label(size):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:g} {unit}"
        size /= 1024
    return f"{size:g} TiB"


def plot_hit_rate(report, out_dir):
    sweep = report.get("workloads", {}).get("random_hit_rate_by_max_pool_size")
    if not sweep:
        return None
    sizes = [point["max_pool_size"] for point in sweep]
    hits = [100 * point["hit_rate"] for point in sweep]
    overhead = [point["memory_overhead"] for point in sweep]
    figure, axis = plt.subplots(figsize=(7, 4))
    axis.plot(range(len(sizes)), hits, marker="o", color="tab:blue", label="hit rate")
    axis.set_xticks(range(len(sizes)), [str(size) for size in sizes])
    axis.set_xlabel("max_pool_size (idle buffers kept)")
    axis.set_ylabel("hit rate (%)", color="tab:blue")
    axis.set_ylim(0, 100)
    other = axis.twinx()
    other.plot(range(len(sizes)), overhead, marker="s", color="tab:red", label="memory overhead")
    other.set_ylabel("peak held / peak live", color="tab:red")
    other.set_ylim(0, max(overhead) * 1.2)
    axis.set_title("Random workload: hit rate and memory against pool size")
    figure.tight_layout()
    path = os.path.join(out_dir, "hit_rate_vs_pool_size.png")
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def plot_bytes_over_time(report, out_dir):
    timeline = report.get("workloads", {}).get("random_bytes_over_time")
    if not timeline:
        return None
    every = timeline.get("sample_every_requests", 1)
    figure, axis = plt.subplots(figsize=(8, 4))
    live_drawn = False
    for name, series in timeline.items():
        if not isinstance(series, dict):
            continue
        held = [value / 2**20 for value in series["held_bytes"]]
        steps = [every * (index + 1) for index in range(len(held))]
        axis.plot(steps, held, label=f"held, {name}", linewidth=1)
        if not live_drawn:
            live = [value / 2**20 for value in series["live_bytes"]]
            axis.plot(steps, live, label="live (requested)", color="black", linewidth=0.8)
            live_drawn = True
    axis.set_xlabel("requests")
    axis.set_ylabel("MiB")
    axis.set_title("Random workload: bytes held from the backend over time")
    axis.legend(fontsize=8)
    figure.tight_layout()
    path = os.path.join(out_dir, "bytes_held_over_time.png")
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def plot_speedup(report, out_dir):
    series = []
    host = report.get("host_allocation", {})
    glibc = host.get("glibc", {}).get("classes", [])
    if glibc:
        series.append(("host: caching off / hit",
                       [(row["size_bytes"], row["caching_off_over_pool_hit"]) for row in glibc]))
    for name in ("mimalloc", "jemalloc"):
        rows = host.get(name, {}).get("classes", [])
        if rows:
            series.append((f"host: {name} / hit",
                           [(row["size_bytes"], row["malloc_free_over_pool_hit"]) for row in rows]))
    vulkan = report.get("vulkan_allocation", {}).get("classes", [])
    if vulkan:
        series.append(("Vulkan: caching off / hit",
                       [(row["size_bytes"], row["caching_off_over_pool_hit"]) for row in vulkan]))
        series.append(("Vulkan: raw driver / hit",
                       [(row["size_bytes"], row["raw_driver_over_pool_hit"]) for row in vulkan]))
    if not series:
        return None
    sizes = sorted({size for _, points in series for size, _ in points})
    width = 0.8 / len(series)
    figure, axis = plt.subplots(figsize=(10, 4.5))
    for index, (label, points) in enumerate(series):
        by_size = dict(points)
        xs = [position + (index - (len(series) - 1) / 2) * width for position in range(len(sizes))]
        axis.bar(xs, [by_size.get(size, 0) for size in sizes], width, label=label)
    axis.axhline(1.0, color="black", linewidth=0.8)
    axis.set_yscale("log")
    axis.set_xticks(range(len(sizes)), [size_label(size) for size in sizes], rotation=30)
    axis.set_ylabel("time of other / time of pool hit (log)")
    axis.set_title("Speed-up of a pool hit by size class (> 1: the pool hit is faster)")
    axis.legend(fontsize=8)
    figure.tight_layout()
    path = os.path.join(out_dir, "speedup_by_size_class.png")
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as source:
        report = json.load(source)
    os.makedirs(sys.argv[2], exist_ok=True)
    for plot in (plot_hit_rate, plot_bytes_over_time, plot_speedup):
        path = plot(report, sys.argv[2])
        if path:
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
