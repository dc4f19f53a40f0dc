// PoolCore: the state behind a BufferPool. It outlives the BufferPool while
// buffers are still referenced, so that their handles stay valid.
#pragma once

#include "pool/block_arena.hpp"
#include "pool/coarse_clock.hpp"
#include "pool/idle_list.hpp"
#include "pool/spin_lock.hpp"

#include <bufferpool/buffer.hpp>
#include <bufferpool/config.hpp>
#include <bufferpool/metrics.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace bufferpool::detail {

/// Counters of one size class in one shard, written under the shard's lock.
struct ClassCounters {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::int64_t buffers_in_use = 0;  // signed: a buffer may be released on another shard
};

/// A size class in one shard: its idle list and counters, on a cache line of
/// their own so that no two shards ever write the same line.
struct alignas(64) ClassSlot {
  IdleList idle;
  ClassCounters counters;
};

/// A slice of the pool's idle buffers and counters. Each thread works on one
/// shard, so threads on different shards never share a lock or a cache line
/// on the hit path.
struct alignas(64) Shard {
  mutable SpinLock lock;  // metrics() locks a shard to read it
  /// One slot per size class, then one for requests above the largest class.
  std::vector<ClassSlot> slots;
  /// Released while device work still used them, in release order.
  IdleList pending;
  std::int64_t buffers_in_use = 0;
  std::int64_t bytes_in_use = 0;
  std::uint64_t bytes_requested = 0;
  std::uint64_t bytes_granted = 0;
  /// Release times never decrease within a shard, so that each idle list is
  /// in time order; the release count orders releases within a clock tick.
  std::uint64_t last_release_ns = 0;
  std::uint64_t release_count = 0;
  std::size_t pending_bytes = 0;
  // Written under the lock; atomic so that limit checks can read them without it.
  std::atomic<std::size_t> idle_buffers{0};
  std::atomic<std::size_t> idle_bytes{0};

  [[nodiscard]] unsigned list_count() const noexcept { return static_cast<unsigned>(slots.size()); }
  [[nodiscard]] IdleList& idle(std::size_t list) noexcept { return slots[list].idle; }
  [[nodiscard]] const IdleList& idle(std::size_t list) const noexcept { return slots[list].idle; }
  [[nodiscard]] ClassCounters& counters(std::size_t list) noexcept { return slots[list].counters; }
  [[nodiscard]] const ClassCounters& counters(std::size_t list) const noexcept {
    return slots[list].counters;
  }
};

/// Locks every shard, in index order, for the slow paths that look across
/// shards: eviction, cleanup, clear, reclaim, close.
class AllShardsLock {
 public:
  explicit AllShardsLock(std::vector<Shard>& shards) noexcept : shards_(shards) {
    for (auto& shard : shards_) shard.lock.lock();
  }
  ~AllShardsLock() {
    for (auto& shard : shards_) shard.lock.unlock();
  }
  AllShardsLock(const AllShardsLock&) = delete;
  AllShardsLock& operator=(const AllShardsLock&) = delete;
  AllShardsLock(AllShardsLock&&) = delete;
  AllShardsLock& operator=(AllShardsLock&&) = delete;

 private:
  std::vector<Shard>& shards_;
};

class PoolCore {
 public:
  PoolCore(std::shared_ptr<Backend> backend, PoolConfig config);
  ~PoolCore();
  PoolCore(const PoolCore&) = delete;
  PoolCore& operator=(const PoolCore&) = delete;
  PoolCore(PoolCore&&) = delete;
  PoolCore& operator=(PoolCore&&) = delete;

  /// Hands the core over when its BufferPool goes: frees the idle buffers and
  /// destroys the core now, or when the last outstanding buffer is released.
  static void close(std::unique_ptr<PoolCore> core) noexcept;

  BufferRef get(std::size_t size_bytes);
  /// Called when a buffer's last reference goes.
  void release(Block* block) noexcept;

  std::size_t cleanup();
  std::size_t clear() noexcept;
  [[nodiscard]] PoolMetrics metrics() const;
  void reset_peak() noexcept;
  [[nodiscard]] std::size_t capacity_for(std::size_t size_bytes) const;

  [[nodiscard]] const PoolConfig& config() const noexcept { return config_; }
  [[nodiscard]] Backend& backend() const noexcept { return *backend_; }

 private:
  /// Why blocks are freed. Idle blocks carry release stamps, which free_list
  /// clears; pending and closing blocks carry device timeline values, which
  /// free_block waits for.
  enum class FreeReason { eviction, expiration, clear, after_device_use };

  /// The pool's clock; the default one is read without a virtual call.
  [[nodiscard]] std::chrono::nanoseconds read_clock() const noexcept {
    return clock_is_coarse_monotonic_ ? coarse_monotonic_now() : clock_.now();
  }
  [[nodiscard]] Shard& this_thread_shard() noexcept;
  [[nodiscard]] unsigned class_index_for(std::size_t size_bytes) const noexcept;
  [[nodiscard]] std::size_t capacity_of(unsigned class_index,
                                        std::size_t size_bytes) const noexcept;
  /// The class index of a request, after checking the request can be served.
  [[nodiscard]] unsigned validated_class_index(std::size_t size_bytes) const;

  Block* take_idle(Shard& shard, unsigned class_index, std::size_t size_bytes) noexcept;
  static void count_handout(Shard& shard, unsigned class_index, std::size_t size_bytes,
                            std::size_t capacity_bytes, bool hit) noexcept;
  BufferRef hand_out(Block* block, std::size_t size_bytes, unsigned class_index) noexcept;
  BufferRef get_slow(Shard& shard, unsigned class_index, std::size_t size_bytes);

  Block* allocate_block(std::size_t capacity_bytes, std::size_t size_bytes);
  /// A backend allocation within memory_limit, retried once after clear() when
  /// the backend is out of memory.
  Allocation allocate_within_limits(std::size_t capacity_bytes, std::size_t size_bytes);
  void reserve_within_memory_limit(std::size_t capacity_bytes, std::size_t size_bytes);
  [[noreturn]] void throw_out_of_memory(std::size_t capacity_bytes, std::size_t size_bytes,
                                        const char* cause);
  /// Gives a block's memory back to the backend. `counted_as_freeing`: the
  /// block was handed over by hand_over_for_freeing().
  void free_block(Block* block, bool counted_as_freeing) noexcept;
  /// Under the lock that unlinked it: moves a block to a list to be freed, and
  /// counts its bytes as being freed until free_block() is done with them.
  void hand_over_for_freeing(IdleList& victims, Block* block) noexcept;
  void free_list(IdleList& victims, FreeReason reason) noexcept;

  void push_idle(Shard& shard, Block* block, std::chrono::nanoseconds now) noexcept;
  static void unlink_idle(Shard& shard, unsigned list_index, Block* block) noexcept;
  [[nodiscard]] std::size_t idle_buffers_estimate() const noexcept;
  [[nodiscard]] std::size_t idle_bytes_estimate() const noexcept;
  [[nodiscard]] bool over_caps(std::size_t idle_buffers, std::size_t idle_bytes) const noexcept;
  /// Under an AllShardsLock: unlinks the idle block the eviction policy frees first.
  Block* unlink_eviction_victim() noexcept;
  /// GreedyDual-Size priority of an idle block; lower goes first.
  [[nodiscard]] static std::uint64_t size_aware_priority(const Block& block) noexcept;
  void rebase_inflation() noexcept;
  void evict_over_caps() noexcept;
  bool evict_one() noexcept;
  [[nodiscard]] bool cleanup_due(std::chrono::nanoseconds now) const noexcept;
  void maybe_cleanup(std::chrono::nanoseconds now) noexcept;
  std::size_t expire(std::chrono::nanoseconds now) noexcept;
  [[nodiscard]] bool timeline_reached(std::uint64_t value) const noexcept;
  /// Asks the backend how far its timeline has got; returns the highest value known.
  std::uint64_t refresh_completed_timeline() const noexcept;
  void reclaim_completed() noexcept;

  static PoolConfig validated(PoolConfig config);
  void note_allocated() noexcept;
  /// Under an AllShardsLock: hands every idle block over for freeing.
  void take_every_idle(IdleList& victims) noexcept;
  void stop_background_cleanup() noexcept;
  void drop_close_token() noexcept;
  void run_background_cleanup(const std::stop_token& stop);

  std::shared_ptr<Backend> backend_;
  PoolConfig config_;
  Clock& clock_;
  bool clock_is_coarse_monotonic_;
  bool caching_enabled_;
  std::size_t max_request_bytes_;
  std::vector<std::size_t> class_capacities_;
  /// For k = bit_width(n - 1): the first class larger than 2^(k-1).
  std::vector<unsigned> first_class_for_width_;
  std::vector<Shard> shards_;
  std::size_t shard_mask_;
  BlockArena blocks_;

  // Slow-path counters: touched only on a miss, a free or a cleanup.
  std::atomic<std::size_t> held_bytes_{0};
  std::atomic<std::size_t> held_buffers_{0};
  std::atomic<std::size_t> peak_bytes_{0};
  std::atomic<std::size_t> pending_buffers_{0};
  std::atomic<std::size_t> pending_bytes_{0};
  /// Bytes unlinked from the idle lists and not yet given back to the backend.
  std::atomic<std::size_t> freeing_bytes_{0};
  std::atomic<std::uint64_t> allocations_{0};
  std::atomic<std::uint64_t> deallocations_{0};
  std::atomic<std::uint64_t> evictions_{0};
  std::atomic<std::uint64_t> expirations_{0};
  std::atomic<std::uint64_t> failed_allocations_{0};
  std::atomic<std::int64_t> last_cleanup_ns_;
  /// GreedyDual-Size's running inflation, in units of 2^-36 per byte; written
  /// under every shard lock, read under one.
  std::atomic<std::uint64_t> inflation_{0};
  mutable std::atomic<std::uint64_t> completed_timeline_{0};

  // Closing: set under every shard lock by close().
  bool closing_ = false;
  std::atomic<std::size_t> close_tokens_{0};
  /// Releases doing work on the pool after their shard lock (eviction,
  /// cleanup, a free with caching off); close() waits for them.
  std::atomic<std::size_t> releases_in_flight_{0};
  std::unique_ptr<PoolCore> self_;

  std::mutex background_mutex_;
  std::condition_variable_any background_wakeup_;
  std::jthread background_thread_;
};

}  // namespace bufferpool::detail
