// `bufferpool tune TRACE...`: searches the pool's settings by replaying the
// traces (bufferpool::tune), prints the frontier of hit rate against peak
// memory and the recommendation, and writes it as JSON that
// PoolConfig::from_json() reads, with the C++ lines that set the same.
#include "commands.hpp"
#include "suite.hpp"

#include <bufferpool/errors.hpp>
#include <bufferpool/trace.hpp>
#include <bufferpool/tune.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <iomanip>
#include <iostream>
#include <string>
#include <vector>

namespace bufferpool::cli {
namespace {

using bench::format_fixed;
using bench::format_size;
using Json = nlohmann::ordered_json;

std::string percent(double fraction) { return format_fixed(100.0 * fraction, 3) + "%"; }

Json candidate_json(const TuneCandidate& candidate) {
  Json traces = Json::array();
  for (const TuneTraceScore& score : candidate.traces) {
    traces.push_back({{"trace", score.trace},
                      {"requests", score.requests},
                      {"misses", score.misses},
                      {"hit_rate", score.hit_rate},
                      {"failed_requests", score.failed_requests},
                      {"peak_bytes_held", score.peak_bytes_held},
                      {"peak_bytes_live", score.peak_bytes_live},
                      {"overhead", score.overhead},
                      {"device_allocations", score.device_allocations},
                      {"limit_bytes", score.limit_bytes},
                      {"excess_bytes", score.excess_bytes}});
  }
  return {{"changes", candidate.changes},
          {"feasible", candidate.feasible()},
          {"hit_rate", candidate.hit_rate},
          {"misses", candidate.misses},
          {"failed_requests", candidate.failed_requests},
          {"peak_bytes_held", candidate.peak_bytes_held},
          {"excess_bytes", candidate.excess_bytes},
          {"device_allocations", candidate.device_allocations},
          {"traces", traces},
          {"config", Json::parse(candidate.config.to_json())}};
}

void print_report(std::ostream& out, const TuneResult& result, const TuneArgs& args,
                  double elapsed_s) {
  out << "tune: " << result.baseline.traces.size()
      << (result.baseline.traces.size() == 1 ? " trace" : " traces")
      << "; objective: " << result.objective.describe()
      << (args.max_overhead || args.memory_budget_bytes ? "" : " (the default)") << "\n";
  out << "baseline: " << settings_name(args.baseline) << "; searched "
      << result.candidates_evaluated << " settings in " << format_fixed(elapsed_s, 2) << " s\n\n";

  out << "frontier: hit rate against peak held"
      << (result.baseline.traces.size() == 1 ? "" : " (summed over the traces)")
      << ", fewest bytes first (* recommended, b baseline)\n";
  out << "     " << std::right << std::setw(12) << "peak held" << std::setw(11) << "hit rate"
      << std::setw(9) << "misses" << std::setw(9) << "in bound"
      << "  settings\n";
  const std::string recommended_json = result.recommended.config.to_json();
  const std::string baseline_json = result.baseline.config.to_json();
  for (const TuneCandidate& point : result.frontier) {
    const std::string json = point.config.to_json();
    const std::string mark =
        std::string(json == recommended_json ? "*" : " ") + (json == baseline_json ? "b" : " ");
    out << "  " << mark << " " << std::setw(12) << format_size(point.peak_bytes_held)
        << std::setw(11) << percent(point.hit_rate) << std::setw(9) << point.misses << std::setw(9)
        << (point.feasible() ? "yes" : "no") << "  " << point.changes << "\n";
  }

  out << "\nper trace: baseline -> recommended\n";
  out << "  " << std::left << std::setw(22) << "trace" << std::right << std::setw(12) << "bound"
      << std::setw(22) << "peak held" << std::setw(16) << "overhead" << std::setw(26) << "hit rate"
      << "\n";
  for (std::size_t index = 0; index < result.baseline.traces.size(); ++index) {
    const TuneTraceScore& base = result.baseline.traces[index];
    const TuneTraceScore& ours = result.recommended.traces[index];
    out << "  " << std::left << std::setw(22) << base.trace << std::right << std::setw(12)
        << format_size(base.limit_bytes) << std::setw(22)
        << (format_size(base.peak_bytes_held) + " -> " + format_size(ours.peak_bytes_held))
        << std::setw(16)
        << (format_fixed(base.overhead, 2) + " -> " + format_fixed(ours.overhead, 2))
        << std::setw(26) << (percent(base.hit_rate) + " -> " + percent(ours.hit_rate)) << "\n";
  }

  out << "\nrecommended: " << result.recommended.changes << "\n";
  if (!result.recommended.feasible()) {
    out << "  (no setting searched meets the bound on every trace; this one passes it by the "
           "least: "
        << format_size(result.recommended.excess_bytes) << " over in all)\n";
  }
}

}  // namespace

int run_tune(const TuneArgs& args) {
  TuneOptions options;
  if (args.memory_budget_bytes) {
    options.objective.kind = TuneObjective::Kind::memory_budget;
    options.objective.memory_budget_bytes = static_cast<std::size_t>(*args.memory_budget_bytes);
  } else if (args.max_overhead) {
    options.objective.kind = TuneObjective::Kind::max_overhead;
    options.objective.max_overhead = *args.max_overhead;
  }
  options.baseline = load_settings(args.baseline);
  options.threads = args.threads;

  ProgressLine progress;
  std::vector<Trace> traces;
  for (const std::string& path : args.traces) {
    progress.show("bufferpool tune: reading " + path);
    traces.push_back(read_trace(path));
  }
  if (progress.shown()) {
    options.progress = [&progress](std::size_t done, std::size_t most) {
      progress.show("bufferpool tune: " + std::to_string(done) + " settings replayed (at most " +
                    std::to_string(most) + ")");
    };
  }
  const auto start = std::chrono::steady_clock::now();
  const TuneResult result = tune(traces, options);
  const double elapsed_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  progress.clear();

  const std::string cpp = to_cpp_statements(result.recommended.config);
  if (!args.out_path.empty()) write_file(args.out_path, result.recommended.config.to_json() + "\n");

  if (args.json) {
    Json frontier = Json::array();
    for (const TuneCandidate& point : result.frontier) frontier.push_back(candidate_json(point));
    Json objective = {
        {"kind", result.objective.kind == TuneObjective::Kind::memory_budget ? "memory_budget"
                                                                             : "max_overhead"},
        {"description", result.objective.describe()}};
    if (result.objective.kind == TuneObjective::Kind::memory_budget) {
      objective["memory_budget_bytes"] = result.objective.memory_budget_bytes;
    } else {
      objective["max_overhead"] = result.objective.max_overhead;
    }
    const Json document = {{"objective", objective},
                           {"candidates_evaluated", result.candidates_evaluated},
                           {"baseline", candidate_json(result.baseline)},
                           {"recommended", candidate_json(result.recommended)},
                           {"frontier", frontier},
                           {"cpp", cpp},
                           {"out", args.out_path}};
    std::cout << document.dump(2) << "\n";
    return 0;
  }
  print_report(std::cout, result, args, elapsed_s);
  if (args.out_path.empty()) {
    std::cout << "\nas JSON (PoolConfig::from_json reads it; --out FILE writes it):\n"
              << result.recommended.config.to_json() << "\n";
  } else {
    std::cout << "wrote " << args.out_path << " (PoolConfig::from_json reads it)\n";
  }
  std::cout << "\nin C++:\n" << cpp;
  return 0;
}

}  // namespace bufferpool::cli
