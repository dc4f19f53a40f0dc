// The pool's conformance suite on the Vulkan backend, with buffers mapped
// (as lavapipe and integrated GPUs give them) and device-local (unmapped).
#include "pool_conformance.hpp"
#include "vulkan_test_support.hpp"

namespace bufferpool::testing {

INSTANTIATE_TEST_SUITE_P(
    Vulkan, PoolConformance,
    ::testing::Values(BackendFactory{"mapped",
                                     [] { return make_vulkan_backend(validated_options()); }},
                      BackendFactory{"device_local",
                                     [] {
                                       return make_vulkan_backend(
                                           validated_options(VulkanMemoryPlacement::device_local));
                                     }}),
    BackendFactoryName{});

}  // namespace bufferpool::testing
