// PoolModel: a reference model of what a single-threaded user of BufferPool can
// observe. It is the pool's contract written as plain code: every segment,
// free block and buffer sits in a plain vector, every decision is a linear
// scan, and the steps follow the order the pool documents:
//
//   get:     1. the ready cache (newest first, up to 8 candidates of the
//               request's class, the first that the request fills to within
//               an eighth): a hit, reused;
//            2. lazy cleanup, buffers the device has finished with, the ready
//               cache again;
//            3. the best free block of the request's kind (smallest that
//               fits; of equal ones, the one that became free first), carved
//               from its lower end: a hit, carved; when none fits, idle
//               buffers of that kind go back to their segments one at a time
//               (the eviction policy's first victim), retrying after each;
//               under memory_limit the request fails at once, keeping the
//               cache, when the live bytes leave no room;
//            4. a new segment (2 MiB / 20 MiB / its own, see SegmentConfig):
//               a miss. Empty segments of the request's kind (too small
//               for it: the carve failed) go back first; near memory_limit
//               the new one shrinks to the request, then
//               empty segments go (oldest unused first), then idle buffers;
//               a backend out of memory frees the cache and retries once at
//               the request's own size.
//   release: pending while device work uses it; freed at once with caching
//            off; otherwise idle, then the caps, then lazy cleanup. A release
//            reads the clock only every 16th time (and the first after a
//            miss); the buffers released in between count as released at the
//            next reading (a release that reads, a miss, a reclaim, a
//            cleanup), and only a release that reads runs lazy cleanup.
//            GreedyDual-Size ranks are kept unbounded here: the pool's
//            48-bit ranks and their rebasing must not change any decision.
//   cleanup: idle buffers past their TTL go back to their segments; empty
//            segments unused for a TTL go back to the backend.
//   streams: a release to an open stream that drops the last reference keeps
//            the buffer for the stream (neither in use nor idle; no clock
//            read, no caps, no eviction); a request for the stream first
//            looks at its kept buffers, newest first, up to 8, with the ready
//            cache's fit rule (any class): a hit, reused, that keeps the
//            buffer's device-timeline value and owes no clock read; else an
//            ordinary get. Closing raises each kept buffer's device value to
//            the value given and releases them, oldest kept first, as an
//            ordinary release; a pool destroyed with streams open gives their
//            buffers back after their device work, like pending ones.
//
// It also models the backend stack the model tests use:
// CountingBackend(FaultInjectingBackend(SimulatedBackend)): handles 1, 2, 3,
// ... in allocation order, a device of a chosen size, a bound on live
// allocations, injected allocation faults and injected fill_zero faults.
#pragma once

#include <bufferpool/metrics.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace bufferpool::model {

/// SegmentConfig, as plain numbers.
struct ModelSegments {
  std::size_t small_request_max_bytes = std::size_t{1} << 20;
  std::size_t small_segment_bytes = std::size_t{2} << 20;
  std::size_t large_request_max_bytes = std::size_t{10} << 20;
  std::size_t large_segment_bytes = std::size_t{20} << 20;
  std::size_t dedicated_rounding_bytes = std::size_t{2} << 20;
};

/// The settings of one pool, as plain numbers.
struct ModelConfig {
  std::vector<std::size_t> size_classes;
  std::size_t max_pool_size = 64;
  std::size_t max_cached_bytes = 0;
  std::size_t memory_limit = 0;
  std::int64_t ttl_ns = 0;
  std::int64_t cleanup_interval_ns = 0;
  bool background_cleanup = false;
  bool size_aware = false;  ///< EvictionPolicy::size_aware, else oldest_first
  bool zero_on_reuse = false;
  ModelSegments segments;
  /// Backend settings made at the same time (SimulatedBackend).
  std::size_t device_bytes = 0;
  std::size_t max_allocation_bytes = SIZE_MAX;
  std::size_t max_live_allocations = SIZE_MAX;

  /// Whether PoolConfig::validate() and the BufferPool constructor accept it.
  [[nodiscard]] bool valid() const;
};

/// How many times each path of the pool ran: what a corpus reaches.
struct ModelCoverage {
  std::uint64_t hits_reused = 0;
  std::uint64_t hits_carved = 0;
  std::uint64_t misses = 0;
  std::uint64_t splits = 0;         ///< carves that left the rest of the block free
  std::uint64_t exact_carves = 0;   ///< carves that took a whole free block
  std::uint64_t best_fit_ties = 0;  ///< carves where several free blocks had the best size
  std::uint64_t merges_lower = 0;   ///< give-backs merged with a free lower neighbour
  std::uint64_t merges_upper = 0;   ///< ... with a free upper neighbour
  std::uint64_t merges_both = 0;    ///< ... with both
  std::uint64_t segments_emptied = 0;
  std::uint64_t empty_freed_ttl = 0;
  std::uint64_t empty_freed_clear = 0;       ///< by clear(), also in an out-of-memory retry
  std::uint64_t empty_freed_limit = 0;       ///< to fit memory_limit
  std::uint64_t empty_freed_live_bound = 0;  ///< to stay under max_live_allocations
  std::uint64_t empty_freed_too_small = 0;   ///< of the request's kind, too small for it
  std::uint64_t evictions_for_room = 0;      ///< idle buffers given back so that a carve fits
  std::uint64_t evictions_for_limit = 0;     ///< ... so that memory_limit fits a new segment
  std::uint64_t evictions_over_caps = 0;
  std::uint64_t size_aware_evictions = 0;
  std::uint64_t expirations = 0;
  std::uint64_t limit_shrinks = 0;    ///< segments shrunk to the request near memory_limit
  std::uint64_t limit_refusals = 0;   ///< requests refused at once: live bytes leave no room
  std::uint64_t limit_failures = 0;   ///< refused after freeing everything (fragmentation)
  std::uint64_t backend_retries = 0;  ///< backend out of memory: cache freed, retried
  std::uint64_t retry_successes = 0;
  std::uint64_t retry_failures = 0;
  std::uint64_t dedicated_segments = 0;  ///< segments of a request's own (above the large kind)
  std::uint64_t zero_fills = 0;
  std::uint64_t zero_fill_faults = 0;
  std::uint64_t device_reclaims = 0;  ///< pending buffers back after the device finished
  std::uint64_t orphan_releases = 0;  ///< buffers released after their pool was gone
  // Streams.
  std::uint64_t stream_keeps = 0;            ///< last references released to a stream: kept
  std::uint64_t stream_shared_releases = 0;  ///< releases to a stream that were not the last
  std::uint64_t stream_reuses = 0;           ///< stream requests served by a kept buffer
  std::uint64_t stream_reuses_busy = 0;      ///< ... whose device work was still running
  std::uint64_t stream_zero_waits = 0;       ///< ... which zero_on_reuse waited for first
  std::uint64_t stream_lookups_missed = 0;   ///< kept buffers, none fits: an ordinary get
  std::uint64_t stream_lookups_capped = 0;   ///< ... though one past the 8 newest would fit
  std::uint64_t stream_closes_pending = 0;   ///< kept buffers a close left pending
  std::uint64_t stream_closes_released = 0;  ///< ... that a close made idle (or freed)
  std::uint64_t streams_left_open = 0;       ///< kept buffers given back by the pool's end

  ModelCoverage& operator+=(const ModelCoverage& other);
  /// "name value" pairs, one per field, for reports.
  [[nodiscard]] std::vector<std::pair<const char*, std::uint64_t>> fields() const;
};

enum class BufferState {
  live,      ///< held by handles
  idle,      ///< in the ready cache
  pending,   ///< released while device work uses it
  kept,      ///< released to an open stream: only that stream's requests take it
  returned,  ///< given back to its segment's free space (the record is history)
};

/// One backend allocation the pool carves buffers out of.
struct ModelSegment {
  std::uint64_t handle = 0;  ///< the backend's handle: 1, 2, 3, ... in allocation order
  std::size_t size = 0;
  bool large = false;  ///< SegmentKind::large (requests above small_request_max_bytes)
  int pool = 0;
  bool freed = false;  ///< gone back to the backend
  std::size_t free_bytes = 0;
  std::uint64_t unused_since_ns = 0;  ///< the latest release time of a block given back
  std::uint64_t emptied_order = 0;    ///< when it last became empty, for ties
  bool host_visible = false;
};

/// Free space of a segment: [offset, offset + size).
struct FreeBlock {
  std::size_t segment = 0;  ///< index into segments()
  std::size_t offset = 0;
  std::size_t size = 0;
  std::uint64_t entered = 0;  ///< when it entered its bin (its last change), for ties
};

struct ModelBuffer {
  std::size_t segment = 0;  ///< index into segments()
  std::uint64_t handle = 0;
  std::size_t offset = 0;
  std::size_t capacity = 0;
  std::size_t size = 0;
  unsigned size_class = 0;  ///< class index; size_classes.size() for oversize
  BufferState state = BufferState::live;
  int pool = 0;  ///< which pool (generation) it came from
  /// While idle: its release time + 1, or 0 while unstamped (released after
  /// the pool last read the clock; it gets the time of the next reading).
  std::uint64_t stamp = 0;
  std::uint64_t list_order = 0;     ///< while idle: its place in its class list
  std::uint64_t eviction_rank = 0;  ///< while idle: release count, or inflation (size_aware)
  std::uint64_t device_use = 0;     ///< while live or pending
  std::uint32_t refs = 0;           ///< handles + increments
  std::uint32_t increments = 0;
  bool host_visible = false;
};

/// What BufferPool::release_to_stream() is expected to do.
enum class StreamRelease {
  nothing,      ///< an empty handle
  reset,        ///< StreamId::none: as BufferRef::reset()
  dropped,      ///< not the last reference: dropped, the buffer stays live
  kept,         ///< the last reference: the buffer is kept for the stream
  usage_error,  ///< a stream not open, or a buffer of another pool: the handle stays
};

/// What a get() is expected to do.
struct GetOutcome {
  enum class Kind {
    buffer,
    invalid_argument,
    out_of_memory,
    /// zero_on_reuse and the backend's fill_zero threw: BackendError, and the
    /// buffer (`buffer`) went straight back to the pool.
    backend_error,
    /// A request for a stream that is not open: UsageError.
    usage_error,
  } kind = Kind::buffer;
  enum class Source { none, reused, carved, allocated } source = Source::none;
  std::size_t buffer = 0;  ///< index into buffers(), for Kind::buffer and backend_error
  // For Kind::out_of_memory: the error's fields.
  std::size_t requested_bytes = 0;
  std::size_t limit_bytes = 0;
  std::size_t in_use_bytes = 0;
};

class PoolModel {
 public:
  /// SimulatedBackend's buffer alignment, which is the pool's granule.
  static constexpr std::size_t kGranule = 256;

  /// Starts a new pool (the previous one, if any, is destroyed first: its idle
  /// and pending buffers are given back and its empty segments freed; segments
  /// with live buffers stay until their last buffer goes).
  void open_pool(const ModelConfig& config);
  void close_pool();

  [[nodiscard]] GetOutcome get(std::size_t size_bytes);
  /// The capacity get() would give, or nullopt when it would throw
  /// InvalidArgumentError.
  [[nodiscard]] std::optional<std::size_t> capacity_for(std::size_t size_bytes) const;

  // Streams: ids 1, 2, 3, ... per pool, in opening order; 0 is StreamId::none.
  [[nodiscard]] std::uint64_t open_stream();
  [[nodiscard]] bool stream_open(std::uint64_t stream) const { return streams_.contains(stream); }
  /// The buffers kept for an open stream, oldest kept first; empty otherwise.
  [[nodiscard]] std::vector<std::size_t> kept_for(std::uint64_t stream) const {
    const auto found = streams_.find(stream);
    return found == streams_.end() ? std::vector<std::size_t>{} : found->second;
  }
  /// get_buffer(size_bytes, stream).
  [[nodiscard]] GetOutcome get_for_stream(std::size_t size_bytes, std::uint64_t stream);
  /// release_to_stream() of a handle holding `buffer` (nullopt: an empty one).
  StreamRelease release_to_stream(std::optional<std::size_t> buffer, std::uint64_t stream);
  void close_stream(std::uint64_t stream, std::uint64_t used_until_timeline);

  void add_reference(std::size_t buffer);
  void drop_reference(std::size_t buffer);
  void increment(std::size_t buffer);
  /// Returns true when the handle keeps its reference (an increment was dropped).
  bool decrement(std::size_t buffer);
  void mark_used_until(std::size_t buffer, std::uint64_t value);

  std::size_t cleanup();
  std::size_t clear();
  void reset_peak();
  void advance_clock(std::int64_t ns);
  void complete_device_until(std::uint64_t value);

  // Fault injection (FaultInjectingBackend, and SimulatedBackend's fill_zero).
  void fail_nth_allocation(std::uint64_t n) { fault_countdown_ = n; }
  void fail_all(bool on) { fail_all_ = on; }
  void disarm() {
    fault_countdown_ = 0;
    fail_all_ = false;
  }
  void fail_next_fill_zero() { fill_fault_armed_ = true; }
  void disarm_fill_zero_fault() { fill_fault_armed_ = false; }
  /// Whether a pending buffer's device work is done (the next miss reclaims it).
  [[nodiscard]] bool reclaimable_pending() const;

  [[nodiscard]] PoolMetrics expected_metrics() const;
  [[nodiscard]] const std::vector<ModelBuffer>& buffers() const { return buffers_; }
  [[nodiscard]] const std::vector<ModelSegment>& segments() const { return segments_; }
  [[nodiscard]] const std::vector<FreeBlock>& free_blocks() const { return free_; }
  [[nodiscard]] const ModelConfig& config() const { return config_; }
  [[nodiscard]] const ModelCoverage& coverage() const { return coverage_; }
  [[nodiscard]] std::int64_t now() const { return now_; }
  [[nodiscard]] std::uint64_t device_completed() const { return device_completed_; }
  [[nodiscard]] std::size_t backend_live_allocations() const { return backend_live_; }
  [[nodiscard]] std::size_t backend_live_bytes() const { return backend_live_bytes_; }
  [[nodiscard]] std::uint64_t faults_injected() const { return faults_injected_; }
  [[nodiscard]] std::uint64_t zero_fills() const { return zero_fills_; }
  [[nodiscard]] std::uint64_t zero_fill_bytes() const { return zero_fill_bytes_; }
  [[nodiscard]] std::uint64_t zero_fill_faults() const { return zero_fill_faults_; }
  [[nodiscard]] bool fill_fault_armed() const { return fill_fault_armed_; }
  [[nodiscard]] int pool() const { return pool_; }
  [[nodiscard]] std::size_t max_request_bytes() const;

 private:
  struct OutOfMemory {
    std::size_t requested_bytes;
    std::size_t limit_bytes;
    std::size_t in_use_bytes;
  };
  enum class FreeCause { ttl, clear, limit, live_bound };

  [[nodiscard]] unsigned class_for(std::size_t size_bytes) const;
  [[nodiscard]] std::size_t carve_bytes(std::size_t size_bytes) const;
  [[nodiscard]] bool caching() const { return config_.max_pool_size > 0; }
  [[nodiscard]] bool large_kind(std::size_t capacity) const {
    return capacity > config_.segments.small_request_max_bytes;
  }
  [[nodiscard]] std::size_t segment_bytes_for(std::size_t capacity) const;
  [[nodiscard]] bool current(const ModelSegment& segment) const {
    return open_ && segment.pool == pool_ && !segment.freed;
  }
  [[nodiscard]] bool current(const ModelBuffer& buffer) const {
    return open_ && buffer.pool == pool_;
  }

  // The ready cache.
  /// The idle buffers of one class list, in list order (oldest first).
  [[nodiscard]] std::vector<std::size_t> idle_list(unsigned list) const;
  /// Every idle buffer, class lists in index order, each oldest first: the
  /// order clear(), close and a TTL sweep take them in.
  [[nodiscard]] std::vector<std::size_t> idle_by_list() const;
  [[nodiscard]] std::size_t idle_count() const;
  [[nodiscard]] std::size_t idle_bytes() const;
  [[nodiscard]] std::optional<std::size_t> take_idle(unsigned size_class, std::size_t size_bytes);
  void push_idle(std::size_t buffer, std::uint64_t stamp);
  /// Gives every unstamped idle buffer the release time `now`.
  void stamp_releases(std::int64_t now);
  /// When an idle buffer was last used, for its segment.
  [[nodiscard]] std::uint64_t released_at(const ModelBuffer& buffer) const;
  [[nodiscard]] bool over_caps() const;
  /// The idle buffer the eviction policy gives back first, of segments of
  /// kind `large` unless `any_kind`; updates the size-aware inflation.
  [[nodiscard]] std::optional<std::size_t> eviction_victim(bool any_kind, bool large);
  void evict_over_caps();
  bool evict_one(bool any_kind, bool large);

  // Segments.
  [[nodiscard]] std::optional<std::size_t> carve(bool large, std::size_t capacity);
  [[nodiscard]] std::size_t carve_from(std::size_t free_block, std::size_t capacity);
  /// Returns a carved buffer to its segment, merged with free neighbours;
  /// true when the segment is now empty.
  bool give_back(std::size_t buffer, std::uint64_t unused_since_ns);
  [[nodiscard]] bool segment_empty(const ModelSegment& segment) const {
    return segment.free_bytes == segment.size;
  }
  [[nodiscard]] std::optional<std::size_t> oldest_empty() const;
  void free_segment(std::size_t segment);
  /// Frees the current pool's empty segments unused since before
  /// `unused_before_ns` (all of them for UINT64_MAX), or only the oldest.
  std::size_t free_empty_segments(std::uint64_t unused_before_ns, bool just_one, FreeCause cause);
  [[nodiscard]] std::size_t heap_free_bytes() const;

  // Requests.
  /// `keeps_device_use`: a stream reuse, which keeps the buffer's device
  /// value (and so may have to wait for it before zeroing).
  GetOutcome hand_out(std::size_t buffer, std::size_t size_bytes, unsigned size_class,
                      GetOutcome::Source source, bool after_miss, bool keeps_device_use = false);
  [[nodiscard]] std::optional<std::size_t> allocate_segment(std::size_t capacity, bool exact,
                                                            OutOfMemory& failure);
  [[nodiscard]] bool reserve_segment_bytes(std::size_t& segment_bytes, std::size_t capacity,
                                           OutOfMemory& failure);
  [[nodiscard]] bool beyond_memory_limit(std::size_t capacity) const;
  [[nodiscard]] std::size_t in_use_bytes(std::size_t held) const;
  /// The backend stack's allocate: nullopt when it throws OutOfMemoryError.
  [[nodiscard]] std::optional<std::uint64_t> backend_allocate(std::size_t bytes);

  void release(std::size_t buffer);
  void maybe_cleanup(std::int64_t now);
  std::size_t expire(std::int64_t now);
  void reclaim_completed();
  [[nodiscard]] bool any_pending() const { return !pending_.empty(); }

  ModelConfig config_;
  int pool_ = 0;
  bool open_ = false;
  std::vector<ModelSegment> segments_;
  std::vector<FreeBlock> free_;
  std::vector<ModelBuffer> buffers_;
  std::vector<std::size_t> pending_;  ///< current pool's pending buffers, in release order
  /// The current pool's open streams: their kept buffers, oldest kept first.
  std::map<std::uint64_t, std::vector<std::size_t>> streams_;
  std::uint64_t next_stream_id_ = 1;
  std::uint64_t next_entered_ = 0;
  std::uint64_t next_emptied_ = 0;
  std::uint64_t next_list_order_ = 0;

  // Time, the device and the backend stack.
  std::int64_t now_ = 0;
  std::uint64_t device_completed_ = 0;
  std::uint64_t next_handle_ = 1;
  std::size_t backend_live_ = 0;
  std::size_t backend_live_bytes_ = 0;
  std::uint64_t fault_countdown_ = 0;
  bool fail_all_ = false;
  std::uint64_t faults_injected_ = 0;
  bool fill_fault_armed_ = false;
  std::uint64_t zero_fills_ = 0;
  std::uint64_t zero_fill_bytes_ = 0;
  std::uint64_t zero_fill_faults_ = 0;

  // The current pool's counters.
  std::uint64_t last_release_stamp_ = 0;
  std::uint64_t release_count_ = 0;
  std::uint32_t releases_until_clock_ = 1;
  std::uint32_t clock_reads_owed_ = 0;
  std::uint64_t inflation_ = 0;
  std::int64_t last_cleanup_ = 0;
  std::size_t held_bytes_ = 0;
  std::size_t peak_bytes_ = 0;
  std::uint64_t allocations_ = 0;
  std::uint64_t deallocations_ = 0;
  std::uint64_t evictions_ = 0;
  std::uint64_t expirations_ = 0;
  std::uint64_t failed_allocations_ = 0;
  std::uint64_t bytes_requested_ = 0;
  std::uint64_t bytes_granted_ = 0;
  std::uint64_t hits_carved_ = 0;
  std::uint64_t stream_reuses_ = 0;
  std::vector<std::uint64_t> class_hits_;
  std::vector<std::uint64_t> class_misses_;

  ModelCoverage coverage_;
};

}  // namespace bufferpool::model
