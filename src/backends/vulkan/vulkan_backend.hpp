// VulkanBackend: the Backend interface over VkBuffer + VkDeviceMemory, one
// dedicated allocation per pooled buffer (the pool does the sub-allocating
// work a general allocator would: it reuses whole buffers).
#pragma once

#include "backends/vulkan/vulkan_device.hpp"

#include <bufferpool/backend.hpp>
#include <bufferpool/vulkan.hpp>

#include <vulkan/vulkan.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace bufferpool::vulkan_detail {

/// What the backend keeps for one buffer; Allocation::handle points at it.
struct VulkanBuffer {
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  std::byte* mapped = nullptr;  ///< null where the memory is not host-visible
  VkDeviceSize size_bytes = 0;
};

class VulkanBackend final : public Backend {
 public:
  VulkanBackend(std::shared_ptr<VulkanDevice> device, VulkanMemoryPlacement placement);
  ~VulkanBackend() override;
  VulkanBackend(const VulkanBackend&) = delete;
  VulkanBackend& operator=(const VulkanBackend&) = delete;
  VulkanBackend(VulkanBackend&&) = delete;
  VulkanBackend& operator=(VulkanBackend&&) = delete;

  Allocation allocate(std::size_t size_bytes) override;
  void deallocate(const Allocation& allocation) noexcept override;
  [[nodiscard]] std::uint64_t completed_timeline() const noexcept override {
    return device_->completed_timeline();
  }
  void wait_for_timeline(std::uint64_t value) const noexcept override {
    device_->wait_for_timeline(value);
  }
  [[nodiscard]] std::size_t max_allocation_bytes() const noexcept override {
    return max_allocation_bytes_;
  }
  [[nodiscard]] std::size_t buffer_alignment_bytes() const noexcept override {
    return buffer_alignment_bytes_;
  }
  [[nodiscard]] std::string name() const override;

  /// The buffer behind a BufferRef::native_handle() from a pool on this
  /// backend. Throws UsageError for a handle this backend did not make (a
  /// buffer from another pool or manager).
  [[nodiscard]] const VulkanBuffer& resolve(std::uint64_t handle) const;
  /// As resolve(), but null for a handle this backend did not make.
  [[nodiscard]] const VulkanBuffer* find(std::uint64_t handle) const noexcept;

  /// Whether buffers are mapped (BufferRef::data() works).
  [[nodiscard]] bool host_visible() const noexcept { return mapped_; }
  [[nodiscard]] const std::shared_ptr<VulkanDevice>& device() const noexcept { return device_; }

 private:
  std::shared_ptr<VulkanDevice> device_;
  std::uint32_t memory_type_index_ = 0;
  bool mapped_ = false;
  std::size_t max_allocation_bytes_ = 0;
  std::size_t buffer_alignment_bytes_ = 256;

  mutable std::mutex buffers_mutex_;
  std::unordered_map<std::uint64_t, std::unique_ptr<VulkanBuffer>> buffers_;
};

}  // namespace bufferpool::vulkan_detail
