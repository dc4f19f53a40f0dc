// Buffers as ranges of segments on Vulkan: the alignment the backend asks
// for, the live-allocation limit it enforces, the VkBuffer range it hands
// out, and many buffers living in few device allocations, each with its own
// bytes through uploads, dispatches and downloads.
#include "vulkan_test_support.hpp"

#include <bufferpool/backend_adaptors.hpp>
#include <bufferpool/bufferpool.hpp>
#include <bufferpool/manager.hpp>
#include <bufferpool/vulkan.hpp>
#include <bufferpool/vulkan_buffer_range.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace bufferpool::testing {
namespace {

using ::testing::HasSubstr;

struct SaxpyParams {
  std::uint32_t n;
  float a;
};

/// Where a buffer lives: (segment, offset), what distinguishes two buffers
/// now that many share one allocation.
std::pair<std::uint64_t, std::size_t> place_of(const BufferRef& buffer) {
  return {buffer.native_handle(), buffer.offset_bytes()};
}

/// The buffers grouped by segment, each group sorted by offset.
std::map<std::uint64_t, std::vector<const BufferRef*>> by_segment(
    const std::vector<BufferRef>& buffers) {
  std::map<std::uint64_t, std::vector<const BufferRef*>> groups;
  for (const auto& buffer : buffers) groups[buffer.native_handle()].push_back(&buffer);
  for (auto& [segment, group] : groups) {
    std::sort(group.begin(), group.end(), [](const BufferRef* a, const BufferRef* b) {
      return a->offset_bytes() < b->offset_bytes();
    });
  }
  return groups;
}

/// Fails unless no two buffers share a byte: within a segment, each ends
/// (offset + capacity) at or before the next begins.
void expect_disjoint(const std::vector<BufferRef>& buffers) {
  for (const auto& [segment, group] : by_segment(buffers)) {
    for (std::size_t i = 1; i < group.size(); ++i) {
      ASSERT_LE(group[i - 1]->offset_bytes() + group[i - 1]->capacity(), group[i]->offset_bytes())
          << "buffers at offsets " << group[i - 1]->offset_bytes() << " and "
          << group[i]->offset_bytes() << " of segment " << segment << " overlap";
    }
  }
}

TEST(VulkanSegments, TheBufferAlignmentMeetsTheDeviceAndIsAPowerOfTwoOfAtLeast256) {
  const auto backend = make_vulkan_backend(validated_options());
  const VulkanBackendProperties properties = vulkan_backend_properties(*backend);
  const std::size_t alignment = backend->buffer_alignment_bytes();
  EXPECT_EQ(properties.buffer_alignment_bytes, alignment);
  EXPECT_TRUE(std::has_single_bit(alignment)) << alignment;
  EXPECT_GE(alignment, 256U);
  EXPECT_EQ(alignment % properties.min_storage_buffer_offset_alignment, 0U)
      << "a descriptor must be able to bind a buffer at any offset the pool picks";
  EXPECT_EQ(alignment % 4, 0U) << "vkCmdFillBuffer offsets";
}

TEST(VulkanSegments, TheLiveAllocationLimitIsTheDevicesOrALowerOneAndIsEnforced) {
  const auto unlimited = make_vulkan_backend(validated_options());
  const auto device = vulkan_backend_properties(*unlimited);
  EXPECT_EQ(unlimited->max_live_allocations(), device.device_max_memory_allocation_count);
  EXPECT_EQ(device.max_live_allocations, device.device_max_memory_allocation_count);

  auto options = validated_options();
  options.max_live_allocations = std::numeric_limits<std::size_t>::max();
  EXPECT_EQ(make_vulkan_backend(options)->max_live_allocations(),
            device.device_max_memory_allocation_count)
      << "a limit above the device's is the device's";

  options.max_live_allocations = 3;
  const auto limited = make_vulkan_backend(options);
  EXPECT_EQ(limited->max_live_allocations(), 3U);
  std::vector<Allocation> live;
  for (int i = 0; i < 3; ++i) live.push_back(limited->allocate(64 * 1024));
  EXPECT_EQ(vulkan_backend_properties(*limited).live_allocations, 3U);
  try {
    (void)limited->allocate(64 * 1024);
    FAIL() << "a fourth allocation passed a limit of 3";
  } catch (const OutOfMemoryError& error) {
    EXPECT_THAT(error.what(), HasSubstr("allows 3 live device allocations"));
    EXPECT_THAT(error.what(), HasSubstr("max_live_allocations"));
    EXPECT_EQ(error.requested_bytes(), 64U * 1024);
  }
  limited->deallocate(live.back());
  live.pop_back();
  live.push_back(limited->allocate(64 * 1024));  // the freed one's room is back
  for (const auto& allocation : live) limited->deallocate(allocation);
  EXPECT_EQ(vulkan_backend_properties(*limited).live_allocations, 0U);
}

// Issue 8: a pool on a device that allows 64 live allocations holds 10,000
// small buffers at once, because it carves them out of shared segments.
TEST(VulkanSegments, TenThousandLiveBuffersFitInSixtyFourDeviceAllocations) {
  constexpr std::size_t kLimit = 64;
  constexpr std::size_t kBuffers = 10'000;
  auto options = validated_options();
  options.max_live_allocations = kLimit;
  const auto vulkan = make_vulkan_backend(options);
  ASSERT_EQ(vulkan->max_live_allocations(), kLimit);
  ASSERT_TRUE(vulkan_backend_properties(*vulkan).host_visible)
      << "this test writes and reads through mapped memory";
  const auto counting = std::make_shared<CountingBackend>(vulkan);
  BufferPool pool(counting);

  // Mixed small sizes, 256 B to 64 KiB, most of them small (as in a model's
  // step: many small tensors, a few larger ones): about 47 MiB in all, far
  // more buffers than allocations, and well within 64 segments of 2 MiB.
  std::mt19937 random(8);
  std::vector<std::size_t> sizes(kBuffers);
  for (std::size_t i = 0; i < kBuffers; ++i) {
    sizes[i] = random() % 100 < 92 ? 256 + random() % (4096 - 256 + 1)
                                   : 4097 + random() % (65536 - 4097 + 1);
  }
  sizes[0] = 256;
  sizes[1] = 65536;

  std::vector<BufferRef> buffers;
  buffers.reserve(kBuffers);
  for (std::size_t i = 0; i < kBuffers; ++i) {
    try {
      buffers.push_back(pool.get_buffer(sizes[i]));
    } catch (const OutOfMemoryError& error) {
      FAIL() << "buffer " << i << " of " << kBuffers << " (" << sizes[i] << " bytes), with "
             << counting->live_allocations() << " device allocations live: " << error.what();
    }
    ASSERT_LE(counting->live_allocations(), kLimit);
    // A pattern of its own in every word, so that any overlap shows.
    BufferRef& buffer = buffers.back();
    ASSERT_GE(buffer.size(), sizes[i]);
    std::byte* bytes = buffer.data();
    for (std::size_t word = 0; word < sizes[i] / 4; ++word) {
      const auto value = static_cast<std::uint32_t>(i * 2654435761U + word);
      std::memcpy(bytes + word * 4, &value, 4);
    }
  }
  EXPECT_LE(counting->live_allocations(), kLimit);
  EXPECT_LE(vulkan_backend_properties(*vulkan).live_allocations, kLimit);

  std::vector<std::pair<std::uint64_t, std::size_t>> places;
  for (const auto& buffer : buffers) places.push_back(place_of(buffer));
  std::sort(places.begin(), places.end());
  EXPECT_EQ(std::adjacent_find(places.begin(), places.end()), places.end())
      << "two live buffers at the same place";
  expect_disjoint(buffers);
  for (const auto& buffer : buffers) {
    EXPECT_EQ(buffer.offset_bytes() % vulkan->buffer_alignment_bytes(), 0U);
    const auto range = vulkan_buffer_range(buffer);
    EXPECT_EQ(range.offset, buffer.offset_bytes());
    EXPECT_EQ(range.range, buffer.size());
  }

  for (std::size_t i = 0; i < kBuffers; ++i) {
    const std::byte* bytes = buffers[i].data();
    for (std::size_t word = 0; word < sizes[i] / 4; ++word) {
      std::uint32_t value = 0;
      std::memcpy(&value, bytes + word * 4, 4);
      ASSERT_EQ(value, static_cast<std::uint32_t>(i * 2654435761U + word))
          << "buffer " << i << ", word " << word << ": another buffer wrote here";
    }
  }
  buffers.clear();
  pool.clear();
  EXPECT_EQ(counting->live_allocations(), 0U);
}

// Segments made and freed on several threads at once, against a limit the
// threads contend for, while they resolve a pooled buffer's range: the count
// never passes the limit, every handle resolves, and nothing is left counted
// at the end.
TEST(VulkanSegments, ConcurrentAllocationsKeepTheDevicesCountAndEveryHandleExact) {
  constexpr std::size_t kLimit = 4;
  auto options = validated_options();
  options.max_live_allocations = kLimit;
  const auto backend = make_vulkan_backend(options);
  auto pool = std::make_unique<BufferPool>(backend);
  BufferRef shared = pool->get_buffer(256);  // its segment is one of the four
  constexpr int kThreads = 4;
  constexpr int kRounds = 300;
  std::atomic<int> made{0};
  std::vector<std::thread> threads;
  for (int thread = 0; thread < kThreads; ++thread) {
    threads.emplace_back([&, thread] {
      const BufferRef mine = shared;  // a handle per thread; the count is shared
      for (int round = 0; round < kRounds; ++round) {
        try {
          const Allocation segment = backend->allocate(4096 * (1 + (thread + round) % 3));
          made.fetch_add(1);
          EXPECT_LE(vulkan_backend_properties(*backend).live_allocations, kLimit);
          EXPECT_NE(segment.handle, mine.native_handle());
          EXPECT_NE(vulkan_buffer_range(mine).buffer, VK_NULL_HANDLE);
          backend->deallocate(segment);
        } catch (const OutOfMemoryError&) {
          // The limit, taken by the other threads for now.
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_GT(made.load(), 0);
  EXPECT_EQ(vulkan_backend_properties(*backend).live_allocations, 1U) << "the pool's segment";
  pool.reset();
  EXPECT_EQ(vulkan_backend_properties(*backend).live_allocations, 1U)
      << "a buffer still referenced keeps its segment";
  shared.reset();
  EXPECT_EQ(vulkan_backend_properties(*backend).live_allocations, 0U);
}

TEST(VulkanSegments, VulkanBufferRangeNamesTheBuffersRangeAndRefusesOtherBuffers) {
  ComputeManager manager(validated_manager_options());
  std::vector<BufferRef> buffers;
  for (int i = 0; i < 8; ++i) buffers.push_back(manager.create_buffer(1000));
  for (const auto& buffer : buffers) {
    const VulkanBufferRange range = vulkan_buffer_range(buffer);
    EXPECT_NE(range.buffer, VK_NULL_HANDLE);
    EXPECT_EQ(range.offset, buffer.offset_bytes());
    EXPECT_EQ(range.range, 1000U) << "the bytes asked for, not the capacity";
  }

  EXPECT_THROW((void)vulkan_buffer_range(BufferRef{}), UsageError);
  BufferPool host_pool(make_host_backend());
  try {
    (void)vulkan_buffer_range(host_pool.get_buffer(1000));
    FAIL() << "a host buffer has no VkBuffer";
  } catch (const UsageError& error) {
    EXPECT_THAT(error.what(), HasSubstr("not from a pool on a Vulkan backend"));
  }
  // Through an adaptor, as ManagerOptions::backend_adaptor wraps it.
  BufferPool counted(std::make_shared<CountingBackend>(make_vulkan_backend(validated_options())));
  const auto buffer = counted.get_buffer(300);
  EXPECT_EQ(vulkan_buffer_range(buffer).range, 300U);
  EXPECT_THROW((void)vulkan_backend_properties(counted.backend()), UsageError)
      << "an adaptor is not the Vulkan backend";
}

TEST(VulkanSegments, BuffersOfOneSegmentShareItsVkBufferAtDisjointOffsets) {
  ComputeManager manager(validated_manager_options());
  std::vector<BufferRef> buffers;
  for (int i = 0; i < 8; ++i) buffers.push_back(manager.create_buffer(1000));
  const auto groups = by_segment(buffers);
  const auto largest = std::max_element(groups.begin(), groups.end(), [](auto& a, auto& b) {
    return a.second.size() < b.second.size();
  });
  ASSERT_GE(largest->second.size(), 2U) << "small buffers are carved from a shared segment";
  for (std::size_t i = 1; i < largest->second.size(); ++i) {
    const auto before = vulkan_buffer_range(*largest->second[i - 1]);
    const auto after = vulkan_buffer_range(*largest->second[i]);
    EXPECT_EQ(before.buffer, after.buffer) << "one segment, one VkBuffer";
    EXPECT_LE(before.offset + before.range, after.offset);
  }
}

// Uploads, dispatches and downloads each bind or copy the buffer's own range
// of its segment: buffers side by side in one segment keep their own data,
// mapped (lavapipe's memory) and device-local (through staging buffers,
// which are carved from segments of their own).
TEST(VulkanSegments, BuffersSideBySideInASegmentKeepTheirOwnDataThroughEveryPath) {
  for (const auto placement :
       {VulkanMemoryPlacement::automatic, VulkanMemoryPlacement::device_local}) {
    SCOPED_TRACE(placement == VulkanMemoryPlacement::automatic ? "automatic" : "device_local");
    ComputeManager manager(validated_manager_options(placement));
    manager.load_builtin_shader_library("kernels");
    manager.create_compute_pipeline("kernels", "saxpy", "saxpy");
    constexpr std::uint32_t kN = 250;  // 1000 bytes: not a multiple of the alignment
    constexpr int kSets = 6;
    std::vector<BufferRef> all;
    std::vector<BufferRef> xs;
    std::vector<BufferRef> ys;
    std::vector<BufferRef> outs;
    for (int set = 0; set < kSets; ++set) {
      xs.push_back(manager.create_buffer(std::vector<float>(kN, float(set))));
      ys.push_back(manager.create_buffer(std::vector<float>(kN, 100.0F * float(set))));
      outs.push_back(manager.create_buffer(std::vector<float>(kN, -1.0F)));
      for (const auto* list : {&xs, &ys, &outs}) all.push_back(list->back());
    }
    expect_disjoint(all);
    const auto groups = by_segment(all);
    ASSERT_LT(groups.size(), all.size())
        << "the pool carves buffers out of shared segments; without that this test binds "
           "and copies nothing at a non-zero offset";
    for (int set = 0; set < kSets; ++set) {
      manager.execute_shader("saxpy", {xs[set], ys[set]}, {outs[set]}, TotalThreads{kN},
                             SaxpyParams{kN, 2.0F});
    }
    for (int set = 0; set < kSets; ++set) {
      const auto result = manager.get_buffer_data<float>(outs[set]);
      ASSERT_EQ(result.size(), kN);
      for (const float value : result)
        ASSERT_FLOAT_EQ(value, 2.0F * float(set) + 100.0F * float(set));
      EXPECT_EQ(manager.get_buffer_data<float>(xs[set]), std::vector<float>(kN, float(set)));
      EXPECT_EQ(manager.get_buffer_data<float>(ys[set]),
                std::vector<float>(kN, 100.0F * float(set)));
    }
    // An upload into one buffer leaves its neighbours alone.
    manager.upload(xs[2], std::as_bytes(std::span<const float>(std::vector<float>(kN, 7.0F))));
    EXPECT_EQ(manager.get_buffer_data<float>(xs[2]), std::vector<float>(kN, 7.0F));
    EXPECT_EQ(manager.get_buffer_data<float>(xs[1]), std::vector<float>(kN, 1.0F));
    EXPECT_EQ(manager.get_buffer_data<float>(ys[2]), std::vector<float>(kN, 200.0F));
  }
}

}  // namespace
}  // namespace bufferpool::testing
