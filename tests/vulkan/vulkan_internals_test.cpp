// Parts of the Vulkan backend that need no device to test: the names of
// Vulkan's result codes, the device picker's ranking, and the device types'
// names.
#include "backends/vulkan/vulkan_device.hpp"
#include "backends/vulkan/vulkan_error.hpp"

#include <bufferpool/errors.hpp>
#include <bufferpool/vulkan.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace bufferpool::vulkan_detail {
namespace {

using ::testing::HasSubstr;

TEST(VulkanResultNames, EveryCodeOfTheHeadersHasItsOwnName) {
  // Codes of Vulkan 1.1 to 1.3 and of extensions, which a hand-written list
  // of the 1.0 codes reported as VK_ERROR_UNKNOWN.
  EXPECT_STREQ(result_name(VK_ERROR_OUT_OF_DEVICE_MEMORY), "VK_ERROR_OUT_OF_DEVICE_MEMORY");
  EXPECT_STREQ(result_name(VK_ERROR_FRAGMENTATION), "VK_ERROR_FRAGMENTATION");
  EXPECT_STREQ(result_name(VK_ERROR_INVALID_EXTERNAL_HANDLE), "VK_ERROR_INVALID_EXTERNAL_HANDLE");
  EXPECT_STREQ(result_name(VK_PIPELINE_COMPILE_REQUIRED), "VK_PIPELINE_COMPILE_REQUIRED");
  EXPECT_STREQ(result_name(VK_ERROR_COMPRESSION_EXHAUSTED_EXT),
               "VK_ERROR_COMPRESSION_EXHAUSTED_EXT");
  EXPECT_STREQ(result_name(VK_ERROR_UNKNOWN), "VK_ERROR_UNKNOWN");
}

TEST(VulkanResultNames, AFailureCarriesItsNameAndNumberAndOutOfMemoryIsItsOwnError) {
  try {
    throw_result(VK_ERROR_FRAGMENTATION, "vkAllocateMemory of 4 MiB on test");
  } catch (const OutOfMemoryError&) {
    FAIL() << "fragmentation is not a lack of memory";
  } catch (const BackendError& error) {
    EXPECT_THAT(error.what(), HasSubstr("vkAllocateMemory of 4 MiB on test"));
    EXPECT_THAT(error.what(), HasSubstr("VK_ERROR_FRAGMENTATION (-1000161000)"));
  }
  // A code no header knows yet: its number says what it was.
  try {
    throw_result(static_cast<VkResult>(-1234567), "vkQueueSubmit");
  } catch (const BackendError& error) {
    EXPECT_THAT(error.what(), HasSubstr("(-1234567)"));
  }
  try {
    throw_result(VK_ERROR_OUT_OF_DEVICE_MEMORY, "vkAllocateMemory");
    FAIL();
  } catch (const OutOfMemoryError& error) {
    EXPECT_THAT(error.what(), HasSubstr("VK_ERROR_OUT_OF_DEVICE_MEMORY"));
    EXPECT_THAT(error.what(), HasSubstr("device has no memory left"));
    EXPECT_THAT(error.what(), ::testing::Not(HasSubstr("PoolConfig")))
        << "a backend names no layer above it";
  }
}

VulkanDeviceInfo device(std::uint32_t index, VulkanDeviceType type, bool usable = true) {
  VulkanDeviceInfo info;
  info.index = index;
  info.name = std::string(to_string(type)) + " device " + std::to_string(index);
  info.type = type;
  info.api_version = VK_API_VERSION_1_3;
  info.usable = usable;
  return info;
}

TEST(VulkanDevicePicker, PrefersDiscreteThenIntegratedThenVirtualThenCpu) {
  using enum VulkanDeviceType;
  EXPECT_EQ(choose_device({device(0, cpu), device(1, integrated_gpu), device(2, discrete_gpu),
                           device(3, virtual_gpu)},
                          "", "test"),
            2U);
  EXPECT_EQ(choose_device({device(0, cpu), device(1, virtual_gpu), device(2, integrated_gpu)}, "",
                          "test"),
            2U);
  EXPECT_EQ(choose_device({device(0, other), device(1, cpu), device(2, virtual_gpu)}, "", "test"),
            2U);
  EXPECT_EQ(choose_device({device(0, other), device(1, cpu)}, "", "test"), 1U);
  // An unusable device is passed over, however preferred its type.
  EXPECT_EQ(choose_device({device(0, discrete_gpu, false), device(1, cpu)}, "", "test"), 1U);
  // Among equals, the first listed.
  EXPECT_EQ(
      choose_device({device(0, cpu), device(1, discrete_gpu), device(2, discrete_gpu)}, "", "test"),
      1U);
}

TEST(VulkanDevicePicker, ANamedDeviceIsFoundByIndexOrNameAndAMissingOneListsTheDevices) {
  using enum VulkanDeviceType;
  const std::vector<VulkanDeviceInfo> devices = {device(0, discrete_gpu), device(1, cpu)};
  EXPECT_EQ(choose_device(devices, "1", "test"), 1U);
  EXPECT_EQ(choose_device(devices, "CPU DEV", "test"), 1U) << "names match case-insensitively";
  try {
    (void)choose_device(devices, "7", "the test's option");
    FAIL();
  } catch (const NoVulkanDeviceError&) {
    FAIL() << "a device that does not match is not a missing driver";
  } catch (const BackendError& error) {
    EXPECT_THAT(error.what(), HasSubstr("the test's option asks for Vulkan device \"7\""));
    EXPECT_THAT(error.what(), HasSubstr("0: discrete device 0 (discrete, Vulkan 1.3)"));
    EXPECT_THAT(error.what(), HasSubstr("1: cpu device 1 (cpu, Vulkan 1.3)"));
  }
  EXPECT_THROW((void)choose_device({}, "", "test"), NoVulkanDeviceError);
  EXPECT_THROW((void)choose_device({device(0, cpu, false)}, "", "test"), NoVulkanDeviceError);
}

TEST(VulkanMemoryPlacementNames, EachNameParsesToItsPlacementAndAnUnknownOneListsTheNames) {
  using enum VulkanMemoryPlacement;
  for (const VulkanMemoryPlacement placement : {automatic, host_visible, device_local}) {
    EXPECT_EQ(parse_vulkan_memory_placement(to_string(placement)), placement)
        << to_string(placement);
  }
  EXPECT_EQ(to_string(host_visible), "host_visible");
  try {
    (void)parse_vulkan_memory_placement("mapped");
    FAIL();
  } catch (const ConfigError& error) {
    EXPECT_THAT(error.what(), HasSubstr("\"mapped\" is not a Vulkan memory placement"));
    for (const char* name : {"\"automatic\"", "\"host_visible\"", "\"device_local\""}) {
      EXPECT_THAT(error.what(), HasSubstr(name));
    }
  }
}

TEST(VulkanDeviceTypeNames, EachNameParsesToItsTypeAndAnUnknownOneListsTheNames) {
  using enum VulkanDeviceType;
  for (const VulkanDeviceType type : {other, cpu, virtual_gpu, integrated_gpu, discrete_gpu}) {
    EXPECT_EQ(parse_vulkan_device_type(to_string(type)), type) << to_string(type);
  }
  EXPECT_EQ(to_string(discrete_gpu), "discrete");
  EXPECT_EQ(to_string(virtual_gpu), "virtual");
  try {
    (void)parse_vulkan_device_type("gpu");
    FAIL();
  } catch (const ConfigError& error) {
    EXPECT_THAT(error.what(), HasSubstr("\"gpu\""));
    for (const char* name :
         {"\"other\"", "\"cpu\"", "\"virtual\"", "\"integrated\"", "\"discrete\""}) {
      EXPECT_THAT(error.what(), HasSubstr(name));
    }
  }
}

TEST(VulkanDeviceTypeNames, TheListedDevicesHaveTypesAndLavapipeIsACpu) {
  for (const VulkanDeviceInfo& info : list_vulkan_devices()) {
    EXPECT_NE(to_string(info.type), "unknown") << info.name;
    if (info.name.find("llvmpipe") != std::string::npos) {
      EXPECT_EQ(info.type, VulkanDeviceType::cpu);
    }
  }
}

}  // namespace
}  // namespace bufferpool::vulkan_detail
