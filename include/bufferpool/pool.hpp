// BufferPool: size classes, idle lists, limits, TTL cleanup and metrics over a
// Backend.
#pragma once

#include <bufferpool/backend.hpp>
#include <bufferpool/buffer.hpp>
#include <bufferpool/config.hpp>
#include <bufferpool/metrics.hpp>

#include <cstddef>
#include <memory>
#include <string>

namespace bufferpool {

/// A thread-safe cache of buffers from one Backend.
///
///     bufferpool::BufferPool pool(bufferpool::make_host_backend());
///     auto buffer = pool.get_buffer(1000);   // 1000 B carved from a new 2 MiB segment: a miss
///     auto other = pool.get_buffer(5000);    // carved from the same segment: a hit
///     buffer.reset();                        // idle, in the ready cache
///     auto again = pool.get_buffer(900);     // the same buffer again: a hit
///
/// Memory comes from the backend in segments (SegmentConfig: 2 MiB for
/// requests up to 1 MiB, 20 MiB up to 10 MiB, a segment of its own above),
/// and buffers are carved out of them at the request's size, rounded up to
/// the backend's alignment. A request is served, cheapest first, by an idle
/// buffer of its size class that it fills to within an eighth (a hit,
/// reused), by free space in a segment (a hit, carved), or by a new segment
/// (a miss: the only case that calls the backend). When no free block is
/// large enough, idle buffers go back to their segments, oldest first, and
/// merge with their free neighbours before a new segment is taken.
///
/// Released buffers wait in per-class idle lists; past max_pool_size or
/// max_cached_bytes the one released longest ago goes back to its segment;
/// one idle longer than ttl goes back at the next cleanup. A segment with
/// nothing carved from it goes back to the backend once it has been unused
/// for ttl, at clear(), and when memory_limit or the backend needs room.
///
/// The hit path reads no clock on a get, takes no global lock and allocates
/// nothing: each thread works on its own shard of the idle lists, and a
/// thread that misses takes idle buffers from other shards before carving.
/// Release order is exact within a thread; across threads, buffers are
/// ordered by the time of their release.
///
/// Destroying the pool while buffers are still referenced is safe: they stay
/// valid and are freed when their last reference goes.
class BufferPool {
 public:
  /// Throws ConfigError when `config` makes no sense, naming the setting.
  explicit BufferPool(std::shared_ptr<Backend> backend, PoolConfig config = {});
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;
  BufferPool(BufferPool&&) = delete;
  BufferPool& operator=(BufferPool&&) = delete;

  /// A buffer of at least size_bytes, with ref_count() == 1.
  /// Throws InvalidArgumentError for 0 or a size the backend cannot hold,
  /// OutOfMemoryError when memory_limit or the backend leaves no room even
  /// after freeing every idle buffer, and the backend's error (BackendError)
  /// when zeroing a buffer for PoolConfig::zero_on_reuse fails.
  [[nodiscard]] BufferRef get_buffer(std::size_t size_bytes);

  /// Frees idle buffers past their TTL now; returns how many.
  std::size_t cleanup();

  /// Frees every idle buffer; returns how many.
  std::size_t clear();

  /// A snapshot of the counters.
  [[nodiscard]] PoolMetrics metrics() const;

  /// Sets peak_bytes_allocated to the bytes held now.
  void reset_peak() noexcept;

  /// The capacity a fresh buffer for a request of size_bytes gets: the size
  /// rounded up to the backend's buffer alignment (64 bytes at least). A
  /// reused idle buffer may be up to an eighth larger.
  [[nodiscard]] std::size_t capacity_for(std::size_t size_bytes) const;

  /// Walks every segment and returns a description of the first broken
  /// invariant of the pool's memory, or "" when all hold: the blocks of each
  /// segment tile it exactly, no two free blocks are neighbours, and the free
  /// bytes counted agree with the blocks. For tests and debugging: it holds
  /// the pool's segment lock while it walks every free block's segment.
  [[nodiscard]] std::string check_segments() const;

  [[nodiscard]] const PoolConfig& config() const noexcept;
  [[nodiscard]] Backend& backend() const noexcept;

 private:
  std::unique_ptr<detail::PoolCore> core_;
};

}  // namespace bufferpool
