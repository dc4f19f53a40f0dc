// BufferPool: size classes, idle lists, limits, TTL cleanup and metrics over a
// Backend.
#pragma once

#include <bufferpool/backend.hpp>
#include <bufferpool/buffer.hpp>
#include <bufferpool/config.hpp>
#include <bufferpool/metrics.hpp>

#include <cstddef>
#include <memory>

namespace bufferpool {

/// A thread-safe cache of buffers from one Backend.
///
///     bufferpool::BufferPool pool(bufferpool::make_host_backend());
///     auto buffer = pool.get_buffer(1000);   // a 1 KiB buffer; a miss
///     buffer.reset();                        // back in the pool
///     auto again = pool.get_buffer(900);     // the same buffer; a hit
///
/// A request of n bytes is served from the smallest size class that holds n,
/// by an idle buffer when one is there (a hit) or by a new backend allocation
/// (a miss). Released buffers wait in per-class idle lists; past
/// max_pool_size or max_cached_bytes the one released longest ago is freed;
/// one idle longer than ttl is freed at the next cleanup.
///
/// The hit path reads no clock, takes no global lock and allocates nothing:
/// each thread works on its own shard of the idle lists, and a thread that
/// misses takes idle buffers from other shards before allocating.
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
  /// Throws InvalidArgumentError for 0 or a size the backend cannot hold, and
  /// OutOfMemoryError when memory_limit or the backend leaves no room even
  /// after freeing every idle buffer.
  [[nodiscard]] BufferRef get_buffer(std::size_t size_bytes);

  /// Frees idle buffers past their TTL now; returns how many.
  std::size_t cleanup();

  /// Frees every idle buffer; returns how many.
  std::size_t clear();

  /// A snapshot of the counters.
  [[nodiscard]] PoolMetrics metrics() const;

  /// Sets peak_bytes_allocated to the bytes held now.
  void reset_peak() noexcept;

  /// The capacity a request of size_bytes would get.
  [[nodiscard]] std::size_t capacity_for(std::size_t size_bytes) const;

  [[nodiscard]] const PoolConfig& config() const noexcept;
  [[nodiscard]] Backend& backend() const noexcept;

 private:
  std::unique_ptr<detail::PoolCore> core_;
};

}  // namespace bufferpool
