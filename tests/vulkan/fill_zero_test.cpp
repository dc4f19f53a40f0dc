// Zeroing: VulkanBackend::fill_zero on mapped memory (memset) and on
// device-local memory (vkCmdFillBuffer), directly and through
// PoolConfig::zero_on_reuse.
#include "vulkan_test_support.hpp"

#include <bufferpool/manager.hpp>
#include <bufferpool/vulkan.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <vector>

namespace bufferpool::testing {
namespace {

using ::testing::HasSubstr;

constexpr VulkanMemoryPlacement kPlacements[] = {VulkanMemoryPlacement::automatic,
                                                 VulkanMemoryPlacement::device_local};

const char* name_of(VulkanMemoryPlacement placement) {
  return placement == VulkanMemoryPlacement::automatic ? "automatic (mapped on lavapipe)"
                                                       : "device_local";
}

TEST(VulkanFillZero, ZeroesExactlyTheRangeAskedForAndRefusesOthers) {
  for (const auto placement : kPlacements) {
    SCOPED_TRACE(name_of(placement));
    ComputeManager manager(validated_manager_options(placement));
    Backend& backend = manager.pool().backend();
    ASSERT_EQ(vulkan_backend_properties(backend).host_visible,
              placement == VulkanMemoryPlacement::automatic)
        << "the test runs both paths, memset and vkCmdFillBuffer";
    auto buffer = manager.create_buffer(std::vector<std::uint32_t>(1024, 0xA5A5A5A5U));
    // fill_zero finds the segment by its handle, as the pool passes it.
    const Allocation segment{buffer.native_handle(), nullptr, 0};
    manager.wait_idle();
    backend.fill_zero(segment, buffer.offset_bytes() + 1024, 2048);

    const auto words = manager.get_buffer_data<std::uint32_t>(buffer);
    for (std::size_t word = 0; word < words.size(); ++word) {
      const bool zeroed = word >= 256 && word < 768;
      ASSERT_EQ(words[word], zeroed ? 0U : 0xA5A5A5A5U) << "word " << word;
    }

    constexpr std::size_t kHuge = std::numeric_limits<std::size_t>::max() / 2;
    EXPECT_THROW(backend.fill_zero(segment, kHuge, 4), InvalidArgumentError);
    EXPECT_THROW(backend.fill_zero(segment, buffer.offset_bytes(), kHuge * 2), InvalidArgumentError)
        << "offset + size must not wrap";
    if (placement == VulkanMemoryPlacement::device_local) {
      try {
        backend.fill_zero(segment, buffer.offset_bytes() + 2, 8);
        FAIL() << "vkCmdFillBuffer takes multiples of 4 bytes";
      } catch (const InvalidArgumentError& error) {
        EXPECT_THAT(error.what(), HasSubstr("multiples of 4"));
      }
    }
    EXPECT_THROW(backend.fill_zero(Allocation{12345, nullptr, 64}, 0, 64), UsageError);
    ComputeManager other(validated_manager_options(placement));
    EXPECT_THROW(other.pool().backend().fill_zero(segment, buffer.offset_bytes(), 4), UsageError)
        << "another backend's segment";
  }
}

// Issue 8: the pool calls fill_zero before it hands a buffer out again.
TEST(VulkanFillZero, ZeroOnReuseHandsOutAReleasedBufferAsZeros) {
  for (const auto placement : kPlacements) {
    SCOPED_TRACE(name_of(placement));
    ManagerOptions options = validated_manager_options(placement);
    options.pool.zero_on_reuse = true;
    ComputeManager manager(options);
    auto first = manager.create_buffer(std::vector<std::uint32_t>(1024, 0xA5A5A5A5U));
    const auto place = std::pair(first.native_handle(), first.offset_bytes());
    ASSERT_EQ(manager.get_buffer_data<std::uint32_t>(first),
              std::vector<std::uint32_t>(1024, 0xA5A5A5A5U));
    manager.wait_idle();  // the upload's copy done, so the buffer is free at once
    first.reset();

    auto again = manager.create_buffer(4096);
    ASSERT_EQ(std::pair(again.native_handle(), again.offset_bytes()), place)
        << "the released buffer is the one handed out again";
    EXPECT_EQ(manager.get_buffer_data<std::uint32_t>(again), std::vector<std::uint32_t>(1024, 0U))
        << "zero_on_reuse: no request sees what another wrote";
  }
}

}  // namespace
}  // namespace bufferpool::testing
