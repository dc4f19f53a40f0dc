#include "pool/block.hpp"
#include "pool/format.hpp"

#include <bufferpool/config.hpp>
#include <bufferpool/errors.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <sstream>

namespace bufferpool {
namespace {

[[noreturn]] void fail(const std::string& message) {
  throw ConfigError("bufferpool: PoolConfig::" + message);
}

}  // namespace

std::vector<std::size_t> default_size_classes() {
  std::vector<std::size_t> classes;
  for (std::size_t capacity = 256; capacity <= std::size_t{64} << 20; capacity *= 4) {
    classes.push_back(capacity);
  }
  return classes;
}

std::vector<std::size_t> geometric_size_classes(std::size_t min_bytes, std::size_t max_bytes,
                                                unsigned classes_per_doubling) {
  if (min_bytes == 0)
    throw ConfigError("bufferpool: geometric_size_classes: min_bytes must be > 0");
  if (max_bytes < min_bytes) {
    throw ConfigError("bufferpool: geometric_size_classes: max_bytes (" +
                      std::to_string(max_bytes) + ") must be >= min_bytes (" +
                      std::to_string(min_bytes) + ")");
  }
  if (max_bytes > detail::Block::kMaxSizeBytes) {
    throw ConfigError("bufferpool: geometric_size_classes: max_bytes (" +
                      std::to_string(max_bytes) +
                      ") is above the largest buffer the pool can track (128 GiB - 64 B)");
  }
  if (classes_per_doubling == 0 || classes_per_doubling > 64) {
    throw ConfigError(
        "bufferpool: geometric_size_classes: classes_per_doubling must be in 1..64, got " +
        std::to_string(classes_per_doubling));
  }
  std::vector<std::size_t> classes;
  const double ratio = std::exp2(1.0 / classes_per_doubling);
  for (double exact = static_cast<double>(min_bytes);; exact *= ratio) {
    auto capacity = static_cast<std::size_t>(std::ceil(exact));
    // Round to 1/64 of the power of two below (16 bytes at least): aligned
    // buffers, and at most 1.6% added to the series' own rounding waste.
    const std::size_t granule = std::max<std::size_t>(16, std::bit_floor(capacity) / 64);
    capacity = (capacity + granule - 1) / granule * granule;
    if (capacity >= max_bytes) break;
    if (classes.empty() || capacity > classes.back()) classes.push_back(capacity);
  }
  if (classes.empty() || classes.back() < max_bytes) classes.push_back(max_bytes);
  return classes;
}

PoolConfig PoolConfig::memory_constrained() {
  PoolConfig config;
  // Memory over device allocations. Requests above 1 MiB get a segment of
  // their own, rounded to 64 KiB, instead of sharing 20 MiB segments: a large
  // segment's tail is the biggest slack a small model pays for (20 MiB held
  // for one 1.5 MiB weight), and a freed one still serves later requests by
  // carving. Replayed real model traces (docs/benchmarks.md) hold 1.08-1.46x
  // their peak live bytes this way, against 1.18-8.85x with the default
  // segments, for up to twice the device allocations. A 48 MiB cap bounds the
  // idle bytes, and size-aware eviction spends that cap on many small buffers
  // rather than a few large ones (on the benchmark's random workload it kept
  // 88% hits where oldest-first kept 56%). A shorter TTL gives unused
  // segments back sooner.
  config.size_classes = geometric_size_classes(256, std::size_t{64} << 20, 2);
  config.max_cached_bytes = std::size_t{48} << 20;
  config.max_pool_size = 128;
  config.eviction = EvictionPolicy::size_aware;
  config.ttl = std::chrono::seconds{15};
  config.cleanup_interval = std::chrono::seconds{30};
  config.segments.large_request_max_bytes = config.segments.small_request_max_bytes;
  config.segments.large_segment_bytes = config.segments.small_request_max_bytes;
  config.segments.dedicated_rounding_bytes = std::size_t{64} << 10;
  return config;
}

PoolConfig PoolConfig::performance_critical() {
  PoolConfig config;
  config.max_pool_size = 128;
  config.ttl = std::chrono::seconds{60};
  config.cleanup_interval = std::chrono::seconds{120};
  return config;
}

void PoolConfig::validate() const {
  if (size_classes.empty()) {
    fail("size_classes is empty; give at least one capacity, or keep the default");
  }
  for (std::size_t index = 0; index < size_classes.size(); ++index) {
    const std::size_t capacity = size_classes[index];
    if (capacity == 0)
      fail("size_classes[" + std::to_string(index) + "] is 0; classes hold >= 1 byte");
    if (capacity > detail::Block::kMaxSizeBytes) {
      fail("size_classes[" + std::to_string(index) + "] is " + std::to_string(capacity) +
           " bytes, above the largest buffer the pool can track (128 GiB - 64 B)");
    }
    if (index > 0 && capacity <= size_classes[index - 1]) {
      fail("size_classes must be strictly increasing: size_classes[" + std::to_string(index) +
           "] = " + std::to_string(capacity) + " follows " +
           std::to_string(size_classes[index - 1]));
    }
  }
  if (size_classes.size() > 1024) {
    fail("size_classes has " + std::to_string(size_classes.size()) +
         " classes; at most 1024 are supported");
  }
  if (ttl.count() < 0) fail("ttl is negative; use a duration >= 0");
  if (cleanup_interval.count() < 0) fail("cleanup_interval is negative; use a duration >= 0");
  if (background_cleanup && cleanup_interval.count() == 0) {
    fail(
        "cleanup_interval is 0 with background_cleanup on, which would spin a core; give an "
        "interval of at least a millisecond");
  }
  if (!clock) fail("clock is null; keep the default or pass a ManualClock");
  const auto positive = [](std::size_t bytes, const char* name) {
    if (bytes == 0) fail(std::string("segments.") + name + " is 0; give a size in bytes");
  };
  positive(segments.small_request_max_bytes, "small_request_max_bytes");
  positive(segments.small_segment_bytes, "small_segment_bytes");
  positive(segments.large_request_max_bytes, "large_request_max_bytes");
  positive(segments.large_segment_bytes, "large_segment_bytes");
  positive(segments.dedicated_rounding_bytes, "dedicated_rounding_bytes");
  if (segments.small_segment_bytes < segments.small_request_max_bytes) {
    fail("segments.small_segment_bytes (" + detail::format_bytes(segments.small_segment_bytes) +
         ") is below segments.small_request_max_bytes (" +
         detail::format_bytes(segments.small_request_max_bytes) +
         "): a small request must fit in a small segment");
  }
  if (segments.large_request_max_bytes < segments.small_request_max_bytes) {
    fail("segments.large_request_max_bytes (" +
         detail::format_bytes(segments.large_request_max_bytes) +
         ") is below segments.small_request_max_bytes (" +
         detail::format_bytes(segments.small_request_max_bytes) + ")");
  }
  if (segments.large_segment_bytes < segments.large_request_max_bytes) {
    fail("segments.large_segment_bytes (" + detail::format_bytes(segments.large_segment_bytes) +
         ") is below segments.large_request_max_bytes (" +
         detail::format_bytes(segments.large_request_max_bytes) +
         "): a large request must fit in a large segment");
  }
  if (memory_limit != 0 && memory_limit < size_classes.front()) {
    fail("memory_limit (" + detail::format_bytes(memory_limit) +
         ") is smaller than the smallest size class (" +
         detail::format_bytes(size_classes.front()) + "), so no buffer could ever be allocated");
  }
}

}  // namespace bufferpool
