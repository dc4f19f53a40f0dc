#include "replay/replay.hpp"

#include "replay/mlx_policy.hpp"
#include "replay/pytorch_policy.hpp"
#include "replay/simulated_device.hpp"

#include <bufferpool/bufferpool.hpp>

#include <chrono>
#include <memory>
#include <utility>
#include <vector>

namespace bufferpool::replay {

PolicyResult replay_bufferpool(const Trace& trace, PoolConfig config, const std::string& settings) {
  auto clock = std::make_shared<ManualClock>();
  config.clock = clock;
  // No thread may clean up on its own: cleanup runs when the replay's time
  // says so, in get_buffer and on release.
  config.background_cleanup = false;
  auto device = std::make_shared<SimulatedDevice>();
  PolicyResult result;
  result.policy = "bufferpool";
  result.settings = settings;
  result.peak_live_bytes = trace.peak_live_bytes;
  {
    BufferPool pool(device, std::move(config));
    std::vector<BufferRef> buffers(trace.allocation_count);
    for (const TraceEvent& event : trace.events) {
      clock->advance(std::chrono::nanoseconds{event.time_ns} - clock->now());
      if (event.kind == TraceEvent::Kind::free) {
        buffers[event.buffer_id].reset();
        continue;
      }
      ++result.requests;
      const std::uint64_t allocations_before = device->allocations();
      try {
        buffers[event.buffer_id] = pool.get_buffer(event.size_bytes);
      } catch (const Error&) {
        ++result.failed_requests;
        continue;
      }
      if (device->allocations() == allocations_before) ++result.requests_without_device_allocation;
    }
    buffers.clear();
    const PoolMetrics metrics = pool.metrics();
    result.pool = PoolCounts{metrics.hits,      metrics.misses,      metrics.allocations,
                             metrics.evictions, metrics.expirations, metrics.peak_bytes_allocated,
                             metrics.hit_rate()};
  }
  result.device_allocations = device->allocations();
  result.peak_held_bytes = device->peak_live_bytes();
  result.peak_live_device_allocations = device->peak_live_allocations();
  return result;
}

PolicyResult replay_pytorch(const Trace& trace) {
  PytorchCachingPolicy policy;
  std::vector<PytorchCachingPolicy::BlockId> blocks(trace.allocation_count);
  for (const TraceEvent& event : trace.events) {
    if (event.kind == TraceEvent::Kind::allocate) {
      blocks[event.buffer_id] = policy.allocate(event.size_bytes);
    } else {
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
    } else {
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

}  // namespace bufferpool::replay
