#!/usr/bin/python3
"""Draws a pool's memory over time from a Perfetto timeline (PerfettoTimeline,
`bufferpool replay --perfetto FILE`) as a PNG.

usage: plot_timeline.py TIMELINE_JSON OUT_PNG [--title TEXT]

Plots bytes held (the "held" counter: segments), in use and idle (the
"all classes" counter's in_use_bytes and idle_bytes) as steps over time, and
marks each miss (a "segment allocate" instant) with a tick under the curves.
Needs matplotlib (Debian: python3-matplotlib, which scripts/setup.sh installs);
the shebang is Debian's python3, where that package installs it.
"""
import argparse
import json
import sys


def size_label(size):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024:
            return f"{size:.4g} {unit}"
        size /= 1024
    return f"{size:g} TiB"


def byte_tick_step(peak, most_ticks=8):
    """A step of 1, 2, 4 or 5 times a power of ten of a binary unit, so that
    the ticks read 32 MiB, 64 MiB, ... rather than 47.6837 MiB."""
    unit = 1
    while unit * 1024 <= peak:
        unit *= 1024
    for multiple in (1, 2, 4, 5, 10, 16, 20, 25, 32, 50, 64, 100, 128, 200, 256, 500, 512, 1000):
        if peak / (multiple * unit) <= most_ticks:
            return multiple * unit
    return 1024 * unit


def read_series(path):
    with open(path, encoding="utf-8") as file:
        document = json.load(file)
    events = document.get("traceEvents")
    if not isinstance(events, list):
        raise ValueError(f"{path}: no traceEvents list; is it a PerfettoTimeline JSON file?")
    held, in_use, idle, misses = [], [], [], []
    for event in events:
        phase, name = event.get("ph"), event.get("name")
        if phase == "C" and name == "held":
            held.append((event["ts"], event["args"]["bytes"]))
        elif phase == "C" and name == "all classes":
            in_use.append((event["ts"], event["args"]["in_use_bytes"]))
            idle.append((event["ts"], event["args"]["idle_bytes"]))
        elif phase == "i" and name == "segment allocate":
            misses.append(event["ts"])
    if not held and not in_use:
        raise ValueError(f"{path}: no 'held' or 'all classes' counter events to plot")
    return held, in_use, idle, misses


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("timeline_json")
    parser.add_argument("out_png")
    parser.add_argument("--title", default="pool memory over time")
    args = parser.parse_args(argv[1:])
    try:
        import matplotlib
    except ImportError:
        print(f"plot_timeline.py: matplotlib is missing for {sys.executable}; install Debian's "
              "python3-matplotlib (scripts/setup.sh does)", file=sys.stderr)
        return 2
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    try:
        held, in_use, idle, misses = read_series(args.timeline_json)
    except (OSError, ValueError, KeyError) as error:
        print(f"plot_timeline.py: {error}", file=sys.stderr)
        return 1

    # Perfetto timestamps are microseconds; seconds read better on the axis.
    # A counter is sampled only when it changes: each series holds its last
    # value to the end of the timeline.
    end_us = max(ts for series in (held, in_use, idle) for ts, _ in series)
    figure, axis = plt.subplots(figsize=(9, 4.5))
    peak = 1
    for series, label, colour in ((held, "held (segments)", "tab:blue"),
                                  (in_use, "in use (live)", "tab:green"),
                                  (idle, "idle (ready cache)", "tab:orange")):
        if not series:
            continue
        times = [ts / 1e6 for ts, _ in series] + [end_us / 1e6]
        values = [value for _, value in series]
        values.append(values[-1])
        peak = max(peak, max(values))
        axis.step(times, values, where="post", label=label, color=colour, linewidth=1.2)
    if misses:
        # Ticks along the bottom edge, whatever the scale of the bytes.
        axis.vlines([ts / 1e6 for ts in misses], 0, 0.05, transform=axis.get_xaxis_transform(),
                    colors="tab:red", linewidth=1, label=f"miss: a segment allocated ({len(misses)})")
    axis.set_xlabel("time (s)")
    axis.set_ylabel("bytes")
    axis.set_ylim(bottom=0, top=1.08 * peak)
    axis.yaxis.set_major_locator(MultipleLocator(byte_tick_step(peak)))
    axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _: size_label(value)))
    axis.set_title(args.title)
    axis.grid(alpha=0.3)
    axis.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=4, fontsize="small",
                frameon=False)
    figure.tight_layout()
    figure.savefig(args.out_png, dpi=110)
    print(f"plot_timeline.py: wrote {args.out_png} ({len(held)} held, {len(in_use)} in-use points, "
          f"{len(misses)} misses)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
