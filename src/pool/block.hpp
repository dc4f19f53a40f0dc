// Block, the pool's record of one range of a segment (a buffer, or free
// space), and BlockList, an intrusive list of blocks: no allocation to push or
// pop, so the hit path allocates nothing.
#pragma once

#include <bufferpool/backend.hpp>
#include <bufferpool/pool.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace bufferpool::detail {

struct Segment;

/// One range of a segment, 64 bytes, one cache line. A block is in one of
/// four states: in use (held by handles), idle (in a ready cache), pending
/// (released while device work still uses it), or free (segment space not
/// carved into a buffer). Its fields mean different things in each state, so
/// that every state fits one line.
struct alignas(64) Block {
  /// Offsets and capacities are kept in units of this many bytes; buffers are
  /// carved at multiples of it, so nothing is lost.
  static constexpr unsigned kUnitShift = 6;
  static constexpr std::size_t kUnitBytes = std::size_t{1} << kUnitShift;
  /// 31 bits of units for offsets: segments and buffers up to 128 GiB - 64 B.
  static constexpr std::size_t kMaxSizeBytes = ((std::size_t{1} << 31) - 1) << kUnitShift;
  static constexpr unsigned kClassShift = 48;
  static constexpr std::uint64_t kSizeMask = (std::uint64_t{1} << kClassShift) - 1;
  /// 12 bits of class index: PoolConfig allows 1024 classes, plus the
  /// oversize one.
  static constexpr std::uint64_t kClassMask = 0xFFF;
  static constexpr unsigned kReleasedShift = 60;
  /// The bit of `extent` that marks free segment space.
  static constexpr std::uint64_t kFreeBit = std::uint64_t{1} << 31;

  Segment* segment = nullptr;
  /// Low 31 bits: offset in the segment; bit 31: free; high 32 bits:
  /// capacity; offset and capacity in units. Written only under the pool's
  /// segment lock (where the segment heap reads it for a neighbour's state),
  /// and for a carved block only before it is handed out.
  std::uint64_t extent = kFreeBit;
  /// Bits 60-61: how a released block shows while it is in no list (see
  /// Released). Bits 48-59: size class index. Low 48 bits: in use, the bytes
  /// asked for; idle, the eviction rank (the shard's release count under
  /// EvictionPolicy::oldest_first, the pool's inflation under size_aware).
  /// Written only under a lock that every inspection holds: the lock of the
  /// list the block leaves or joins.
  std::uint64_t size_and_class = 0;
  /// In use or pending: the device timeline value of the last work that used
  /// it (0: none). Idle: its release time in clock nanoseconds.
  std::atomic<std::uint64_t> stamp{0};
  /// Neighbours in the segment, by address, whatever their state.
  Block* lower = nullptr;
  Block* upper = nullptr;
  union {
    /// In use: low 32 bits references (handles + explicit increments), high
    /// 32 bits the explicit increments among them. Accessed through refs().
    std::uint64_t reference_word;
    /// Idle, pending or free: the previous block of its list.
    Block* prev;
  };
  Block* next = nullptr;

  Block() noexcept : prev(nullptr) {}

  [[nodiscard]] std::atomic_ref<std::uint64_t> refs() noexcept {
    return std::atomic_ref<std::uint64_t>(reference_word);
  }

  /// Drops one reference; true when it was the last. A count of exactly one
  /// reference and no increments means the caller is the only holder: nobody
  /// else can add a reference, so the atomic read-modify-write is skipped.
  [[nodiscard]] bool drop_one_reference() noexcept {
    return refs().load(std::memory_order_acquire) == 1 ||
           refs().fetch_sub(1, std::memory_order_acq_rel) == 1;
  }

  [[nodiscard]] std::size_t offset_bytes() const noexcept {
    return static_cast<std::size_t>(extent & (kFreeBit - 1)) << kUnitShift;
  }
  [[nodiscard]] std::size_t capacity_bytes() const noexcept {
    return static_cast<std::size_t>(extent >> 32) << kUnitShift;
  }
  [[nodiscard]] std::size_t end_bytes() const noexcept { return offset_bytes() + capacity_bytes(); }
  /// Keeps the free bit.
  void set_extent(std::size_t offset_bytes, std::size_t capacity_bytes) noexcept {
    extent = (std::uint64_t{capacity_bytes >> kUnitShift} << 32) | (extent & kFreeBit) |
             (offset_bytes >> kUnitShift);
  }
  [[nodiscard]] bool is_free() const noexcept { return (extent & kFreeBit) != 0; }
  void mark_free() noexcept { extent |= kFreeBit; }
  void mark_carved() noexcept { extent &= ~kFreeBit; }

  /// A released block passes through no list on some ways back to free space
  /// or to the idle cache (evicted, freed at once, reclaimed, its stream
  /// closed). Meanwhile an inspection shows it as what it was: idle, its
  /// size field holding a rank; or released, its request size kept.
  enum class Released : std::uint64_t { no = 0, from_idle = 1, from_use = 2 };

  [[nodiscard]] std::size_t size_bytes() const noexcept { return size_and_class & kSizeMask; }
  [[nodiscard]] unsigned class_index() const noexcept {
    return static_cast<unsigned>((size_and_class >> kClassShift) & kClassMask);
  }
  [[nodiscard]] Released released() const noexcept {
    return static_cast<Released>((size_and_class >> kReleasedShift) & 3);
  }
  void mark_released(Released how) noexcept {
    size_and_class = (size_and_class & ~(std::uint64_t{3} << kReleasedShift)) |
                     (static_cast<std::uint64_t>(how) << kReleasedShift);
  }
  /// Readies a block taken for a request: its size, and the one reference of
  /// the handle to come. Called under the lock that took the block from its
  /// list or from free space, so that an inspection, which holds every lock,
  /// never sees it live with the size or the list link of its last use.
  void start_use(std::size_t size_bytes, unsigned class_index) noexcept {
    size_and_class = (std::uint64_t{class_index} << kClassShift) | size_bytes;
    refs().store(1, std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t eviction_rank() const noexcept { return size_and_class & kSizeMask; }
  void set_eviction_rank(std::uint64_t rank) noexcept {
    size_and_class = (size_and_class & ~kSizeMask) | (rank & kSizeMask);
  }
};
static_assert(sizeof(Block) == 64, "a Block is one cache line of bookkeeping");
static_assert(sizeof(Block) == BufferPool::kRecordBytesPerBuffer,
              "BufferPool::kRecordBytesPerBuffer tells users what a Block costs");

/// Blocks in insertion order: the back is the newest.
class BlockList {
 public:
  [[nodiscard]] bool empty() const noexcept { return head_ == nullptr; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] Block* front() const noexcept { return head_; }
  [[nodiscard]] Block* back() const noexcept { return tail_; }

  void push_back(Block* block) noexcept {
    block->prev = tail_;
    block->next = nullptr;
    if (tail_ != nullptr) {
      tail_->next = block;
    } else {
      head_ = block;
    }
    tail_ = block;
    ++size_;
  }

  void remove(Block* block) noexcept {
    (block->prev != nullptr ? block->prev->next : head_) = block->next;
    (block->next != nullptr ? block->next->prev : tail_) = block->prev;
    block->prev = block->next = nullptr;
    --size_;
  }

  Block* pop_front() noexcept {
    Block* block = head_;
    if (block != nullptr) remove(block);
    return block;
  }

 private:
  Block* head_ = nullptr;
  Block* tail_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace bufferpool::detail
