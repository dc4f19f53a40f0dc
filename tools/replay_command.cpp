// `bufferpool replay TRACE...`: each trace through the library's own pool in
// simulated time (bufferpool::replay), its figures as a report or as JSON,
// and the views of it: a Perfetto timeline, a PyTorch memory_viz snapshot, a
// PNG drawn from the timeline.
#include "commands.hpp"
#include "suite.hpp"

#include <bufferpool/errors.hpp>
#include <bufferpool/memory_viz.hpp>
#include <bufferpool/replay.hpp>
#include <bufferpool/timeline.hpp>
#include <bufferpool/trace.hpp>

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace bufferpool::cli {
namespace {

namespace fs = std::filesystem;
using bench::format_fixed;
using bench::format_size;

std::string percent(double fraction) { return format_fixed(100.0 * fraction, 2) + "%"; }

std::string seconds(std::uint64_t time_ns) {
  return format_fixed(static_cast<double>(time_ns) / 1e9, 3) + " s";
}

/// Rows of a long series to print: at most `most`, evenly spread, the last
/// always among them.
std::vector<std::size_t> rows_to_print(std::size_t count, std::size_t most) {
  std::vector<std::size_t> rows;
  if (count == 0) return rows;
  const std::size_t shown = std::min(count, most);
  for (std::size_t row = 1; row <= shown; ++row) rows.push_back(row * count / shown - 1);
  return rows;
}

void print_report(std::ostream& out, const Trace& trace, const ReplayResult& result,
                  const std::string& settings) {
  const PoolMetrics& metrics = result.metrics;
  out << trace.name << ": " << result.requests << " requests (" << trace.events.size()
      << " events, " << trace.thread_count << (trace.thread_count == 1 ? " thread, " : " threads, ")
      << format_fixed(static_cast<double>(trace.duration_ns()) / 1e9, 1)
      << " s recorded), settings " << settings << "\n";
  out << "  hit rate          " << percent(result.hit_rate) << " (" << metrics.hits
      << " hits: " << metrics.hits_reused << " reused, " << metrics.hits_carved << " carved; "
      << metrics.misses << " misses; " << result.failed_requests << " refused)\n";
  out << "  peak held         " << format_size(result.peak_bytes_held) << ", peak live "
      << format_size(result.peak_bytes_live) << ", overhead " << format_fixed(result.overhead, 2)
      << "x\n";
  out << "  device allocations " << result.device_allocations << " (at most "
      << result.peak_live_device_allocations << " live); evictions " << metrics.evictions
      << ", expirations " << metrics.expirations << "\n";
  if (trace.thread_count > 1) {
    out << "  (" << trace.thread_count
        << " threads replayed in trace order on one thread: the pool's per-thread caches see "
           "one)\n";
  }

  out << "  size classes: " << std::right << std::setw(10) << "capacity" << std::setw(10)
      << "requests" << std::setw(9) << "hits" << std::setw(8) << "misses" << std::setw(10)
      << "hit rate" << std::setw(8) << "idle" << std::setw(8) << "live"
      << "\n";
  for (const SizeClassMetrics& size_class : metrics.size_classes) {
    const std::uint64_t requests = size_class.hits + size_class.misses;
    if (requests == 0 && size_class.buffers_cached == 0 && size_class.buffers_in_use == 0) {
      continue;
    }
    const std::string capacity =
        size_class.oversize ? std::string("larger") : format_size(size_class.capacity_bytes);
    out << "                " << std::setw(10) << capacity << std::setw(10) << requests
        << std::setw(9) << size_class.hits << std::setw(8) << size_class.misses << std::setw(10)
        << (requests == 0
                ? std::string("-")
                : percent(static_cast<double>(size_class.hits) / static_cast<double>(requests)))
        << std::setw(8) << size_class.buffers_cached << std::setw(8) << size_class.buffers_in_use
        << "\n";
  }

  if (!result.segments_at_peak.empty()) {
    std::size_t live = 0, idle = 0, free = 0, free_blocks = 0, largest = 0, large = 0;
    for (const SegmentFigures& segment : result.segments_at_peak) {
      live += segment.live_bytes;
      idle += segment.idle_bytes;
      free += segment.free_bytes;
      free_blocks += segment.free_blocks;
      largest = std::max(largest, segment.largest_free_block_bytes);
      large += segment.large ? 1 : 0;
    }
    out << "  segments at the peak (first reached at " << seconds(result.peak_time_ns)
        << "): " << result.segments_at_peak.size() << " (" << result.segments_at_peak.size() - large
        << " small, " << large << " large): live " << format_size(live) << ", idle "
        << format_size(idle) << ", free " << format_size(free) << " in " << free_blocks
        << " blocks, largest free " << format_size(largest) << "\n";
    out << "    " << std::setw(18) << "address" << std::setw(11) << "size" << std::setw(7) << "kind"
        << std::setw(11) << "live" << std::setw(7) << "blocks" << std::setw(11) << "idle"
        << std::setw(11) << "free" << std::setw(14) << "largest free"
        << "\n";
    constexpr std::size_t kSegmentRows = 12;
    for (std::size_t index = 0; index < std::min(kSegmentRows, result.segments_at_peak.size());
         ++index) {
      const SegmentFigures& segment = result.segments_at_peak[index];
      std::ostringstream address;
      address << "0x" << std::hex << segment.address;
      out << "    " << std::setw(18) << address.str() << std::setw(11)
          << format_size(segment.size_bytes) << std::setw(7) << (segment.large ? "large" : "small")
          << std::setw(11) << format_size(segment.live_bytes) << std::setw(7) << segment.live_blocks
          << std::setw(11) << format_size(segment.idle_bytes) << std::setw(11)
          << format_size(segment.free_bytes) << std::setw(14)
          << format_size(segment.largest_free_block_bytes) << "\n";
    }
    if (result.segments_at_peak.size() > kSegmentRows) {
      out << "    ... and " << result.segments_at_peak.size() - kSegmentRows
          << " more (all of them in --json)\n";
    }
  }

  if (!result.fragmentation.empty()) {
    const std::vector<std::size_t> rows = rows_to_print(result.fragmentation.size(), 12);
    out << "  fragmentation over time (" << rows.size() << " of " << result.fragmentation.size()
        << " samples; all in --json):\n";
    out << "    " << std::setw(10) << "time" << std::setw(11) << "held" << std::setw(11) << "live"
        << std::setw(11) << "idle" << std::setw(11) << "free" << std::setw(14) << "largest free"
        << std::setw(10) << "segments"
        << "\n";
    for (const std::size_t row : rows) {
      const FragmentationSample& sample = result.fragmentation[row];
      out << "    " << std::setw(10) << seconds(sample.time_ns) << std::setw(11)
          << format_size(sample.bytes_held) << std::setw(11) << format_size(sample.bytes_live)
          << std::setw(11) << format_size(sample.bytes_idle) << std::setw(11)
          << format_size(sample.bytes_free_in_segments) << std::setw(14)
          << format_size(sample.largest_free_block_bytes) << std::setw(10) << sample.segments
          << "\n";
    }
  }
}

/// Runs scripts/plot_timeline.py on a Perfetto timeline; throws when it
/// fails, since the PNG was asked for.
void plot_timeline(const fs::path& timeline, const fs::path& png, const std::string& title) {
  const std::string script = find_script("plot_timeline.py", "BUFFERPOOL_PLOT_TIMELINE_SCRIPT");
  if (script.empty()) {
    throw Error(
        "--plot: plot_timeline.py not found in the source tree or the installed share folder; "
        "set BUFFERPOOL_PLOT_TIMELINE_SCRIPT to its path");
  }
  // The script's own report goes to stderr: stdout may be --json's.
  const std::string command = bench::shell_quote(find_python()) + " " + bench::shell_quote(script) +
                              " " + bench::shell_quote(timeline.string()) + " " +
                              bench::shell_quote(png.string()) + " --title " +
                              bench::shell_quote(title) + " 1>&2";
  // Our own plotting script, run after the replay.
  // NOLINTNEXTLINE(cert-env33-c,concurrency-mt-unsafe)
  if (std::system(command.c_str()) != 0) {
    throw Error("--plot: " + script + " could not draw " + png.string() +
                " (is python3-matplotlib installed? scripts/setup.sh installs it)");
  }
}

}  // namespace

int run_replay(const ReplayArgs& args) {
  const PoolConfig config = load_settings(args.settings);
  const std::string settings = settings_name(args.settings);
  nlohmann::ordered_json results = nlohmann::ordered_json::array();
  ProgressLine progress;
  for (const std::string& path : args.traces) {
    if (progress.shown()) progress.show("bufferpool replay: reading " + path);
    const Trace trace = read_trace(path);

    ReplayOptions options;
    std::shared_ptr<PerfettoTimeline> timeline;
    std::shared_ptr<MemoryVizRecorder> memory_viz;
    if (!args.perfetto_path.empty() || !args.plot_path.empty()) {
      timeline = std::make_shared<PerfettoTimeline>(config.size_classes);
      options.observers.push_back(timeline);
    }
    if (!args.memory_viz_path.empty()) {
      MemoryVizOptions viz_options;
      viz_options.memory_limit_bytes = config.memory_limit;
      memory_viz = std::make_shared<MemoryVizRecorder>(viz_options);
      options.observers.push_back(memory_viz);
      options.snapshot_at_end = true;
    }
    if (progress.shown()) {
      options.progress = [&progress, &trace](std::size_t done, std::size_t total) {
        progress.show("bufferpool replay: " + trace.name + " " +
                      std::to_string(total == 0 ? 100 : done * 100 / total) + "%");
      };
    }
    const ReplayResult result = replay(trace, config, options);
    progress.clear();

    nlohmann::ordered_json files = nlohmann::ordered_json::object();
    if (timeline && !args.perfetto_path.empty()) {
      const fs::path file = path_for_trace(args.perfetto_path, trace.name, args.traces.size());
      timeline->write(file);
      files["perfetto"] = file.string();
    }
    if (memory_viz) {
      const fs::path file = path_for_trace(args.memory_viz_path, trace.name, args.traces.size());
      memory_viz->write(file, result.final_snapshot);
      files["memory_viz"] = file.string();
    }
    if (!args.plot_path.empty()) {
      const fs::path png = path_for_trace(args.plot_path, trace.name, args.traces.size());
      if (!args.perfetto_path.empty()) {
        plot_timeline(path_for_trace(args.perfetto_path, trace.name, args.traces.size()), png,
                      trace.name);
      } else {
        const fs::path scratch =
            fs::temp_directory_path() /
            ("bufferpool-" + std::to_string(getpid()) + "-" + trace.name + ".perfetto.json");
        timeline->write(scratch);
        try {
          plot_timeline(scratch, png, trace.name);
        } catch (...) {
          fs::remove(scratch);
          throw;
        }
        fs::remove(scratch);
      }
      files["plot"] = png.string();
    }

    if (args.json) {
      nlohmann::ordered_json entry = nlohmann::ordered_json::parse(result.to_json());
      entry["file"] = path;
      entry["settings"] = settings;
      entry["config"] = nlohmann::ordered_json::parse(config.to_json());
      entry["events"] = trace.events.size();
      entry["threads"] = trace.thread_count;
      entry["duration_s"] = static_cast<double>(trace.duration_ns()) / 1e9;
      entry["files"] = files;
      results.push_back(std::move(entry));
    } else {
      print_report(std::cout, trace, result, settings);
      for (const auto& [kind, file] : files.items()) {
        std::cout << "  wrote " << kind << ": " << file.get<std::string>() << "\n";
      }
      std::cout << "\n";
    }
  }
  if (args.json) std::cout << results.dump(2) << "\n";
  return 0;
}

}  // namespace bufferpool::cli
