// Block, the pool's record of one buffer, and IdleList, an intrusive list of
// blocks: no allocation to push or pop, so the hit path allocates nothing.
#pragma once

#include <bufferpool/backend.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace bufferpool::detail {

/// One buffer the pool holds from its backend: 64 bytes, one cache line.
struct alignas(64) Block {
  static constexpr unsigned kClassShift = 48;
  static constexpr std::uint64_t kSizeMask = (std::uint64_t{1} << kClassShift) - 1;
  /// Requests are limited to 2^48 - 1 bytes (256 TiB) so that the class index
  /// fits beside the size.
  static constexpr std::size_t kMaxSizeBytes = kSizeMask;

  Allocation allocation;
  /// Low 32 bits: references (handles + explicit increments).
  /// High 32 bits: explicit increments outstanding.
  std::atomic<std::uint64_t> refs{0};
  /// In use or pending: the device timeline value of the last work that used
  /// it (0: none). Idle: its release time in clock nanoseconds.
  std::atomic<std::uint64_t> stamp{0};
  /// High 16 bits: size class index. Low 48 bits: in use, the bytes asked for;
  /// idle, the eviction rank: the shard's release count under
  /// EvictionPolicy::oldest_first (which orders releases within a clock
  /// tick), the pool's inflation at release under size_aware.
  std::uint64_t size_and_class = 0;
  Block* prev = nullptr;
  Block* next = nullptr;

  [[nodiscard]] std::size_t size_bytes() const noexcept { return size_and_class & kSizeMask; }
  [[nodiscard]] unsigned class_index() const noexcept {
    return static_cast<unsigned>(size_and_class >> kClassShift);
  }
  [[nodiscard]] std::size_t capacity_bytes() const noexcept { return allocation.size_bytes; }
  void set_size(std::size_t size_bytes, unsigned class_index) noexcept {
    size_and_class = (std::uint64_t{class_index} << kClassShift) | size_bytes;
  }
  [[nodiscard]] std::uint64_t eviction_rank() const noexcept { return size_and_class & kSizeMask; }
  void set_eviction_rank(std::uint64_t rank) noexcept {
    size_and_class = (size_and_class & ~kSizeMask) | (rank & kSizeMask);
  }
};
static_assert(sizeof(Block) == 64, "a Block is one cache line of bookkeeping");

/// Blocks in release order: the back is the newest.
class IdleList {
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

  Block* pop_back() noexcept {
    Block* block = tail_;
    if (block != nullptr) remove(block);
    return block;
  }

  Block* pop_front() noexcept {
    Block* block = head_;
    if (block != nullptr) remove(block);
    return block;
  }

  /// Moves every block of `other` to the back of this list.
  void splice_back(IdleList& other) noexcept {
    while (Block* block = other.pop_front()) push_back(block);
  }

 private:
  Block* head_ = nullptr;
  Block* tail_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace bufferpool::detail
