// PerformanceMetrics: what a ComputeManager did, and its pool's metrics.
#pragma once

#include <bufferpool/metrics.hpp>

#include <cstdint>
#include <string>

namespace bufferpool {

/// What the manager did, and its pool's metrics
/// (ComputeManager::get_performance_metrics()). A plain value: copy it,
/// compare runs, read it on any thread.
struct PerformanceMetrics {
  PoolMetrics buffer_pool;             ///< the pool's own counters
  std::string backend;                 ///< Backend::name(): "host", "vulkan: llvmpipe ..."
  std::uint64_t dispatches = 0;        ///< shader dispatches submitted
  std::uint64_t buffers_created = 0;   ///< create_buffer() calls
  std::uint64_t bytes_uploaded = 0;    ///< host to device, by create_buffer / upload
  std::uint64_t bytes_downloaded = 0;  ///< device to host, by get_buffer_data
  std::uint64_t staging_copies = 0;    ///< transfers through staging buffers
  std::uint64_t shader_libraries = 0;  ///< libraries loaded
  std::uint64_t pipelines = 0;         ///< VkPipelines made: one per pipeline and group size
  std::uint64_t gpu_time_ns = 0;       ///< device time in finished dispatches (timestamps)
  std::uint64_t wait_time_ns = 0;      ///< host time blocked waiting for the device

  /// Every field as one JSON object, in the order above after "backend";
  /// "buffer_pool" is PoolMetrics::to_json() as a nested object. Counters
  /// are JSON integers, exact to 64 bits; the backend name is escaped as JSON
  /// requires (control characters included); the global locale plays no
  /// part. Cost: O(size classes + scopes), allocates the string.
  [[nodiscard]] std::string to_json() const;
};

}  // namespace bufferpool
