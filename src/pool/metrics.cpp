#include <bufferpool/metrics.hpp>

#include <nlohmann/json.hpp>

namespace bufferpool {

std::string PoolMetrics::to_json() const {
  // nlohmann::json writes numbers without the global locale and escapes
  // strings fully; 64-bit counters stay integers.
  nlohmann::ordered_json json = {
      {"hits", hits},
      {"hits_reused", hits_reused},
      {"hits_carved", hits_carved},
      {"misses", misses},
      {"hit_rate", hit_rate()},
      {"allocations", allocations},
      {"deallocations", deallocations},
      {"evictions", evictions},
      {"expirations", expirations},
      {"failed_allocations", failed_allocations},
      {"bytes_requested", bytes_requested},
      {"bytes_granted", bytes_granted},
      {"stream_reuses", stream_reuses},
      {"current_bytes_allocated", current_bytes_allocated},
      {"peak_bytes_allocated", peak_bytes_allocated},
      {"bytes_in_use", bytes_in_use},
      {"buffers_in_use", buffers_in_use},
      {"bytes_cached", bytes_cached},
      {"buffers_cached", buffers_cached},
      {"bytes_pending_gpu", bytes_pending_gpu},
      {"buffers_pending_gpu", buffers_pending_gpu},
      {"bytes_kept_for_streams", bytes_kept_for_streams},
      {"buffers_kept_for_streams", buffers_kept_for_streams},
      {"open_streams", open_streams},
      {"segments", segments},
      {"empty_segments", empty_segments},
      {"bytes_free_in_segments", bytes_free_in_segments},
      {"largest_free_block_bytes", largest_free_block_bytes},
      {"recorded_events", recorded_events},
      {"recording_waits", recording_waits},
  };
  auto& classes = json["size_classes"] = nlohmann::ordered_json::array();
  for (const auto& entry : size_classes) {
    classes.push_back({{"capacity_bytes", entry.capacity_bytes},
                       {"oversize", entry.oversize},
                       {"hits", entry.hits},
                       {"misses", entry.misses},
                       {"buffers_cached", entry.buffers_cached},
                       {"buffers_in_use", entry.buffers_in_use}});
  }
  auto& named_scopes = json["scopes"] = nlohmann::ordered_json::array();
  for (const auto& scope : scopes) {
    named_scopes.push_back({{"name", scope.name},
                            {"budget_bytes", scope.budget_bytes},
                            {"current_bytes", scope.current_bytes},
                            {"peak_bytes", scope.peak_bytes},
                            {"budget_failures", scope.budget_failures}});
  }
  return json.dump();
}

}  // namespace bufferpool
