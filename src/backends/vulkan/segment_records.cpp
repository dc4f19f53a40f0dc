#include "backends/vulkan/segment_records.hpp"

#include <bufferpool/errors.hpp>

#include <string>

namespace bufferpool::vulkan_detail {

SegmentRecords::Reservation SegmentRecords::reserve() {
  const std::lock_guard lock(mutex_);
  if (first_free_ == nullptr) {
    const std::size_t chunk = chunk_count_.load(std::memory_order_relaxed);
    if (chunk == kMaxChunks) {
      throw OutOfMemoryError("bufferpool: vulkan: this backend holds " +
                                 std::to_string(records_in_chunk(kMaxChunks) - kFirstChunkRecords) +
                                 " Vulkan segments at once, the most it tracks; free segments, "
                                 "or make fewer, larger ones",
                             0, 0, 0);
    }
    chunks_[chunk] = std::make_unique<Record[]>(records_in_chunk(chunk));
    // Highest first, so that the lowest address is handed out first.
    for (std::size_t index = records_in_chunk(chunk); index-- > 0;)
      push_free(chunks_[chunk][index]);
    chunk_count_.store(chunk + 1, std::memory_order_release);
  }
  Record& record = *first_free_;
  first_free_ = record.next_free;
  record.next_free = nullptr;
  // 1 to 63, then 1 again: 0 marks a record that is not live.
  const auto generation = static_cast<std::uint32_t>(record.last_generation % kGenerationMask + 1);
  record.last_generation = generation;
  return Reservation{&record, reinterpret_cast<std::uintptr_t>(&record) | generation};
}

void SegmentRecords::publish(const Reservation& reservation, const Segment& segment) noexcept {
  reservation.record->segment = segment;
  reservation.record->generation.store(
      static_cast<std::uint32_t>(reservation.handle & kGenerationMask), std::memory_order_release);
}

void SegmentRecords::cancel(const Reservation& reservation) noexcept {
  const std::lock_guard lock(mutex_);
  push_free(*reservation.record);
}

SegmentRecords::Record* SegmentRecords::record_of(std::uint64_t handle) const noexcept {
  // Compared as integers against each chunk's range, so that a value that is
  // not the address of one of these records is never read through, and the
  // record is reached from the chunk's own pointer.
  const std::uint64_t address = handle & ~kGenerationMask;
  const std::size_t chunks = chunk_count_.load(std::memory_order_acquire);
  for (std::size_t chunk = 0; chunk < chunks; ++chunk) {
    Record* first = chunks_[chunk].get();
    // Unsigned: an address below the chunk wraps to a large offset.
    const std::uint64_t offset = address - reinterpret_cast<std::uintptr_t>(first);
    if (offset < records_in_chunk(chunk) * sizeof(Record)) return first + offset / sizeof(Record);
  }
  return nullptr;
}

const Segment* SegmentRecords::find(std::uint64_t handle) const noexcept {
  const std::uint64_t generation = handle & kGenerationMask;
  if (generation == 0) return nullptr;
  const Record* record = record_of(handle);
  if (record == nullptr || record->generation.load(std::memory_order_acquire) != generation) {
    return nullptr;
  }
  return &record->segment;
}

std::optional<Segment> SegmentRecords::erase(std::uint64_t handle) noexcept {
  const std::uint64_t generation = handle & kGenerationMask;
  if (generation == 0) return std::nullopt;
  const std::lock_guard lock(mutex_);
  Record* record = record_of(handle);
  // Acquire: the segment was written by publish(), which takes no lock.
  if (record == nullptr || record->generation.load(std::memory_order_acquire) != generation) {
    return std::nullopt;
  }
  const Segment segment = record->segment;
  record->generation.store(0, std::memory_order_release);
  push_free(*record);
  return segment;
}

std::vector<Segment> SegmentRecords::erase_all() {
  std::vector<Segment> result;
  const std::lock_guard lock(mutex_);
  const std::size_t chunks = chunk_count_.load(std::memory_order_relaxed);
  for (std::size_t chunk = 0; chunk < chunks; ++chunk) {
    for (std::size_t index = 0; index < records_in_chunk(chunk); ++index) {
      Record& record = chunks_[chunk][index];
      if (record.generation.load(std::memory_order_acquire) == 0) continue;
      result.push_back(record.segment);
      record.generation.store(0, std::memory_order_release);
      push_free(record);
    }
  }
  return result;
}

}  // namespace bufferpool::vulkan_detail
