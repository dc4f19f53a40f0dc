#include "backends/vulkan/vulkan_backend.hpp"

#include "backends/vulkan/vulkan_error.hpp"
#include "pool/format.hpp"

#include <bufferpool/errors.hpp>

#include <algorithm>
#include <optional>

namespace bufferpool::vulkan_detail {
namespace {

constexpr VkBufferUsageFlags kUsage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
                                      VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                      VK_BUFFER_USAGE_TRANSFER_DST_BIT;

std::optional<std::uint32_t> find_memory_type(const VkPhysicalDeviceMemoryProperties& memory,
                                              std::uint32_t allowed_types,
                                              VkMemoryPropertyFlags required) {
  for (std::uint32_t index = 0; index < memory.memoryTypeCount; ++index) {
    if ((allowed_types & (1U << index)) != 0 &&
        (memory.memoryTypes[index].propertyFlags & required) == required) {
      return index;
    }
  }
  return std::nullopt;
}

std::size_t heap_bytes(const VkPhysicalDeviceMemoryProperties& memory, std::uint32_t type) {
  return static_cast<std::size_t>(memory.memoryHeaps[memory.memoryTypes[type].heapIndex].size);
}

std::size_t largest_device_local_heap(const VkPhysicalDeviceMemoryProperties& memory) {
  std::size_t largest = 0;
  for (std::uint32_t heap = 0; heap < memory.memoryHeapCount; ++heap) {
    if ((memory.memoryHeaps[heap].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) != 0) {
      largest = std::max(largest, static_cast<std::size_t>(memory.memoryHeaps[heap].size));
    }
  }
  return largest;
}

}  // namespace

VulkanBackend::VulkanBackend(std::shared_ptr<VulkanDevice> device, VulkanMemoryPlacement placement)
    : device_(std::move(device)) {
  // The memory types a storage buffer may use do not depend on its size, so
  // one probe decides the type for all.
  VkBufferCreateInfo probe_info{};
  probe_info.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
  probe_info.size = 256;
  probe_info.usage = kUsage;
  probe_info.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  VkBuffer probe = VK_NULL_HANDLE;
  check(vkCreateBuffer(device_->device(), &probe_info, nullptr, &probe), "vkCreateBuffer (probe)");
  VkMemoryRequirements requirements{};
  vkGetBufferMemoryRequirements(device_->device(), probe, &requirements);
  vkDestroyBuffer(device_->device(), probe, nullptr);

  const auto& memory = device_->memory_properties();
  const VkMemoryPropertyFlags mappable =
      VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  std::optional<std::uint32_t> type;
  switch (placement) {
    case VulkanMemoryPlacement::automatic: {
      // Mappable device-local memory is only worth it when it is most of the
      // device's memory (unified memory, resizable BAR), not a 256 MiB window.
      type = find_memory_type(memory, requirements.memoryTypeBits,
                              mappable | VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
      if (type && heap_bytes(memory, *type) >= largest_device_local_heap(memory) / 2) {
        mapped_ = true;
      } else {
        type = find_memory_type(memory, requirements.memoryTypeBits,
                                VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
        if (!type) {
          type = find_memory_type(memory, requirements.memoryTypeBits, mappable);
          mapped_ = type.has_value();
        }
      }
      break;
    }
    case VulkanMemoryPlacement::host_visible:
      type = find_memory_type(memory, requirements.memoryTypeBits, mappable);
      mapped_ = true;
      break;
    case VulkanMemoryPlacement::device_local:
      type = find_memory_type(memory, requirements.memoryTypeBits,
                              VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
      break;
  }
  if (!type) {
    throw BackendError("bufferpool: vulkan: " + device_->name() +
                       " has no memory type for storage buffers with the asked placement; "
                       "use VulkanMemoryPlacement::automatic");
  }
  memory_type_index_ = *type;
  max_allocation_bytes_ =
      std::min(device_->max_buffer_bytes(), heap_bytes(memory, memory_type_index_));
}

VulkanBackend::~VulkanBackend() {
  // The pool frees every buffer before it lets go of its backend; anything
  // left here was leaked by a bug, and is freed so the device can close.
  const std::lock_guard lock(buffers_mutex_);
  for (auto& [handle, record] : buffers_) {
    if (record->mapped != nullptr) vkUnmapMemory(device_->device(), record->memory);
    vkDestroyBuffer(device_->device(), record->buffer, nullptr);
    vkFreeMemory(device_->device(), record->memory, nullptr);
    device_->release_allocation();
  }
}

Allocation VulkanBackend::allocate(std::size_t size_bytes) {
  if (size_bytes == 0 || size_bytes > max_allocation_bytes_) {
    throw InvalidArgumentError("bufferpool: vulkan: cannot allocate " + std::to_string(size_bytes) +
                               " bytes on " + device_->name() + ": a buffer holds 1 to " +
                               std::to_string(max_allocation_bytes_) +
                               " bytes (maxMemoryAllocationSize, maxBufferSize and heap size); "
                               "split the data into smaller buffers");
  }
  if (!device_->try_reserve_allocation()) {
    // As a lack of memory, so that the pool frees idle buffers and retries.
    throw OutOfMemoryError("bufferpool: vulkan: " + device_->name() + " allows " +
                               std::to_string(device_->limits().maxMemoryAllocationCount) +
                               " live allocations (maxMemoryAllocationCount) and all are in "
                               "use; release buffers or lower PoolConfig::max_pool_size",
                           size_bytes, 0, 0);
  }
  auto record = std::make_unique<VulkanBuffer>();
  record->size_bytes = size_bytes;
  const VkDevice device = device_->device();
  try {
    VkBufferCreateInfo buffer_info{};
    buffer_info.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
    buffer_info.size = size_bytes;
    buffer_info.usage = kUsage;
    buffer_info.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    const std::string what = " of " + detail::format_bytes(size_bytes) + " on " + device_->name();
    check(vkCreateBuffer(device, &buffer_info, nullptr, &record->buffer), "vkCreateBuffer" + what);
    VkMemoryRequirements requirements{};
    vkGetBufferMemoryRequirements(device, record->buffer, &requirements);
    VkMemoryAllocateInfo allocate_info{};
    allocate_info.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
    allocate_info.allocationSize = requirements.size;
    allocate_info.memoryTypeIndex = memory_type_index_;
    check(vkAllocateMemory(device, &allocate_info, nullptr, &record->memory),
          "vkAllocateMemory" + what);
    check(vkBindBufferMemory(device, record->buffer, record->memory, 0),
          "vkBindBufferMemory" + what);
    if (mapped_) {
      void* pointer = nullptr;
      check(vkMapMemory(device, record->memory, 0, VK_WHOLE_SIZE, 0, &pointer),
            "vkMapMemory" + what);
      record->mapped = static_cast<std::byte*>(pointer);
    }
  } catch (const OutOfMemoryError& error) {
    if (record->memory != VK_NULL_HANDLE) vkFreeMemory(device, record->memory, nullptr);
    if (record->buffer != VK_NULL_HANDLE) vkDestroyBuffer(device, record->buffer, nullptr);
    device_->release_allocation();
    throw OutOfMemoryError(error.what(), size_bytes, 0, 0);
  } catch (...) {
    if (record->memory != VK_NULL_HANDLE) vkFreeMemory(device, record->memory, nullptr);
    if (record->buffer != VK_NULL_HANDLE) vkDestroyBuffer(device, record->buffer, nullptr);
    device_->release_allocation();
    throw;
  }
  const auto handle = reinterpret_cast<std::uint64_t>(record.get());
  Allocation allocation{handle, record->mapped, size_bytes};
  const std::lock_guard lock(buffers_mutex_);
  buffers_.emplace(handle, std::move(record));
  return allocation;
}

void VulkanBackend::deallocate(const Allocation& allocation) noexcept {
  std::unique_ptr<VulkanBuffer> record;
  {
    const std::lock_guard lock(buffers_mutex_);
    const auto found = buffers_.find(allocation.handle);
    if (found == buffers_.end()) return;
    record = std::move(found->second);
    buffers_.erase(found);
  }
  const VkDevice device = device_->device();
  if (record->mapped != nullptr) vkUnmapMemory(device, record->memory);
  vkDestroyBuffer(device, record->buffer, nullptr);
  vkFreeMemory(device, record->memory, nullptr);
  device_->release_allocation();
}

std::string VulkanBackend::name() const { return "vulkan: " + device_->name(); }

const VulkanBuffer* VulkanBackend::find(std::uint64_t handle) const noexcept {
  const std::lock_guard lock(buffers_mutex_);
  const auto found = buffers_.find(handle);
  return found == buffers_.end() ? nullptr : found->second.get();
}

const VulkanBuffer& VulkanBackend::resolve(std::uint64_t handle) const {
  const VulkanBuffer* found = find(handle);
  if (found == nullptr) {
    throw UsageError(
        "bufferpool: vulkan: a buffer passed to the device was not made by this manager's pool "
        "(" +
        device_->name() + "); create buffers with the ComputeManager that runs the shader");
  }
  return *found;
}

}  // namespace bufferpool::vulkan_detail

namespace bufferpool {

std::shared_ptr<Backend> make_vulkan_backend(const VulkanBackendOptions& options) {
  auto device = vulkan_detail::VulkanDevice::open(options);
  return std::make_shared<vulkan_detail::VulkanBackend>(std::move(device), options.placement);
}

}  // namespace bufferpool
