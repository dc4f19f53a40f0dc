#include "simulated_backend.hpp"

#include <bufferpool/errors.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

namespace bufferpool::model {
namespace {

constexpr std::align_val_t kHostAlignment{64};

}  // namespace

SimulatedBackend::~SimulatedBackend() {
  for (auto& [handle, live] : live_) {
    if (live.host_ptr != nullptr) ::operator delete[](live.host_ptr, kHostAlignment);
  }
}

Allocation SimulatedBackend::allocate(std::size_t size_bytes) {
  const std::lock_guard lock(mutex_);
  if (size_bytes > max_allocation_bytes_) {
    throw InvalidArgumentError("simulated backend: allocation of " + std::to_string(size_bytes) +
                               " bytes is above max_allocation_bytes");
  }
  if (device_bytes_ != 0 &&
      (size_bytes > device_bytes_ || live_bytes_ > device_bytes_ - size_bytes)) {
    throw OutOfMemoryError(
        "simulated backend: device out of memory for " + std::to_string(size_bytes) + " bytes",
        size_bytes, 0, 0);
  }
  if (live_.size() >= max_live_allocations_) {
    throw OutOfMemoryError("simulated backend: " + std::to_string(live_.size()) +
                               " allocations are live, the most the device allows",
                           size_bytes, 0, 0);
  }
  Live live{size_bytes, nullptr};
  if (size_bytes <= kHostVisibleLimit) {
    live.host_ptr = static_cast<std::byte*>(::operator new[](size_bytes, kHostAlignment));
  }
  const std::uint64_t handle = next_handle_++;
  live_.emplace(handle, live);
  live_bytes_ += size_bytes;
  return Allocation{handle, live.host_ptr, size_bytes};
}

void SimulatedBackend::deallocate(const Allocation& allocation) noexcept {
  const std::lock_guard lock(mutex_);
  const auto found = live_.find(allocation.handle);
  if (found == live_.end() || found->second.size_bytes != allocation.size_bytes ||
      found->second.host_ptr != allocation.host_ptr) {
    std::fprintf(stderr, "simulated backend: free of allocation %llu that is not live\n",
                 static_cast<unsigned long long>(allocation.handle));
    std::abort();
  }
  if (found->second.host_ptr != nullptr) {
    ::operator delete[](found->second.host_ptr, kHostAlignment);
  }
  live_bytes_ -= found->second.size_bytes;
  live_.erase(found);
}

std::uint64_t SimulatedBackend::completed_timeline() const noexcept {
  const std::lock_guard lock(mutex_);
  return completed_;
}

void SimulatedBackend::wait_for_timeline(std::uint64_t value) const noexcept {
  const std::lock_guard lock(mutex_);
  if (value > completed_) completed_ = value;
}

std::size_t SimulatedBackend::max_allocation_bytes() const noexcept {
  const std::lock_guard lock(mutex_);
  return max_allocation_bytes_;
}

std::size_t SimulatedBackend::max_live_allocations() const noexcept {
  const std::lock_guard lock(mutex_);
  return max_live_allocations_;
}

void SimulatedBackend::fill_zero(const Allocation& allocation, std::size_t offset_bytes,
                                 std::size_t size_bytes) {
  const std::lock_guard lock(mutex_);
  const auto found = live_.find(allocation.handle);
  if (found == live_.end() || found->second.host_ptr != allocation.host_ptr ||
      offset_bytes > found->second.size_bytes ||
      size_bytes > found->second.size_bytes - offset_bytes) {
    if (problem_.empty()) {
      problem_ = "fill_zero of bytes [" + std::to_string(offset_bytes) + ", +" +
                 std::to_string(size_bytes) + ") of allocation " +
                 std::to_string(allocation.handle) + ", which is not live or not that large";
    }
    return;
  }
  if (fail_next_fill_) {
    fail_next_fill_ = false;
    ++zero_fill_faults_;
    throw BackendError("simulated backend: injected fill_zero fault");
  }
  if (found->second.host_ptr != nullptr) {
    std::memset(found->second.host_ptr + offset_bytes, 0, size_bytes);
  }
  ++zero_fills_;
  zero_fill_bytes_ += size_bytes;
}

void SimulatedBackend::set_device_bytes(std::size_t bytes) {
  const std::lock_guard lock(mutex_);
  device_bytes_ = bytes;
}

void SimulatedBackend::set_max_allocation_bytes(std::size_t bytes) {
  const std::lock_guard lock(mutex_);
  max_allocation_bytes_ = bytes;
}

void SimulatedBackend::complete_until(std::uint64_t value) noexcept { wait_for_timeline(value); }

std::size_t SimulatedBackend::live_bytes() const {
  const std::lock_guard lock(mutex_);
  return live_bytes_;
}

std::size_t SimulatedBackend::live_allocations() const {
  const std::lock_guard lock(mutex_);
  return live_.size();
}

void SimulatedBackend::set_max_live_allocations(std::size_t count) {
  const std::lock_guard lock(mutex_);
  max_live_allocations_ = count;
}

void SimulatedBackend::fail_next_fill_zero() {
  const std::lock_guard lock(mutex_);
  fail_next_fill_ = true;
}

void SimulatedBackend::disarm_fill_zero_fault() {
  const std::lock_guard lock(mutex_);
  fail_next_fill_ = false;
}

std::size_t SimulatedBackend::allocation_bytes(std::uint64_t handle) const {
  const std::lock_guard lock(mutex_);
  const auto found = live_.find(handle);
  return found == live_.end() ? 0 : found->second.size_bytes;
}

std::uint64_t SimulatedBackend::zero_fills() const {
  const std::lock_guard lock(mutex_);
  return zero_fills_;
}

std::uint64_t SimulatedBackend::zero_fill_bytes() const {
  const std::lock_guard lock(mutex_);
  return zero_fill_bytes_;
}

std::uint64_t SimulatedBackend::zero_fill_faults() const {
  const std::lock_guard lock(mutex_);
  return zero_fill_faults_;
}

std::string SimulatedBackend::problem() const {
  const std::lock_guard lock(mutex_);
  return problem_;
}

}  // namespace bufferpool::model
