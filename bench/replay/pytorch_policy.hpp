// A simulation of the block policy of PyTorch's CUDA caching allocator
// (c10/cuda/CUDACachingAllocator.cpp, DeviceCachingAllocator::malloc and
// free), to replay traces against: the same rounding, pools, segment sizes,
// best fit, split and coalesce rules, on one stream, with no memory limit
// (so it never frees a segment: PyTorch returns segments only when a
// cudaMalloc fails, or on empty_cache()). Addresses are simulated; no memory
// is touched.
//
// What it leaves out, being default-off or beside the point of a replay on
// one stream: max_split_size_mb and the oversize-block rules it enables,
// expandable segments, garbage_collection_threshold, roundup_power2_divisions,
// per-stream pools and the events that hold a block past its free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <set>
#include <vector>

namespace bufferpool::bench {

class PytorchCachingPolicy {
 public:
  // The allocator's constants (CUDACachingAllocator.cpp, namespace-level).
  static constexpr std::size_t kMinBlockSize = 512;        ///< sizes round up to a multiple
  static constexpr std::size_t kSmallSize = 1 << 20;       ///< largest "small" request
  static constexpr std::size_t kSmallBuffer = 2 << 20;     ///< small pool's segments
  static constexpr std::size_t kLargeBuffer = 20 << 20;    ///< large pool's segments
  static constexpr std::size_t kMinLargeAlloc = 10 << 20;  ///< below this, kLargeBuffer
  static constexpr std::size_t kRoundLarge = 2 << 20;      ///< larger: own segment, rounded

  using BlockId = std::uint32_t;

  struct Stats {
    std::uint64_t requests = 0;
    /// Requests served by a free block, with no new segment (no cudaMalloc).
    std::uint64_t requests_from_cache = 0;
    /// cudaMalloc calls: one per segment.
    std::uint64_t segment_allocations = 0;
    /// Bytes of all segments ("reserved" in torch.cuda.memory_stats()).
    std::size_t held_bytes = 0;
    std::size_t peak_held_bytes = 0;
    /// Bytes of blocks handed out, after rounding ("allocated").
    std::size_t allocated_bytes = 0;
    std::size_t peak_allocated_bytes = 0;
  };

  PytorchCachingPolicy();
  // The free sets' comparator points at blocks_: no copies.
  PytorchCachingPolicy(const PytorchCachingPolicy&) = delete;
  PytorchCachingPolicy& operator=(const PytorchCachingPolicy&) = delete;
  PytorchCachingPolicy(PytorchCachingPolicy&&) = delete;
  PytorchCachingPolicy& operator=(PytorchCachingPolicy&&) = delete;
  ~PytorchCachingPolicy() = default;

  /// round_size(): at least kMinBlockSize, a multiple of it.
  [[nodiscard]] static std::size_t round_size(std::size_t size_bytes);
  /// get_allocation_size(): the segment a rounded request gets when no free
  /// block fits.
  [[nodiscard]] static std::size_t segment_size_for(std::size_t rounded_bytes);

  /// malloc(): a block of at least size_bytes (> 0). Valid until free().
  [[nodiscard]] BlockId allocate(std::size_t size_bytes);
  /// free(): the block goes back to its pool, merged with free neighbours.
  void free(BlockId block);

  [[nodiscard]] const Stats& stats() const noexcept { return stats_; }
  /// The block's size (rounded, or more where the remainder was not split).
  [[nodiscard]] std::size_t block_size(BlockId block) const { return blocks_[block].size_bytes; }
  /// The block's simulated device address.
  [[nodiscard]] std::uint64_t block_address(BlockId block) const { return blocks_[block].address; }
  /// Free blocks in the small and large pools.
  [[nodiscard]] std::size_t free_blocks() const { return small_free_.size() + large_free_.size(); }

 private:
  struct Block {
    std::size_t size_bytes = 0;
    std::uint64_t address = 0;
    BlockId prev = kNone;  ///< neighbours in the same segment, split from it
    BlockId next = kNone;
    bool allocated = false;
    bool small_pool = false;
  };
  static constexpr BlockId kNone = ~BlockId{0};
  /// blocks_[0] is no block: the key that free sets are searched with.
  static constexpr BlockId kSearchKey = 0;

  /// BlockComparatorSize: by size, then address (best fit picks the
  /// smallest block that fits, the lowest address among equals).
  struct BySizeThenAddress {
    const std::vector<Block>* blocks;
    bool operator()(BlockId left, BlockId right) const {
      const Block& a = (*blocks)[left];
      const Block& b = (*blocks)[right];
      if (a.size_bytes != b.size_bytes) return a.size_bytes < b.size_bytes;
      return a.address < b.address;
    }
  };
  using FreeSet = std::set<BlockId, BySizeThenAddress>;

  BlockId new_block(const Block& block);
  void delete_block(BlockId block);
  FreeSet& pool_of(const Block& block) { return block.small_pool ? small_free_ : large_free_; }
  /// should_split(): small pool, a remainder of at least kMinBlockSize; large
  /// pool, a remainder above kSmallSize.
  [[nodiscard]] static bool should_split(const Block& block, std::size_t rounded_bytes);
  /// try_merge_blocks(): folds free neighbour `source` into `target`.
  void try_merge(BlockId target, BlockId source);

  std::vector<Block> blocks_;  // by BlockId; freed ids are reused
  std::vector<BlockId> unused_ids_;
  FreeSet small_free_;
  FreeSet large_free_;
  std::uint64_t next_address_ = std::uint64_t{1} << 32;
  Stats stats_;
};

}  // namespace bufferpool::bench
