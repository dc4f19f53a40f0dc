// Blocks come from slabs, so a pooled buffer costs exactly one 64-byte Block
// of bookkeeping and no allocator header. Only misses, splits and frees come
// here.
#pragma once

#include "pool/block.hpp"
#include "pool/spin_lock.hpp"

#include <algorithm>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

namespace bufferpool::detail {

class BlockArena {
 public:
  /// A fresh Block. Throws std::bad_alloc when a new slab cannot be had.
  Block* make() {
    const std::lock_guard lock(lock_);
    if (spare_.empty()) {
      // Slabs double from 16 Blocks (1 KiB) to 1024 (64 KiB): a small pool
      // holds little metadata, a large one pays almost nothing per slab.
      const std::size_t count = std::size_t{16} << std::min<std::size_t>(slabs_.size(), 6);
      auto slab = std::make_unique<Block[]>(count);
      if (slabs_.size() == slabs_.capacity()) {
        slabs_.reserve(2 * slabs_.size() + 1);  // may throw before anything changes
      }
      for (std::size_t index = 0; index < count; ++index) spare_.push_back(&slab[index]);
      slabs_.push_back(std::move(slab));
    }
    Block* block = spare_.pop_front();
    block->segment = nullptr;
    block->extent = Block::kFreeBit;
    block->size_and_class = 0;
    block->stamp.store(0, std::memory_order_relaxed);
    block->lower = block->upper = nullptr;
    return block;
  }

  /// Takes back a Block that no list or segment refers to any more.
  void recycle(Block* block) noexcept {
    const std::lock_guard lock(lock_);
    spare_.push_back(block);
  }

 private:
  // Slabs live as long as the pool: the metadata of a pool is bounded by the
  // most blocks it ever had at once.
  SpinLock lock_;
  std::vector<std::unique_ptr<Block[]>> slabs_;
  BlockList spare_;  // free Blocks, linked through their own list pointers
};

}  // namespace bufferpool::detail
