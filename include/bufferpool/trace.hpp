// Trace: a program's allocation requests, read from RMM's
// logging_resource_adaptor CSV, the format BufferPool::start_recording()
// writes:
//
//   Thread,Time,Action,Pointer,Size,Stream
//   12483,03:08:31.215484,allocate,0x7f8d066c4040,1605632,0x0
//   12483,03:08:31.219101,free,0x7f8d066c4040,1605632,0x0
//
// (rmm/mr/device/logging_resource_adaptor.hpp: the header above, spdlog
// pattern "%t,%H:%M:%S.%f,%v", actions "allocate", "free" and
// "allocate failure"). Columns are found by name, so a log with an extra
// Device column reads as well; the Time column may also hold integer
// nanoseconds. A Trace is what replay() and tune() take.
#pragma once

#include <bufferpool/errors.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bufferpool {

/// A trace that cannot be read: the file cannot be opened, or a line is
/// malformed. The message names the file and line ("trace.csv:12: ...") and
/// says what was expected.
class TraceError : public Error {
 public:
  using Error::Error;
};

struct TraceEvent {
  enum class Kind : std::uint8_t {
    /// A request that the recorded allocator served.
    allocate,
    /// The release of an earlier allocate (the same buffer_id).
    free,
    /// A request that the recorded allocator refused ("allocate failure");
    /// buffer_id is unused.
    allocate_failure,
  };
  /// Time since the trace's first event, never decreasing.
  std::uint64_t time_ns = 0;
  /// The trace's threads, numbered 0, 1, ... in order of first appearance.
  std::uint32_t thread_index = 0;
  Kind kind = Kind::allocate;
  /// Names one allocation: 0, 1, ... in order of allocation, so that a
  /// replay can keep its buffers in a vector. A free carries its
  /// allocation's id (a pointer reused after a free gets a new id).
  std::uint32_t buffer_id = 0;
  /// Bytes asked for; a free carries its allocation's size.
  std::size_t size_bytes = 0;
};

struct Trace {
  /// The file name without its folder and extension ("resnet18_train").
  std::string name;
  /// In the order of the file's lines.
  std::vector<TraceEvent> events;
  std::uint32_t thread_count = 0;
  /// Allocations, which are also the ids handed out.
  std::uint32_t allocation_count = 0;
  /// The most bytes allocated and not yet freed at once.
  std::size_t peak_live_bytes = 0;
  /// Allocations still live at the end of the trace.
  std::size_t live_at_end = 0;

  // Lines that could not take part in a replay: counted, not fatal.
  /// "free" of a pointer that no earlier "allocate" returned, or freed twice.
  std::uint64_t unknown_frees = 0;
  /// "allocate failure" lines (also in events, as Kind::allocate_failure).
  std::uint64_t allocate_failures = 0;
  /// "allocate" of a pointer still live: the earlier allocation is taken to
  /// have been freed just before (its free was lost from the log), and a
  /// free event is added for it.
  std::uint64_t reused_live_pointers = 0;
  /// Allocations of 0 bytes (no memory to pool), dropped with their frees.
  std::uint64_t zero_size_allocations = 0;

  /// The duration of the trace.
  [[nodiscard]] std::uint64_t duration_ns() const noexcept {
    return events.empty() ? 0 : events.back().time_ns;
  }
};

/// Reads the trace at `path`; its name is the file's stem. Throws TraceError
/// naming the file (and line) when it cannot be opened or a line is
/// malformed. O(lines), holding one TraceEvent (24 bytes) per line.
[[nodiscard]] Trace read_trace(const std::filesystem::path& path);

/// Reads a trace from `input`; `source_name` names it in error messages and
/// `trace_name` is the result's name. Throws TraceError as read_trace does.
[[nodiscard]] Trace parse_trace(std::istream& input, const std::string& source_name,
                                const std::string& trace_name);

/// Parses a Time field: "HH:MM:SS.ffffff" (1 to 9 fraction digits, or none)
/// or integer nanoseconds, into nanoseconds (since midnight for the former);
/// std::nullopt when it is neither.
[[nodiscard]] std::optional<std::uint64_t> parse_trace_time_ns(std::string_view text);

}  // namespace bufferpool
