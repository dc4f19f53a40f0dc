// The benchmark suite behind `bufferpool bench`: each section measures one
// of the design's claims, prints its part of the table as it finishes, adds
// its figures to the JSON report, and records the targets it checks.
#pragma once

#include "json.hpp"

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace bufferpool::bench {

struct BenchOptions {
  /// A shorter run (under a minute on a 2-core machine) with fewer rounds.
  bool quick = false;
  /// Seed of every generated workload.
  std::uint64_t seed = 42;
  /// This program, run again as a child for the host allocator comparison
  /// (each allocator preloaded into its own process).
  std::string self_path;
  /// Sections to skip, by name ("workloads", "host", "threads",
  /// "bookkeeping", "vulkan", "end_to_end", "sequences", "traces").
  std::vector<std::string> skip;

  [[nodiscard]] bool runs(const std::string& section) const;
  /// Rounds of each timed comparison (medians are taken over them).
  [[nodiscard]] unsigned rounds() const { return quick ? 7 : 21; }
  /// Length of one timed batch.
  [[nodiscard]] double batch_ns() const { return quick ? 1.0e6 : 4.0e6; }
};

/// One target of the issue, checked against a measured figure.
struct Target {
  std::string name;      ///< what is compared
  std::string goal;      ///< the target, in words ("<= 1.5x")
  std::string measured;  ///< the figure, in words
  bool pass = false;
  std::string note;  ///< what limits it, where it is missed
};

struct Report {
  Json json = Json::object();
  std::vector<Target> targets;
  std::ostream* table = nullptr;  ///< where sections print their rows

  void check(Target target) { targets.push_back(std::move(target)); }
};

// Sections, each adding to the report.
void run_workload_section(const BenchOptions& options, Report& report);
void run_host_allocation_section(const BenchOptions& options, Report& report);
void run_thread_section(const BenchOptions& options, Report& report);
void run_bookkeeping_section(const BenchOptions& options, Report& report);
/// Built only with BUFFERPOOL_WITH_VULKAN (BUFFERPOOL_BENCH_WITH_VULKAN).
void run_vulkan_allocation_section(const BenchOptions& options, Report& report);
void run_end_to_end_section(const BenchOptions& options, Report& report);
/// A step of 16 kernels, one submission each against one recorded Sequence.
void run_sequence_section(const BenchOptions& options, Report& report);
/// Replays the real model traces of bench/traces/ (or $BUFFERPOOL_TRACES_DIR).
void run_trace_section(const BenchOptions& options, Report& report);

/// The host allocator comparison's child process: times a pool hit, the
/// caching-off path and the process's malloc + free for every size class,
/// and prints one line per class. `allocator` names what was preloaded.
int run_host_allocation_child(const std::string& allocator, bool quick);

/// Runs every section not skipped, prints the table and the targets, and
/// returns the report.
Report run_all(const BenchOptions& options, std::ostream& table);

/// Formats a byte count as "4 KiB", "16 MiB".
std::string format_size(std::size_t bytes);
/// Formats a number with `digits` digits after the point.
std::string format_fixed(double value, int digits);

/// `text` in single quotes for /bin/sh, for the commands the suite runs.
inline std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (const char character : text) {
    if (character == '\'') {
      quoted += "'\\''";
    } else {
      quoted += character;
    }
  }
  return quoted + "'";
}

}  // namespace bufferpool::bench
