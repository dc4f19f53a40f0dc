// PerfettoTimeline: a pool's memory over time as a Chrome trace-event JSON
// file, which ui.perfetto.dev and chrome://tracing open.
#pragma once

#include <bufferpool/pool_events.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

namespace bufferpool {

/// Records a pool's events and writes them as a timeline:
///
///     auto timeline = std::make_shared<bufferpool::PerfettoTimeline>(pool.config().size_classes);
///     pool.add_observer(timeline);
///     ... run the program ...
///     pool.remove_observer(*timeline);
///     timeline->write("pool.json");   // open in ui.perfetto.dev
///
/// The file (Chrome's JSON trace-event format, {"traceEvents": [...],
/// "displayTimeUnit": "ns"}, timestamps in microseconds from the earliest
/// event recorded) holds, in process 1 ("bufferpool"):
///
/// - counter tracks ("ph": "C"), derived from the events: "held" (arg
///   "bytes": the segments' bytes), "all classes" and "class 4 KiB" (one per
///   size class, named by its exact capacity, "class 1216 B" where it is no
///   whole KiB or MiB; "class above 64 MiB" for requests above the largest;
///   "class index out of range" for events of a pool with other classes),
///   each with args "in_use_bytes", "idle_bytes" and "pending_bytes".
///   Perfetto shows each arg as a track of its own, named after the counter
///   and the arg ("class 4 KiB idle_bytes"). A class's track starts at its
///   first event.
///   A request served by an idle buffer moves its capacity from idle to in
///   use; one carved from free segment space (a hit or a miss) adds it to in
///   use; a release moves it to pending when device work still uses the
///   buffer, else to idle; free_completed moves it from pending to idle; an
///   eviction or expiry takes it out of idle (back to free segment space).
/// - instant events ("ph": "i") on the thread that caused them: "evict",
///   "expire", "segment allocate", "segment free" and "out of memory", with
///   the address (hex), bytes and size class as args.
/// - a "thread_name" metadata event ("ph": "M") for each thread seen, named
///   "pool thread N" after PoolEvent::thread.
///
/// Counters start at zero: attach the timeline before the pool's first
/// request, or the counters of buffers already out go below zero when those
/// are released (they are signed, so the offset shows rather than wraps).
///
/// Memory: 32 bytes per event, for up to max_events events, reserved at
/// construction. Past max_events the oldest event is dropped: its effect on
/// the counters is kept (the file starts from the counters' values at the
/// first event kept, and says how many were dropped with an instant event
/// "earlier events dropped"), but its instant event is lost.
class PerfettoTimeline final : public PoolObserver {
 public:
  /// Enough for the longest trace in bench/traces/ (about 80,000 events)
  /// many times over: 32 MiB.
  static constexpr std::size_t kDefaultMaxEvents = std::size_t{1} << 20;

  /// `size_classes` as the pool's PoolConfig::size_classes, to name the
  /// per-class tracks. Throws InvalidArgumentError when max_events is 0, and
  /// std::bad_alloc when the events' memory cannot be reserved.
  explicit PerfettoTimeline(std::vector<std::size_t> size_classes,
                            std::size_t max_events = kDefaultMaxEvents);

  /// Records one event: a lock and a 32-byte copy (35-95 ns measured, one
  /// thread); never allocates. Called by the pool from any thread; threads
  /// contend for the one lock.
  void on_event(const PoolEvent& event) noexcept override;

  /// The timeline as JSON (see the class comment): about 260 bytes and 3 us
  /// per event. Takes the lock while it copies the events (32 bytes each),
  /// not while it formats them.
  [[nodiscard]] std::string to_json() const;

  /// Writes to_json() to `path`, replacing the file. Throws
  /// InvalidArgumentError naming the path when it cannot be written.
  void write(const std::filesystem::path& path) const;

  /// Events held now (at most max_events) and dropped so far.
  [[nodiscard]] std::size_t events_held() const;
  [[nodiscard]] std::uint64_t events_dropped() const;

 private:
  /// What one recorded event keeps: enough to derive the counters and draw
  /// the instant events.
  struct Record {
    std::uint64_t time_ns = 0;
    std::uint64_t address = 0;
    /// The capacity (buffer or segment); the bytes asked for an out-of-memory.
    std::uint64_t bytes = 0;
    std::uint32_t thread = 0;
    std::uint16_t class_index = 0;
    PoolEventKind kind = PoolEventKind::allocate;
    /// allocate: reused (bit 0); free: pending (bit 1).
    std::uint8_t flags = 0;
  };
  static_assert(sizeof(Record) == 32);

  /// Bytes per size class (one entry per class, plus one for requests above
  /// the largest) and in total, as the counter tracks show them.
  struct Counters {
    std::vector<std::int64_t> in_use_bytes;
    std::vector<std::int64_t> idle_bytes;
    std::vector<std::int64_t> pending_bytes;
    std::int64_t total_in_use_bytes = 0;
    std::int64_t total_idle_bytes = 0;
    std::int64_t total_pending_bytes = 0;
    std::int64_t held_bytes = 0;
  };

  enum class Changed : std::uint8_t { nothing, class_and_total, held };

  /// Per-class counters have one slot per class, one for requests above the
  /// largest, and one for class indices past both (a timeline made with
  /// another pool's classes).
  [[nodiscard]] std::size_t class_slots() const noexcept;
  [[nodiscard]] std::size_t slot_of(std::uint16_t class_index) const noexcept;
  [[nodiscard]] std::string slot_name(std::size_t slot) const;
  static Changed apply(Counters& counters, const Record& record, std::size_t slot) noexcept;

  std::vector<std::size_t> size_classes_;
  mutable std::mutex mutex_;
  std::vector<Record> ring_;  // capacity max_events; ring_[next_] is the oldest once full
  std::size_t max_events_;
  std::size_t next_ = 0;
  std::uint64_t dropped_ = 0;
  bool have_origin_ = false;
  std::uint64_t origin_ns_ = 0;
  Counters baseline_;  // the counters after every dropped event
};

}  // namespace bufferpool
