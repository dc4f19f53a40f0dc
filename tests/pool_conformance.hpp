// The pool's conformance suite: every clause of the pool's contract, run
// against each backend. A backend's test program instantiates it:
//
//   INSTANTIATE_TEST_SUITE_P(Host, PoolConformance,
//       ::testing::Values(BackendFactory{"host", [] { return make_host_backend(); }}),
//       BackendFactoryName{});
#pragma once

#include <bufferpool/bufferpool.hpp>

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

namespace bufferpool::testing {

struct BackendFactory {
  std::string name;
  std::function<std::shared_ptr<Backend>()> make;
};

struct BackendFactoryName {
  std::string operator()(const ::testing::TestParamInfo<BackendFactory>& info) const {
    return info.param.name;
  }
};

class PoolConformance : public ::testing::TestWithParam<BackendFactory> {
 protected:
  /// The backend under test, wrapped to count live allocations and inject faults.
  std::shared_ptr<Backend> upstream = GetParam().make();
  std::shared_ptr<FaultInjectingBackend> faults = std::make_shared<FaultInjectingBackend>(upstream);
  std::shared_ptr<CountingBackend> backend = std::make_shared<CountingBackend>(faults);
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();

  /// A config on the manual clock with no lazy cleanup unless a test asks.
  PoolConfig config() const {
    PoolConfig result;
    result.clock = clock;
    result.cleanup_interval = std::chrono::hours{1};
    return result;
  }
};

}  // namespace bufferpool::testing
