// RecordedCommands: one command buffer holding a list of dispatches and
// copies, recorded once and submitted any number of times (a Sequence).
#pragma once

#include "backends/vulkan/command_ring.hpp"
#include "backends/vulkan/compute_program.hpp"
#include "backends/vulkan/vulkan_device.hpp"

#include <vulkan/vulkan.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace bufferpool::vulkan_detail {

/// A dispatch or a copy, owning what DispatchCommand and CopyCommand only
/// point at, so that it can wait in a list until the list is recorded.
struct SequenceCommand {
  enum class Kind : std::uint8_t { dispatch, copy };
  Kind kind = Kind::dispatch;
  // A dispatch:
  ComputeProgram* program = nullptr;
  VkPipeline pipeline = VK_NULL_HANDLE;
  std::vector<BoundBuffer> buffers;
  std::vector<std::byte> push_constants;
  GroupSize group_count{1, 1, 1};
  // A copy:
  CopyCommand copy;
};

/// The commands, in order, in one command buffer, with a barrier before
/// each that orders it after every command and submission before it (so a
/// dispatch sees the writes of the ones before it, and a buffer reused later
/// in the list is not written before its earlier users are done), and one to
/// the host at the end. The buffer may be submitted while an earlier
/// submission of it still runs (VK_COMMAND_BUFFER_USAGE_SIMULTANEOUS_USE_BIT);
/// the queue runs them one after the other.
///
/// Makes a command pool, a command buffer and a descriptor pool with one set
/// per dispatch. Destroy it only when no submission of it runs.
class RecordedCommands {
 public:
  RecordedCommands(std::shared_ptr<VulkanDevice> device, std::span<const SequenceCommand> commands);
  ~RecordedCommands();
  RecordedCommands(const RecordedCommands&) = delete;
  RecordedCommands& operator=(const RecordedCommands&) = delete;
  RecordedCommands(RecordedCommands&&) = delete;
  RecordedCommands& operator=(RecordedCommands&&) = delete;

  /// Submits the command buffer; returns its timeline value. Thread-safe as
  /// VulkanDevice::submit is.
  [[nodiscard]] std::uint64_t submit();

 private:
  void destroy() noexcept;

  std::shared_ptr<VulkanDevice> device_;
  VkCommandPool command_pool_ = VK_NULL_HANDLE;
  VkCommandBuffer command_buffer_ = VK_NULL_HANDLE;
  VkDescriptorPool descriptor_pool_ = VK_NULL_HANDLE;
};

}  // namespace bufferpool::vulkan_detail
