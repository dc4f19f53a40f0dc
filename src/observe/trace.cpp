#include <bufferpool/trace.hpp>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <istream>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace bufferpool {
namespace {

constexpr std::uint64_t kNsPerSecond = 1'000'000'000;
constexpr std::uint64_t kNsPerDay = 86'400 * kNsPerSecond;

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  return text;
}

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = line.find(',', start);
    fields.push_back(trim(line.substr(start, comma - start)));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return fields;
}

template <typename Integer>
bool parse_integer(std::string_view text, Integer& value, int base = 10) {
  if (text.empty()) return false;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  return error == std::errc{} && end == text.data() + text.size();
}

/// "0x7f8d066c4040" (RMM's fmt "{}" of a pointer) or bare hex digits.
bool parse_pointer(std::string_view text, std::uint64_t& pointer) {
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    text.remove_prefix(2);
  }
  return parse_integer(text, pointer, 16);
}

/// Where the columns a replay needs are, by header name.
struct Columns {
  std::size_t count = 0;
  std::size_t thread = 0;
  std::size_t time = 0;
  std::size_t action = 0;
  std::size_t pointer = 0;
  std::size_t size = 0;
  std::optional<std::size_t> device;  // multi-device logs: pointers are per device
};

class LineError {
 public:
  LineError(std::string source, std::size_t line) : source_(std::move(source)), line_(line) {}
  [[noreturn]] void fail(const std::string& message) const {
    throw TraceError(source_ + ":" + std::to_string(line_) + ": " + message);
  }

 private:
  std::string source_;
  std::size_t line_;
};

Columns read_header(std::string_view line, const LineError& error) {
  const std::vector<std::string_view> names = split_fields(line);
  Columns columns;
  columns.count = names.size();
  std::optional<std::size_t> thread, time, action, pointer, size;
  for (std::size_t index = 0; index < names.size(); ++index) {
    const std::string_view name = names[index];
    if (name == "Thread") thread = index;
    if (name == "Time") time = index;
    if (name == "Action") action = index;
    if (name == "Pointer") pointer = index;
    if (name == "Size") size = index;
    if (name == "Device") columns.device = index;
  }
  if (!thread || !time || !action || !pointer || !size) {
    error.fail(
        "not an RMM log header: expected the columns Thread,Time,Action,Pointer,Size,Stream "
        "(as rmm::mr::logging_resource_adaptor writes them), got '" +
        std::string(line) + "'");
  }
  columns.thread = *thread;
  columns.time = *time;
  columns.action = *action;
  columns.pointer = *pointer;
  columns.size = *size;
  return columns;
}

}  // namespace

std::optional<std::uint64_t> parse_trace_time_ns(std::string_view text) {
  const std::string_view field = trim(text);
  std::uint64_t time_ns = 0;
  if (field.find(':') == std::string_view::npos) {
    if (!parse_integer(field, time_ns)) return std::nullopt;
    return time_ns;
  }
  // HH:MM:SS[.fraction]
  const std::size_t first = field.find(':');
  const std::size_t second = field.find(':', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  const std::size_t dot = field.find('.', second + 1);
  std::uint64_t hours = 0, minutes = 0, seconds = 0;
  if (!parse_integer(field.substr(0, first), hours) ||
      !parse_integer(field.substr(first + 1, second - first - 1), minutes) ||
      !parse_integer(field.substr(second + 1, dot - second - 1), seconds) || minutes > 59 ||
      seconds > 60 || hours > 1'000'000) {
    return std::nullopt;
  }
  std::uint64_t fraction_ns = 0;
  if (dot != std::string_view::npos) {
    const std::string_view digits = field.substr(dot + 1);
    std::uint64_t fraction = 0;
    if (digits.size() > 9 || !parse_integer(digits, fraction)) return std::nullopt;
    fraction_ns = fraction;
    for (std::size_t digit = digits.size(); digit < 9; ++digit) fraction_ns *= 10;
  }
  time_ns = ((hours * 60 + minutes) * 60 + seconds) * kNsPerSecond + fraction_ns;
  return time_ns;
}

Trace parse_trace(std::istream& input, const std::string& source_name,
                  const std::string& trace_name) {
  Trace trace;
  trace.name = trace_name;
  std::optional<Columns> columns;
  std::unordered_map<std::string, std::uint32_t> thread_indices;
  struct Live {
    std::uint32_t buffer_id;
    std::size_t size_bytes;
  };
  // Pointers are per device; device 0 where the log has no Device column.
  struct DeviceState {
    std::unordered_map<std::uint64_t, Live> live;
    /// Pointers of live 0-byte allocations, with how many (an allocator may
    /// hand the same pointer, or null, to each).
    std::unordered_map<std::uint64_t, std::size_t> zero_size_live;
  };
  std::unordered_map<std::uint64_t, DeviceState> devices;
  std::size_t live_bytes = 0;
  std::optional<std::uint64_t> first_time_ns;
  std::uint64_t previous_raw_ns = 0;
  std::uint64_t day_offset_ns = 0;  // a clock-time log that passes midnight
  std::uint64_t last_time_ns = 0;

  std::string line;
  std::size_t line_number = 0;
  while (std::getline(input, line)) {
    ++line_number;
    const LineError error(source_name, line_number);
    if (trim(line).empty()) continue;
    if (!columns) {
      columns = read_header(line, error);
      continue;
    }
    const std::vector<std::string_view> fields = split_fields(line);
    if (fields.size() != columns->count) {
      error.fail("expected " + std::to_string(columns->count) + " fields, got " +
                 std::to_string(fields.size()));
    }
    const std::string_view action = fields[columns->action];
    const std::optional<std::uint64_t> parsed_ns = parse_trace_time_ns(fields[columns->time]);
    if (!parsed_ns) {
      error.fail("bad Time '" + std::string(fields[columns->time]) +
                 "': expected HH:MM:SS.ffffff or integer nanoseconds");
    }
    const std::uint64_t raw_ns = *parsed_ns;
    std::uint64_t pointer = 0;
    if (!parse_pointer(fields[columns->pointer], pointer)) {
      error.fail("bad Pointer '" + std::string(fields[columns->pointer]) +
                 "': expected hex such as 0x7f00a0000000");
    }
    std::size_t size_bytes = 0;
    if (!parse_integer(fields[columns->size], size_bytes)) {
      error.fail("bad Size '" + std::string(fields[columns->size]) + "': expected a byte count");
    }
    std::uint64_t device = 0;
    if (columns->device && !parse_integer(fields[*columns->device], device)) {
      error.fail("bad Device '" + std::string(fields[*columns->device]) +
                 "': expected a device number");
    }
    const std::string_view thread_name = fields[columns->thread];
    if (thread_name.empty()) error.fail("empty Thread");
    if (action != "allocate" && action != "free" && action != "allocate failure") {
      error.fail("bad Action '" + std::string(action) +
                 "': expected allocate, free or allocate failure");
    }

    // RMM's clock column is the time of day: a jump back by more than half
    // a day is midnight passing, not the log going back in time.
    const bool clock_time = fields[columns->time].find(':') != std::string_view::npos;
    if (clock_time && first_time_ns && raw_ns + kNsPerDay / 2 < previous_raw_ns) {
      day_offset_ns += kNsPerDay;
    }
    previous_raw_ns = raw_ns;
    const std::uint64_t absolute_ns = raw_ns + day_offset_ns;
    if (!first_time_ns) first_time_ns = absolute_ns;
    // Threads log in the order they took the logger's lock, which may put a
    // later timestamp first; time in a replay never runs back.
    const std::uint64_t time_ns =
        std::max(last_time_ns, absolute_ns > *first_time_ns ? absolute_ns - *first_time_ns : 0);
    last_time_ns = time_ns;

    const std::uint32_t thread_index =
        thread_indices
            .try_emplace(std::string(thread_name),
                         static_cast<std::uint32_t>(thread_indices.size()))
            .first->second;
    if (action == "allocate failure") {
      // Kept as an event: a replay makes the same request, so that a pool's
      // failed_allocations come out as recorded.
      ++trace.allocate_failures;
      trace.events.push_back(
          {time_ns, thread_index, TraceEvent::Kind::allocate_failure, 0, size_bytes});
      continue;
    }
    DeviceState& state = devices[device];
    auto& live = state.live;

    if (action == "allocate") {
      if (size_bytes == 0) {
        ++trace.zero_size_allocations;
        ++state.zero_size_live[pointer];
        continue;
      }
      if (const auto previous = live.find(pointer); previous != live.end()) {
        ++trace.reused_live_pointers;
        trace.events.push_back({time_ns, thread_index, TraceEvent::Kind::free,
                                previous->second.buffer_id, previous->second.size_bytes});
        live_bytes -= previous->second.size_bytes;
        live.erase(previous);
      }
      const std::uint32_t buffer_id = trace.allocation_count++;
      live.emplace(pointer, Live{buffer_id, size_bytes});
      trace.events.push_back(
          {time_ns, thread_index, TraceEvent::Kind::allocate, buffer_id, size_bytes});
      live_bytes += size_bytes;
      trace.peak_live_bytes = std::max(trace.peak_live_bytes, live_bytes);
      continue;
    }
    // free
    const auto found = live.find(pointer);
    if (found == live.end()) {
      if (const auto zero = state.zero_size_live.find(pointer);
          zero != state.zero_size_live.end()) {
        if (--zero->second == 0) state.zero_size_live.erase(zero);
      } else {
        ++trace.unknown_frees;
      }
      continue;
    }
    trace.events.push_back({time_ns, thread_index, TraceEvent::Kind::free, found->second.buffer_id,
                            found->second.size_bytes});
    live_bytes -= found->second.size_bytes;
    live.erase(found);
  }
  if (!columns) {
    throw TraceError(source_name + ":" + std::to_string(line_number) +
                     ": empty trace: no RMM log header (Thread,Time,Action,Pointer,Size,Stream)");
  }
  trace.thread_count = static_cast<std::uint32_t>(thread_indices.size());
  for (const auto& [device, state] : devices) trace.live_at_end += state.live.size();
  return trace;
}

Trace read_trace(const std::filesystem::path& path) {
  std::ifstream input(path);
  if (!input) {
    throw TraceError(path.string() +
                     ": cannot open the trace; check the path and that the file is readable");
  }
  return parse_trace(input, path.string(), path.stem().string());
}

}  // namespace bufferpool
