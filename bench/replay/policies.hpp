// Replaying a trace through three allocation policies, side by side, in
// simulated time: the library's BufferPool (bufferpool::replay(), over a
// SimulatedBackend, time from a ManualClock moved to each event's time, so
// TTL and cleanup act as in the recorded run), and the simulations of
// PyTorch's CUDA caching allocator and MLX's Metal buffer cache. Every
// figure is exact: nothing is timed.
//
// The trace's threads are replayed in trace order from one OS thread, so
// the pool's per-thread caches see a single thread.
#pragma once

#include <bufferpool/config.hpp>
#include <bufferpool/trace.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace bufferpool::bench {

/// The pool's own counters, for the bufferpool policy.
struct PoolCounts {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t allocations = 0;  ///< backend allocations, as the pool counts them
  std::uint64_t evictions = 0;
  std::uint64_t expirations = 0;
  std::size_t peak_bytes_allocated = 0;
  /// hits / (hits + misses), the pool's PoolMetrics::hit_rate().
  double hit_rate = 0.0;
};

struct PolicyResult {
  std::string policy;    ///< "bufferpool", "pytorch", "mlx"
  std::string settings;  ///< the PoolConfig preset, or "defaults" for the simulations
  std::uint64_t requests = 0;
  /// Requests that made no new device allocation (a cached buffer or free
  /// space in a segment served them).
  std::uint64_t requests_without_device_allocation = 0;
  std::uint64_t device_allocations = 0;
  /// Most device allocations live at once (Vulkan bounds it by
  /// maxMemoryAllocationCount).
  std::size_t peak_live_device_allocations = 0;
  /// Most bytes held from the device at once.
  std::size_t peak_held_bytes = 0;
  /// The trace's own peak of bytes requested and not yet freed.
  std::size_t peak_live_bytes = 0;
  /// Requests the policy refused (the pool's OutOfMemoryError); 0 expected.
  /// The simulations serve every request.
  std::uint64_t failed_requests = 0;
  std::optional<PoolCounts> pool;

  /// requests_without_device_allocation / requests.
  [[nodiscard]] double served_without_allocation() const {
    return requests == 0 ? 0.0
                         : static_cast<double>(requests_without_device_allocation) /
                               static_cast<double>(requests);
  }
  /// peak_held_bytes / peak_live_bytes.
  [[nodiscard]] double held_over_live() const {
    return peak_live_bytes == 0
               ? 0.0
               : static_cast<double>(peak_held_bytes) / static_cast<double>(peak_live_bytes);
  }
};

/// The trace through bufferpool::replay() with `config`. `settings` names
/// the config.
[[nodiscard]] PolicyResult replay_bufferpool(const Trace& trace, PoolConfig config,
                                             const std::string& settings);

/// The trace through the simulation of PyTorch's CUDA caching allocator.
[[nodiscard]] PolicyResult replay_pytorch(const Trace& trace);

/// The trace through the simulation of MLX's Metal buffer cache.
[[nodiscard]] PolicyResult replay_mlx(const Trace& trace);

}  // namespace bufferpool::bench
