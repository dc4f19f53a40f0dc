#include <bufferpool/bufferpool.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace bufferpool {
namespace {

/// Host memory that reports figures of its own for every query, so that an
/// adaptor which answers a query itself, instead of asking its upstream,
/// gives a different answer.
class DistinctiveBackend final : public Backend {
 public:
  Allocation allocate(std::size_t size_bytes) override { return host_->allocate(size_bytes); }
  void deallocate(const Allocation& allocation) noexcept override { host_->deallocate(allocation); }
  [[nodiscard]] std::uint64_t completed_timeline() const noexcept override { return 4242; }
  void wait_for_timeline(std::uint64_t value) const noexcept override { last_wait_ = value; }
  [[nodiscard]] std::size_t max_allocation_bytes() const noexcept override { return 1 << 30; }
  [[nodiscard]] std::size_t buffer_alignment_bytes() const noexcept override { return 512; }
  [[nodiscard]] std::size_t max_live_allocations() const noexcept override { return 77; }
  void fill_zero(const Allocation& /*allocation*/, std::size_t offset_bytes,
                 std::size_t size_bytes) override {
    last_fill_ = offset_bytes + size_bytes;
  }
  [[nodiscard]] std::optional<MemoryBudget> memory_budget() const noexcept override {
    return MemoryBudget{123456, 7890};
  }
  [[nodiscard]] std::string name() const override { return "distinctive"; }

  mutable std::uint64_t last_wait_ = 0;
  std::size_t last_fill_ = 0;

 private:
  std::shared_ptr<Backend> host_ = make_host_backend();
};

template <typename Adaptor>
void expect_every_call_forwarded() {
  auto upstream = std::make_shared<DistinctiveBackend>();
  Adaptor adaptor(upstream);
  EXPECT_EQ(adaptor.completed_timeline(), 4242U);
  adaptor.wait_for_timeline(99);
  EXPECT_EQ(upstream->last_wait_, 99U);
  EXPECT_EQ(adaptor.max_allocation_bytes(), std::size_t{1} << 30);
  EXPECT_EQ(adaptor.buffer_alignment_bytes(), 512U);
  EXPECT_EQ(adaptor.max_live_allocations(), 77U);
  const Allocation allocation = adaptor.allocate(1000);
  adaptor.fill_zero(allocation, 24, 100);
  EXPECT_EQ(upstream->last_fill_, 124U);
  adaptor.deallocate(allocation);
  const auto budget = adaptor.memory_budget();
  ASSERT_TRUE(budget.has_value());
  EXPECT_EQ(budget->budget_bytes, 123456U);
  EXPECT_EQ(budget->usage_bytes, 7890U);
  EXPECT_EQ(adaptor.name(), "distinctive");
}

/// An adaptor that adds nothing: what a ForwardingBackend does by itself.
class PlainAdaptor final : public ForwardingBackend {
 public:
  explicit PlainAdaptor(std::shared_ptr<Backend> upstream)
      : ForwardingBackend(std::move(upstream), "PlainAdaptor") {}
};

TEST(ForwardingBackend, ForwardsEveryCallToItsUpstream) {
  expect_every_call_forwarded<PlainAdaptor>();
}

TEST(ForwardingBackend, NamesItsUpstreamAndRefusesNone) {
  auto upstream = std::make_shared<DistinctiveBackend>();
  const PlainAdaptor inner(upstream);
  EXPECT_EQ(inner.wrapped_backend(), upstream.get());
  EXPECT_EQ(upstream->wrapped_backend(), nullptr);
  const CountingBackend counting(upstream);
  EXPECT_EQ(counting.wrapped_backend(), upstream.get());
  try {
    const PlainAdaptor none(nullptr);
    FAIL() << "a null upstream was taken";
  } catch (const ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("PlainAdaptor needs an upstream backend"),
              std::string::npos);
  }
}

TEST(CountingBackend, ForwardsEveryCallToItsUpstream) {
  expect_every_call_forwarded<CountingBackend>();
}

TEST(FaultInjectingBackend, ForwardsEveryCallToItsUpstream) {
  expect_every_call_forwarded<FaultInjectingBackend>();
}

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

TEST(HostBackend, AllocatesAlignedHostMemoryWhoseWorkIsAlwaysDone) {
  const auto backend = make_host_backend({.alignment_bytes = 4096});
  EXPECT_EQ(backend->buffer_alignment_bytes(), 4096U);
  std::vector<Allocation> allocations;
  for (const std::size_t size : {std::size_t{1}, std::size_t{4097}, std::size_t{100000}}) {
    allocations.push_back(backend->allocate(size));
    const Allocation& allocation = allocations.back();
    ASSERT_NE(allocation.host_ptr, nullptr);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(allocation.host_ptr) % 4096, 0U) << size;
    EXPECT_EQ(allocation.size_bytes, size);
    std::fill_n(allocation.host_ptr, size, std::byte{0x5A});  // all of it is writable
  }
  for (const Allocation& allocation : allocations) backend->deallocate(allocation);
  EXPECT_EQ(backend->completed_timeline(), std::numeric_limits<std::uint64_t>::max());
  EXPECT_FALSE(backend->memory_budget().has_value()) << "host memory reports no budget";
  EXPECT_EQ(backend->name(), "host");
}

}  // namespace
}  // namespace bufferpool
