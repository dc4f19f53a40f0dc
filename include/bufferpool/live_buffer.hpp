// LiveBuffer: a buffer still referenced, as BufferPool::live_buffers() lists
// it, to find what holds memory (a leak, or an out-of-memory).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace bufferpool {

struct LiveBuffer {
  /// The buffer's address (see PoolEvent).
  std::uint64_t address = 0;
  /// Bytes its request asked for.
  std::size_t size_bytes = 0;
  std::size_t capacity_bytes = 0;
  /// Index into PoolConfig::size_classes (size_classes.size() above the
  /// largest class).
  std::uint16_t class_index = 0;
  std::uint32_t ref_count = 0;
  /// How long ago it was handed out, in the pool's Clock; known only when
  /// PoolConfig::track_live_buffers is on.
  std::optional<std::chrono::nanoseconds> age;
  /// Where it was requested, innermost frame first, one symbolised frame per
  /// entry; only when PoolConfig::record_call_stacks is on.
  std::vector<std::string> allocation_site;
};

}  // namespace bufferpool
