// Neighbours stay safe: a kernel that writes (and reads) far past the end of
// its buffer leaves the other buffers of its segment as they were, because
// the descriptor covers only the buffer's range and the device runs with
// robust buffer access.
#include "vulkan_test_support.hpp"

#include <bufferpool/manager.hpp>
#include <bufferpool/vulkan.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <vector>

namespace bufferpool::testing {
namespace {

struct WritePastEndParams {
  std::uint32_t n;
  std::uint32_t far;
};

std::vector<std::uint32_t> pattern_of(int buffer, std::uint32_t words) {
  std::vector<std::uint32_t> pattern(words);
  for (std::uint32_t word = 0; word < words; ++word) {
    pattern[word] = 0xA5000000U | (static_cast<std::uint32_t>(buffer) << 12) | word;
  }
  return pattern;
}

TEST(VulkanRobustness, AKernelWritingFarPastItsBufferLeavesItsNeighboursInTheSegmentIntact) {
  for (const auto placement :
       {VulkanMemoryPlacement::automatic, VulkanMemoryPlacement::device_local}) {
    SCOPED_TRACE(placement == VulkanMemoryPlacement::automatic ? "automatic" : "device_local");
    ComputeManager manager(validated_manager_options(placement));
    const auto properties = vulkan_backend_properties(manager.pool().backend());
    ASSERT_TRUE(properties.robust_buffer_access)
        << "every conformant device offers robustBufferAccess, and the backend turns it on";
    manager.load_shader_library(
        std::filesystem::path(BUFFERPOOL_TEST_SHADER_DIR) / "write_past_end.comp", "robustness");
    manager.create_compute_pipeline("robustness", "write_past_end", "write_past_end");

    // 1 KiB buffers, a multiple of the alignment, so that consecutive ones
    // sit end to end: the first word past one buffer is the next one's first.
    constexpr std::uint32_t kWords = 256;
    constexpr int kBuffers = 33;
    auto leaked = manager.create_buffer(std::vector<std::uint32_t>(kWords, 0xFFFFFFFFU));
    std::vector<BufferRef> buffers;
    for (int index = 0; index < kBuffers; ++index) {
      buffers.push_back(manager.create_buffer(pattern_of(index, kWords)));
    }

    // The target: a buffer with a neighbour right before and right after it
    // in the same segment.
    std::map<std::uint64_t, std::vector<int>> by_segment;
    for (int index = 0; index < kBuffers; ++index) {
      by_segment[buffers[index].native_handle()].push_back(index);
    }
    int target = -1;
    for (auto& [segment, members] : by_segment) {
      std::sort(members.begin(), members.end(), [&](int a, int b) {
        return buffers[a].offset_bytes() < buffers[b].offset_bytes();
      });
      for (std::size_t k = 1; k + 1 < members.size() && target < 0; ++k) {
        const BufferRef& before = buffers[members[k - 1]];
        const BufferRef& middle = buffers[members[k]];
        const BufferRef& after = buffers[members[k + 1]];
        if (before.offset_bytes() + before.capacity() == middle.offset_bytes() &&
            middle.offset_bytes() + middle.capacity() == after.offset_bytes()) {
          target = members[k];
        }
      }
    }
    ASSERT_GE(target, 0) << "the pool carves consecutive small buffers side by side from one "
                            "segment; without neighbours in the segment there is nothing to test";
    ASSERT_EQ(buffers[target].capacity(), kWords * 4U);

    // Far: 16 MiB past the end, beyond any segment the pool makes of small
    // buffers; the kernel also writes every 4000 bytes across the segment.
    manager.execute_shader("write_past_end", {buffers[target]}, {leaked}, TotalThreads{kWords},
                           WritePastEndParams{kWords, 1U << 22});

    const auto written = manager.get_buffer_data<std::uint32_t>(buffers[target]);
    for (std::uint32_t word = 0; word < kWords; ++word) {
      ASSERT_EQ(written[word], word + 1) << "the in-range part, word " << word;
    }
    for (int index = 0; index < kBuffers; ++index) {
      if (index == target) continue;
      ASSERT_EQ(manager.get_buffer_data<std::uint32_t>(buffers[index]), pattern_of(index, kWords))
          << "buffer " << index << " at offset " << buffers[index].offset_bytes()
          << " (the target is at " << buffers[target].offset_bytes() << ")";
    }
    if (properties.robust_buffer_access2) {
      // robustBufferAccess2: a read past the range gives zero, never a
      // neighbour's bytes.
      EXPECT_EQ(manager.get_buffer_data<std::uint32_t>(leaked),
                std::vector<std::uint32_t>(kWords, 0U));
    } else {
      // robustBufferAccess alone lets such a read return any bytes of the
      // segment, so only the writes are checked.
      RecordProperty("reads_checked", "no: the device has no robustBufferAccess2");
    }
  }
}

}  // namespace
}  // namespace bufferpool::testing
