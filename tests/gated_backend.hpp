// A backend for tests that stop a thread inside the pool at a chosen point.
#pragma once

#include <bufferpool/forwarding_backend.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <utility>

namespace bufferpool::testing {

/// Forwards to another backend, but can hold one deallocate() until told to
/// go on: a way to stop a thread inside the pool at a chosen point.
class GatedBackend final : public ForwardingBackend {
 public:
  explicit GatedBackend(std::shared_ptr<Backend> upstream)
      : ForwardingBackend(std::move(upstream), "GatedBackend") {}
  void deallocate(const Allocation& allocation) noexcept override {
    if (hold_next_.exchange(false)) {
      held_.store(true);
      held_.notify_all();
      proceed_.wait(false);
    }
    upstream().deallocate(allocation);
  }
  [[nodiscard]] std::string name() const override { return "gated"; }

  void hold_next_deallocate() { hold_next_.store(true); }
  void wait_until_held() { held_.wait(false); }
  void go_on() {
    proceed_.store(true);
    proceed_.notify_all();
  }

 private:
  std::atomic<bool> hold_next_{false};
  std::atomic<bool> held_{false};
  std::atomic<bool> proceed_{false};
};

}  // namespace bufferpool::testing
