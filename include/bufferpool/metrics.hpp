// PoolMetrics: what a pool did and holds, as a plain struct and as JSON.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace bufferpool {

/// Counts for one size class. The last entry of PoolMetrics::size_classes is
/// for requests above the largest class (capacity_bytes == 0, oversize true).
struct SizeClassMetrics {
  std::size_t capacity_bytes = 0;
  bool oversize = false;
  std::uint64_t hits = 0;    ///< requests of this class served without a backend allocation
  std::uint64_t misses = 0;  ///< requests of this class that made the backend allocate
  std::size_t buffers_cached = 0;
  std::size_t buffers_in_use = 0;
};

/// Bytes held by the open AutoReleaseScopes of one name (see
/// AutoReleaseScope's named constructor), over every thread.
struct ScopeMetrics {
  std::string name;
  std::size_t budget_bytes = 0;  ///< the budget of the latest scope opened with this name; 0 = none
  std::size_t current_bytes = 0;      ///< capacities of the buffers they hold now
  std::size_t peak_bytes = 0;         ///< highest current_bytes, since the pool was made
  std::uint64_t budget_failures = 0;  ///< requests refused for passing the budget
};

struct PoolMetrics {
  // Cumulative since the pool was made.
  /// Requests served without a new backend allocation: hits_reused + hits_carved.
  std::uint64_t hits = 0;
  std::uint64_t hits_reused = 0;    ///< served by an idle buffer of the ready cache
  std::uint64_t hits_carved = 0;    ///< carved from free space in a segment the pool held
  std::uint64_t misses = 0;         ///< requests that made the backend allocate a segment
  std::uint64_t allocations = 0;    ///< successful backend allocations (segments)
  std::uint64_t deallocations = 0;  ///< backend frees (segments), for any reason
  /// Idle buffers given back to their segments for a count, byte or memory
  /// limit, or to make room for a request that no free block could hold.
  std::uint64_t evictions = 0;
  std::uint64_t expirations = 0;         ///< idle buffers given back for passing their TTL
  std::uint64_t failed_allocations = 0;  ///< requests that ended in OutOfMemoryError
  std::uint64_t bytes_requested = 0;     ///< sum of sizes asked for
  std::uint64_t bytes_granted = 0;       ///< sum of capacities handed out
  /// Hits of requests for a stream served by a buffer kept for that stream
  /// (stream-ordered reuse); they count in hits and hits_reused too.
  std::uint64_t stream_reuses = 0;

  // Now.
  /// Held from the backend: the segments' bytes, which are in use + pending
  /// + kept for streams + idle + bytes_free_in_segments.
  std::size_t current_bytes_allocated = 0;
  std::size_t peak_bytes_allocated = 0;  ///< highest current_bytes_allocated since reset_peak()
  std::size_t bytes_in_use = 0;          ///< held by live handles
  std::size_t buffers_in_use = 0;
  std::size_t bytes_cached = 0;  ///< idle, ready for reuse
  std::size_t buffers_cached = 0;
  std::size_t bytes_pending_gpu = 0;  ///< released, but device work still uses them
  std::size_t buffers_pending_gpu = 0;
  /// Released to a stream that is still open (BufferPool::release_to_stream):
  /// reusable by that stream's requests only.
  std::size_t bytes_kept_for_streams = 0;
  std::size_t buffers_kept_for_streams = 0;
  std::size_t open_streams = 0;
  std::size_t segments = 0;        ///< backend allocations held
  std::size_t empty_segments = 0;  ///< segments nothing is carved from, kept for reuse
  /// Segment bytes not carved into any buffer: empty segments, and the gaps
  /// between buffers (fragmentation).
  std::size_t bytes_free_in_segments = 0;
  /// The largest free block in any segment. Small and large requests draw on
  /// different segments (SegmentConfig), so this bounds, but is not always,
  /// the largest request served without a new segment.
  std::size_t largest_free_block_bytes = 0;

  std::vector<SizeClassMetrics> size_classes;
  /// Named scopes that held this pool's buffers, by name.
  std::vector<ScopeMetrics> scopes;

  /// Recording (BufferPool::start_recording): events written, and the times
  /// a thread waited because the writer had not kept up.
  std::uint64_t recorded_events = 0;
  std::uint64_t recording_waits = 0;

  /// hits / (hits + misses); 0 before the first request.
  [[nodiscard]] double hit_rate() const noexcept {
    const auto requests = hits + misses;
    return requests == 0 ? 0.0 : static_cast<double>(hits) / static_cast<double>(requests);
  }

  // metrics() reads one shard at a time: with other threads working, each
  // "now" figure is exact for some moment during the call, not one snapshot;
  // with the pool quiet they agree exactly.

  /// Every field above as one JSON object.
  [[nodiscard]] std::string to_json() const;
};

}  // namespace bufferpool
