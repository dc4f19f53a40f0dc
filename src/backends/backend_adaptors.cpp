#include <bufferpool/backend_adaptors.hpp>
#include <bufferpool/errors.hpp>

namespace bufferpool {
namespace {

std::shared_ptr<Backend> require_upstream(std::shared_ptr<Backend> upstream, const char* adaptor) {
  if (!upstream)
    throw ConfigError(std::string("bufferpool: ") + adaptor + " needs an upstream backend");
  return upstream;
}

}  // namespace

CountingBackend::CountingBackend(std::shared_ptr<Backend> upstream)
    : upstream_(require_upstream(std::move(upstream), "CountingBackend")) {}

Allocation CountingBackend::allocate(std::size_t size_bytes) {
  Allocation allocation = upstream_->allocate(size_bytes);
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
  upstream_->deallocate(allocation);
}

std::uint64_t CountingBackend::completed_timeline() const noexcept {
  return upstream_->completed_timeline();
}
void CountingBackend::wait_for_timeline(std::uint64_t value) const noexcept {
  upstream_->wait_for_timeline(value);
}
std::size_t CountingBackend::max_allocation_bytes() const noexcept {
  return upstream_->max_allocation_bytes();
}
std::size_t CountingBackend::buffer_alignment_bytes() const noexcept {
  return upstream_->buffer_alignment_bytes();
}
std::size_t CountingBackend::max_live_allocations() const noexcept {
  return upstream_->max_live_allocations();
}
void CountingBackend::fill_zero(const Allocation& allocation, std::size_t offset_bytes,
                                std::size_t size_bytes) {
  upstream_->fill_zero(allocation, offset_bytes, size_bytes);
}
std::optional<MemoryBudget> CountingBackend::memory_budget() const noexcept {
  return upstream_->memory_budget();
}
std::string CountingBackend::name() const { return upstream_->name(); }

FaultInjectingBackend::FaultInjectingBackend(std::shared_ptr<Backend> upstream)
    : upstream_(require_upstream(std::move(upstream), "FaultInjectingBackend")) {}

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
  return upstream_->allocate(size_bytes);
}

void FaultInjectingBackend::deallocate(const Allocation& allocation) noexcept {
  upstream_->deallocate(allocation);
}
std::uint64_t FaultInjectingBackend::completed_timeline() const noexcept {
  return upstream_->completed_timeline();
}
void FaultInjectingBackend::wait_for_timeline(std::uint64_t value) const noexcept {
  upstream_->wait_for_timeline(value);
}
std::size_t FaultInjectingBackend::max_allocation_bytes() const noexcept {
  return upstream_->max_allocation_bytes();
}
std::size_t FaultInjectingBackend::buffer_alignment_bytes() const noexcept {
  return upstream_->buffer_alignment_bytes();
}
std::size_t FaultInjectingBackend::max_live_allocations() const noexcept {
  return upstream_->max_live_allocations();
}
void FaultInjectingBackend::fill_zero(const Allocation& allocation, std::size_t offset_bytes,
                                      std::size_t size_bytes) {
  upstream_->fill_zero(allocation, offset_bytes, size_bytes);
}
std::optional<MemoryBudget> FaultInjectingBackend::memory_budget() const noexcept {
  return upstream_->memory_budget();
}
std::string FaultInjectingBackend::name() const { return upstream_->name(); }

}  // namespace bufferpool
