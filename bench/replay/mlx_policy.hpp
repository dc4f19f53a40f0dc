// A simulation of MLX's Metal allocator (mlx/backend/metal/allocator.cpp:
// MetalAllocator::malloc/free and its BufferCache), to replay traces
// against. Every buffer is its own device allocation (an MTL::Buffer); a
// freed buffer goes to the cache; a request takes the smallest cached buffer
// that is at least its size and less than min(2 * size, size + 2 pages).
// Sizes above a page are rounded up to whole pages. The cache is trimmed,
// least recently freed first, only when it passes its limit; MLX's default
// limit is the memory limit (1.5x the GPU's recommended working set), which
// a replay has none of, so by default nothing is ever evicted.
//
// What it leaves out: the small-buffer MTL::Heap of later MLX versions, the
// wait for command buffers before a buffer is reused, and the memory limit
// check that makes malloc fail.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <vector>

namespace bufferpool::bench {

class MlxBufferCachePolicy {
 public:
  /// vm_page_size on Apple silicon.
  static constexpr std::size_t kPageBytes = 16384;
  static constexpr std::size_t kUnlimited = std::numeric_limits<std::size_t>::max();

  using BufferId = std::uint32_t;

  struct Stats {
    std::uint64_t requests = 0;
    /// Requests served by a cached buffer: no newBuffer call.
    std::uint64_t requests_from_cache = 0;
    /// newBuffer calls.
    std::uint64_t device_allocations = 0;
    /// Buffers released to Metal (cache trimmed, or freed with a full cache).
    std::uint64_t device_frees = 0;
    std::size_t active_bytes = 0;  ///< in buffers handed out
    std::size_t cache_bytes = 0;   ///< in cached buffers
    /// active + cache: what the device holds for MLX.
    std::size_t peak_held_bytes = 0;
    std::size_t live_buffers = 0;  ///< active and cached
    std::size_t peak_live_buffers = 0;
  };

  /// `cache_limit_bytes`: MetalAllocator's max_pool_size_ (set_cache_limit).
  explicit MlxBufferCachePolicy(std::size_t cache_limit_bytes = kUnlimited);

  /// The size malloc() allocates for a request: above a page, whole pages.
  [[nodiscard]] static std::size_t rounded_size(std::size_t size_bytes);

  /// malloc(): a cached buffer or a new one. Valid until free().
  [[nodiscard]] BufferId allocate(std::size_t size_bytes);
  /// free(): into the cache while it is under its limit, else released.
  void free(BufferId buffer);

  [[nodiscard]] const Stats& stats() const noexcept { return stats_; }
  /// The buffer's length (its rounded size when it was made).
  [[nodiscard]] std::size_t buffer_length(BufferId buffer) const {
    return buffers_[buffer].length_bytes;
  }
  [[nodiscard]] std::size_t cached_buffers() const { return cache_.size(); }

 private:
  static constexpr BufferId kNone = std::numeric_limits<BufferId>::max();

  struct Buffer {
    std::size_t length_bytes = 0;
    bool cached = false;
    BufferId newer = kNone;  ///< LRU list of cached buffers, by time of free
    BufferId older = kNone;
    std::multimap<std::size_t, BufferId>::iterator in_cache;
  };

  BufferId new_buffer(std::size_t length_bytes);
  void release(BufferId buffer);
  /// BufferCache::recycle_to_cache.
  void recycle(BufferId buffer);
  /// Takes a cached buffer out of the cache and the LRU list.
  void uncache(BufferId buffer);
  /// BufferCache::release_cached_buffers: at least min_bytes, oldest first,
  /// or the whole cache when that is 90% of it.
  void release_cached(std::size_t min_bytes);
  void note_held();

  std::size_t cache_limit_bytes_;
  std::vector<Buffer> buffers_;
  std::vector<BufferId> unused_ids_;
  std::multimap<std::size_t, BufferId> cache_;  ///< by length; equal lengths oldest first
  BufferId newest_ = kNone;
  BufferId oldest_ = kNone;
  Stats stats_;
};

}  // namespace bufferpool::bench
