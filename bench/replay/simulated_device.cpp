#include "replay/simulated_device.hpp"

#include <algorithm>
#include <limits>

namespace bufferpool::replay {

Allocation SimulatedDevice::allocate(std::size_t size_bytes) {
  const std::lock_guard lock(mutex_);
  const std::uint64_t handle = next_handle_++;
  live_.emplace(handle, size_bytes);
  ++allocations_;
  live_bytes_ += size_bytes;
  peak_live_bytes_ = std::max(peak_live_bytes_, live_bytes_);
  peak_live_allocations_ = std::max(peak_live_allocations_, live_.size());
  return Allocation{handle, nullptr, size_bytes};
}

void SimulatedDevice::deallocate(const Allocation& allocation) noexcept {
  const std::lock_guard lock(mutex_);
  const auto found = live_.find(allocation.handle);
  if (found == live_.end()) return;  // not ours: nothing to count
  live_bytes_ -= found->second;
  live_.erase(found);
}

std::uint64_t SimulatedDevice::completed_timeline() const noexcept {
  return std::numeric_limits<std::uint64_t>::max();
}

void SimulatedDevice::wait_for_timeline(std::uint64_t /*value*/) const noexcept {}

std::size_t SimulatedDevice::max_allocation_bytes() const noexcept { return kMaxAllocationBytes; }

std::size_t SimulatedDevice::buffer_alignment_bytes() const noexcept {
  return kBufferAlignmentBytes;
}

std::uint64_t SimulatedDevice::allocations() const {
  const std::lock_guard lock(mutex_);
  return allocations_;
}

std::size_t SimulatedDevice::live_bytes() const {
  const std::lock_guard lock(mutex_);
  return live_bytes_;
}

std::size_t SimulatedDevice::peak_live_bytes() const {
  const std::lock_guard lock(mutex_);
  return peak_live_bytes_;
}

std::size_t SimulatedDevice::live_allocations() const {
  const std::lock_guard lock(mutex_);
  return live_.size();
}

std::size_t SimulatedDevice::peak_live_allocations() const {
  const std::lock_guard lock(mutex_);
  return peak_live_allocations_;
}

}  // namespace bufferpool::replay
