#include <bufferpool/bufferpool.hpp>

#include <gtest/gtest.h>

namespace bufferpool {
namespace {

TEST(CountingBackend, CountsLiveAndTotalAllocations) {
  CountingBackend backend(make_host_backend());
  const auto first = backend.allocate(100);
  const auto second = backend.allocate(300);
  EXPECT_EQ(backend.live_allocations(), 2U);
  EXPECT_EQ(backend.live_bytes(), 400U);
  backend.deallocate(first);
  EXPECT_EQ(backend.live_allocations(), 1U);
  EXPECT_EQ(backend.peak_live_bytes(), 400U);
  backend.deallocate(second);
  EXPECT_EQ(backend.total_allocations(), 2U);
  EXPECT_EQ(backend.total_frees(), 2U);
  EXPECT_EQ(backend.live_bytes(), 0U);
}

TEST(FaultInjectingBackend, FailsExactlyTheNthAllocationOnce) {
  FaultInjectingBackend backend(make_host_backend());
  backend.fail_nth_allocation(3);
  backend.deallocate(backend.allocate(10));
  backend.deallocate(backend.allocate(10));
  EXPECT_THROW((void)backend.allocate(10), OutOfMemoryError);
  backend.deallocate(backend.allocate(10));
  EXPECT_EQ(backend.faults_injected(), 1U);
}

TEST(FaultInjectingBackend, AFractionIsReproducibleFromItsSeed) {
  auto failures = [](std::uint64_t seed) {
    FaultInjectingBackend backend(make_host_backend());
    backend.fail_fraction(0.3, seed);
    std::vector<bool> failed;
    for (int i = 0; i < 200; ++i) {
      try {
        backend.deallocate(backend.allocate(10));
        failed.push_back(false);
      } catch (const OutOfMemoryError&) {
        failed.push_back(true);
      }
    }
    return failed;
  };
  const auto run = failures(42);
  EXPECT_EQ(run, failures(42));
  const auto count = std::count(run.begin(), run.end(), true);
  EXPECT_GT(count, 30);
  EXPECT_LT(count, 90);
}

TEST(FaultInjectingBackend, RejectsNonsense) {
  FaultInjectingBackend backend(make_host_backend());
  EXPECT_THROW(backend.fail_nth_allocation(0), ConfigError);
  EXPECT_THROW(backend.fail_fraction(1.5, 1), ConfigError);
  EXPECT_THROW(FaultInjectingBackend(nullptr), ConfigError);
}

TEST(HostBackend, RejectsAnAlignmentThatIsNotAPowerOfTwo) {
  EXPECT_THROW((void)make_host_backend({.alignment_bytes = 48}), ConfigError);
  EXPECT_THROW((void)make_host_backend({.alignment_bytes = 4}), ConfigError);
  EXPECT_NO_THROW((void)make_host_backend({.alignment_bytes = 4096}));
}

}  // namespace
}  // namespace bufferpool
