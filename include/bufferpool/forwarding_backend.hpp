// ForwardingBackend: the base of a backend adaptor, which forwards every call
// to the backend it wraps.
#pragma once

#include <bufferpool/backend.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace bufferpool {

/// A Backend that forwards every call to its upstream unchanged: the base of
/// an adaptor that adds one concern, the way RMM's resource adaptors do.
/// Derive from it and override only the calls the concern touches, as
/// CountingBackend and FaultInjectingBackend (backend_adaptors.hpp) do.
///
/// It names its upstream in wrapped_backend() (final, so that no adaptor
/// hides what is below it), which lets vulkan_buffer_range() see through it
/// to the Vulkan backend. An override of allocate() must therefore pass on
/// the upstream's allocations unchanged (handle and host_ptr): the backend
/// below reads the handle as its own.
///
/// Threads, blocking and cost: those of the upstream, plus one virtual call.
class ForwardingBackend : public Backend {
 public:
  /// Throws ConfigError for a null upstream; `adaptor` names the derived
  /// class in that message.
  explicit ForwardingBackend(std::shared_ptr<Backend> upstream,
                             std::string_view adaptor = "ForwardingBackend");

  Allocation allocate(std::size_t size_bytes) override;
  void deallocate(const Allocation& allocation) noexcept override;
  [[nodiscard]] std::uint64_t completed_timeline() const noexcept override;
  void wait_for_timeline(std::uint64_t value) const noexcept override;
  [[nodiscard]] std::size_t max_allocation_bytes() const noexcept override;
  [[nodiscard]] std::size_t buffer_alignment_bytes() const noexcept override;
  [[nodiscard]] std::size_t max_live_allocations() const noexcept override;
  void fill_zero(const Allocation& allocation, std::size_t offset_bytes,
                 std::size_t size_bytes) override;
  [[nodiscard]] std::optional<MemoryBudget> memory_budget() const noexcept override;
  /// The upstream's name.
  [[nodiscard]] std::string name() const override;
  /// The upstream.
  [[nodiscard]] const Backend* wrapped_backend() const noexcept final { return upstream_.get(); }

 protected:
  [[nodiscard]] Backend& upstream() const noexcept { return *upstream_; }

 private:
  std::shared_ptr<Backend> upstream_;
};

}  // namespace bufferpool
