// Each Vulkan backend owns the records of its segments: a handle is found by
// the backend that made it and by no other, vulkan_buffer_range() finds the
// backend through the adaptors over it, and the device's live-allocation
// limit holds for all the backends on a device together.
#include "backends/vulkan/segment_records.hpp"
#include "backends/vulkan/vulkan_backend.hpp"
#include "backends/vulkan/vulkan_device.hpp"
#include "gated_backend.hpp"
#include "vulkan_test_support.hpp"

#include <bufferpool/backend_adaptors.hpp>
#include <bufferpool/bufferpool.hpp>
#include <bufferpool/vulkan.hpp>
#include <bufferpool/vulkan_buffer_range.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace bufferpool::testing {
namespace {

using ::testing::HasSubstr;
using vulkan_detail::Segment;
using vulkan_detail::SegmentRecords;
using vulkan_detail::VulkanBackend;
using vulkan_detail::VulkanDevice;

/// A segment that names itself, for records that need no device.
Segment fake_segment(std::uint64_t tag) {
  Segment segment;
  segment.size_bytes = tag;
  return segment;
}

std::uint64_t record(SegmentRecords& records, std::uint64_t tag) {
  const auto reservation = records.reserve();
  records.publish(reservation, fake_segment(tag));
  return reservation.handle;
}

TEST(SegmentRecords, AHandleFindsItsOwnSegmentAcrossManyChunksAndNothingElse) {
  SegmentRecords records;
  SegmentRecords other;
  // Past the first chunks (64, 128, 256 records), so that lookups walk several.
  constexpr std::uint64_t kSegments = 500;
  std::vector<std::uint64_t> handles;
  handles.reserve(kSegments);
  for (std::uint64_t tag = 1; tag <= kSegments; ++tag) handles.push_back(record(records, tag));
  const std::uint64_t others = record(other, 7);
  EXPECT_EQ(std::set<std::uint64_t>(handles.begin(), handles.end()).size(), kSegments);
  for (std::uint64_t tag = 1; tag <= kSegments; ++tag) {
    const std::uint64_t handle = handles[tag - 1];
    EXPECT_NE(handle, 0U);
    EXPECT_NE(handle % 64, 0U) << "never a 64-byte-aligned host pointer";
    const Segment* found = records.find(handle);
    ASSERT_NE(found, nullptr) << "segment " << tag;
    EXPECT_EQ(found->size_bytes, tag);
    EXPECT_EQ(other.find(handle), nullptr) << "another backend's records know no such handle";
  }
  EXPECT_EQ(records.find(others), nullptr);
  ASSERT_NE(other.find(others), nullptr);

  // Values that are no live handle: none is read through.
  const auto host = std::make_unique<std::uint64_t>(0);
  for (const std::uint64_t value :
       {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{12345},
        reinterpret_cast<std::uintptr_t>(host.get()), ~std::uint64_t{0},
        handles[0] & ~std::uint64_t{63},  // the record's address, no generation
        handles[0] ^ 1,                   // another generation of it
        handles.back() + 64}) {           // the next record, never used
    EXPECT_EQ(records.find(value), nullptr) << value;
    EXPECT_FALSE(records.erase(value).has_value()) << value;
  }
  EXPECT_EQ(records.erase_all().size(), kSegments) << "the values above erased nothing";
  for (const std::uint64_t handle : handles) EXPECT_EQ(records.find(handle), nullptr);
}

TEST(SegmentRecords, AFreedHandleIsNotTakenForTheSegmentRecordedInItsPlaceLater) {
  SegmentRecords records;
  const std::uint64_t first = record(records, 1);
  const auto erased = records.erase(first);
  ASSERT_TRUE(erased.has_value());
  EXPECT_EQ(erased->size_bytes, 1U);
  const std::uint64_t second = record(records, 2);
  EXPECT_EQ(second & ~std::uint64_t{63}, first & ~std::uint64_t{63}) << "the record is reused";
  EXPECT_NE(second, first);
  EXPECT_EQ(records.find(first), nullptr);
  EXPECT_FALSE(records.erase(first).has_value()) << "freeing a handle twice frees nothing";
  ASSERT_NE(records.find(second), nullptr);
  EXPECT_EQ(records.find(second)->size_bytes, 2U);

  // A reservation given back leaves nothing found.
  const auto reservation = records.reserve();
  records.cancel(reservation);
  EXPECT_EQ(records.find(reservation.handle), nullptr);
  EXPECT_EQ(records.erase_all().size(), 1U);
}

/// Forwards every call but does not say whom to (no wrapped_backend()), as
/// a user's adaptor written before there was one.
class SilentAdaptor final : public Backend {
 public:
  explicit SilentAdaptor(std::shared_ptr<Backend> upstream) : upstream_(std::move(upstream)) {}
  Allocation allocate(std::size_t size_bytes) override { return upstream_->allocate(size_bytes); }
  void deallocate(const Allocation& allocation) noexcept override {
    upstream_->deallocate(allocation);
  }
  [[nodiscard]] std::uint64_t completed_timeline() const noexcept override {
    return upstream_->completed_timeline();
  }
  void wait_for_timeline(std::uint64_t value) const noexcept override {
    upstream_->wait_for_timeline(value);
  }
  [[nodiscard]] std::size_t max_allocation_bytes() const noexcept override {
    return upstream_->max_allocation_bytes();
  }
  [[nodiscard]] std::size_t buffer_alignment_bytes() const noexcept override {
    return upstream_->buffer_alignment_bytes();
  }
  [[nodiscard]] std::string name() const override { return "silent adaptor"; }

 private:
  std::shared_ptr<Backend> upstream_;
};

TEST(VulkanBufferRangeThroughAdaptors, FindsTheVkBufferAndOffsetOfTheVulkanBackendBelow) {
  const auto vulkan = make_vulkan_backend(validated_options());
  const auto& segments = dynamic_cast<const VulkanBackend&>(*vulkan);
  auto faulty = std::make_shared<FaultInjectingBackend>(vulkan);
  auto counting = std::make_shared<CountingBackend>(faulty);
  auto gated = std::make_shared<GatedBackend>(counting);
  EXPECT_EQ(counting->wrapped_backend(), faulty.get());
  EXPECT_EQ(faulty->wrapped_backend(), vulkan.get());
  EXPECT_EQ(gated->wrapped_backend(), counting.get());
  EXPECT_EQ(vulkan->wrapped_backend(), nullptr);

  BufferPool pool(gated);
  std::vector<BufferRef> buffers;
  buffers.reserve(6);
  for (std::size_t i = 0; i < 6; ++i) buffers.push_back(pool.get_buffer(700 + 100 * i));
  std::set<std::size_t> offsets;
  for (const BufferRef& buffer : buffers) {
    EXPECT_EQ(&buffer.backend(), gated.get()) << "the pool's backend, the outermost adaptor";
    const Segment* segment = segments.find(buffer.native_handle());
    ASSERT_NE(segment, nullptr) << "the adaptors pass the Vulkan backend's handle on";
    const VulkanBufferRange range = vulkan_buffer_range(buffer);
    EXPECT_EQ(range.buffer, segment->buffer);
    EXPECT_NE(range.buffer, VK_NULL_HANDLE);
    EXPECT_EQ(range.offset, buffer.offset_bytes());
    EXPECT_EQ(range.range, buffer.size());
    offsets.insert(buffer.offset_bytes());
  }
  EXPECT_EQ(vulkan_buffer_range(buffers[0]).buffer, vulkan_buffer_range(buffers[1]).buffer)
      << "small buffers share a segment";
  EXPECT_EQ(offsets.size(), buffers.size()) << "each at an offset of its own";

  // An adaptor that does not name its upstream: its buffers are refused,
  // saying why, wherever it sits in the chain.
  for (const auto& adaptor : {std::shared_ptr<Backend>(std::make_shared<SilentAdaptor>(vulkan)),
                              std::shared_ptr<Backend>(std::make_shared<CountingBackend>(
                                  std::make_shared<SilentAdaptor>(vulkan)))}) {
    BufferPool silent_pool(adaptor);
    const BufferRef buffer = silent_pool.get_buffer(512);
    try {
      (void)vulkan_buffer_range(buffer);
      FAIL() << "an adaptor without wrapped_backend() hides the Vulkan backend";
    } catch (const UsageError& error) {
      EXPECT_THAT(error.what(), HasSubstr("not from a pool on a Vulkan backend"));
      EXPECT_THAT(error.what(), HasSubstr("silent adaptor"));
      EXPECT_THAT(error.what(), HasSubstr("wrapped_backend()"));
    }
  }
}

TEST(VulkanBufferRangeThroughAdaptors, RefusesAHostBufferUnderAnAdaptorToo) {
  BufferPool host_pool(std::make_shared<CountingBackend>(make_host_backend()));
  const BufferRef buffer = host_pool.get_buffer(1000);
  try {
    (void)vulkan_buffer_range(buffer);
    FAIL() << "a host buffer has no VkBuffer";
  } catch (const UsageError& error) {
    EXPECT_THAT(error.what(), HasSubstr("not from a pool on a Vulkan backend"));
    EXPECT_THAT(error.what(), HasSubstr("the host backend"));
  }
  EXPECT_THROW((void)BufferRef{}.backend(), UsageError);
}

/// Two backends on one device, as a manager's pool and its staging pool are.
struct TwoBackendsOnOneDevice {
  explicit TwoBackendsOnOneDevice(std::size_t max_live_allocations = 0) {
    auto options = validated_options();
    options.max_live_allocations = max_live_allocations;
    device = VulkanDevice::open(options);
    first = std::make_shared<VulkanBackend>(device, VulkanMemoryPlacement::automatic);
    second = std::make_shared<VulkanBackend>(device, VulkanMemoryPlacement::automatic);
  }
  std::shared_ptr<VulkanDevice> device;
  std::shared_ptr<VulkanBackend> first;
  std::shared_ptr<VulkanBackend> second;
};

TEST(VulkanSegmentOwnership, TwoBackendsOnOneDeviceEachFindTheirOwnSegmentsAndNoneOfTheOthers) {
  TwoBackendsOnOneDevice backends;
  BufferPool first_pool(backends.first);
  BufferPool second_pool(std::make_shared<CountingBackend>(backends.second));
  const BufferRef mine = first_pool.get_buffer(1024);
  const BufferRef theirs = second_pool.get_buffer(1024);
  const Segment* my_segment = backends.first->find(mine.native_handle());
  const Segment* their_segment = backends.second->find(theirs.native_handle());
  ASSERT_NE(my_segment, nullptr);
  ASSERT_NE(their_segment, nullptr);
  EXPECT_NE(my_segment->buffer, their_segment->buffer);
  EXPECT_NE(mine.native_handle(), theirs.native_handle());
  EXPECT_EQ(backends.first->find(theirs.native_handle()), nullptr);
  EXPECT_EQ(backends.second->find(mine.native_handle()), nullptr);
  EXPECT_EQ(vulkan_buffer_range(mine).buffer, my_segment->buffer);
  EXPECT_EQ(vulkan_buffer_range(theirs).buffer, their_segment->buffer);

  // The Allocation calls refuse the other's segment and leave it alone.
  const Allocation their_allocation{theirs.native_handle(), nullptr, 1024};
  EXPECT_THROW(backends.first->fill_zero(their_allocation, theirs.offset_bytes(), 256), UsageError);
  backends.first->deallocate(their_allocation);
  EXPECT_EQ(backends.second->find(theirs.native_handle()), their_segment)
      << "not the first backend's to free";
  EXPECT_EQ(backends.device->live_allocations(), 2U);

  // A host pool's handle is a host pointer: never found, never read through.
  BufferPool host_pool(make_host_backend());
  const BufferRef host = host_pool.get_buffer(1024);
  EXPECT_EQ(backends.first->find(host.native_handle()), nullptr);
  backends.first->deallocate(Allocation{host.native_handle(), host.data(), 1024});
  EXPECT_THROW(
      backends.first->fill_zero(Allocation{host.native_handle(), host.data(), 1024}, 0, 64),
      UsageError);
  EXPECT_EQ(backends.device->live_allocations(), 2U);
}

TEST(VulkanSegmentOwnership, ABackendsHandleFreedIsNotFoundAgainNorFreedTwice) {
  TwoBackendsOnOneDevice backends;
  const Allocation freed = backends.first->allocate(std::size_t{64} << 10);
  backends.first->deallocate(freed);
  const Allocation live = backends.first->allocate(std::size_t{64} << 10);
  EXPECT_NE(live.handle, freed.handle);
  EXPECT_EQ(backends.first->find(freed.handle), nullptr);
  EXPECT_THROW((void)backends.first->resolve(freed.handle), UsageError);
  backends.first->deallocate(freed);
  EXPECT_NE(backends.first->find(live.handle), nullptr) << "a second free freed another segment";
  EXPECT_EQ(backends.device->live_allocations(), 1U);
  backends.first->deallocate(live);
  EXPECT_EQ(backends.device->live_allocations(), 0U);
}

TEST(VulkanAllocationBudget, TheDevicesLimitHoldsForAllItsBackendsTogether) {
  TwoBackendsOnOneDevice backends(3);
  EXPECT_EQ(backends.first->max_live_allocations(), 3U);
  EXPECT_EQ(backends.second->max_live_allocations(), 3U);
  std::vector<Allocation> firsts{backends.first->allocate(4096), backends.first->allocate(4096)};
  const Allocation second = backends.second->allocate(4096);
  EXPECT_EQ(vulkan_backend_properties(*backends.first).live_allocations, 3U);
  EXPECT_EQ(vulkan_backend_properties(*backends.second).live_allocations, 3U)
      << "the device's count, not the backend's";
  for (VulkanBackend* backend : {backends.first.get(), backends.second.get()}) {
    try {
      (void)backend->allocate(4096);
      FAIL() << "a fourth allocation on the device passed a limit of 3";
    } catch (const OutOfMemoryError& error) {
      EXPECT_THAT(error.what(), HasSubstr("allows 3 live device allocations"));
    }
  }
  EXPECT_EQ(backends.device->live_allocations(), 3U) << "a refused allocation takes nothing";

  backends.first->deallocate(firsts.back());
  firsts.pop_back();
  const Allocation again = backends.second->allocate(4096);  // the room the first gave back
  EXPECT_THROW((void)backends.first->allocate(4096), OutOfMemoryError);

  // A backend destroyed with segments still live gives them back to the device.
  backends.first.reset();
  EXPECT_EQ(backends.device->live_allocations(), 2U);
  const Allocation third = backends.second->allocate(4096);
  for (const Allocation& allocation : {second, again, third}) {
    backends.second->deallocate(allocation);
  }
  EXPECT_EQ(backends.device->live_allocations(), 0U);
}

// Threads on two backends of one device make and free segments against a
// limit they contend for: the device's count never passes it, each thread's
// buffer keeps resolving, and nothing is left counted at the end.
TEST(VulkanAllocationBudget, ConcurrentAllocationsOnTwoBackendsNeverPassTheDevicesLimit) {
  constexpr std::size_t kLimit = 4;
  TwoBackendsOnOneDevice backends(kLimit);
  auto first_pool = std::make_unique<BufferPool>(backends.first);
  auto second_pool = std::make_unique<BufferPool>(backends.second);
  BufferRef first_buffer = first_pool->get_buffer(256);
  BufferRef second_buffer = second_pool->get_buffer(256);
  constexpr int kThreads = 4;
  constexpr int kRounds = 200;
  std::atomic<int> made{0};
  std::atomic<int> refused{0};
  std::atomic<std::uint32_t> most_live{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int thread = 0; thread < kThreads; ++thread) {
    threads.emplace_back([&, thread] {
      VulkanBackend& backend = thread % 2 == 0 ? *backends.first : *backends.second;
      const BufferRef mine = thread % 2 == 0 ? first_buffer : second_buffer;
      for (int round = 0; round < kRounds; ++round) {
        try {
          const Allocation segment =
              backend.allocate(std::size_t{4096} * (1 + (thread + round) % 3));
          made.fetch_add(1);
          const std::uint32_t live = backends.device->live_allocations();
          std::uint32_t most = most_live.load();
          while (live > most && !most_live.compare_exchange_weak(most, live)) {
          }
          EXPECT_NE(backend.find(segment.handle), nullptr);
          EXPECT_NE(vulkan_buffer_range(mine).buffer, VK_NULL_HANDLE);
          backend.deallocate(segment);
        } catch (const OutOfMemoryError&) {
          refused.fetch_add(1);  // the limit, taken by the other threads for now
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_GT(made.load(), 0);
  EXPECT_LE(most_live.load(), kLimit);
  EXPECT_EQ(backends.device->live_allocations(), 2U) << "the two pools' segments";
  first_buffer.reset();
  second_buffer.reset();
  first_pool.reset();
  second_pool.reset();
  EXPECT_EQ(backends.device->live_allocations(), 0U);
}

}  // namespace
}  // namespace bufferpool::testing
