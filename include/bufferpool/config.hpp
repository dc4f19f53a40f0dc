// PoolConfig: every setting of a BufferPool, as a plain struct with defaults.
// The pool validates it once, at construction, and names the setting that is
// wrong.
#pragma once

#include <bufferpool/clock.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace bufferpool {

/// The design's size classes: 256 B, 1 KiB, 4 KiB, ... 64 MiB (powers of 4).
[[nodiscard]] std::vector<std::size_t> default_size_classes();

/// A geometric series of classes from min_bytes to max_bytes (both included),
/// classes_per_doubling classes per power of two, each rounded up to a multiple
/// of 1/64 of its power of two (16 bytes at least). Four classes per doubling
/// waste at most about 20% to rounding, against 75% for the default powers of
/// four.
[[nodiscard]] std::vector<std::size_t> geometric_size_classes(std::size_t min_bytes,
                                                              std::size_t max_bytes,
                                                              unsigned classes_per_doubling);

/// Which idle buffer a cap or the memory limit frees first.
enum class EvictionPolicy {
  /// The buffer released longest ago (LRU by release order): the design's rule.
  oldest_first,
  /// GreedyDual-Size: each idle buffer's priority is the pool's running
  /// "inflation" at its release plus 1/capacity, and the lowest goes first;
  /// the inflation rises to each evicted priority. Old buffers still age out,
  /// but a large buffer goes before many small ones released before it, so a
  /// byte cap keeps more buffers, and more hits, for the same bytes.
  size_aware,
};

/// How the pool holds backend memory: in segments, large allocations that
/// buffers are carved out of (best fit, split, and coalesced again when
/// freed), so that the bytes held stay close to the bytes used and the
/// backend is called rarely. The defaults are PyTorch's caching allocator's,
/// which replaying real model traces confirmed (docs/benchmarks.md): small
/// requests share 2 MiB segments, medium ones 20 MiB segments, and large ones
/// get a segment of their own.
struct SegmentConfig {
  /// Requests of at most this many bytes are carved from small segments.
  std::size_t small_request_max_bytes = std::size_t{1} << 20;
  /// The size of a small segment; at least small_request_max_bytes.
  std::size_t small_segment_bytes = std::size_t{2} << 20;
  /// Requests above small_request_max_bytes and below this are carved from
  /// large segments; larger ones get a segment of their own.
  std::size_t large_request_max_bytes = std::size_t{10} << 20;
  /// The size of a large segment; at least large_request_max_bytes.
  std::size_t large_segment_bytes = std::size_t{20} << 20;
  /// A segment of its own is its request rounded up to a multiple of this.
  std::size_t dedicated_rounding_bytes = std::size_t{2} << 20;
};

struct PoolConfig {
  /// Capacities of the size classes, strictly increasing. A request is served
  /// from the smallest class that holds it; a request above the largest class
  /// gets a buffer of its own size rounded up to 4 KiB, and reuses an idle one
  /// of those only when it wastes at most an eighth of its capacity.
  std::vector<std::size_t> size_classes = default_size_classes();

  /// Most idle buffers kept. Past it, the buffer released longest ago is
  /// freed. 0 turns caching off: every request allocates, every release frees.
  std::size_t max_pool_size = 64;

  /// Most bytes kept in idle buffers; 0 = no limit.
  std::size_t max_cached_bytes = 0;

  /// Which idle buffer goes first past max_pool_size, max_cached_bytes or
  /// memory_limit.
  EvictionPolicy eviction = EvictionPolicy::oldest_first;

  /// Most bytes held from the backend, live plus idle; 0 = no limit. An
  /// allocation that would pass it first frees idle buffers, oldest first.
  std::size_t memory_limit = 0;

  /// An idle buffer older than this is freed at the next cleanup.
  std::chrono::nanoseconds ttl = std::chrono::seconds{60};

  /// Cleanup runs at most this often: lazily on release and on a miss, or on
  /// a background thread.
  std::chrono::nanoseconds cleanup_interval = std::chrono::seconds{60};

  /// Run cleanup on a background thread every cleanup_interval.
  bool background_cleanup = false;

  /// Segment sizes; see SegmentConfig.
  SegmentConfig segments;

  /// Zero every buffer before it is handed out, so that no request sees what
  /// another wrote (processes that serve several tenants). Costs a memset, or
  /// a device fill where memory is device-local, per request.
  bool zero_on_reuse = false;

  /// Record every request and release to this file from construction on,
  /// as BufferPool::start_recording() does; "" = do not. The environment
  /// variable BUFFERPOOL_TRACE, when set and this is "", names the file
  /// instead, so that an existing program records without a change (a
  /// second pool in the same process appends ".1", ".2", ... to the name).
  std::string trace_path;
  /// Whether BUFFERPOOL_TRACE may start a recording; replay() and tune()
  /// turn it off for the pools they make.
  bool record_from_environment = true;
  /// Remember when each live buffer was handed out, for
  /// BufferPool::live_buffers() and the report of a pool destroyed with
  /// buffers out. Costs a lock and a table entry per request and release.
  bool track_live_buffers = false;
  /// Also remember the call stack of each request (implies
  /// track_live_buffers); costs a stack walk per request.
  bool record_call_stacks = false;
  /// Where the pool reads time. Tests pass a ManualClock.
  std::shared_ptr<Clock> clock = make_steady_clock();

  /// The design's setting for memory-constrained machines: fewer idle
  /// buffers, a byte cap, a shorter TTL and more frequent cleanup.
  [[nodiscard]] static PoolConfig memory_constrained();

  /// The design's setting for performance-critical work: more idle buffers
  /// kept longer.
  [[nodiscard]] static PoolConfig performance_critical();

  /// Throws ConfigError naming the first setting that makes no sense.
  void validate() const;

  /// The settings as a JSON object, every field named as in this struct
  /// (times in seconds as numbers, the eviction policy as its enumerator's
  /// name, segments as an object); the clock is not written.
  [[nodiscard]] std::string to_json() const;
  /// Reads what to_json() writes. Fields left out keep their defaults; an
  /// unknown field, a value of the wrong type or range, or malformed JSON
  /// throws ConfigError naming the field. The result is validated.
  [[nodiscard]] static PoolConfig from_json(std::string_view json);
};

}  // namespace bufferpool
