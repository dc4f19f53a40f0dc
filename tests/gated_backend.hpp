// A backend for tests that stop a thread inside the pool at a chosen point.
#pragma once

#include <bufferpool/backend.hpp>

#include <atomic>
#include <memory>
#include <string>

namespace bufferpool::testing {

/// Forwards to another backend, but can hold one deallocate() until told to
/// go on: a way to stop a thread inside the pool at a chosen point.
class GatedBackend final : public Backend {
 public:
  explicit GatedBackend(std::shared_ptr<Backend> upstream) : upstream_(std::move(upstream)) {}
  Allocation allocate(std::size_t size_bytes) override { return upstream_->allocate(size_bytes); }
  void deallocate(const Allocation& allocation) noexcept override {
    if (hold_next_.exchange(false)) {
      held_.store(true);
      held_.notify_all();
      proceed_.wait(false);
    }
    upstream_->deallocate(allocation);
  }
  [[nodiscard]] std::uint64_t completed_timeline() const noexcept override {
    return upstream_->completed_timeline();
  }
  void wait_for_timeline(std::uint64_t value) const noexcept override {
    upstream_->wait_for_timeline(value);
  }
  [[nodiscard]] std::size_t max_allocation_bytes() const noexcept override {
    return upstream_->max_allocation_bytes();
  }
  [[nodiscard]] std::size_t buffer_alignment_bytes() const noexcept override {
    return upstream_->buffer_alignment_bytes();
  }
  [[nodiscard]] std::string name() const override { return "gated"; }
  [[nodiscard]] const Backend* wrapped_backend() const noexcept override { return upstream_.get(); }

  void hold_next_deallocate() { hold_next_.store(true); }
  void wait_until_held() { held_.wait(false); }
  void go_on() {
    proceed_.store(true);
    proceed_.notify_all();
  }

 private:
  std::shared_ptr<Backend> upstream_;
  std::atomic<bool> hold_next_{false};
  std::atomic<bool> held_{false};
  std::atomic<bool> proceed_{false};
};

}  // namespace bufferpool::testing
