// MemorySnapshot: every segment a pool holds and every block carved from it,
// at one moment, for PyTorch's memory viewer and for debugging.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace bufferpool {

/// What a range of a segment is doing.
enum class BlockState : std::uint8_t {
  /// Held by handles.
  live,
  /// Released and in the ready cache, reusable at once; or evicted from it,
  /// and a moment from being free segment space.
  idle,
  /// Released while device work still uses it, reusable once the device
  /// timeline passes that work; or kept for an open stream
  /// (BufferPool::release_to_stream), reusable by others once it closes; or
  /// released by another thread, a moment from its list or free space.
  pending,
  /// Segment space carved into no buffer.
  free,
};

/// One range of a segment. Addresses are those of PoolEvent.
struct SnapshotBlock {
  std::uint64_t address = 0;
  /// The block's capacity.
  std::size_t size_bytes = 0;
  /// Live or pending: the bytes its request asked for (at most size_bytes);
  /// idle and free: 0 (the ready cache keeps no request size).
  std::size_t requested_bytes = 0;
  BlockState state = BlockState::free;
  /// Live, idle or pending: the size class (see PoolEvent::class_index).
  std::uint16_t class_index = 0;
};

/// One segment, its blocks in address order; they tile it exactly.
struct SnapshotSegment {
  std::uint64_t address = 0;
  std::size_t size_bytes = 0;
  /// A segment for requests above SegmentConfig::small_request_max_bytes.
  bool large = false;
  std::vector<SnapshotBlock> blocks;
};

struct MemorySnapshot {
  /// When it was taken, in the pool's Clock.
  std::chrono::nanoseconds time{0};
  /// In address order.
  std::vector<SnapshotSegment> segments;
};

}  // namespace bufferpool
