// SimulatedBackend: a Backend that touches no memory, so that a trace of a
// 40 GB GPU replays through a real BufferPool on a laptop. Its allocations
// are address ranges in an address space of its own; it counts them, the
// bytes they cover, and the peaks of both, which is what a replay measures.
#pragma once

#include <bufferpool/backend.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <mutex>
#include <string>
#include <unordered_map>

namespace bufferpool {

struct SimulatedBackendOptions {
  /// Buffers start at multiples of this power of two inside an allocation:
  /// 256, the largest minStorageBufferOffsetAlignment Vulkan allows.
  std::size_t buffer_alignment_bytes = 256;
  /// The largest single allocation; 1 TiB, more than any trace asks for.
  std::size_t max_allocation_bytes = std::size_t{1} << 40;
  /// The device's memory: an allocation that would pass it throws
  /// OutOfMemoryError, as a full GPU does; 0 = no limit.
  std::size_t capacity_bytes = 0;
  /// The most allocations live at once (Vulkan's maxMemoryAllocationCount,
  /// 4096 on many drivers); an allocation past it throws OutOfMemoryError.
  std::size_t max_live_allocations = std::numeric_limits<std::size_t>::max();
};

/// Thread-safe: every call takes one mutex. Its work is always complete
/// (completed_timeline() is the largest value), so a pool never waits on it.
class SimulatedBackend final : public Backend {
 public:
  /// Throws ConfigError when buffer_alignment_bytes is not a power of two or
  /// max_allocation_bytes is 0.
  explicit SimulatedBackend(SimulatedBackendOptions options = {});

  /// An address range of size_bytes, aligned to buffer_alignment_bytes,
  /// that overlaps no other allocation this backend ever made (addresses
  /// are not reused, so a trace of addresses stays unambiguous). The handle
  /// is the range's first address; host_ptr is null. Throws
  /// InvalidArgumentError for 0 or more than max_allocation_bytes, and
  /// OutOfMemoryError past capacity_bytes or max_live_allocations.
  [[nodiscard]] Allocation allocate(std::size_t size_bytes) override;
  /// Forgets the range; an allocation it did not make is ignored.
  void deallocate(const Allocation& allocation) noexcept override;
  [[nodiscard]] std::uint64_t completed_timeline() const noexcept override;
  /// Returns at once: every value is complete.
  void wait_for_timeline(std::uint64_t value) const noexcept override;
  [[nodiscard]] std::size_t max_allocation_bytes() const noexcept override;
  [[nodiscard]] std::size_t buffer_alignment_bytes() const noexcept override;
  [[nodiscard]] std::size_t max_live_allocations() const noexcept override;
  /// There is no memory to zero: counts the call (zero_fills()) and returns.
  void fill_zero(const Allocation& allocation, std::size_t offset_bytes,
                 std::size_t size_bytes) override;
  [[nodiscard]] std::string name() const override { return "simulated"; }

  /// Successful allocate() calls so far.
  [[nodiscard]] std::uint64_t allocations() const;
  /// deallocate() calls that freed one of this backend's allocations.
  [[nodiscard]] std::uint64_t deallocations() const;
  /// Bytes of the allocations live now, and the most at any moment.
  [[nodiscard]] std::size_t live_bytes() const;
  [[nodiscard]] std::size_t peak_live_bytes() const;
  /// Allocations live now, and the most at any moment.
  [[nodiscard]] std::size_t live_allocations() const;
  [[nodiscard]] std::size_t peak_live_allocations() const;
  /// fill_zero() calls so far.
  [[nodiscard]] std::uint64_t zero_fills() const;

 private:
  SimulatedBackendOptions options_;
  mutable std::mutex mutex_;
  std::unordered_map<std::uint64_t, std::size_t> live_;  // first address -> bytes
  std::uint64_t next_address_;
  std::uint64_t allocations_ = 0;
  std::uint64_t deallocations_ = 0;
  std::uint64_t zero_fills_ = 0;
  std::size_t live_bytes_ = 0;
  std::size_t peak_live_bytes_ = 0;
  std::size_t peak_live_allocations_ = 0;
};

}  // namespace bufferpool
