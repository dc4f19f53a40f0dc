// Section 1: hit rate and memory overhead of three generated workloads, at
// default settings and with both presets, replayed on the host backend in
// simulated time (a ManualClock moved 1 ms per request), so that a run is
// the same on every machine.
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

/// splitmix64: a tiny generator whose output is the same on every platform
/// (std::uniform_*_distribution is not).
class Random {
 public:
  explicit Random(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t value = (state_ += 0x9E3779B97F4A7C15ULL);
    value = (value ^ (value >> 30)) * 0xBF58476D1CE4E5B9ULL;
    value = (value ^ (value >> 27)) * 0x94D049BB133111EBULL;
    return value ^ (value >> 31);
  }
  /// Uniform in [0, bound).
  std::uint64_t below(std::uint64_t bound) { return next() % bound; }
  /// Uniform in [0, 1).
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  std::uint64_t state_;
};

/// One request of a workload: get a buffer into a slot, or release a slot.
struct Event {
  enum class Kind : std::uint8_t { get, release } kind;
  std::uint32_t slot;
  std::size_t size_bytes;  // for get
};

struct Workload {
  std::string name;
  std::string definition;
  std::vector<Event> events;
  std::uint32_t slots = 0;
};

constexpr std::size_t KiB = 1024;
constexpr std::size_t MiB = 1024 * KiB;

/// Sequential: one size class; get a buffer, release it, repeat. Sizes are
/// uniform in (16 KiB, 64 KiB], all in the 64 KiB class.
Workload sequential_workload(std::size_t requests, std::uint64_t seed) {
  Workload workload{"sequential",
                    "get, then release, one buffer at a time; sizes uniform in (16 KiB, 64 KiB]",
                    {},
                    1};
  Random random(seed);
  for (std::size_t request = 0; request < requests; ++request) {
    const std::size_t size = 16 * KiB + 1 + random.below(48 * KiB);
    workload.events.push_back({Event::Kind::get, 0, size});
    workload.events.push_back({Event::Kind::release, 0, 0});
  }
  return workload;
}

/// Interleaved: 8 buffers live at a time, sizes drawn from {4 KiB, 64 KiB,
/// 256 KiB, 1 MiB}; each new buffer makes a randomly chosen live one go, so
/// buffers are released out of order.
Workload interleaved_workload(std::size_t requests, std::uint64_t seed) {
  constexpr std::uint32_t kLive = 8;
  const std::size_t sizes[] = {4 * KiB, 64 * KiB, 256 * KiB, 1 * MiB};
  Workload workload{"interleaved",
                    "8 live buffers of sizes {4 KiB, 64 KiB, 256 KiB, 1 MiB} (uniform); each new "
                    "buffer releases a random live one",
                    {},
                    kLive + 1};
  Random random(seed);
  std::vector<std::uint32_t> live;
  std::vector<std::uint32_t> free_slots;
  for (std::uint32_t slot = 0; slot <= kLive; ++slot) free_slots.push_back(slot);
  for (std::size_t request = 0; request < requests; ++request) {
    const std::uint32_t slot = free_slots.back();
    free_slots.pop_back();
    workload.events.push_back({Event::Kind::get, slot, sizes[random.below(std::size(sizes))]});
    live.push_back(slot);
    if (live.size() > kLive) {
      const auto victim = static_cast<std::size_t>(random.below(live.size()));
      workload.events.push_back({Event::Kind::release, live[victim], 0});
      free_slots.push_back(live[victim]);
      live[victim] = live.back();
      live.pop_back();
    }
  }
  for (const std::uint32_t slot : live) workload.events.push_back({Event::Kind::release, slot, 0});
  return workload;
}

/// Random: sizes log-uniform from 256 B to 16 MiB; each buffer lives a
/// uniform 1..64 requests (about 32 live at a time), then is released.
Workload random_workload(std::size_t requests, std::uint64_t seed) {
  constexpr std::uint64_t kMaxLifetime = 64;
  Workload workload{"random",
                    "sizes log-uniform in [256 B, 16 MiB]; lifetimes uniform in 1..64 requests "
                    "(about 32 live)",
                    {},
                    0};
  Random random(seed);
  const double log_min = std::log(256.0);
  const double log_max = std::log(16.0 * MiB);
  using Expiry = std::pair<std::uint64_t, std::uint32_t>;  // (request index, slot)
  std::priority_queue<Expiry, std::vector<Expiry>, std::greater<>> expiries;
  std::vector<std::uint32_t> free_slots;
  for (std::uint64_t request = 0; request < requests; ++request) {
    while (!expiries.empty() && expiries.top().first <= request) {
      workload.events.push_back({Event::Kind::release, expiries.top().second, 0});
      free_slots.push_back(expiries.top().second);
      expiries.pop();
    }
    std::uint32_t slot = 0;
    if (free_slots.empty()) {
      slot = workload.slots++;
    } else {
      slot = free_slots.back();
      free_slots.pop_back();
    }
    const double size = std::exp(log_min + random.unit() * (log_max - log_min));
    workload.events.push_back({Event::Kind::get, slot, static_cast<std::size_t>(size)});
    expiries.emplace(request + 1 + random.below(kMaxLifetime), slot);
  }
  while (!expiries.empty()) {
    workload.events.push_back({Event::Kind::release, expiries.top().second, 0});
    expiries.pop();
  }
  return workload;
}

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
      const ReplayResult result = replay(workload, config.make());
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
