// replay(): a recorded Trace through a real BufferPool over a
// SimulatedBackend, in simulated time, with what the pool held along the way.
//
//     const bufferpool::Trace trace = bufferpool::read_trace("run.csv");
//     const bufferpool::ReplayResult result = bufferpool::replay(trace, {});
//     // result.hit_rate, result.peak_bytes_held, result.overhead, ...
//
// Every figure is exact and the same on every run: nothing is timed and no
// memory is touched, so a trace of a 40 GB GPU replays on a laptop.
#pragma once

#include <bufferpool/config.hpp>
#include <bufferpool/memory_snapshot.hpp>
#include <bufferpool/metrics.hpp>
#include <bufferpool/pool_events.hpp>
#include <bufferpool/simulated_backend.hpp>
#include <bufferpool/trace.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace bufferpool {

struct ReplayOptions {
  /// Attached to the pool (BufferPool::add_observer) before the first event
  /// and removed after the last, so that they see every event of the replay:
  /// PerfettoTimeline, MemoryVizRecorder, or your own.
  std::vector<std::shared_ptr<PoolObserver>> observers;
  /// The most points of ReplayResult::fragmentation; 0 = no series.
  std::size_t max_fragmentation_samples = 256;
  /// Fill ReplayResult::segments_at_peak: a BufferPool::snapshot() each time
  /// the bytes held reach a new peak (O(blocks) each, and peaks are rare:
  /// only a new segment raises them). Off for searches that need only the
  /// totals.
  bool snapshot_at_peak = true;
  /// Fill ReplayResult::final_snapshot: BufferPool::snapshot() after the
  /// last event, before what the trace never freed is released; the
  /// snapshot that MemoryVizRecorder::write() wants with the replay's events.
  bool snapshot_at_end = false;
  /// The simulated device: alignment, capacity, allocation count limit.
  SimulatedBackendOptions backend;
  /// When set, called on the replaying thread about every 1% of the events
  /// and once at the end, with the events replayed and their total. It must
  /// not throw.
  std::function<void(std::size_t events_done, std::size_t events_total)> progress;
};

/// The pool's memory at one moment of a replay.
struct FragmentationSample {
  /// The trace's time (since its first event).
  std::uint64_t time_ns = 0;
  /// Events replayed so far.
  std::size_t events_replayed = 0;
  /// Segments' bytes: live + idle + pending + free_in_segments.
  std::size_t bytes_held = 0;
  /// Capacities of the buffers the trace holds.
  std::size_t bytes_live = 0;
  /// Capacities of idle buffers in the ready cache.
  std::size_t bytes_idle = 0;
  /// Segment space carved into no buffer.
  std::size_t bytes_free_in_segments = 0;
  std::size_t largest_free_block_bytes = 0;
  std::size_t segments = 0;
};

/// One segment, from BufferPool::snapshot(). The blocks' bytes add up to
/// size_bytes.
struct SegmentFigures {
  std::uint64_t address = 0;
  std::size_t size_bytes = 0;
  /// For requests above SegmentConfig::small_request_max_bytes.
  bool large = false;
  std::size_t live_bytes = 0;
  std::size_t live_blocks = 0;
  /// What the live blocks' requests asked for (live_bytes minus rounding).
  std::size_t requested_bytes = 0;
  std::size_t idle_bytes = 0;
  std::size_t idle_blocks = 0;
  /// Released but still used by device work; 0 in a replay, whose device
  /// is always done.
  std::size_t pending_bytes = 0;
  std::size_t free_bytes = 0;
  std::size_t free_blocks = 0;
  std::size_t largest_free_block_bytes = 0;
};

struct ReplayResult {
  /// Trace::name.
  std::string trace;
  /// Requests replayed: the trace's allocate and allocate-failure events.
  std::uint64_t requests = 0;
  /// Requests served without a new device allocation (PoolMetrics::hits).
  std::uint64_t hits = 0;
  /// PoolMetrics::hit_rate(): hits / (hits + misses).
  double hit_rate = 0.0;
  /// Requests the pool refused with OutOfMemoryError (a memory_limit or a
  /// SimulatedBackendOptions::capacity_bytes too small for the trace).
  std::uint64_t failed_requests = 0;
  /// The most bytes the pool held from the device at once.
  std::size_t peak_bytes_held = 0;
  /// The trace's own peak of bytes requested and not yet freed
  /// (Trace::peak_live_bytes): what any allocator must hold at least.
  std::size_t peak_bytes_live = 0;
  /// peak_bytes_held / peak_bytes_live (0 for an empty trace): the memory
  /// the pool costs over what the program needs, rounding included.
  double overhead = 0.0;
  /// Device allocation calls (segments taken), and the most live at once.
  std::uint64_t device_allocations = 0;
  std::size_t peak_live_device_allocations = 0;
  /// The pool's metrics after the last event, with whatever the trace never
  /// freed still live; per class in metrics.size_classes.
  PoolMetrics metrics;
  /// When the bytes held first reached peak_bytes_held (trace time), and
  /// the pool's segments just after that event; empty with
  /// ReplayOptions::snapshot_at_peak off.
  std::uint64_t peak_time_ns = 0;
  std::vector<SegmentFigures> segments_at_peak;
  /// With ReplayOptions::snapshot_at_end: every segment and block after the
  /// last event; else empty. Not in to_json().
  MemorySnapshot final_snapshot;
  /// The pool's memory at up to ReplayOptions::max_fragmentation_samples
  /// moments evenly spaced in events, the last one after the last event.
  std::vector<FragmentationSample> fragmentation;

  /// Every field above but final_snapshot as one JSON object, named as here
  /// ("metrics" is PoolMetrics::to_json()'s object).
  [[nodiscard]] std::string to_json() const;
};

/// Replays `trace` through a BufferPool built with `config` over a
/// SimulatedBackend, and returns what it did.
///
/// Time: config.clock is replaced by a ManualClock, set before each event to
/// the event's time; the pool is made at the time of the first event, so a
/// pool that was recorded from its first request on sees the same times
/// again, and TTL and cleanup act as in the recorded run.
/// config.background_cleanup is turned off (cleanup runs where the trace's
/// time says, in requests and releases), and config.trace_path is cleared
/// so that a replay does not record itself over its own trace.
///
/// Threads: a trace of several threads is replayed in trace order on the
/// calling thread, so the pool's per-thread caches see one thread.
/// Replaying the trace of a single-threaded run with that run's settings
/// reproduces its PoolMetrics exactly.
///
/// Throws ConfigError when `config`, options.backend or options.observers
/// (a null one) makes no sense, and InvalidArgumentError for a request above
/// options.backend.max_allocation_bytes. A request the pool refuses with
/// OutOfMemoryError is counted in failed_requests, not thrown.
/// Thread-safe: replays on different threads share nothing.
[[nodiscard]] ReplayResult replay(const Trace& trace, PoolConfig config,
                                  const ReplayOptions& options = {});

}  // namespace bufferpool
