// SegmentHeap: large backend allocations (segments) carved into buffers. Free
// space is kept as blocks in size bins (four per power of two, a bitmap of the
// non-empty ones); a request takes the best fit of the first bins that can
// hold it, the rest of the block stays free, and a block given back merges
// with free neighbours. Small and large requests draw on separate segments,
// as in PyTorch's caching allocator, so that small buffers do not pin large
// segments.
//
// Not thread-safe: the pool calls it under its heap lock.
#pragma once

#include "pool/block.hpp"
#include "pool/block_arena.hpp"

#include <bufferpool/backend.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace bufferpool::detail {

/// Which segments a request draws on.
enum class SegmentKind : std::uint8_t { small = 0, large = 1 };
inline constexpr std::size_t kSegmentKinds = 2;

/// One backend allocation and what the heap knows of it.
struct Segment {
  Allocation allocation;
  SegmentKind kind = SegmentKind::small;
  /// Bytes in free blocks.
  std::size_t free_bytes = 0;
  /// The latest time a block of it was last used (released, for a block that
  /// was idle): once the segment is empty, how long it has been unused.
  std::uint64_t unused_since_ns = 0;
  /// The pool's address of its first byte (see PoolEvent), set by the pool.
  std::uint64_t address = 0;
  /// The block at offset 0: merges keep the lower block's record, so it is
  /// the same record for the segment's life, and every block is reachable
  /// from it through Block::upper.
  Block* first_block = nullptr;
  /// Place in the heap's list of all segments, or of empty ones (oldest first).
  Segment* prev = nullptr;
  Segment* next = nullptr;

  [[nodiscard]] std::size_t size_bytes() const noexcept { return allocation.size_bytes; }
  [[nodiscard]] bool empty() const noexcept { return free_bytes == allocation.size_bytes; }
};

/// An intrusive list of segments.
class SegmentList {
 public:
  [[nodiscard]] Segment* front() const noexcept { return head_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  void push_back(Segment* segment) noexcept;
  void insert_before(Segment* position, Segment* segment) noexcept;
  void remove(Segment* segment) noexcept;

 private:
  Segment* head_ = nullptr;
  Segment* tail_ = nullptr;
  std::size_t size_ = 0;
};

/// What the heap holds, for metrics and out-of-memory messages.
struct SegmentHeapStats {
  std::size_t segments = 0;
  std::size_t segment_bytes = 0;
  std::size_t empty_segments = 0;
  /// Bytes in free blocks, empty segments included.
  std::size_t free_bytes = 0;
  std::size_t largest_free_block_bytes = 0;
};

class SegmentHeap {
 public:
  explicit SegmentHeap(BlockArena& blocks) noexcept : blocks_(blocks) {}
  ~SegmentHeap();
  SegmentHeap(const SegmentHeap&) = delete;
  SegmentHeap& operator=(const SegmentHeap&) = delete;
  SegmentHeap(SegmentHeap&&) = delete;
  SegmentHeap& operator=(SegmentHeap&&) = delete;

  /// A block of exactly capacity_bytes (a multiple of Block::kUnitBytes) from
  /// free space of the given kind, or nullptr when no free block is large
  /// enough. Throws std::bad_alloc, changing nothing, when the split needs a
  /// Block record and none can be had.
  [[nodiscard]] Block* carve(SegmentKind kind, std::size_t capacity_bytes);

  /// Takes a new segment and carves capacity_bytes from its start. Throws
  /// std::bad_alloc, taking nothing, when records cannot be had.
  [[nodiscard]] Block* add_segment_and_carve(const Allocation& allocation, SegmentKind kind,
                                             std::size_t capacity_bytes);

  /// Returns a carved block to free space, merged with free neighbours.
  /// `unused_since_ns`: when it was last used. Returns its segment if that is
  /// now empty.
  Segment* give_back(Block* block, std::uint64_t unused_since_ns) noexcept;

  /// The empty segment unused longest, or nullptr.
  [[nodiscard]] Segment* oldest_empty() const noexcept { return empty_.front(); }
  /// Removes an empty segment; returns its allocation for the backend to free.
  [[nodiscard]] Allocation remove_empty(Segment* segment) noexcept;

  [[nodiscard]] SegmentHeapStats stats() const noexcept;
  [[nodiscard]] std::size_t segment_count() const noexcept {
    return segments_.size() + empty_.size();
  }
  [[nodiscard]] std::size_t free_bytes() const noexcept { return free_bytes_; }

  /// Calls visit(const Segment&) for every segment, in use then empty.
  template <typename Visitor>
  void for_each_segment(Visitor&& visit) const {
    for (const SegmentList* list : {&segments_, &empty_}) {
      for (const Segment* segment = list->front(); segment != nullptr; segment = segment->next) {
        visit(*segment);
      }
    }
  }

  /// Walks every segment and returns a description of the first broken
  /// invariant, or "" when all hold: blocks tile each segment exactly, in
  /// address order, with no two free neighbours; free bytes, bins and lists
  /// agree. For tests and the reference model; it costs a walk of every block.
  [[nodiscard]] std::string check_invariants() const;

 private:
  /// Four bins per power of two of units, from 1 unit up to 2^32 units.
  static constexpr unsigned kBinCount = 127;
  static unsigned bin_of(std::size_t capacity_bytes) noexcept;

  struct Bins {
    std::array<BlockList, kBinCount> lists;
    std::array<std::uint64_t, 2> non_empty{};
  };

  void insert_free(Block* block) noexcept;
  void remove_free(Block* block) noexcept;
  [[nodiscard]] Block* find_fit(SegmentKind kind, std::size_t capacity_bytes) const noexcept;
  /// Cuts capacity_bytes off the start of a free block already out of its bin.
  Block* split(Block* block, std::size_t capacity_bytes, Block* remainder) noexcept;
  void note_taken(Segment& segment, std::size_t bytes) noexcept;

  BlockArena& blocks_;
  std::array<Bins, kSegmentKinds> bins_;
  SegmentList segments_;  // segments with something carved out of them
  SegmentList empty_;     // empty segments, in the order they became unused
  std::size_t empty_bytes_ = 0;
  std::size_t free_bytes_ = 0;
};

}  // namespace bufferpool::detail
