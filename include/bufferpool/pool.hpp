// BufferPool: size classes, idle lists, limits, TTL cleanup and metrics over a
// Backend.
#pragma once

#include <bufferpool/backend.hpp>
#include <bufferpool/buffer.hpp>
#include <bufferpool/config.hpp>
#include <bufferpool/live_buffer.hpp>
#include <bufferpool/memory_snapshot.hpp>
#include <bufferpool/metrics.hpp>
#include <bufferpool/pool_events.hpp>
#include <bufferpool/stream.hpp>

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

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
///
/// Threads: every call may be made from any thread, concurrently with the
/// others, except the destructor (no other call of this pool may run or
/// start; releases of its buffers on other threads are fine). Each call below
/// says what it may block on and what it costs.
class BufferPool {
 public:
  /// The pool's own record of each buffer it holds (in use, idle, pending or
  /// kept for a stream) and of each free range of a segment: one cache line,
  /// from slabs, never from the hit path's allocator.
  static constexpr std::size_t kRecordBytesPerBuffer = 64;

  /// Throws ConfigError when `config` makes no sense, naming the setting, and
  /// when a recording asked for (PoolConfig::trace_path, BUFFERPOOL_TRACE)
  /// cannot open its file. Calls no backend allocation; starts the cleanup
  /// thread when background_cleanup is on, and the recorder's writer thread
  /// when recording.
  explicit BufferPool(std::shared_ptr<Backend> backend, PoolConfig config = {});
  /// Joins the cleanup thread, ends a recording (writing what is buffered),
  /// waits for releases in flight on other threads, and frees idle buffers
  /// and empty segments (backend calls), first waiting for the device work
  /// that still uses pending buffers. Buffers still referenced stay valid and
  /// go back when released; with PoolConfig::track_live_buffers they are
  /// listed on stderr.
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
  ///
  /// Cost: a hit of the ready cache takes the calling thread's shard lock
  /// (uncontended unless threads share a shard) and reads no clock, takes no
  /// global lock and allocates nothing. Otherwise it reads the clock, may run
  /// a due cleanup, looks in the other shards (their locks in turn), carves
  /// under the segment lock, or calls Backend::allocate (a driver call).
  /// zero_on_reuse adds a fill, which waits for the device where memory is
  /// device-local. Under memory_limit it frees idle memory first, and waits
  /// (yielding) for other threads already freeing memory rather than fail
  /// while they do. With observers (recording, timelines) each request is
  /// an event, which takes the observers' lock.
  [[nodiscard]] BufferRef get_buffer(std::size_t size_bytes);

  // --- Streams (see StreamId) ------------------------------------------------

  /// Opens a stream; returns its id, never StreamId::none. A lock and a map
  /// insert.
  [[nodiscard]] StreamId open_stream();

  /// A request made for `stream`: served first by a buffer kept for the
  /// stream (release_to_stream) that the request fills to within an eighth,
  /// the most recently kept first (a hit, reused, also counted in
  /// PoolMetrics::stream_reuses), otherwise as get_buffer(size_bytes). A
  /// buffer reused so keeps the device timeline value of its last use (see
  /// BufferRef::mark_used_until): its next user is ordered after that use by
  /// the stream, and its release waits for both. StreamId::none: the same as
  /// get_buffer(size_bytes). Throws UsageError for a stream that is not open,
  /// and what get_buffer throws. Cost: the streams lock and a look at the
  /// stream's eight newest kept buffers, then a hit or get_buffer's path.
  [[nodiscard]] BufferRef get_buffer(std::size_t size_bytes, StreamId stream);

  /// Drops `buffer`'s reference and leaves it empty, as reset() does; when it
  /// was the last reference, the buffer is kept for `stream`: no request
  /// other than get_buffer(..., stream) takes it, and it is not freed, until
  /// close_stream(stream) releases it as reset() would have. StreamId::none,
  /// or an empty handle: the same as reset(). Throws UsageError, leaving the
  /// handle as it was, for a stream that is not open or a buffer of another
  /// pool. Cost: one atomic decrement; for the last reference, the calling
  /// thread's shard lock and the streams lock.
  void release_to_stream(BufferRef& buffer, StreamId stream);

  /// Closes `stream`: every buffer kept for it is marked as used by device
  /// work until `used_until_timeline` (see BufferRef::mark_used_until; the
  /// stream's last submission, whose work may have used a buffer after its
  /// handles were gone) and released as reset() releases a buffer: pending
  /// while device work marked on it runs, else idle; oldest first. Later
  /// requests and releases naming the stream throw UsageError. Does nothing
  /// for a stream not open. Cost: a release per kept buffer; never waits for
  /// the device.
  void close_stream(StreamId stream, std::uint64_t used_until_timeline = 0) noexcept;

  /// Frees idle buffers past their TTL now, and segments unused for a TTL;
  /// returns how many buffers. Holds every shard's lock at once while it
  /// picks them, then frees them (backend calls). Reclaims pending buffers
  /// whose device work is done; never waits for the device.
  std::size_t cleanup();

  /// Frees every idle buffer and every empty segment; returns how many
  /// buffers. Holds every shard's lock at once while it takes the idle
  /// lists, then frees (backend calls).
  std::size_t clear();

  /// A snapshot of the counters. Takes each shard's lock in turn, then the
  /// segment lock: with other threads working, each figure is exact at some
  /// moment during the call.
  [[nodiscard]] PoolMetrics metrics() const;

  /// Sets peak_bytes_allocated to the bytes held now. No lock.
  void reset_peak() noexcept;

  /// The capacity a fresh buffer for a request of size_bytes gets: the size
  /// rounded up to the backend's buffer alignment (64 bytes at least). A
  /// reused idle buffer may be up to an eighth larger. No lock.
  [[nodiscard]] std::size_t capacity_for(std::size_t size_bytes) const;

  /// Walks every segment and returns a description of the first broken
  /// invariant of the pool's memory, or "" when all hold: the blocks of each
  /// segment tile it exactly, no two free blocks are neighbours, the free
  /// bytes counted agree with the blocks, and each buffer in the idle cache,
  /// pending or kept for a stream is marked as such (what snapshot() shows).
  /// For tests and debugging: it holds every lock, as snapshot() does.
  [[nodiscard]] std::string check_segments() const;

  /// Every segment and the blocks carved from it, now. Takes the pool's
  /// locks (the segment lock, each shard's, the pending list's) in turn, so
  /// requests and releases wait while it copies; O(blocks).
  [[nodiscard]] MemorySnapshot snapshot() const;

  /// The buffers still referenced, oldest request first where ages are
  /// known. With PoolConfig::track_live_buffers off, ages are unknown and the
  /// order is by address. Locks as snapshot() does.
  [[nodiscard]] std::vector<LiveBuffer> live_buffers() const;

  /// Calls observer->on_event() for every event from now on (see
  /// PoolObserver for the threads it is called on). With no observer the
  /// request and release paths pay one load of a flag.
  void add_observer(std::shared_ptr<PoolObserver> observer);
  /// Stops the calls; when it returns, no call is running or will start.
  /// Unknown observers are ignored.
  void remove_observer(const PoolObserver& observer) noexcept;

  /// Records every request and release from now on to `path` as RMM's
  /// logging_resource_adaptor CSV (Thread,Time,Action,Pointer,Size,Stream),
  /// which `bufferpool replay` and RMM's replay benchmark read. Events go to
  /// a bounded buffer that a writer thread empties into the file; a thread
  /// finding the buffer full waits for the writer (the wait is counted in
  /// PoolMetrics::recording_waits). Throws ConfigError when the file cannot
  /// be opened, UsageError when already recording.
  void start_recording(const std::filesystem::path& path);
  /// Flushes and closes the recording; does nothing when not recording.
  void stop_recording() noexcept;
  [[nodiscard]] bool recording() const noexcept;

  [[nodiscard]] const PoolConfig& config() const noexcept;
  [[nodiscard]] Backend& backend() const noexcept;

 private:
  std::unique_ptr<detail::PoolCore> core_;
};

}  // namespace bufferpool
