// A backend for tests of device-timeline deferral: host memory whose "device"
// finishes work only when the test says so.
#pragma once

#include <bufferpool/backend.hpp>
#include <bufferpool/host_backend.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace bufferpool::testing {

class ManualTimelineBackend final : public Backend {
 public:
  Allocation allocate(std::size_t size_bytes) override { return host_->allocate(size_bytes); }
  void deallocate(const Allocation& allocation) noexcept override { host_->deallocate(allocation); }
  [[nodiscard]] std::uint64_t completed_timeline() const noexcept override { return completed_; }
  /// The device finishes the work the pool waits for, so that a test never
  /// hangs; waited_for() says how far the pool waited.
  void wait_for_timeline(std::uint64_t value) const noexcept override {
    waited_for_ = std::max<std::uint64_t>(waited_for_, value);
    completed_ = std::max<std::uint64_t>(completed_, value);
  }
  [[nodiscard]] std::size_t max_allocation_bytes() const noexcept override {
    return host_->max_allocation_bytes();
  }
  [[nodiscard]] std::size_t buffer_alignment_bytes() const noexcept override {
    return host_->buffer_alignment_bytes();
  }
  [[nodiscard]] std::string name() const override { return "manual timeline"; }

  /// The device has finished every piece of work up to `value`.
  void complete(std::uint64_t value) { completed_ = value; }
  [[nodiscard]] std::uint64_t waited_for() const { return waited_for_; }

 private:
  std::shared_ptr<Backend> host_ = make_host_backend();
  mutable std::atomic<std::uint64_t> completed_{0};
  mutable std::atomic<std::uint64_t> waited_for_{0};
};

}  // namespace bufferpool::testing
