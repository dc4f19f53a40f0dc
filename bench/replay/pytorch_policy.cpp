// Followed: c10/cuda/CUDACachingAllocator.cpp of PyTorch, both the 2019 form
// (THCCachingAllocator::malloc/free, e.g. colesbury/pytorch) and the current
// one (DeviceCachingAllocator: get_free_block, alloc_block, should_split,
// free_block, try_merge_blocks, get_allocation_size, round_size; e.g.
// ROCm/pytorch), whose rules for one stream and default settings agree:
//
//   size = round_size(size)                        // >= 512, multiple of 512
//   pool = size <= kSmallSize ? small : large
//   block = pool.lower_bound({size})               // best fit, by (size, ptr)
//   if none: cudaMalloc(get_allocation_size(size)) // 2 MiB, 20 MiB or rounded
//   if should_split(block, size): the front is handed out, the rest goes back
//   free: merge with free prev/next of the same segment, back into the pool
#include "replay/pytorch_policy.hpp"

#include <algorithm>
#include <stdexcept>

namespace bufferpool::bench {

PytorchCachingPolicy::PytorchCachingPolicy()
    : blocks_(1),  // blocks_[kSearchKey]
      small_free_(BySizeThenAddress{&blocks_}),
      large_free_(BySizeThenAddress{&blocks_}) {}

std::size_t PytorchCachingPolicy::round_size(std::size_t size_bytes) {
  if (size_bytes < kMinBlockSize) return kMinBlockSize;
  return (size_bytes + kMinBlockSize - 1) / kMinBlockSize * kMinBlockSize;
}

std::size_t PytorchCachingPolicy::segment_size_for(std::size_t rounded_bytes) {
  if (rounded_bytes <= kSmallSize) return kSmallBuffer;
  if (rounded_bytes < kMinLargeAlloc) return kLargeBuffer;
  return (rounded_bytes + kRoundLarge - 1) / kRoundLarge * kRoundLarge;
}

bool PytorchCachingPolicy::should_split(const Block& block, std::size_t rounded_bytes) {
  const std::size_t remaining = block.size_bytes - rounded_bytes;
  return block.small_pool ? remaining >= kMinBlockSize : remaining > kSmallSize;
}

PytorchCachingPolicy::BlockId PytorchCachingPolicy::new_block(const Block& block) {
  if (!unused_ids_.empty()) {
    const BlockId id = unused_ids_.back();
    unused_ids_.pop_back();
    blocks_[id] = block;
    return id;
  }
  blocks_.push_back(block);
  return static_cast<BlockId>(blocks_.size() - 1);
}

void PytorchCachingPolicy::delete_block(BlockId block) {
  blocks_[block] = Block{};
  unused_ids_.push_back(block);
}

PytorchCachingPolicy::BlockId PytorchCachingPolicy::allocate(std::size_t size_bytes) {
  if (size_bytes == 0) throw std::invalid_argument("PytorchCachingPolicy: a 0-byte request");
  ++stats_.requests;
  const std::size_t rounded = round_size(size_bytes);
  const bool small_pool = rounded <= kSmallSize;
  FreeSet& pool = small_pool ? small_free_ : large_free_;

  // get_free_block(): the search key is a block of the rounded size at
  // address 0, so lower_bound finds the smallest fitting block, lowest first.
  blocks_[kSearchKey].size_bytes = rounded;
  const auto fit = pool.lower_bound(kSearchKey);
  BlockId block = kNone;
  if (fit != pool.end()) {
    block = *fit;
    pool.erase(fit);
    ++stats_.requests_from_cache;
  } else {
    // alloc_block(): one cudaMalloc of the segment size.
    const std::size_t segment_bytes = segment_size_for(rounded);
    block = new_block(Block{segment_bytes, next_address_, kNone, kNone, false, small_pool});
    next_address_ += segment_bytes;
    ++stats_.segment_allocations;
    stats_.held_bytes += segment_bytes;
    stats_.peak_held_bytes = std::max(stats_.peak_held_bytes, stats_.held_bytes);
  }

  if (should_split(blocks_[block], rounded)) {
    // The front part is handed out; the remainder, after it in the segment,
    // goes back to the pool.
    const Block remainder{blocks_[block].size_bytes - rounded,
                          blocks_[block].address + rounded,
                          block,
                          blocks_[block].next,
                          false,
                          small_pool};
    const BlockId remaining = new_block(remainder);  // may move blocks_
    if (remainder.next != kNone) blocks_[remainder.next].prev = remaining;
    blocks_[block].next = remaining;
    blocks_[block].size_bytes = rounded;
    pool.insert(remaining);
  }
  blocks_[block].allocated = true;
  stats_.allocated_bytes += blocks_[block].size_bytes;
  stats_.peak_allocated_bytes = std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
  return block;
}

void PytorchCachingPolicy::try_merge(BlockId target, BlockId source) {
  if (source == kNone || blocks_[source].allocated) return;
  FreeSet& pool = pool_of(blocks_[source]);
  pool.erase(source);
  Block& into = blocks_[target];
  const Block& from = blocks_[source];
  if (into.prev == source) {
    into.address = from.address;
    into.prev = from.prev;
    if (into.prev != kNone) blocks_[into.prev].next = target;
  } else {
    into.next = from.next;
    if (into.next != kNone) blocks_[into.next].prev = target;
  }
  into.size_bytes += from.size_bytes;
  delete_block(source);
}

void PytorchCachingPolicy::free(BlockId block) {
  if (block >= blocks_.size() || !blocks_[block].allocated) {
    throw std::invalid_argument("PytorchCachingPolicy: free of a block not allocated");
  }
  Block& freed = blocks_[block];
  freed.allocated = false;
  stats_.allocated_bytes -= freed.size_bytes;
  // free_block(): merge with the neighbours, then back into the pool.
  try_merge(block, blocks_[block].prev);
  try_merge(block, blocks_[block].next);
  pool_of(blocks_[block]).insert(block);
}

}  // namespace bufferpool::bench
