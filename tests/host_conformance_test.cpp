#include "pool_conformance.hpp"

namespace bufferpool::testing {

INSTANTIATE_TEST_SUITE_P(Host, PoolConformance,
                         ::testing::Values(BackendFactory{"host",
                                                          [] { return make_host_backend(); }}),
                         BackendFactoryName{});

}  // namespace bufferpool::testing
