#include "pool/live_tracker.hpp"

#include <cxxabi.h>
#include <execinfo.h>

#include <cstdlib>
#include <memory>
#include <new>
#include <string_view>

namespace bufferpool::detail {
namespace {

constexpr int kMaxFrames = 24;

/// "binary(mangled+0x1f) [0x55...]" from backtrace_symbols, with the name
/// demangled where there is one.
std::string readable_frame(std::string_view symbol) {
  const auto open = symbol.find('(');
  const auto plus = symbol.find('+', open);
  if (open == std::string_view::npos || plus == std::string_view::npos || plus == open + 1) {
    return std::string(symbol);
  }
  const std::string mangled(symbol.substr(open + 1, plus - open - 1));
  int status = 0;
  const std::unique_ptr<char, decltype(&std::free)> demangled(
      abi::__cxa_demangle(mangled.c_str(), nullptr, nullptr, &status), &std::free);
  if (status != 0 || !demangled) return std::string(symbol);
  return std::string(demangled.get()) + " in " + std::string(symbol.substr(0, open));
}

bool is_pool_frame(std::string_view frame) {
  for (const std::string_view own :
       {"bufferpool::detail::", "bufferpool::BufferPool::get_buffer", "bufferpool::PoolObserver"}) {
    if (frame.starts_with(own)) return true;
  }
  return false;
}

}  // namespace

void LiveTracker::on_event(const PoolEvent& event) noexcept {
  try {
    if (event.kind == PoolEventKind::allocate) {
      Record record{event.time_ns, {}};
      if (record_call_stacks_) {
        record.frames.resize(kMaxFrames);
        const int depth = backtrace(record.frames.data(), kMaxFrames);
        record.frames.resize(static_cast<std::size_t>(depth > 0 ? depth : 0));
      }
      const std::lock_guard lock(mutex_);
      live_.insert_or_assign(event.address, std::move(record));
    } else if (event.kind == PoolEventKind::free) {
      const std::lock_guard lock(mutex_);
      live_.erase(event.address);
    }
  } catch (const std::bad_alloc&) {
    // Out of host memory for the record: that buffer is listed without its
    // age. Nothing else is lost, and a release path must not throw.
  }
}

std::optional<LiveTracker::Record> LiveTracker::find(std::uint64_t address) const {
  const std::lock_guard lock(mutex_);
  const auto found = live_.find(address);
  if (found == live_.end()) return std::nullopt;
  return found->second;
}

std::vector<std::string> LiveTracker::symbolise(const std::vector<void*>& frames) {
  std::vector<std::string> readable;
  if (frames.empty()) return readable;
  const std::unique_ptr<char*, decltype(&std::free)> symbols(
      backtrace_symbols(frames.data(), static_cast<int>(frames.size())), &std::free);
  if (!symbols) return readable;
  bool in_pool = true;  // the innermost frames are the pool's own
  for (std::size_t index = 0; index < frames.size(); ++index) {
    std::string frame = readable_frame(symbols.get()[index]);
    // Without the program's symbols (link with -rdynamic) frames have no
    // names, and the pool's own cannot be told apart: then all are kept.
    if (in_pool && is_pool_frame(frame)) continue;
    in_pool = false;
    readable.push_back(std::move(frame));
  }
  return readable;
}

}  // namespace bufferpool::detail
