#include "suite.hpp"

#include <algorithm>
#include <chrono>
#include <iomanip>
#include <ostream>
#include <sstream>
#include <thread>

namespace bufferpool::bench {

bool BenchOptions::runs(const std::string& section) const {
  return std::find(skip.begin(), skip.end(), section) == skip.end();
}

std::string format_size(std::size_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB"};
  std::size_t unit = 0;
  auto value = static_cast<double>(bytes);
  while (value >= 1024.0 && unit + 1 < std::size(kUnits)) {
    value /= 1024.0;
    ++unit;
  }
  const bool whole = value == static_cast<double>(static_cast<std::uint64_t>(value));
  return format_fixed(value, whole ? 0 : 1) + " " + kUnits[unit];
}

std::string format_fixed(double value, int digits) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(digits) << value;
  return out.str();
}

Report run_all(const BenchOptions& options, std::ostream& table) {
  Report report;
  report.table = &table;
  const auto start = std::chrono::steady_clock::now();
  Json run = Json::object();
  run["mode"] = Json(options.quick ? "quick" : "full");
  run["seed"] = Json(options.seed);
  run["hardware_threads"] = Json(std::thread::hardware_concurrency());
  run["rounds"] = Json(options.rounds());
  run["batch_ms"] = Json(options.batch_ns() / 1e6);
  report.json["run"] = run;

  struct Section {
    const char* name;
    void (*function)(const BenchOptions&, Report&);
  };
  const Section sections[] = {
    {"workloads", run_workload_section},
    {"host", run_host_allocation_section},
#if BUFFERPOOL_BENCH_WITH_VULKAN
    {"vulkan", run_vulkan_allocation_section},
    {"end_to_end", run_end_to_end_section},
    {"sequences", run_sequence_section},
#endif
    {"bookkeeping", run_bookkeeping_section},
    {"threads", run_thread_section},
    {"traces", run_trace_section},
  };
#if !BUFFERPOOL_BENCH_WITH_VULKAN
  // Built with BUFFERPOOL_WITH_VULKAN=OFF: the report says what it lacks.
  table << "\n(sections vulkan, end_to_end and sequences: not in this build, which has no Vulkan "
           "backend; configure with BUFFERPOOL_WITH_VULKAN=ON)\n";
  report.json["not_built"] = Json::array({"vulkan", "end_to_end", "sequences"});
#endif
  for (const Section& section : sections) {
    if (options.runs(section.name)) {
      section.function(options, report);
      table.flush();
    }
  }

  table << "\nTargets (issues 4, 8 and 12):\n";
  Json targets = Json::array();
  for (const Target& target : report.targets) {
    table << "  " << (target.pass ? "PASS" : "MISS") << "  " << target.name << ": "
          << target.measured << " (target " << target.goal << ")";
    if (!target.note.empty()) table << " -- " << target.note;
    table << "\n";
    Json entry = Json::object();
    entry["name"] = Json(target.name);
    entry["goal"] = Json(target.goal);
    entry["measured"] = Json(target.measured);
    entry["pass"] = Json(target.pass);
    if (!target.note.empty()) entry["note"] = Json(target.note);
    targets.push_back(entry);
  }
  report.json["targets"] = targets;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  report.json["run"]["seconds"] = Json(seconds);
  table << "(" << format_fixed(seconds, 1) << " s)\n";
  return report;
}

}  // namespace bufferpool::bench
