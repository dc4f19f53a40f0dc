// Backend::memory_budget() on the Vulkan backend: the heap's budget and use
// where the device offers VK_EXT_memory_budget, std::nullopt where it does
// not. Whether the device offers it is asked of the loader here, apart from
// the backend, so that a backend that never turns the extension on fails.
#include "vulkan_test_support.hpp"

#include <bufferpool/vulkan.hpp>

#include <gtest/gtest.h>
#include <vulkan/vulkan.h>

#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace bufferpool::testing {
namespace {

/// Whether the device named `device_name` offers `extension`, by the
/// loader's own account; nullopt when no device has that name.
std::optional<bool> device_offers(const std::string& device_name, const char* extension) {
  VkApplicationInfo application{};
  application.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
  application.apiVersion = VK_API_VERSION_1_2;
  VkInstanceCreateInfo info{};
  info.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
  info.pApplicationInfo = &application;
  VkInstance instance = VK_NULL_HANDLE;
  if (vkCreateInstance(&info, nullptr, &instance) != VK_SUCCESS) return std::nullopt;
  std::uint32_t count = 0;
  vkEnumeratePhysicalDevices(instance, &count, nullptr);
  std::vector<VkPhysicalDevice> devices(count);
  vkEnumeratePhysicalDevices(instance, &count, devices.data());
  std::optional<bool> offered;
  for (VkPhysicalDevice device : devices) {
    VkPhysicalDeviceProperties properties{};
    vkGetPhysicalDeviceProperties(device, &properties);
    if (device_name != properties.deviceName) continue;
    std::uint32_t extension_count = 0;
    vkEnumerateDeviceExtensionProperties(device, nullptr, &extension_count, nullptr);
    std::vector<VkExtensionProperties> extensions(extension_count);
    vkEnumerateDeviceExtensionProperties(device, nullptr, &extension_count, extensions.data());
    offered = false;
    for (const auto& offered_extension : extensions) {
      if (std::strcmp(offered_extension.extensionName, extension) == 0) offered = true;
    }
    break;
  }
  vkDestroyInstance(instance, nullptr);
  return offered;
}

TEST(VulkanMemoryBudget, IsTheHeapsBudgetWhereTheDeviceOffersTheExtensionAndNoneElsewhere) {
  const auto backend = make_vulkan_backend(validated_options());
  const VulkanBackendProperties properties = vulkan_backend_properties(*backend);
  const auto offered = device_offers(properties.device_name, VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
  ASSERT_TRUE(offered.has_value()) << "the loader does not list " << properties.device_name;
  EXPECT_EQ(properties.memory_budget, *offered);
  ASSERT_GT(properties.heap_bytes, 0U);

  const std::optional<MemoryBudget> before = backend->memory_budget();
  if (!*offered) {
    EXPECT_FALSE(before.has_value())
        << properties.device_name << " has no VK_EXT_memory_budget, yet a budget came back";
    return;
  }
  ASSERT_TRUE(before.has_value());
  EXPECT_GT(before->budget_bytes, 0U);
  EXPECT_LE(before->budget_bytes, properties.heap_bytes) << "a budget is at most the heap";
  EXPECT_LE(before->usage_bytes, properties.heap_bytes);

  // A segment of 64 MiB shows in the heap's use.
  constexpr std::size_t kSegmentBytes = std::size_t{64} << 20;
  const Allocation segment = backend->allocate(kSegmentBytes);
  const std::optional<MemoryBudget> during = backend->memory_budget();
  backend->deallocate(segment);
  ASSERT_TRUE(during.has_value());
  EXPECT_GE(during->usage_bytes, before->usage_bytes + kSegmentBytes / 2)
      << "before: " << before->usage_bytes << " bytes, with the segment: " << during->usage_bytes;
}

}  // namespace
}  // namespace bufferpool::testing
