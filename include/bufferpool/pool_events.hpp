// PoolEvent and PoolObserver: what a BufferPool did, as a stream of events,
// for recorders (RMM's log CSV), timelines (Perfetto, PyTorch's memory_viz)
// and tests.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bufferpool {

/// What happened. The first three are the requests a program made (the
/// actions of RMM's log); the others are what the pool did about them.
enum class PoolEventKind : std::uint8_t {
  /// A request served: `address` is the buffer, `size_bytes` what was asked,
  /// `capacity_bytes` what was granted; `hit` says whether the pool served it
  /// without a new segment.
  allocate,
  /// A request that failed with OutOfMemoryError (`size_bytes` asked).
  allocate_failure,
  /// A buffer's last reference went (`size_bytes` as asked at its request).
  free,
  /// A released buffer that device work was still using became reusable:
  /// the device timeline passed its last use. A buffer no device work used
  /// is reusable at its `free` and gets no event of this kind.
  free_completed,
  /// An idle buffer went back to its segment because a cap
  /// (max_pool_size, max_cached_bytes) or memory_limit needed the room, or a
  /// request found no free block large enough, or clear() was called.
  evict,
  /// An idle buffer went back to its segment because it was older than ttl.
  expire,
  /// The pool took a new segment from the backend (`segment_address`,
  /// `capacity_bytes` = the segment's size).
  segment_allocate,
  /// The pool gave a segment back to the backend.
  segment_free,
};

/// The name of a kind, as the CSV and timeline writers print it:
/// "allocate", "allocate failure", "free", "free completed", "evict",
/// "expire", "segment allocate", "segment free".
[[nodiscard]] const char* to_string(PoolEventKind kind) noexcept;

/// One event. Addresses are the pool's: a segment gets an address range of
/// its own for as long as it is held (its host pointer where the backend maps
/// it, else a synthetic range that no other live segment of the pool
/// overlaps), and a buffer's address is its segment's plus its offset, so
/// that two live buffers never share an address and a reused buffer keeps
/// its address, as with malloc.
struct PoolEvent {
  PoolEventKind kind = PoolEventKind::allocate;
  /// allocate only: served without a new segment (from the ready cache or
  /// carved from free space).
  bool hit = false;
  /// allocate only: served by an idle buffer of the ready cache (it was idle
  /// at this address); else carved from free space.
  bool reused = false;
  /// free only: device work still uses the buffer, so it is pending until a
  /// free_completed event; else it is idle (or given back) at once.
  bool pending = false;
  /// The size class of the buffer (index into PoolConfig::size_classes;
  /// size_classes.size() for a request above the largest class).
  std::uint16_t class_index = 0;
  /// A small number for the thread that caused the event, the same for every
  /// event of that thread (0, 1, 2, ... in the order threads first use any
  /// pool).
  std::uint32_t thread = 0;
  /// When, in the pool's Clock, in nanoseconds.
  std::uint64_t time_ns = 0;
  /// The buffer's address; for segment events, the segment's.
  std::uint64_t address = 0;
  /// The address of the segment the buffer is in.
  std::uint64_t segment_address = 0;
  /// Bytes the request asked for; 0 for evict, expire and segment events
  /// (the ready cache keeps no request size).
  std::size_t size_bytes = 0;
  /// Bytes granted: the buffer's capacity, or the segment's size.
  std::size_t capacity_bytes = 0;
};

/// Receives a pool's events. on_event is called on the thread that caused
/// the event, possibly from several threads at once, and never after
/// BufferPool::remove_observer() has returned. It must not call back into
/// the pool and must not throw; it may block, which blocks that thread's
/// request or release.
class PoolObserver {
 public:
  virtual ~PoolObserver() = default;
  virtual void on_event(const PoolEvent& event) noexcept = 0;
};

}  // namespace bufferpool
