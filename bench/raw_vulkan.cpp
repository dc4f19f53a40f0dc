#include "raw_vulkan.hpp"

#include <stdexcept>
#include <string>
#include <vector>

namespace bufferpool::bench {
namespace {

void check(VkResult result, const char* call) {
  if (result != VK_SUCCESS) {
    throw std::runtime_error(std::string("raw Vulkan: ") + call + " failed with VkResult " +
                             std::to_string(static_cast<int>(result)));
  }
}

int type_rank(VkPhysicalDeviceType type) {
  switch (type) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
      return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
      return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
      return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
      return 3;
    default:
      return 4;
  }
}

constexpr VkBufferUsageFlags kUsage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
                                      VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                      VK_BUFFER_USAGE_TRANSFER_DST_BIT;

}  // namespace

RawVulkanDevice::RawVulkanDevice() {
  VkApplicationInfo application{};
  application.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
  application.pApplicationName = "bufferpool bench (raw driver)";
  application.apiVersion = VK_API_VERSION_1_2;
  VkInstanceCreateInfo instance_info{};
  instance_info.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
  instance_info.pApplicationInfo = &application;
  check(vkCreateInstance(&instance_info, nullptr, &instance_), "vkCreateInstance");

  try {
    std::uint32_t count = 0;
    check(vkEnumeratePhysicalDevices(instance_, &count, nullptr), "vkEnumeratePhysicalDevices");
    std::vector<VkPhysicalDevice> devices(count);
    check(vkEnumeratePhysicalDevices(instance_, &count, devices.data()),
          "vkEnumeratePhysicalDevices");
    int best_rank = 99;
    for (VkPhysicalDevice candidate : devices) {
      VkPhysicalDeviceProperties properties{};
      vkGetPhysicalDeviceProperties(candidate, &properties);
      if (type_rank(properties.deviceType) < best_rank) {
        best_rank = type_rank(properties.deviceType);
        physical_device_ = candidate;
        name_ = properties.deviceName;
      }
    }
    if (physical_device_ == VK_NULL_HANDLE) throw std::runtime_error("raw Vulkan: no device");

    std::uint32_t family_count = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(physical_device_, &family_count, nullptr);
    std::vector<VkQueueFamilyProperties> families(family_count);
    vkGetPhysicalDeviceQueueFamilyProperties(physical_device_, &family_count, families.data());
    std::uint32_t family = 0;
    for (std::uint32_t index = 0; index < family_count; ++index) {
      if ((families[index].queueFlags & VK_QUEUE_COMPUTE_BIT) != 0) {
        family = index;
        break;
      }
    }
    const float priority = 1.0F;
    VkDeviceQueueCreateInfo queue_info{};
    queue_info.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
    queue_info.queueFamilyIndex = family;
    queue_info.queueCount = 1;
    queue_info.pQueuePriorities = &priority;
    VkDeviceCreateInfo device_info{};
    device_info.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
    device_info.queueCreateInfoCount = 1;
    device_info.pQueueCreateInfos = &queue_info;
    check(vkCreateDevice(physical_device_, &device_info, nullptr, &device_), "vkCreateDevice");
    vkGetPhysicalDeviceMemoryProperties(physical_device_, &memory_properties_);

    // The memory types a storage buffer may use.
    VkBufferCreateInfo probe_info{};
    probe_info.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
    probe_info.size = 256;
    probe_info.usage = kUsage;
    probe_info.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    VkBuffer probe = VK_NULL_HANDLE;
    check(vkCreateBuffer(device_, &probe_info, nullptr, &probe), "vkCreateBuffer");
    VkMemoryRequirements requirements{};
    vkGetBufferMemoryRequirements(device_, probe, &requirements);
    vkDestroyBuffer(device_, probe, nullptr);
    memory_type_bits_ = requirements.memoryTypeBits;
  } catch (...) {
    if (device_ != VK_NULL_HANDLE) vkDestroyDevice(device_, nullptr);
    vkDestroyInstance(instance_, nullptr);
    throw;
  }
}

RawVulkanDevice::~RawVulkanDevice() {
  vkDestroyDevice(device_, nullptr);
  vkDestroyInstance(instance_, nullptr);
}

void RawVulkanDevice::create_and_destroy_buffer(std::size_t size_bytes) {
  VkBufferCreateInfo buffer_info{};
  buffer_info.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
  buffer_info.size = size_bytes;
  buffer_info.usage = kUsage;
  buffer_info.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  VkBuffer buffer = VK_NULL_HANDLE;
  check(vkCreateBuffer(device_, &buffer_info, nullptr, &buffer), "vkCreateBuffer");
  VkMemoryRequirements requirements{};
  vkGetBufferMemoryRequirements(device_, buffer, &requirements);

  // Host-visible and coherent, device-local too where there is such a type
  // (what the backend's automatic placement picks on lavapipe and on
  // integrated GPUs).
  std::uint32_t chosen = UINT32_MAX;
  const VkMemoryPropertyFlags host =
      VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  for (const VkMemoryPropertyFlags wanted : {host | VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, host}) {
    for (std::uint32_t type = 0; type < memory_properties_.memoryTypeCount; ++type) {
      if ((requirements.memoryTypeBits & (1U << type)) != 0 &&
          (memory_properties_.memoryTypes[type].propertyFlags & wanted) == wanted) {
        chosen = type;
        break;
      }
    }
    if (chosen != UINT32_MAX) break;
  }
  VkMemoryAllocateInfo allocate_info{};
  allocate_info.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
  allocate_info.allocationSize = requirements.size;
  allocate_info.memoryTypeIndex = chosen;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  const VkResult allocated = vkAllocateMemory(device_, &allocate_info, nullptr, &memory);
  if (allocated != VK_SUCCESS) {
    vkDestroyBuffer(device_, buffer, nullptr);
    check(allocated, "vkAllocateMemory");
  }
  check(vkBindBufferMemory(device_, buffer, memory, 0), "vkBindBufferMemory");
  void* mapped = nullptr;
  check(vkMapMemory(device_, memory, 0, VK_WHOLE_SIZE, 0, &mapped), "vkMapMemory");
  asm volatile("" : : "r"(mapped) : "memory");
  vkUnmapMemory(device_, memory);
  vkFreeMemory(device_, memory, nullptr);
  vkDestroyBuffer(device_, buffer, nullptr);
}

}  // namespace bufferpool::bench
