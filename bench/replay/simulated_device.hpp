// SimulatedDevice: a Backend that hands out no memory at all, for replaying
// traces through a BufferPool in simulated time. An allocation is a fake
// handle with no host pointer; the device counts the bytes and allocations
// it has live, and the peak of both, which is what a replay measures. Its
// work is always complete, so the pool never waits on the timeline.
#pragma once

#include <bufferpool/backend.hpp>

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace bufferpool::replay {

class SimulatedDevice final : public Backend {
 public:
  /// Offsets inside an allocation are multiples of this, as on a GPU whose
  /// minStorageBufferOffsetAlignment is 256 (the largest Vulkan allows).
  static constexpr std::size_t kBufferAlignmentBytes = 256;
  /// The largest allocation: large enough that no trace reaches it.
  static constexpr std::size_t kMaxAllocationBytes = std::size_t{1} << 40;

  Allocation allocate(std::size_t size_bytes) override;
  void deallocate(const Allocation& allocation) noexcept override;
  [[nodiscard]] std::uint64_t completed_timeline() const noexcept override;
  void wait_for_timeline(std::uint64_t value) const noexcept override;
  [[nodiscard]] std::size_t max_allocation_bytes() const noexcept override;
  [[nodiscard]] std::size_t buffer_alignment_bytes() const noexcept override;
  [[nodiscard]] std::string name() const override { return "simulated device"; }

  /// Allocations made so far (each a device allocation call).
  [[nodiscard]] std::uint64_t allocations() const;
  [[nodiscard]] std::size_t live_bytes() const;
  [[nodiscard]] std::size_t peak_live_bytes() const;
  [[nodiscard]] std::size_t live_allocations() const;
  [[nodiscard]] std::size_t peak_live_allocations() const;

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::uint64_t, std::size_t> live_;  // handle -> bytes
  std::uint64_t next_handle_ = 1;
  std::uint64_t allocations_ = 0;
  std::size_t live_bytes_ = 0;
  std::size_t peak_live_bytes_ = 0;
  std::size_t peak_live_allocations_ = 0;
};

}  // namespace bufferpool::replay
