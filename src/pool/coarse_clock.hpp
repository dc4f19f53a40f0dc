// The default clock, visible to the pool so that its hot paths can read it
// without a virtual call.
#pragma once

#include <bufferpool/clock.hpp>

#include <ctime>

namespace bufferpool::detail {

/// CLOCK_MONOTONIC_COARSE where the system has it: a vDSO read of the last
/// scheduler tick, a few nanoseconds where CLOCK_MONOTONIC costs tens.
/// Millisecond resolution is plenty for TTLs and cleanup intervals.
inline std::chrono::nanoseconds coarse_monotonic_now() noexcept {
#if defined(CLOCK_MONOTONIC_COARSE)
  timespec time{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &time);
  return std::chrono::seconds{time.tv_sec} + std::chrono::nanoseconds{time.tv_nsec};
#else
  return std::chrono::steady_clock::now().time_since_epoch();
#endif
}

class CoarseMonotonicClock final : public Clock {
 public:
  [[nodiscard]] std::chrono::nanoseconds now() const noexcept override {
    return coarse_monotonic_now();
  }
};

}  // namespace bufferpool::detail
