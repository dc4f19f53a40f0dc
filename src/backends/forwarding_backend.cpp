#include <bufferpool/errors.hpp>
#include <bufferpool/forwarding_backend.hpp>

#include <utility>

namespace bufferpool {

ForwardingBackend::ForwardingBackend(std::shared_ptr<Backend> upstream, std::string_view adaptor)
    : upstream_(std::move(upstream)) {
  if (!upstream_) {
    throw ConfigError("bufferpool: " + std::string(adaptor) + " needs an upstream backend");
  }
}

Allocation ForwardingBackend::allocate(std::size_t size_bytes) {
  return upstream_->allocate(size_bytes);
}
void ForwardingBackend::deallocate(const Allocation& allocation) noexcept {
  upstream_->deallocate(allocation);
}
std::uint64_t ForwardingBackend::completed_timeline() const noexcept {
  return upstream_->completed_timeline();
}
void ForwardingBackend::wait_for_timeline(std::uint64_t value) const noexcept {
  upstream_->wait_for_timeline(value);
}
std::size_t ForwardingBackend::max_allocation_bytes() const noexcept {
  return upstream_->max_allocation_bytes();
}
std::size_t ForwardingBackend::buffer_alignment_bytes() const noexcept {
  return upstream_->buffer_alignment_bytes();
}
std::size_t ForwardingBackend::max_live_allocations() const noexcept {
  return upstream_->max_live_allocations();
}
void ForwardingBackend::fill_zero(const Allocation& allocation, std::size_t offset_bytes,
                                  std::size_t size_bytes) {
  upstream_->fill_zero(allocation, offset_bytes, size_bytes);
}
std::optional<MemoryBudget> ForwardingBackend::memory_budget() const noexcept {
  return upstream_->memory_budget();
}
std::string ForwardingBackend::name() const { return upstream_->name(); }

}  // namespace bufferpool
