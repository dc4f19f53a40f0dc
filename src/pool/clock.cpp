#include "pool/coarse_clock.hpp"

namespace bufferpool {

std::shared_ptr<Clock> make_steady_clock() {
  return std::make_shared<detail::CoarseMonotonicClock>();
}

}  // namespace bufferpool
