// Section 1: hit rate and memory overhead of three generated workloads, at
// default settings and with both presets, replayed on the host backend in
// simulated time (a ManualClock moved 1 ms per request), so that a run is
// the same on every machine.
#include "workloads.hpp"
#include "replay/pytorch_policy.hpp"
#include "suite.hpp"

#include <bufferpool/bufferpool.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <iomanip>
#include <ostream>
#include <queue>
#include <string>
#include <vector>

namespace bufferpool::bench {
namespace {

using workloads::Workload;
using Event = workloads::WorkloadEvent;
using workloads::interleaved_workload;
using workloads::random_workload;
using workloads::sequential_workload;

struct ReplayResult {
  double hit_rate = 0.0;
  std::size_t peak_held_bytes = 0;
  std::size_t peak_live_bytes = 0;
  std::uint64_t backend_allocations = 0;
  std::vector<double> held_bytes_samples;
  std::vector<double> live_bytes_samples;
  [[nodiscard]] double overhead() const {
    return peak_live_bytes == 0
               ? 0.0
               : static_cast<double>(peak_held_bytes) / static_cast<double>(peak_live_bytes);
  }
};

/// Replays a workload on a fresh pool; samples bytes held and live every
/// `sample_every` requests when asked.
ReplayResult replay(const Workload& workload, PoolConfig config, std::size_t sample_every = 0) {
  auto clock = std::make_shared<ManualClock>();
  config.clock = clock;
  BufferPool pool(make_host_backend(), std::move(config));
  std::vector<BufferRef> slots(workload.slots);
  std::vector<std::size_t> slot_sizes(workload.slots, 0);
  ReplayResult result;
  std::size_t live_bytes = 0;
  std::size_t requests = 0;
  for (const Event& event : workload.events) {
    if (event.kind == Event::Kind::get) {
      slots[event.slot] = pool.get_buffer(event.size_bytes);
      slot_sizes[event.slot] = event.size_bytes;
      live_bytes += event.size_bytes;
      result.peak_live_bytes = std::max(result.peak_live_bytes, live_bytes);
      clock->advance(std::chrono::milliseconds{1});
      ++requests;
      if (sample_every != 0 && requests % sample_every == 0) {
        result.held_bytes_samples.push_back(
            static_cast<double>(pool.metrics().current_bytes_allocated));
        result.live_bytes_samples.push_back(static_cast<double>(live_bytes));
      }
    } else {
      slots[event.slot].reset();
      live_bytes -= slot_sizes[event.slot];
    }
  }
  const PoolMetrics metrics = pool.metrics();
  result.hit_rate = metrics.hit_rate();
  result.peak_held_bytes = metrics.peak_bytes_allocated;
  result.backend_allocations = metrics.allocations;
  return result;
}

/// The same workload through the simulation of PyTorch's caching-allocator
/// policy (bench/replay), for a side-by-side figure: its peak segment bytes
/// over peak live, and its cudaMalloc calls.
ReplayResult replay_pytorch_policy(const Workload& workload) {
  PytorchCachingPolicy policy;
  std::vector<PytorchCachingPolicy::BlockId> slots(workload.slots);
  std::vector<std::size_t> slot_sizes(workload.slots, 0);
  ReplayResult result;
  std::size_t live_bytes = 0;
  for (const Event& event : workload.events) {
    if (event.kind == Event::Kind::get) {
      slots[event.slot] = policy.allocate(event.size_bytes);
      slot_sizes[event.slot] = event.size_bytes;
      live_bytes += event.size_bytes;
      result.peak_live_bytes = std::max(result.peak_live_bytes, live_bytes);
    } else {
      policy.free(slots[event.slot]);
      live_bytes -= slot_sizes[event.slot];
    }
  }
  const auto& stats = policy.stats();
  result.hit_rate = stats.requests == 0 ? 0.0
                                        : static_cast<double>(stats.requests_from_cache) /
                                              static_cast<double>(stats.requests);
  result.peak_held_bytes = stats.peak_held_bytes;
  result.backend_allocations = stats.segment_allocations;
  return result;
}

struct NamedConfig {
  std::string name;
  std::function<PoolConfig()> make;
};

}  // namespace

void run_workload_section(const BenchOptions& options, Report& report) {
  std::ostream& out = *report.table;
  const std::size_t requests = options.quick ? 20'000 : 100'000;
  const std::vector<Workload> workloads = {sequential_workload(requests, options.seed),
                                           interleaved_workload(requests, options.seed),
                                           random_workload(requests, options.seed)};
  const std::vector<NamedConfig> configs = {
      {"default", [] { return PoolConfig{}; }},
      {"memory_constrained", [] { return PoolConfig::memory_constrained(); }},
      {"performance_critical", [] { return PoolConfig::performance_critical(); }},
      // Not a PoolConfig: the simulated PyTorch policy on the same events.
      {"pytorch policy", [] { return PoolConfig{}; }},
  };

  out << "\n1. Hit rate and memory overhead (peak bytes held from the backend / peak bytes "
         "live), "
      << requests << " requests per workload, seed " << options.seed << "\n";
  out << "   " << std::left << std::setw(13) << "workload" << std::setw(22) << "settings"
      << std::right << std::setw(10) << "hit rate" << std::setw(11) << "overhead" << std::setw(12)
      << "peak held" << std::setw(12) << "peak live"
      << "\n";

  Json section = Json::object();
  section["requests_per_workload"] = Json(static_cast<std::uint64_t>(requests));
  section["seed"] = Json(options.seed);
  section["simulated_ms_per_request"] = Json(1);
  Json rows = Json::array();
  Json definitions = Json::object();
  for (const Workload& workload : workloads) {
    definitions[workload.name] = Json(workload.definition);
    for (const NamedConfig& config : configs) {
      const ReplayResult result = config.name == "pytorch policy" ? replay_pytorch_policy(workload)
                                                                  : replay(workload, config.make());
      out << "   " << std::left << std::setw(13) << workload.name << std::setw(22) << config.name
          << std::right << std::setw(9) << format_fixed(100.0 * result.hit_rate, 2) << "%"
          << std::setw(10) << format_fixed(result.overhead(), 2) << "x" << std::setw(12)
          << format_size(result.peak_held_bytes) << std::setw(12)
          << format_size(result.peak_live_bytes) << "\n";
      Json row = Json::object();
      row["workload"] = Json(workload.name);
      row["settings"] = Json(config.name);
      row["hit_rate"] = Json(result.hit_rate);
      row["memory_overhead"] = Json(result.overhead());
      row["peak_held_bytes"] = Json(static_cast<std::uint64_t>(result.peak_held_bytes));
      row["peak_live_bytes"] = Json(static_cast<std::uint64_t>(result.peak_live_bytes));
      row["backend_allocations"] = Json(result.backend_allocations);
      rows.push_back(row);

      const std::string measured = format_fixed(100.0 * result.hit_rate, 2) + "% hits, " +
                                   format_fixed(result.overhead(), 2) + "x memory";
      if (config.name == "default") {
        const double goal = workload.name == "sequential"    ? 0.99
                            : workload.name == "interleaved" ? 0.95
                                                             : 0.90;
        report.check({"hit rate, " + workload.name + ", default settings",
                      ">= " + format_fixed(goal * 100.0, 0) + "%", measured,
                      result.hit_rate >= goal, ""});
        if (workload.name == "random") {
          // Issue 8: with segments, the default settings hold little more than is live.
          report.check({"random workload, default settings, memory", "<= 1.3x memory", measured,
                        result.overhead() <= 1.3, ""});
        }
      } else if (workload.name == "random" && config.name == "memory_constrained") {
        report.check({"random workload, memory_constrained()", ">= 80% hits at <= 1.5x memory",
                      measured, result.hit_rate >= 0.80 && result.overhead() <= 1.5, ""});
      } else if (workload.name == "random" && config.name == "performance_critical") {
        report.check({"random workload, performance_critical()", ">= 95% hits", measured,
                      result.hit_rate >= 0.95, ""});
      }
    }
  }
  section["definitions"] = definitions;
  section["results"] = rows;

  // Hit rate against max_pool_size on the random workload (default classes).
  const Workload& random = workloads[2];
  Json sweep = Json::array();
  out << "   random workload, hit rate / overhead by max_pool_size (default otherwise):\n   ";
  for (const std::size_t pool_size : {0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512}) {
    PoolConfig config;
    config.max_pool_size = pool_size;
    const ReplayResult result = replay(random, config);
    Json point = Json::object();
    point["max_pool_size"] = Json(static_cast<std::uint64_t>(pool_size));
    point["hit_rate"] = Json(result.hit_rate);
    point["memory_overhead"] = Json(result.overhead());
    sweep.push_back(point);
    out << " " << pool_size << ":" << format_fixed(100.0 * result.hit_rate, 1) << "%/"
        << format_fixed(result.overhead(), 2) << "x";
  }
  out << "\n";
  section["random_hit_rate_by_max_pool_size"] = sweep;

  // Bytes held over time on the random workload, per setting.
  Json timeline = Json::object();
  const std::size_t sample_every = 10;
  const Workload head = [&] {
    Workload shorter = random_workload(std::min<std::size_t>(requests, 5'000), options.seed);
    return shorter;
  }();
  timeline["sample_every_requests"] = Json(static_cast<std::uint64_t>(sample_every));
  for (const NamedConfig& config : configs) {
    const ReplayResult result = replay(head, config.make(), sample_every);
    Json series = Json::object();
    Json held = Json::array();
    Json live = Json::array();
    for (const double bytes : result.held_bytes_samples) held.push_back(Json(bytes));
    for (const double bytes : result.live_bytes_samples) live.push_back(Json(bytes));
    series["held_bytes"] = held;
    series["live_bytes"] = live;
    timeline[config.name] = series;
  }
  section["random_bytes_over_time"] = timeline;
  report.json["workloads"] = section;
}

}  // namespace bufferpool::bench
