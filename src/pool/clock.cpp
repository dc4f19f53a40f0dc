#include <bufferpool/clock.hpp>

#include <ctime>

namespace bufferpool {
namespace {

class SteadyClock final : public Clock {
 public:
  [[nodiscard]] std::chrono::nanoseconds now() const noexcept override {
#if defined(CLOCK_MONOTONIC_COARSE)
    // A vDSO read of the last scheduler tick: a few nanoseconds, where
    // CLOCK_MONOTONIC costs tens. Millisecond resolution is plenty for TTLs.
    timespec time{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &time);
    return std::chrono::seconds{time.tv_sec} + std::chrono::nanoseconds{time.tv_nsec};
#else
    return std::chrono::steady_clock::now().time_since_epoch();
#endif
  }
};

}  // namespace

std::shared_ptr<Clock> make_steady_clock() { return std::make_shared<SteadyClock>(); }

}  // namespace bufferpool
