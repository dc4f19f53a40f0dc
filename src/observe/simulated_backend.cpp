#include <bufferpool/errors.hpp>
#include <bufferpool/simulated_backend.hpp>

#include <algorithm>
#include <bit>
#include <limits>

namespace bufferpool {
namespace {

// Far from 0, so that a simulated address is never mistaken for a small
// integer in a trace.
constexpr std::uint64_t kFirstAddress = std::uint64_t{1} << 32;
// Ranges start on page boundaries, as device allocations do.
constexpr std::uint64_t kRangeAlignmentBytes = 4096;

}  // namespace

SimulatedBackend::SimulatedBackend(SimulatedBackendOptions options)
    : options_(options), next_address_(kFirstAddress) {
  if (!std::has_single_bit(options_.buffer_alignment_bytes)) {
    throw ConfigError("bufferpool: SimulatedBackendOptions::buffer_alignment_bytes is " +
                      std::to_string(options_.buffer_alignment_bytes) +
                      "; give a power of two such as 256");
  }
  if (options_.max_allocation_bytes == 0) {
    throw ConfigError(
        "bufferpool: SimulatedBackendOptions::max_allocation_bytes is 0; give the largest "
        "allocation in bytes, or keep the default (1 TiB)");
  }
}

Allocation SimulatedBackend::allocate(std::size_t size_bytes) {
  if (size_bytes == 0 || size_bytes > options_.max_allocation_bytes) {
    throw InvalidArgumentError("bufferpool: simulated backend: an allocation of " +
                               std::to_string(size_bytes) + " bytes was asked; it holds 1 to " +
                               std::to_string(options_.max_allocation_bytes) + " bytes");
  }
  const std::lock_guard lock(mutex_);
  // live_bytes_ never passes capacity_bytes: the subtraction cannot wrap.
  if (options_.capacity_bytes != 0 && size_bytes > options_.capacity_bytes - live_bytes_) {
    throw OutOfMemoryError("bufferpool: simulated backend: " + std::to_string(size_bytes) +
                               " bytes asked with " + std::to_string(live_bytes_) + " of its " +
                               std::to_string(options_.capacity_bytes) +
                               " bytes allocated; raise SimulatedBackendOptions::capacity_bytes",
                           size_bytes, options_.capacity_bytes, live_bytes_);
  }
  if (live_.size() >= options_.max_live_allocations) {
    throw OutOfMemoryError("bufferpool: simulated backend: an allocation was asked with " +
                               std::to_string(live_.size()) +
                               " live, the most it allows (max_live_allocations)",
                           size_bytes, 0, live_bytes_);
  }
  const std::uint64_t address = next_address_;
  const std::uint64_t span = (static_cast<std::uint64_t>(size_bytes) + kRangeAlignmentBytes - 1) /
                             kRangeAlignmentBytes * kRangeAlignmentBytes;
  next_address_ += span;
  live_.emplace(address, size_bytes);
  ++allocations_;
  live_bytes_ += size_bytes;
  peak_live_bytes_ = std::max(peak_live_bytes_, live_bytes_);
  peak_live_allocations_ = std::max(peak_live_allocations_, live_.size());
  return Allocation{address, nullptr, size_bytes};
}

void SimulatedBackend::deallocate(const Allocation& allocation) noexcept {
  const std::lock_guard lock(mutex_);
  const auto found = live_.find(allocation.handle);
  if (found == live_.end()) return;
  live_bytes_ -= found->second;
  live_.erase(found);
  ++deallocations_;
}

std::uint64_t SimulatedBackend::completed_timeline() const noexcept {
  return std::numeric_limits<std::uint64_t>::max();
}

void SimulatedBackend::wait_for_timeline(std::uint64_t /*value*/) const noexcept {}

std::size_t SimulatedBackend::max_allocation_bytes() const noexcept {
  return options_.max_allocation_bytes;
}

std::size_t SimulatedBackend::buffer_alignment_bytes() const noexcept {
  return options_.buffer_alignment_bytes;
}

std::size_t SimulatedBackend::max_live_allocations() const noexcept {
  return options_.max_live_allocations;
}

void SimulatedBackend::fill_zero(const Allocation& /*allocation*/, std::size_t /*offset_bytes*/,
                                 std::size_t /*size_bytes*/) {
  const std::lock_guard lock(mutex_);
  ++zero_fills_;
}

std::uint64_t SimulatedBackend::allocations() const {
  const std::lock_guard lock(mutex_);
  return allocations_;
}

std::uint64_t SimulatedBackend::deallocations() const {
  const std::lock_guard lock(mutex_);
  return deallocations_;
}

std::size_t SimulatedBackend::live_bytes() const {
  const std::lock_guard lock(mutex_);
  return live_bytes_;
}

std::size_t SimulatedBackend::peak_live_bytes() const {
  const std::lock_guard lock(mutex_);
  return peak_live_bytes_;
}

std::size_t SimulatedBackend::live_allocations() const {
  const std::lock_guard lock(mutex_);
  return live_.size();
}

std::size_t SimulatedBackend::peak_live_allocations() const {
  const std::lock_guard lock(mutex_);
  return peak_live_allocations_;
}

std::uint64_t SimulatedBackend::zero_fills() const {
  const std::lock_guard lock(mutex_);
  return zero_fills_;
}

}  // namespace bufferpool
