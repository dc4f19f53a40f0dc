// The three generated workloads (sequential, interleaved, random) that
// `bufferpool bench` measures and the tests replay through fault injection
// and many threads. Here, in a header-only library of its own
// (bufferpool_workloads), so that neither the tests nor the benchmarks
// reach into the other's folder. A workload is a list of events: get a buffer
// into a slot, or release a slot. Fixed seeds give the same workload on every
// platform.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <queue>
#include <string>
#include <utility>
#include <vector>

namespace bufferpool::workloads {

/// splitmix64: the same sequence on every platform.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}
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

struct WorkloadEvent {
  enum class Kind : std::uint8_t { get, release } kind;
  std::uint32_t slot;
  std::size_t size_bytes;  ///< for get
};

struct Workload {
  std::string name;
  std::string definition;  ///< in words, for reports
  std::vector<WorkloadEvent> events;
  std::uint32_t slots = 0;
};

inline constexpr std::size_t kWorkloadKiB = 1024;
inline constexpr std::size_t kWorkloadMiB = 1024 * kWorkloadKiB;

/// Sequential: get, then release, one buffer at a time; sizes uniform in
/// (16 KiB, 64 KiB], all in one class.
inline Workload sequential_workload(std::size_t requests, std::uint64_t seed) {
  Workload workload{"sequential",
                    "get, then release, one buffer at a time; sizes uniform in (16 KiB, 64 KiB]",
                    {},
                    1};
  SplitMix64 random(seed);
  for (std::size_t request = 0; request < requests; ++request) {
    const std::size_t size = 16 * kWorkloadKiB + 1 + random.below(48 * kWorkloadKiB);
    workload.events.push_back({WorkloadEvent::Kind::get, 0, size});
    workload.events.push_back({WorkloadEvent::Kind::release, 0, 0});
  }
  return workload;
}

/// Interleaved: 8 live buffers of sizes {4 KiB, 64 KiB, 256 KiB, 1 MiB}; each
/// new buffer releases a random live one, so releases come out of order.
inline Workload interleaved_workload(std::size_t requests, std::uint64_t seed) {
  constexpr std::uint32_t kLive = 8;
  const std::size_t sizes[] = {4 * kWorkloadKiB, 64 * kWorkloadKiB, 256 * kWorkloadKiB,
                               kWorkloadMiB};
  Workload workload{"interleaved",
                    "8 live buffers of sizes {4 KiB, 64 KiB, 256 KiB, 1 MiB} (uniform); each new "
                    "buffer releases a random live one",
                    {},
                    kLive + 1};
  SplitMix64 random(seed);
  std::vector<std::uint32_t> live;
  std::vector<std::uint32_t> free_slots;
  for (std::uint32_t slot = 0; slot <= kLive; ++slot) free_slots.push_back(slot);
  for (std::size_t request = 0; request < requests; ++request) {
    const std::uint32_t slot = free_slots.back();
    free_slots.pop_back();
    workload.events.push_back(
        {WorkloadEvent::Kind::get, slot, sizes[random.below(std::size(sizes))]});
    live.push_back(slot);
    if (live.size() > kLive) {
      const auto victim = static_cast<std::size_t>(random.below(live.size()));
      workload.events.push_back({WorkloadEvent::Kind::release, live[victim], 0});
      free_slots.push_back(live[victim]);
      live[victim] = live.back();
      live.pop_back();
    }
  }
  for (const std::uint32_t slot : live) {
    workload.events.push_back({WorkloadEvent::Kind::release, slot, 0});
  }
  return workload;
}

/// Random: sizes log-uniform in [256 B, 16 MiB]; each buffer lives a uniform
/// 1..64 requests (about 32 live at a time).
inline Workload random_workload(std::size_t requests, std::uint64_t seed) {
  constexpr std::uint64_t kMaxLifetime = 64;
  Workload workload{"random",
                    "sizes log-uniform in [256 B, 16 MiB]; lifetimes uniform in 1..64 requests "
                    "(about 32 live)",
                    {},
                    0};
  SplitMix64 random(seed);
  const double log_min = std::log(256.0);
  const double log_max = std::log(16.0 * kWorkloadMiB);
  using Expiry = std::pair<std::uint64_t, std::uint32_t>;  // (request index, slot)
  std::priority_queue<Expiry, std::vector<Expiry>, std::greater<>> expiries;
  std::vector<std::uint32_t> free_slots;
  for (std::uint64_t request = 0; request < requests; ++request) {
    while (!expiries.empty() && expiries.top().first <= request) {
      workload.events.push_back({WorkloadEvent::Kind::release, expiries.top().second, 0});
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
    workload.events.push_back({WorkloadEvent::Kind::get, slot, static_cast<std::size_t>(size)});
    expiries.emplace(request + 1 + random.below(kMaxLifetime), slot);
  }
  while (!expiries.empty()) {
    workload.events.push_back({WorkloadEvent::Kind::release, expiries.top().second, 0});
    expiries.pop();
  }
  return workload;
}

}  // namespace bufferpool::workloads
