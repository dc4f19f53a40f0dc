// VulkanBackend: the Backend interface over segments, each one VkBuffer with
// its own VkDeviceMemory. The pool carves buffers out of a segment; a buffer
// is a range (offset, size) of its segment's VkBuffer, bound with that offset
// and range wherever the device uses it. The backend keeps the records of its
// own segments, and an allocation's handle names its record.
#pragma once

#include "backends/vulkan/segment_records.hpp"
#include "backends/vulkan/vulkan_device.hpp"

#include <bufferpool/backend.hpp>
#include <bufferpool/vulkan.hpp>

#include <vulkan/vulkan.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace bufferpool::vulkan_detail {

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
  [[nodiscard]] std::size_t max_live_allocations() const noexcept override {
    return device_->allocation_limit();
  }
  /// memset where the segment is mapped; otherwise a vkCmdFillBuffer on a
  /// command buffer of its own, waited for. Fills on one backend run one at
  /// a time. Throws UsageError for an allocation of another backend,
  /// InvalidArgumentError for a range outside the segment (or, unmapped, not
  /// a multiple of 4 bytes, as vkCmdFillBuffer needs), BackendError when the
  /// device fails the fill.
  void fill_zero(const Allocation& allocation, std::size_t offset_bytes,
                 std::size_t size_bytes) override;
  /// The budget and use of the heap segments come from, where the device has
  /// VK_EXT_memory_budget.
  [[nodiscard]] std::optional<MemoryBudget> memory_budget() const noexcept override;
  [[nodiscard]] std::string name() const override;

  /// The segment behind an Allocation::handle this backend made. Throws
  /// UsageError for a handle it did not make, or one already freed.
  [[nodiscard]] const Segment& resolve(std::uint64_t handle) const;
  /// As resolve(), but null for a handle this backend did not make. Any
  /// value may be passed (another backend's handle is never read through);
  /// lock-free and allocation-free (SegmentRecords::find).
  [[nodiscard]] const Segment* find(std::uint64_t handle) const noexcept {
    return segments_.find(handle);
  }

  /// Whether segments are mapped (BufferRef::data() works).
  [[nodiscard]] bool host_visible() const noexcept { return mapped_; }
  [[nodiscard]] const std::shared_ptr<VulkanDevice>& device() const noexcept { return device_; }
  [[nodiscard]] VulkanBackendProperties properties() const;

 private:
  /// Gives a segment's Vulkan objects back to the driver (those it has).
  void destroy_objects(const Segment& segment) noexcept;

  std::shared_ptr<VulkanDevice> device_;
  SegmentRecords segments_;
  std::uint32_t memory_type_index_ = 0;
  bool mapped_ = false;
  std::size_t max_allocation_bytes_ = 0;
  std::size_t buffer_alignment_bytes_ = 0;
  /// fill_zero()'s command buffer, made on first use.
  std::mutex fill_mutex_;
  VkCommandPool fill_pool_ = VK_NULL_HANDLE;
  VkCommandBuffer fill_commands_ = VK_NULL_HANDLE;
};

}  // namespace bufferpool::vulkan_detail
