// Submission: work handed to the device and not waited for.
#pragma once

#include <bufferpool/backend.hpp>

#include <cstdint>
#include <memory>
#include <utility>

namespace bufferpool {

/// Work handed to the device and not waited for (ComputeManager::submit).
/// Every buffer it uses stays out of reuse until it is done, even if the
/// caller drops its references. A value type: copies share the backend and
/// name the same work; each may be used on any thread, and keeps the backend
/// alive.
class Submission {
 public:
  /// No work: done() is true, wait() returns at once.
  Submission() = default;
  Submission(std::shared_ptr<const Backend> backend, std::uint64_t timeline_value) noexcept
      : backend_(std::move(backend)), timeline_value_(timeline_value) {}

  /// Blocks the calling thread until the work is done (and the work
  /// submitted before it, which the device finishes first).
  void wait() const noexcept {
    if (backend_) backend_->wait_for_timeline(timeline_value_);
  }
  /// Whether the work is done. Never blocks; one query of the device's
  /// timeline (Backend::completed_timeline()).
  [[nodiscard]] bool done() const noexcept {
    return !backend_ || backend_->completed_timeline() >= timeline_value_;
  }
  /// The work's value on the device timeline.
  [[nodiscard]] std::uint64_t timeline_value() const noexcept { return timeline_value_; }

 private:
  std::shared_ptr<const Backend> backend_;
  std::uint64_t timeline_value_ = 0;
};

}  // namespace bufferpool
