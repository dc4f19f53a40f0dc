// PoolCore: the state behind a BufferPool. It outlives the BufferPool while
// buffers are still referenced, so that their handles stay valid.
//
// A request goes through three tiers, cheapest first:
//   1. the ready cache: idle buffers of its size class, in the calling
//      thread's shard, then in the other shards (a hit, reused);
//   2. free space in the segments the pool holds, carved to the request's
//      size (a hit, carved), after giving idle buffers back to their segments
//      oldest first when no free block is large enough;
//   3. a new segment from the backend (a miss).
#pragma once

#include "pool/block.hpp"
#include "pool/block_arena.hpp"
#include "pool/coarse_clock.hpp"
#include "pool/live_tracker.hpp"
#include "pool/observers.hpp"
#include "pool/recorder.hpp"
#include "pool/segment_heap.hpp"
#include "pool/spin_lock.hpp"

#include <bufferpool/buffer.hpp>
#include <bufferpool/config.hpp>
#include <bufferpool/errors.hpp>
#include <bufferpool/live_buffer.hpp>
#include <bufferpool/memory_snapshot.hpp>
#include <bufferpool/metrics.hpp>
#include <bufferpool/pool_events.hpp>
#include <bufferpool/stream.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace bufferpool::detail {

/// See PoolCore::stamp_releases.
inline constexpr std::uint32_t kReleasesPerClockRead = 16;

/// An idle buffer serves a request that leaves at most an eighth of it
/// unused (past the rounding every request gets), so that reuse costs no more
/// memory than a fresh carve would.
[[gnu::always_inline]] inline bool reusable_for(std::size_t capacity_bytes, std::size_t size_bytes,
                                                std::size_t granule_bytes) noexcept {
  const std::size_t most = size_bytes + size_bytes / 8 + granule_bytes - 1;
  return capacity_bytes >= size_bytes && capacity_bytes <= most;
}

/// Idle buffers of a class looked at, newest first, before going to the segments.
inline constexpr unsigned kReuseCandidates = 8;

/// Counters of one size class in one shard, written under the shard's lock.
struct ClassCounters {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::int64_t buffers_in_use = 0;  // signed: a buffer may be released on another shard
};

/// A size class in one shard: its idle list and counters, on a cache line of
/// their own so that no two shards ever write the same line.
struct alignas(64) ClassSlot {
  BlockList idle;
  ClassCounters counters;
};

/// A slice of the pool's idle buffers and counters. Each thread works on one
/// shard, so threads on different shards never share a lock or a cache line
/// on the hit path.
struct alignas(64) Shard {
  mutable SpinLock lock;  // metrics() locks a shard to read it
  /// One slot per size class, then one for requests above the largest class.
  std::vector<ClassSlot> slots;
  std::int64_t buffers_in_use = 0;
  std::int64_t bytes_in_use = 0;
  std::uint64_t bytes_requested = 0;
  std::uint64_t bytes_granted = 0;
  std::uint64_t hits_carved = 0;  // the rest of the hits reused an idle buffer
  /// Release stamps (clock nanoseconds + 1) never decrease within a shard, so
  /// that each idle list is in time order; the release count orders releases
  /// within a clock reading.
  std::uint64_t last_release_stamp = 0;
  std::uint64_t release_count = 0;
  /// Releases left before one reads the clock (see PoolCore::stamp_releases).
  std::uint32_t releases_until_clock = 1;
  /// Releases that read the clock whatever the count: one per miss.
  std::uint32_t clock_reads_owed = 0;
  // Written under the lock; atomic so that limit checks can read them without it.
  std::atomic<std::size_t> idle_buffers{0};
  std::atomic<std::size_t> idle_bytes{0};

  /// Under the lock: a buffer of `class_index` leaves use (direction -1: a
  /// release, a keep for a stream) or comes back into it (+1).
  void count_in_use(unsigned class_index, std::size_t capacity_bytes, int direction) noexcept {
    slots[class_index].counters.buffers_in_use += direction;
    buffers_in_use += direction;
    bytes_in_use += direction * static_cast<std::int64_t>(capacity_bytes);
  }
  [[nodiscard]] unsigned list_count() const noexcept { return static_cast<unsigned>(slots.size()); }
  [[nodiscard]] BlockList& idle(std::size_t list) noexcept { return slots[list].idle; }
  [[nodiscard]] const BlockList& idle(std::size_t list) const noexcept { return slots[list].idle; }
  [[nodiscard]] ClassCounters& counters(std::size_t list) noexcept { return slots[list].counters; }
  [[nodiscard]] const ClassCounters& counters(std::size_t list) const noexcept {
    return slots[list].counters;
  }
};

/// Locks every shard, in index order, for the slow paths that look across
/// shards: eviction, cleanup, clear, close.
class AllShardsLock {
 public:
  explicit AllShardsLock(const std::vector<Shard>& shards) noexcept : shards_(shards) {
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
  const std::vector<Shard>& shards_;
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
  /// release(), telling observers of the release only when `announce` (a
  /// buffer kept for a stream was announced when it was kept).
  void release_block(Block* block, bool announce) noexcept;

  StreamId open_stream();
  BufferRef get_for_stream(std::size_t size_bytes, StreamId stream);
  void release_to_stream(BufferRef& buffer, StreamId stream);
  void close_stream(StreamId stream, std::uint64_t used_until_timeline) noexcept;

  std::size_t cleanup();
  std::size_t clear() noexcept;
  [[nodiscard]] PoolMetrics metrics() const;
  void reset_peak() noexcept;
  [[nodiscard]] std::size_t capacity_for(std::size_t size_bytes) const;
  /// SegmentHeap::check_invariants() under the heap lock, for tests.
  [[nodiscard]] std::string check_segments() const;

  [[nodiscard]] const PoolConfig& config() const noexcept { return config_; }
  [[nodiscard]] Backend& backend() const noexcept { return *backend_; }

  [[nodiscard]] MemorySnapshot snapshot() const;
  [[nodiscard]] std::vector<LiveBuffer> live_buffers() const;
  void add_observer(std::shared_ptr<PoolObserver> observer);
  void remove_observer(const PoolObserver& observer) noexcept;
  void start_recording(const std::filesystem::path& path);
  void stop_recording() noexcept;
  [[nodiscard]] bool recording() const noexcept {
    return recording_.load(std::memory_order_relaxed);
  }

  /// A named scope's bytes changed: `added` bytes in, `removed` out.
  void note_scope_bytes(const std::string& name, std::size_t budget_bytes, std::size_t added,
                        std::size_t removed) noexcept;
  /// A request or an add() refused for passing `scope_name`'s budget: counts
  /// it, reports it to observers and throws the error that names the scope.
  [[noreturn]] void throw_scope_budget(const std::string& scope_name, std::size_t budget_bytes,
                                       std::size_t held_bytes, std::size_t capacity_bytes,
                                       std::size_t size_bytes);

 private:
  /// How a request was served.
  enum class Source { reused, carved, allocated };

  /// The pool's clock; the default one is read without a virtual call.
  [[nodiscard]] std::chrono::nanoseconds read_clock() const noexcept {
    return clock_is_coarse_monotonic_ ? coarse_monotonic_now() : clock_.now();
  }
  [[nodiscard]] static std::uint64_t to_stamp(std::chrono::nanoseconds time) noexcept {
    return static_cast<std::uint64_t>(std::max<std::int64_t>(time.count(), 0));
  }
  [[nodiscard]] Shard& this_thread_shard() noexcept;
  [[nodiscard]] unsigned class_index_for(std::size_t size_bytes) const noexcept;
  /// The size of the block carved for a request: rounded up to the granule.
  [[nodiscard]] std::size_t carve_bytes(std::size_t size_bytes) const noexcept {
    return (size_bytes + granule_bytes_ - 1) & ~(granule_bytes_ - 1);
  }
  /// The class index of a request, after checking the request can be served.
  [[nodiscard]] unsigned validated_class_index(std::size_t size_bytes) const;
  [[nodiscard]] unsigned validated_class_index_slow(std::size_t size_bytes) const;
  [[nodiscard]] SegmentKind kind_for(std::size_t capacity_bytes) const noexcept {
    return capacity_bytes <= config_.segments.small_request_max_bytes ? SegmentKind::small
                                                                      : SegmentKind::large;
  }
  /// The size of the segment a request that found no room would get.
  [[nodiscard]] std::size_t segment_bytes_for(std::size_t capacity_bytes) const noexcept;

  /// Takes an idle block that can serve the request, and writes the request's
  /// size into it while the shard's lock is held.
  Block* take_idle(Shard& shard, unsigned class_index, std::size_t size_bytes) noexcept;
  static void count_handout(Shard& shard, unsigned class_index, std::size_t size_bytes,
                            std::size_t capacity_bytes, Source source) noexcept;
  /// A handle to a block taken for a request, its size already written.
  BufferRef hand_out(Block* block);
  BufferRef get_slow(Shard& shard, unsigned class_index, std::size_t size_bytes);
  /// Under a budgeted scope: throws when the request would pass a budget.
  void check_scope_budgets(std::size_t size_bytes);

  /// A PoolEvent stamped with the time and the calling thread.
  [[nodiscard]] PoolEvent event_now(PoolEventKind kind) const noexcept;
  /// With observers: the event of a block handed out or released.
  void emit_handout(const Block& block, std::size_t size_bytes, unsigned class_index,
                    Source source) const noexcept;
  void emit_block_event(PoolEventKind kind, const Block& block, bool pending) const noexcept;
  void emit_failure(std::size_t size_bytes, std::size_t capacity_bytes) const noexcept;
  /// Where the pool puts a new segment in its address space (see PoolEvent).
  std::uint64_t assign_segment_address(const Allocation& allocation) noexcept;
  [[nodiscard]] OutOfMemoryDetails out_of_memory_details() const;
  /// Every block of every segment with its state, under every lock.
  struct BlockView {
    const Block* block;
    std::uint64_t address;
    BlockState state;
  };
  template <typename Visitor>
  void visit_blocks(Visitor&& visit) const;
  /// Every lock of the pool, taken in order (pool_inspection.cpp).
  struct EveryLock;
  void report_outstanding_buffers() const;
  /// hand_out() for get_slow(), which also makes the buffer's release read
  /// the clock.
  BufferRef hand_out_after_miss(Shard& shard, Block* block);

  /// A block of capacity_bytes from free segment space, or from a new
  /// segment; `source` says which. The request's size is written into it
  /// under the heap's lock.
  Block* carve_or_allocate(std::size_t capacity_bytes, std::size_t size_bytes, unsigned class_index,
                           Source& source);
  /// Takes a segment from the backend, within memory_limit, and carves the
  /// request from it. `exact`: a segment of the request's own size.
  Block* allocate_segment(std::size_t capacity_bytes, std::size_t size_bytes, unsigned class_index,
                          bool exact);
  /// Reserves segment_bytes in held_bytes_ within memory_limit, shrinking the
  /// segment to capacity_bytes and freeing empty segments and idle buffers
  /// when that is what it takes. Returns the bytes reserved.
  std::size_t reserve_segment_bytes(std::size_t segment_bytes, std::size_t capacity_bytes,
                                    std::size_t size_bytes);
  /// Whether no arrangement of what the pool holds could make room for
  /// capacity_bytes under memory_limit: live bytes alone leave too little.
  [[nodiscard]] bool beyond_memory_limit(std::size_t capacity_bytes) const noexcept;
  [[noreturn]] void throw_out_of_memory(std::size_t capacity_bytes, std::size_t size_bytes,
                                        const char* cause);
  [[noreturn]] void throw_bookkeeping_out_of_memory(std::size_t capacity_bytes);

  /// Returns idle blocks (unlinked by hand_over) to their segments' free
  /// space. Empty segments are kept (close() frees them afterwards).
  void give_back_idle(BlockList& blocks, PoolEventKind reason = PoolEventKind::evict) noexcept;
  /// Returns one carved block to its segment's free space, once device work
  /// no longer uses it. `free_empty`: free its segment at once if now empty
  /// (caching off, closing).
  void give_back_one(Block* block, std::uint64_t unused_since_ns, bool free_empty,
                     PoolEventKind reason = PoolEventKind::evict) noexcept;
  /// Frees empty segments, those unused longest first, for which
  /// `frees(segment)` holds, at most `most` of them; returns how many.
  template <typename Predicate>
  std::size_t free_empty_segments(std::size_t most, Predicate frees) noexcept;
  /// `segment_address` 0: a segment the pool never announced to observers.
  void deallocate_segment(const Allocation& allocation, std::uint64_t segment_address) noexcept;

  /// Adds a released block to its class list with a release stamp: the
  /// release time + 1, or 0 for "released after the shard last read the
  /// clock", which stamp_releases() fills in later.
  void push_idle(Shard& shard, Block* block, std::uint64_t release_stamp) noexcept;
  /// Under the shard's lock: gives every unstamped idle block of the shard
  /// the release time `now`. A release reads the clock only every
  /// kReleasesPerClockRead releases of its shard (a clock read costs as much
  /// as the rest of a hit); the blocks released in between count as released
  /// at the next reading: on that release, on a miss, a reclaim or a cleanup
  /// of the pool. Their TTL so starts up to that much late, never early.
  void stamp_releases(Shard& shard, std::chrono::nanoseconds now) noexcept;
  static void unlink_idle(Shard& shard, unsigned list_index, Block* block) noexcept;
  [[nodiscard]] std::size_t idle_buffers_estimate() const noexcept;
  [[nodiscard]] std::size_t idle_bytes_estimate() const noexcept;
  [[nodiscard]] bool over_caps(std::size_t idle_buffers, std::size_t idle_bytes) const noexcept;
  /// Under the locks of `shards`: unlinks the idle block of those shards that
  /// the eviction policy frees first, among those of `kind` when `any_kind`
  /// is false.
  Block* unlink_eviction_victim(std::span<Shard> shards, bool any_kind, SegmentKind kind) noexcept;
  /// GreedyDual-Size priority of an idle block; lower goes first.
  [[nodiscard]] static std::uint64_t size_aware_priority(const Block& block) noexcept;
  /// Under an AllShardsLock: rebases once the inflation nears the 48 bits a
  /// Block keeps (evictions under one shard's lock only raise it).
  void rebase_inflation_if_due() noexcept;
  void rebase_inflation() noexcept;
  void evict_over_caps() noexcept;
  /// Gives the first eviction victim back to its segment; false when no idle
  /// buffer (of that kind) is left.
  bool evict_one(bool any_kind, SegmentKind kind) noexcept;
  /// Under the lock that unlinked it: moves an idle block to a list to be
  /// given back, counting its bytes as being freed until then.
  void hand_over(BlockList& leaving, Block* block) noexcept;
  [[nodiscard]] bool cleanup_due(std::chrono::nanoseconds now) const noexcept;
  void maybe_cleanup(std::chrono::nanoseconds now) noexcept;
  std::size_t expire(std::chrono::nanoseconds now) noexcept;
  [[nodiscard]] bool timeline_reached(std::uint64_t value) const noexcept;
  /// Asks the backend how far its timeline has got; returns the highest value known.
  std::uint64_t refresh_completed_timeline() const noexcept;
  void reclaim_completed() noexcept;
  /// A buffer whose last reference went by release_to_stream(): kept for the
  /// stream when it is still open, released as usual otherwise.
  void keep_for_stream(Block* block, StreamId stream) noexcept;
  // Out-of-line versions of hit-path helpers that pool.cpp inlines.
  [[nodiscard]] unsigned checked_class_index(std::size_t size_bytes) const;
  [[nodiscard]] Shard& calling_thread_shard() noexcept;
  void count_stream_reuse(unsigned class_index, std::size_t size_bytes,
                          std::size_t capacity_bytes) noexcept;
  void release_unannounced(Block* block) noexcept;
  /// Takes every kept block of every stream, for close().
  void take_every_kept(BlockList& leaving) noexcept;

  static PoolConfig validated(PoolConfig config);
  void note_allocated() noexcept;
  /// Under an AllShardsLock: unlinks every idle block into `leaving`.
  void take_every_idle(BlockList& leaving) noexcept;
  void stop_background_cleanup() noexcept;
  void drop_close_token() noexcept;
  void run_background_cleanup(const std::stop_token& stop);

  std::shared_ptr<Backend> backend_;
  PoolConfig config_;
  Clock& clock_;
  bool clock_is_coarse_monotonic_;
  bool caching_enabled_;
  std::size_t granule_bytes_;
  std::size_t max_request_bytes_;
  std::size_t max_live_segments_;
  std::vector<std::size_t> class_capacities_;
  /// For k = bit_width(n - 1): the first class larger than 2^(k-1).
  std::vector<unsigned> first_class_for_width_;
  std::vector<Shard> shards_;
  std::size_t shard_mask_;
  BlockArena blocks_;

  /// Segments and their free space. Taken alone: never while a shard lock or
  /// the pending lock is held.
  mutable std::mutex heap_mutex_;
  SegmentHeap heap_{blocks_};

  /// Buffers released while device work still used them. Reclaiming them
  /// takes this lock alone, not every shard's.
  mutable SpinLock pending_lock_;
  BlockList pending_;
  std::atomic<std::size_t> pending_buffers_{0};
  std::atomic<std::size_t> pending_bytes_{0};

  // Slow-path counters: touched only on a miss, a carve, a free or a cleanup.
  std::atomic<std::size_t> held_bytes_{0};    ///< segment bytes, reserved or allocated
  std::atomic<std::size_t> held_buffers_{0};  ///< carved blocks: in use, pending or idle
  std::atomic<std::size_t> peak_bytes_{0};
  /// Idle bytes unlinked from the ready cache and not yet back in a segment.
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
  /// cleanup, a free with caching off, a pending push); close() waits for them.
  std::atomic<std::size_t> releases_in_flight_{0};
  std::unique_ptr<PoolCore> self_;

  ObserverSet observers_;
  /// Set when PoolConfig asks for live-buffer ages or call stacks.
  std::shared_ptr<LiveTracker> live_tracker_;
  /// Guards recorder_ and the totals of recordings already stopped.
  mutable std::mutex recording_mutex_;
  std::shared_ptr<TraceRecorder> recorder_;
  std::atomic<bool> recording_{false};
  std::uint64_t stopped_recorded_events_ = 0;
  std::uint64_t stopped_recording_waits_ = 0;
  /// Next synthetic segment address, for segments without a host pointer;
  /// under heap_mutex_.
  std::uint64_t next_synthetic_address_ = std::uint64_t{1} << 44;

  /// Blocks released to each open stream (release_to_stream), newest last.
  /// Taken alone, or inside one shard lock (keep_for_stream) or every shard
  /// lock (visit_blocks), never the other way round.
  mutable std::mutex streams_mutex_;
  std::unordered_map<std::uint64_t, BlockList> streams_;
  std::uint64_t next_stream_id_ = 1;
  std::atomic<std::size_t> kept_buffers_{0};
  std::atomic<std::size_t> kept_bytes_{0};
  std::atomic<std::uint64_t> stream_reuses_{0};

  mutable std::mutex scopes_mutex_;
  std::map<std::string, ScopeMetrics, std::less<>> scopes_;

  std::mutex background_mutex_;
  std::condition_variable_any background_wakeup_;
  std::jthread background_thread_;
};

}  // namespace bufferpool::detail
