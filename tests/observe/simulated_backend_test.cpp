// SimulatedBackend: address ranges that never overlap, exact counts and
// peaks, the limits of a real device, and a pool that runs on it.
#include <bufferpool/errors.hpp>
#include <bufferpool/pool.hpp>
#include <bufferpool/simulated_backend.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <vector>

namespace bufferpool {
namespace {

TEST(SimulatedBackend, RangesNeverOverlapAndAreNotReused) {
  SimulatedBackend backend;
  std::vector<Allocation> allocations;
  for (const std::size_t size_bytes :
       {std::size_t{1}, std::size_t{5000}, std::size_t{4096}, std::size_t{3} << 20}) {
    allocations.push_back(backend.allocate(size_bytes));
    EXPECT_EQ(allocations.back().size_bytes, size_bytes);
    EXPECT_EQ(allocations.back().host_ptr, nullptr);
  }
  backend.deallocate(allocations[1]);
  allocations.push_back(backend.allocate(5000));
  std::sort(allocations.begin(), allocations.end(),
            [](const Allocation& a, const Allocation& b) { return a.handle < b.handle; });
  for (std::size_t index = 1; index < allocations.size(); ++index) {
    EXPECT_GE(allocations[index].handle,
              allocations[index - 1].handle + allocations[index - 1].size_bytes);
  }
  for (const Allocation& allocation : allocations) EXPECT_EQ(allocation.handle % 4096, 0U);
}

TEST(SimulatedBackend, CountsAllocationsBytesAndPeaks) {
  SimulatedBackend backend;
  const Allocation a = backend.allocate(1000);
  const Allocation b = backend.allocate(3000);
  backend.deallocate(a);
  const Allocation c = backend.allocate(500);
  EXPECT_EQ(backend.allocations(), 3U);
  EXPECT_EQ(backend.deallocations(), 1U);
  EXPECT_EQ(backend.live_bytes(), 3500U);
  EXPECT_EQ(backend.peak_live_bytes(), 4000U);
  EXPECT_EQ(backend.live_allocations(), 2U);
  EXPECT_EQ(backend.peak_live_allocations(), 2U);
  backend.deallocate(b);
  backend.deallocate(c);
  backend.deallocate(c);  // not live any more: ignored
  EXPECT_EQ(backend.deallocations(), 3U);
  EXPECT_EQ(backend.live_bytes(), 0U);
  EXPECT_EQ(backend.live_allocations(), 0U);
  EXPECT_EQ(backend.peak_live_bytes(), 4000U);
}

TEST(SimulatedBackend, EnforcesCapacityAndAllocationCount) {
  SimulatedBackendOptions options;
  options.capacity_bytes = 10'000;
  options.max_live_allocations = 2;
  SimulatedBackend backend(options);
  EXPECT_EQ(backend.max_live_allocations(), 2U);
  const Allocation a = backend.allocate(6000);
  try {
    (void)backend.allocate(5000);
    FAIL() << "passed the capacity";
  } catch (const OutOfMemoryError& error) {
    EXPECT_EQ(error.requested_bytes(), 5000U);
    EXPECT_EQ(error.limit_bytes(), 10'000U);
    EXPECT_EQ(error.in_use_bytes(), 6000U);
  }
  (void)backend.allocate(4000);  // exactly full
  backend.deallocate(a);
  (void)backend.allocate(100);
  EXPECT_THROW((void)backend.allocate(100), OutOfMemoryError);  // a third live allocation
  EXPECT_THROW((void)backend.allocate(0), InvalidArgumentError);
  EXPECT_EQ(backend.allocations(), 3U);
}

TEST(SimulatedBackend, RejectsOptionsThatMakeNoSense) {
  SimulatedBackendOptions alignment;
  alignment.buffer_alignment_bytes = 100;
  EXPECT_THROW(SimulatedBackend{alignment}, ConfigError);
  SimulatedBackendOptions largest;
  largest.max_allocation_bytes = 0;
  EXPECT_THROW(SimulatedBackend{largest}, ConfigError);
  SimulatedBackendOptions small;
  small.max_allocation_bytes = 4096;
  SimulatedBackend backend(small);
  EXPECT_EQ(backend.max_allocation_bytes(), 4096U);
  EXPECT_THROW((void)backend.allocate(4097), InvalidArgumentError);
}

TEST(SimulatedBackend, APoolRunsOnIt) {
  auto backend = std::make_shared<SimulatedBackend>();
  PoolConfig config;
  config.zero_on_reuse = true;
  {
    BufferPool pool(backend, config);
    auto first = pool.get_buffer(1000);
    auto second = pool.get_buffer(300'000);
    EXPECT_FALSE(first.host_visible());  // no memory behind it
    EXPECT_EQ(first.capacity() % backend->buffer_alignment_bytes(), 0U);
    EXPECT_EQ(backend->allocations(), 1U);  // both carved from one small segment
    EXPECT_EQ(backend->live_bytes(), config.segments.small_segment_bytes);
    EXPECT_EQ(backend->zero_fills(), 2U);  // zero_on_reuse asked it, and it had nothing to do
    EXPECT_EQ(pool.check_segments(), "");
  }
  EXPECT_EQ(backend->live_bytes(), 0U);
  EXPECT_EQ(backend->deallocations(), 1U);
}

}  // namespace
}  // namespace bufferpool
