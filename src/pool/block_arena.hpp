// Blocks come from slabs, so a pooled buffer costs exactly one 64-byte Block
// of bookkeeping and no allocator header. Only misses and frees come here.
#pragma once

#include "pool/idle_list.hpp"
#include "pool/spin_lock.hpp"

#include <algorithm>
#include <memory>
#include <mutex>
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
    Block* block = spare_.pop_back();
    block->allocation = {};
    block->refs.store(0, std::memory_order_relaxed);
    block->stamp.store(0, std::memory_order_relaxed);
    block->size_and_class = 0;
    return block;
  }

  /// Takes back a Block whose buffer has been freed.
  void recycle(Block* block) noexcept {
    const std::lock_guard lock(lock_);
    spare_.push_back(block);
  }

 private:
  // Slabs live as long as the pool: the metadata of a pool is bounded by the
  // most buffers it ever held at once.
  SpinLock lock_;
  std::vector<std::unique_ptr<Block[]>> slabs_;
  IdleList spare_;  // free Blocks, linked through their own list pointers
};

}  // namespace bufferpool::detail
