#include <bufferpool/backend_adaptors.hpp>
#include <bufferpool/errors.hpp>

#include <string>
#include <utility>

namespace bufferpool {

CountingBackend::CountingBackend(std::shared_ptr<Backend> upstream)
    : ForwardingBackend(std::move(upstream), "CountingBackend") {}

Allocation CountingBackend::allocate(std::size_t size_bytes) {
  Allocation allocation = upstream().allocate(size_bytes);
  live_allocations_.fetch_add(1);
  total_allocations_.fetch_add(1);
  const std::size_t live = live_bytes_.fetch_add(allocation.size_bytes) + allocation.size_bytes;
  std::size_t peak = peak_live_bytes_.load();
  while (live > peak && !peak_live_bytes_.compare_exchange_weak(peak, live)) {
  }
  return allocation;
}

void CountingBackend::deallocate(const Allocation& allocation) noexcept {
  live_allocations_.fetch_sub(1);
  live_bytes_.fetch_sub(allocation.size_bytes);
  total_frees_.fetch_add(1);
  upstream().deallocate(allocation);
}

FaultInjectingBackend::FaultInjectingBackend(std::shared_ptr<Backend> upstream)
    : ForwardingBackend(std::move(upstream), "FaultInjectingBackend") {}

void FaultInjectingBackend::fail_nth_allocation(std::uint64_t n) {
  if (n == 0)
    throw ConfigError("bufferpool: FaultInjectingBackend::fail_nth_allocation: n must be >= 1");
  const std::lock_guard lock(mutex_);
  countdown_ = n;
}

void FaultInjectingBackend::fail_fraction(double probability, std::uint64_t seed) {
  if (!(probability >= 0.0 && probability <= 1.0)) {
    throw ConfigError(
        "bufferpool: FaultInjectingBackend::fail_fraction: probability must be in [0, 1]");
  }
  const std::lock_guard lock(mutex_);
  probability_ = probability;
  random_.seed(seed);
}

void FaultInjectingBackend::disarm() {
  const std::lock_guard lock(mutex_);
  countdown_ = 0;
  probability_ = 0.0;
  fail_all_.store(false);
}

bool FaultInjectingBackend::should_fail() {
  if (fail_all_.load()) return true;
  const std::lock_guard lock(mutex_);
  if (countdown_ != 0 && --countdown_ == 0) return true;
  return probability_ > 0.0 &&
         std::uniform_real_distribution<double>(0.0, 1.0)(random_) < probability_;
}

Allocation FaultInjectingBackend::allocate(std::size_t size_bytes) {
  if (should_fail()) {
    faults_injected_.fetch_add(1);
    throw OutOfMemoryError(
        "bufferpool: injected fault: allocation of " + std::to_string(size_bytes) + " bytes failed",
        size_bytes, 0, 0);
  }
  return upstream().allocate(size_bytes);
}

}  // namespace bufferpool
