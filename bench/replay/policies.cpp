#include "replay/policies.hpp"

#include "replay/mlx_policy.hpp"
#include "replay/pytorch_policy.hpp"

#include <bufferpool/metrics.hpp>
#include <bufferpool/replay.hpp>

#include <utility>
#include <vector>

namespace bufferpool::bench {

PolicyResult replay_bufferpool(const Trace& trace, PoolConfig config, const std::string& settings) {
  ReplayOptions options;
  options.max_fragmentation_samples = 0;
  options.snapshot_at_peak = false;
  const ReplayResult replayed = replay(trace, std::move(config), options);
  const PoolMetrics& metrics = replayed.metrics;
  PolicyResult result;
  result.policy = "bufferpool";
  result.settings = settings;
  result.requests = replayed.requests;
  result.requests_without_device_allocation = replayed.hits;
  result.device_allocations = replayed.device_allocations;
  result.peak_live_device_allocations = replayed.peak_live_device_allocations;
  result.peak_held_bytes = replayed.peak_bytes_held;
  result.peak_live_bytes = replayed.peak_bytes_live;
  result.failed_requests = replayed.failed_requests;
  result.pool = PoolCounts{metrics.hits,      metrics.misses,      metrics.allocations,
                           metrics.evictions, metrics.expirations, metrics.peak_bytes_allocated,
                           metrics.hit_rate()};
  return result;
}

// The simulations have no memory limit: a request the recorded allocator
// refused ("allocate failure") would not tell them apart, and is left out.
PolicyResult replay_pytorch(const Trace& trace) {
  PytorchCachingPolicy policy;
  std::vector<PytorchCachingPolicy::BlockId> blocks(trace.allocation_count);
  for (const TraceEvent& event : trace.events) {
    if (event.kind == TraceEvent::Kind::allocate) {
      blocks[event.buffer_id] = policy.allocate(event.size_bytes);
    } else if (event.kind == TraceEvent::Kind::free) {
      policy.free(blocks[event.buffer_id]);
    }
  }
  const auto& stats = policy.stats();
  PolicyResult result;
  result.policy = "pytorch";
  result.settings = "defaults";
  result.requests = stats.requests;
  result.requests_without_device_allocation = stats.requests_from_cache;
  result.device_allocations = stats.segment_allocations;
  // Segments are never freed: all of them are live at the end.
  result.peak_live_device_allocations = stats.segment_allocations;
  result.peak_held_bytes = stats.peak_held_bytes;
  result.peak_live_bytes = trace.peak_live_bytes;
  return result;
}

PolicyResult replay_mlx(const Trace& trace) {
  MlxBufferCachePolicy policy;
  std::vector<MlxBufferCachePolicy::BufferId> buffers(trace.allocation_count);
  for (const TraceEvent& event : trace.events) {
    if (event.kind == TraceEvent::Kind::allocate) {
      buffers[event.buffer_id] = policy.allocate(event.size_bytes);
    } else if (event.kind == TraceEvent::Kind::free) {
      policy.free(buffers[event.buffer_id]);
    }
  }
  const auto& stats = policy.stats();
  PolicyResult result;
  result.policy = "mlx";
  result.settings = "defaults";
  result.requests = stats.requests;
  result.requests_without_device_allocation = stats.requests_from_cache;
  result.device_allocations = stats.device_allocations;
  result.peak_live_device_allocations = stats.peak_live_buffers;
  result.peak_held_bytes = stats.peak_held_bytes;
  result.peak_live_bytes = trace.peak_live_bytes;
  return result;
}

}  // namespace bufferpool::bench
