// A Vulkan device opened directly, without bufferpool, for the raw-driver
// side of the allocation comparison: vkCreateBuffer + vkAllocateMemory +
// bind + map, and back, exactly what a program without a pool pays per
// buffer.
#pragma once

#include <vulkan/vulkan.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace bufferpool::bench {

class RawVulkanDevice {
 public:
  /// Opens the device the project's backend would pick by default (discrete,
  /// integrated, virtual, then CPU). Throws std::runtime_error without one.
  RawVulkanDevice();
  ~RawVulkanDevice();
  RawVulkanDevice(const RawVulkanDevice&) = delete;
  RawVulkanDevice& operator=(const RawVulkanDevice&) = delete;
  RawVulkanDevice(RawVulkanDevice&&) = delete;
  RawVulkanDevice& operator=(RawVulkanDevice&&) = delete;

  /// One storage buffer with its own host-visible memory, bound and mapped,
  /// then unmapped, freed and destroyed.
  void create_and_destroy_buffer(std::size_t size_bytes);

  [[nodiscard]] const std::string& name() const noexcept { return name_; }

 private:
  VkInstance instance_ = VK_NULL_HANDLE;
  VkPhysicalDevice physical_device_ = VK_NULL_HANDLE;
  VkDevice device_ = VK_NULL_HANDLE;
  std::uint32_t memory_type_bits_ = 0;
  VkPhysicalDeviceMemoryProperties memory_properties_{};
  std::string name_;
};

}  // namespace bufferpool::bench
