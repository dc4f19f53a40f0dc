// SegmentRecords: one VulkanBackend's records of its live segments (one
// VkBuffer + VkDeviceMemory that a pool carves buffers out of), found by the
// handle a BufferRef carries.
//
// Each backend owns its records; nothing here is shared between backends or
// global. A handle is the address of the segment's record, so handles of two
// backends never collide, and a lookup tells a handle of its own from any
// other value (another backend's handle, a host pointer, a small integer)
// without reading through it: it checks that the address lies inside its own
// record chunks before it reads the record. That lookup takes no lock and
// allocates nothing, as it runs on every binding of every dispatch.
//
// Records live in chunks that never move (the first holds 64, each next one
// twice as many as the one before), so a record's address is stable for the
// backend's life and a lookup walks a few chunks at most. Taking and giving
// back a record (a segment allocated or freed, which the pool does rarely)
// take a mutex, and allocate nothing once the chunks hold as many records as
// the backend has had live segments at once.
#pragma once

#include <vulkan/vulkan.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace bufferpool::vulkan_detail {

/// What the backend keeps for one segment.
struct Segment {
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  std::byte* mapped = nullptr;  ///< null where the memory is not host-visible
  VkDeviceSize size_bytes = 0;  ///< the VkBuffer's size
};

class SegmentRecords {
  struct Record;

 public:
  SegmentRecords() = default;
  SegmentRecords(const SegmentRecords&) = delete;
  SegmentRecords& operator=(const SegmentRecords&) = delete;
  SegmentRecords(SegmentRecords&&) = delete;
  SegmentRecords& operator=(SegmentRecords&&) = delete;
  /// Frees the chunks; the owner destroys the segments still recorded first
  /// (erase_all()).
  ~SegmentRecords() = default;

  /// A record taken for a segment being made, not yet found by its handle.
  struct Reservation {
    Record* record = nullptr;
    std::uint64_t handle = 0;
  };

  /// Takes a free record, before the driver is asked for the segment, so
  /// that publishing it cannot fail. Throws std::bad_alloc when a new chunk
  /// cannot be had, OutOfMemoryError when every chunk is full (more live
  /// segments than any device allows).
  [[nodiscard]] Reservation reserve();

  /// Makes a reserved record live with `segment`; its handle is
  /// `reservation.handle`: never 0, and never equal to a host pointer
  /// aligned to 64 bytes. Takes no lock.
  void publish(const Reservation& reservation, const Segment& segment) noexcept;

  /// Gives back a reserved record, when making the segment failed.
  void cancel(const Reservation& reservation) noexcept;

  /// The segment of a live handle of these records, or null for any other
  /// value (another backend's handle, a host pointer, 0, a freed handle).
  /// Lock-free, allocation-free: a walk of the chunks (one for a backend with
  /// up to 64 live segments, seven for 8,000). Safe from any thread while
  /// the segment is live, which holding a BufferRef of it guarantees.
  [[nodiscard]] const Segment* find(std::uint64_t handle) const noexcept;

  /// Forgets a live handle and returns its segment; nullopt for any other
  /// value, so that a handle freed twice, or not these records', frees
  /// nothing.
  std::optional<Segment> erase(std::uint64_t handle) noexcept;

  /// Forgets every live segment and returns them: a scan, for a backend
  /// destroyed while a pool still held its segments (a bug).
  [[nodiscard]] std::vector<Segment> erase_all();

  /// The records the first chunk holds; chunk k holds kFirstChunkRecords << k.
  static constexpr std::size_t kFirstChunkRecords = 64;
  /// Enough chunks for more live segments than a uint32_t
  /// maxMemoryAllocationCount allows.
  static constexpr std::size_t kMaxChunks = 27;

 private:
  /// One segment's record, one cache line. Its address is the handle, and
  /// the 64-byte alignment leaves the handle's low six bits free for the
  /// record's generation, so that a freed handle is told from the next
  /// segment recorded in the same place (unless 63 came in between).
  struct alignas(64) Record {
    Segment segment;
    /// The live handle's generation, 1 to 63; 0 while free or reserved.
    /// Stored with release after `segment` is written, so that find() sees
    /// a whole record.
    std::atomic<std::uint32_t> generation{0};
    /// The generation last handed out, under the mutex.
    std::uint32_t last_generation = 0;
    /// The next free record while this one is free, under the mutex: the
    /// free list lives in the records, so that giving one back can neither
    /// allocate nor fail.
    Record* next_free = nullptr;
  };
  static_assert(sizeof(Record) == 64, "a record is one cache line");
  static constexpr std::uint64_t kGenerationMask = alignof(Record) - 1;

  /// The record `handle` names in these chunks, or null; reads no record.
  [[nodiscard]] Record* record_of(std::uint64_t handle) const noexcept;
  [[nodiscard]] static constexpr std::size_t records_in_chunk(std::size_t chunk) noexcept {
    return kFirstChunkRecords << chunk;
  }
  /// Under the mutex: returns a record to the free list.
  void push_free(Record& record) noexcept {
    record.next_free = first_free_;
    first_free_ = &record;
  }

  std::mutex mutex_;
  /// Chunk k is written once, under the mutex, before chunk_count_ passes k
  /// (a release store), and read by find() only below chunk_count_.
  std::array<std::unique_ptr<Record[]>, kMaxChunks> chunks_;
  std::atomic<std::size_t> chunk_count_{0};
  Record* first_free_ = nullptr;  // under mutex_
};

}  // namespace bufferpool::vulkan_detail
