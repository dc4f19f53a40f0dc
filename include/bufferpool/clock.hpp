// Time as the pool sees it. The pool reads time only through a Clock, so tests
// drive TTL and cleanup with a ManualClock and never sleep.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>

namespace bufferpool {

/// A monotonic clock. `now()` is called on release and on a miss, never on a
/// pool hit, so it should cost a few nanoseconds; millisecond resolution is
/// plenty for TTL and cleanup intervals. The pool calls it from any thread,
/// several at once (and from its background cleanup thread): an
/// implementation must be thread-safe and must not block.
class Clock {
 public:
  virtual ~Clock() = default;
  /// Time since an arbitrary, fixed epoch. Never decreases.
  [[nodiscard]] virtual std::chrono::nanoseconds now() const noexcept = 0;
};

/// The default: the system's coarse monotonic clock (CLOCK_MONOTONIC_COARSE on
/// Linux, a few nanoseconds per read, resolution of a scheduler tick). A new
/// clock object each call (it holds no state); any thread.
[[nodiscard]] std::shared_ptr<Clock> make_steady_clock();

/// A clock that moves only when told to. For tests and simulations. now()
/// and advance() may run on any thread at once: each is one atomic
/// operation.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::chrono::nanoseconds start = std::chrono::nanoseconds{0}) noexcept
      : now_(start.count()) {}

  [[nodiscard]] std::chrono::nanoseconds now() const noexcept override {
    return std::chrono::nanoseconds{now_.load(std::memory_order_acquire)};
  }

  /// Moves the clock forward. A negative duration is ignored: time never runs back.
  void advance(std::chrono::nanoseconds duration) noexcept {
    if (duration.count() > 0) now_.fetch_add(duration.count(), std::memory_order_acq_rel);
  }

 private:
  std::atomic<std::chrono::nanoseconds::rep> now_;
};

}  // namespace bufferpool
