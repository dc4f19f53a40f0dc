#include "backends/vulkan/segment_table.hpp"

#include <bufferpool/errors.hpp>

#include <mutex>
#include <string>

namespace bufferpool::vulkan_detail {

// Chunks are never freed: a table that outlives every backend has no moment
// at which none could be in use. They stay reachable through it, so leak
// checkers are quiet.
constinit SegmentTable SegmentTable::instance_;

std::uint32_t SegmentTable::make_slot() {
  if (slots_made_ == kMaxSegments) {
    throw OutOfMemoryError("bufferpool: vulkan: this process holds " +
                               std::to_string(kMaxSegments) +
                               " Vulkan segments at once, the most the backend tracks; "
                               "free segments, or make fewer, larger ones",
                           0, 0, 0);
  }
  const std::size_t chunk = slots_made_ / kSlotsPerChunk;
  if (chunks_[chunk].load(std::memory_order_relaxed) == nullptr) {
    chunks_[chunk].store(new Chunk, std::memory_order_release);  // NOLINT: owned by the table
  }
  return static_cast<std::uint32_t>(slots_made_++);
}

std::optional<SegmentTable::Reservation> SegmentTable::reserve(AllocationBudget& budget) {
  const std::lock_guard guard(lock_);
  const std::uint32_t live = budget.live.load(std::memory_order_relaxed);
  if (live >= budget.limit) return std::nullopt;
  std::uint32_t index = first_free_;
  if (index != kNoSlot) {
    first_free_ = slot(index).next_free;
  } else {
    index = make_slot();
  }
  Slot& taken = slot(index);
  std::uint32_t generation = (taken.last_generation + 1) & kGenerationMask;
  if (generation == 0) generation = 1;
  taken.last_generation = generation;
  // A plain store: live changes only under the lock.
  budget.live.store(live + 1, std::memory_order_relaxed);
  return Reservation{index, generation};
}

void SegmentTable::cancel(const Reservation& reservation, AllocationBudget& budget) noexcept {
  const std::lock_guard guard(lock_);
  give_back(reservation.index, budget);
}

std::optional<Segment> SegmentTable::erase(std::uint64_t handle, const VulkanBackend* owner,
                                           AllocationBudget& budget) noexcept {
  const auto decoded = decode(handle);
  if (!decoded) return std::nullopt;
  const std::lock_guard guard(lock_);
  Chunk* chunk = chunks_[decoded->index / kSlotsPerChunk].load(std::memory_order_relaxed);
  if (chunk == nullptr) return std::nullopt;
  Slot& found = chunk->slots[decoded->index % kSlotsPerChunk];
  // Acquire: the segment was written by publish(), which takes no lock.
  if (found.generation.load(std::memory_order_acquire) != decoded->generation ||
      found.segment.owner != owner) {
    return std::nullopt;
  }
  const Segment segment = found.segment;
  found.generation.store(0, std::memory_order_release);
  give_back(decoded->index, budget);
  return segment;
}

std::vector<Segment> SegmentTable::erase_all_of(const VulkanBackend* owner,
                                                AllocationBudget& budget) {
  std::vector<Segment> result;
  const std::lock_guard guard(lock_);
  for (std::size_t index = 0; index < slots_made_; ++index) {
    Slot& found = slot(static_cast<std::uint32_t>(index));
    if (found.generation.load(std::memory_order_acquire) == 0 || found.segment.owner != owner) {
      continue;
    }
    result.push_back(found.segment);
    found.generation.store(0, std::memory_order_release);
    give_back(static_cast<std::uint32_t>(index), budget);
  }
  return result;
}

}  // namespace bufferpool::vulkan_detail
