#include "simulated_backend.hpp"

#include <bufferpool/errors.hpp>

#include <cstdio>
#include <cstdlib>
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

}  // namespace bufferpool::model
