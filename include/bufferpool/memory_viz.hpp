// MemoryVizRecorder: a pool's allocation history and memory as a snapshot
// that PyTorch's memory viewer (pytorch.org/memory_viz) opens.
#pragma once

#include <bufferpool/memory_snapshot.hpp>
#include <bufferpool/pool_events.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

namespace bufferpool {

struct MemoryVizOptions {
  /// Trace entries kept, the newest (PyTorch's
  /// _record_memory_history(max_entries=...) keeps a ring the same way); 32
  /// bytes each, reserved at construction: 32 MiB by default.
  std::size_t max_entries = std::size_t{1} << 20;
  /// The pool's PoolConfig::memory_limit (0 = none): an out-of-memory entry
  /// reports as the device's free memory what the limit still left
  /// (limit - bytes held in segments), or 0 without a limit, where the
  /// failure came from the backend running out.
  std::size_t memory_limit_bytes = 0;
};

/// Records a pool's events as PyTorch's allocator trace and writes them, with
/// a MemorySnapshot of the pool, as the pickle that torch.cuda.memory.
/// _snapshot() returns and the viewer draws ("Active Memory Timeline",
/// "Allocator State History", "Active Cached Segment Timeline"):
///
///     auto recorder = std::make_shared<bufferpool::MemoryVizRecorder>();
///     pool.add_observer(recorder);
///     ... run the program ...
///     pool.remove_observer(*recorder);
///     recorder->write("pool.pickle", pool.snapshot());   // drop it on pytorch.org/memory_viz
///
/// The pickle is a dict of
/// - "segments": one dict per segment of the snapshot, in its order: address,
///   total_size, stream (0), segment_type ("small"/"large", from
///   SnapshotSegment::large), allocated_size (bytes of live blocks),
///   active_size (live and pending), requested_size (what their requests
///   asked), device (0) and blocks, each {address, size, requested_size,
///   state, frames: []}, state "active_allocated" for a live block,
///   "active_pending_free" for a pending one, "inactive" for idle and free
///   space;
/// - "device_traces": [[entry, ...]] (device 0), each entry {action, addr,
///   size, stream, time_us, frames: []} with time_us the pool's Clock in
///   microseconds. allocate -> "alloc" (size asked); free -> "free_requested"
///   and, when no device work uses the buffer, "free_completed" at once;
///   free_completed -> "free_completed"; segment_allocate / segment_free ->
///   "segment_alloc" / "segment_free" (the segment's size);
///   allocate_failure -> "oom" with device_free (see MemoryVizOptions).
///
/// The viewer knows no cached-but-idle state: in PyTorch's allocator a freed
/// block goes straight back to its segment's free space, which the pool's
/// ready cache keeps apart. So an idle buffer is drawn as its segment's free
/// space from its release on ("inactive", after free_completed), and evict
/// and expire, which move a buffer from idle to free space, change nothing
/// the viewer draws and add no entry. The Perfetto timeline
/// (bufferpool/timeline.hpp) shows idle bytes and evictions.
///
/// The viewer replays the trace backwards from the snapshot, so take the
/// snapshot after the last event recorded, with no request or release in
/// flight: a trace that disagrees with the snapshot (a block freed in the
/// trace but live in the snapshot) breaks its drawing.
class MemoryVizRecorder final : public PoolObserver {
 public:
  /// Throws InvalidArgumentError when options.max_entries is 0, and
  /// std::bad_alloc when the entries' memory cannot be reserved.
  explicit MemoryVizRecorder(MemoryVizOptions options = {});

  /// Records one event: a lock and one or two 32-byte entries; never
  /// allocates. Called by the pool from any thread.
  void on_event(const PoolEvent& event) noexcept override;

  /// The pickle described above, for `snapshot`: about 32 bytes and 0.4 us
  /// per trace entry. Takes the lock while it copies the entries, not while
  /// it encodes them.
  [[nodiscard]] std::string to_pickle(const MemorySnapshot& snapshot) const;

  /// Writes to_pickle(snapshot) to `path`, replacing the file. Throws
  /// InvalidArgumentError naming the path when it cannot be written.
  void write(const std::filesystem::path& path, const MemorySnapshot& snapshot) const;

  /// Trace entries held now (at most max_entries) and dropped so far.
  [[nodiscard]] std::size_t entries_held() const;
  [[nodiscard]] std::uint64_t entries_dropped() const;

 private:
  enum class Action : std::uint8_t {
    alloc,
    free_requested,
    free_completed,
    segment_alloc,
    segment_free,
    oom,
  };
  struct Entry {
    std::uint64_t time_ns = 0;
    /// oom: the device's free bytes, where PyTorch's TraceEntry keeps them too.
    std::uint64_t address = 0;
    std::uint64_t size_bytes = 0;
    Action action = Action::alloc;
  };
  static_assert(sizeof(Entry) == 32);

  void push(const Entry& entry) noexcept;

  MemoryVizOptions options_;
  mutable std::mutex mutex_;
  std::vector<Entry> ring_;  // capacity max_entries; ring_[next_] is the oldest once full
  std::size_t next_ = 0;
  std::uint64_t dropped_ = 0;
  /// Segment bytes held, from the segment events, for an oom's device_free.
  std::uint64_t held_bytes_ = 0;
};

}  // namespace bufferpool
