#include <bufferpool/metrics.hpp>

#include <sstream>

namespace bufferpool {

std::string PoolMetrics::to_json() const {
  std::ostringstream out;
  out << "{\"hits\":" << hits << ",\"misses\":" << misses << ",\"hit_rate\":" << hit_rate()
      << ",\"allocations\":" << allocations << ",\"deallocations\":" << deallocations
      << ",\"evictions\":" << evictions << ",\"expirations\":" << expirations
      << ",\"failed_allocations\":" << failed_allocations
      << ",\"bytes_requested\":" << bytes_requested << ",\"bytes_granted\":" << bytes_granted
      << ",\"current_bytes_allocated\":" << current_bytes_allocated
      << ",\"peak_bytes_allocated\":" << peak_bytes_allocated
      << ",\"bytes_in_use\":" << bytes_in_use << ",\"buffers_in_use\":" << buffers_in_use
      << ",\"bytes_cached\":" << bytes_cached << ",\"buffers_cached\":" << buffers_cached
      << ",\"bytes_pending_gpu\":" << bytes_pending_gpu
      << ",\"buffers_pending_gpu\":" << buffers_pending_gpu << ",\"size_classes\":[";
  for (std::size_t index = 0; index < size_classes.size(); ++index) {
    const auto& entry = size_classes[index];
    if (index > 0) out << ',';
    out << "{\"capacity_bytes\":" << entry.capacity_bytes
        << ",\"oversize\":" << (entry.oversize ? "true" : "false") << ",\"hits\":" << entry.hits
        << ",\"misses\":" << entry.misses << ",\"buffers_cached\":" << entry.buffers_cached
        << ",\"buffers_in_use\":" << entry.buffers_in_use << '}';
  }
  out << "]}";
  return out.str();
}

}  // namespace bufferpool
