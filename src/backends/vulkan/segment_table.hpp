// SegmentTable: the process-wide record of every live Vulkan segment (one
// VkBuffer + VkDeviceMemory that a pool carves buffers out of), found by the
// handle a BufferRef carries, and the count of each device's live
// allocations against its limit.
//
// Process-wide, not per backend, because bufferpool::vulkan_buffer_range()
// gets only a BufferRef, which does not say which backend made it. A lookup
// takes no lock and allocates nothing: it runs on every binding of every
// dispatch. Taking and giving back a slot (a segment allocated or freed, which
// the pool does rarely) take one uncontended spin lock, under which the
// device's allocation count changes too, and allocate nothing once the table
// has grown to the number of live segments: the bookkeeping of an allocation
// is one atomic exchange on the way in and one on the way out, next to the
// driver calls it makes.
#pragma once

#include <vulkan/vulkan.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <thread>
#include <vector>

namespace bufferpool::vulkan_detail {

class VulkanBackend;

/// What the backend keeps for one segment.
struct Segment {
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  std::byte* mapped = nullptr;  ///< null where the memory is not host-visible
  VkDeviceSize size_bytes = 0;  ///< the VkBuffer's size
  const VulkanBackend* owner = nullptr;
};

/// A device's live allocations and their limit (maxMemoryAllocationCount, or
/// lower). Shared by every backend on the device; `live` changes only under
/// the SegmentTable's lock, and may be read anywhere.
struct AllocationBudget {
  std::uint32_t limit = 0;
  std::atomic<std::uint32_t> live{0};
};

/// A test-and-test-and-set lock whose unlock is a plain store: one atomic
/// read-modify-write per lock, where a mutex costs two. Held for a few loads
/// and stores, and segments are allocated rarely, so it is almost never
/// contended.
class SegmentTableLock {
 public:
  void lock() noexcept {
    while (locked_.exchange(true, std::memory_order_acquire)) {
      while (locked_.load(std::memory_order_relaxed)) std::this_thread::yield();
    }
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

class SegmentTable {
 public:
  /// The table of this process: constant-initialized and trivially
  /// destructible, so that it exists before any backend and after the last
  /// (one in a static object included), and reaching it costs no guard.
  [[nodiscard]] static SegmentTable& instance() noexcept { return instance_; }

  /// A slot taken for a segment being made.
  struct Reservation {
    std::uint32_t index = 0;
    std::uint32_t generation = 0;
  };

  /// Takes a slot, and one allocation of `budget`, before the driver is
  /// asked for the segment: nullopt when the budget is spent. Throws
  /// OutOfMemoryError when kMaxSegments are live in the process.
  [[nodiscard]] std::optional<Reservation> reserve(AllocationBudget& budget);

  /// Makes a reserved slot live with `segment` and returns its handle: never
  /// 0, and never equal to a host pointer or a small integer, so that another
  /// backend's handle cannot be taken for one. Takes no lock.
  [[nodiscard]] std::uint64_t publish(const Reservation& reservation,
                                      const Segment& segment) noexcept {
    Slot& taken = slot(reservation.index);
    taken.segment = segment;
    taken.generation.store(reservation.generation, std::memory_order_release);
    return encode(reservation.index, reservation.generation);
  }

  /// Gives back a reserved slot and its allocation, when making the segment
  /// failed.
  void cancel(const Reservation& reservation, AllocationBudget& budget) noexcept;

  /// The segment of a live handle, or null for any other value (a handle of
  /// another kind of backend, 0). Lock-free; safe from any thread while the
  /// segment is live, which holding a BufferRef of it guarantees.
  [[nodiscard]] const Segment* find(std::uint64_t handle) const noexcept {
    const auto decoded = decode(handle);
    if (!decoded) return nullptr;
    const Chunk* chunk = chunks_[decoded->index / kSlotsPerChunk].load(std::memory_order_acquire);
    if (chunk == nullptr) return nullptr;
    const Slot& found = chunk->slots[decoded->index % kSlotsPerChunk];
    if (found.generation.load(std::memory_order_acquire) != decoded->generation) return nullptr;
    return &found.segment;
  }

  /// Forgets a live handle of `owner`, gives its allocation back to
  /// `budget`, and returns its segment; nullopt for any other handle.
  std::optional<Segment> erase(std::uint64_t handle, const VulkanBackend* owner,
                               AllocationBudget& budget) noexcept;

  /// Forgets every live segment of `owner` and returns them, their
  /// allocations given back to `budget`; a slow scan, for a backend
  /// destroyed while a pool still held its segments (a bug).
  [[nodiscard]] std::vector<Segment> erase_all_of(const VulkanBackend* owner,
                                                  AllocationBudget& budget);

  /// Most segments live at once in one process: far above any device's
  /// maxMemoryAllocationCount (4,096 on many GPUs).
  static constexpr std::size_t kSlotsPerChunk = 1024;
  static constexpr std::size_t kMaxChunks = 4096;
  static constexpr std::size_t kMaxSegments = kSlotsPerChunk * kMaxChunks;

 private:
  struct Slot {
    /// The live handle's generation; 0 while the slot is free or reserved.
    /// Stored with release after `segment` is written, so that find() sees a
    /// whole record.
    std::atomic<std::uint32_t> generation{0};
    /// The generation last handed out, written under the lock.
    std::uint32_t last_generation = 0;
    /// The next free slot while this one is free (kNoSlot: none), under the
    /// lock: the free list lives in the slots, so that giving a slot back
    /// can neither allocate nor fail.
    std::uint32_t next_free = 0;
    Segment segment;
  };
  static constexpr std::uint32_t kNoSlot = 0xFFFFFFFFU;
  struct Chunk {
    std::array<Slot, kSlotsPerChunk> slots;
  };

  // A handle is tag (8 bits) | generation (24 bits) | slot index (32 bits).
  // The tag keeps every other backend's handles out: host pointers have their
  // top 16 bits clear on every 64-bit platform we build for, and counters
  // start at 0.
  static constexpr std::uint64_t kTag = 0xB5;
  static constexpr int kTagShift = 56;
  static constexpr int kGenerationShift = 32;
  static constexpr std::uint32_t kGenerationMask = (1U << 24) - 1;

  struct Decoded {
    std::uint32_t index = 0;
    std::uint32_t generation = 0;
  };
  static constexpr std::uint64_t encode(std::uint32_t index, std::uint32_t generation) noexcept {
    return (kTag << kTagShift) | (std::uint64_t{generation} << kGenerationShift) | index;
  }
  static constexpr std::optional<Decoded> decode(std::uint64_t handle) noexcept {
    if ((handle >> kTagShift) != kTag) return std::nullopt;
    const auto generation =
        static_cast<std::uint32_t>(handle >> kGenerationShift) & kGenerationMask;
    const auto index = static_cast<std::uint32_t>(handle);
    if (generation == 0 || index >= kMaxSegments) return std::nullopt;
    return Decoded{index, generation};
  }

  constexpr SegmentTable() = default;
  static SegmentTable instance_;
  /// A slot made by reserve(), whose chunk therefore exists.
  [[nodiscard]] Slot& slot(std::uint32_t index) const noexcept {
    return chunks_[index / kSlotsPerChunk]
        .load(std::memory_order_acquire)
        ->slots[index % kSlotsPerChunk];
  }
  /// Under the lock: returns a slot to the free list and an allocation to
  /// its budget. (The count is a plain load and store: it changes only under
  /// the lock.)
  void give_back(std::uint32_t index, AllocationBudget& budget) noexcept {
    slot(index).next_free = first_free_;
    first_free_ = index;
    budget.live.store(budget.live.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  }
  /// Under the lock: a slot never used before, and its chunk if it is the
  /// first of one. Throws OutOfMemoryError when kMaxSegments are made.
  std::uint32_t make_slot();

  SegmentTableLock lock_;
  std::array<std::atomic<Chunk*>, kMaxChunks> chunks_{};
  std::uint32_t first_free_ = kNoSlot;  // under lock_
  std::size_t slots_made_ = 0;          // under lock_
};

}  // namespace bufferpool::vulkan_detail
