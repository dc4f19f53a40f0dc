// CommandRing: a few reusable submission slots (command pool + buffer,
// descriptor pool, timestamp queries), so that a dispatch allocates no Vulkan
// objects. A slot is reused once the timeline passes its last submission.
#pragma once

#include "backends/vulkan/compute_program.hpp"
#include "backends/vulkan/vulkan_device.hpp"

#include <vulkan/vulkan.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

namespace bufferpool::vulkan_detail {

/// A pooled buffer as a descriptor sees it: a range of its segment's VkBuffer.
struct BoundBuffer {
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceSize offset_bytes = 0;
  VkDeviceSize range_bytes = 0;
};

struct DispatchCommand {
  ComputeProgram* program = nullptr;
  VkPipeline pipeline = VK_NULL_HANDLE;
  std::span<const BoundBuffer> buffers;  ///< bindings 0..n-1 of set 0
  std::span<const std::byte> push_constants;
  GroupSize group_count{1, 1, 1};
};

/// A copy between two ranges of segments (a pooled buffer and a staging
/// buffer, in either order).
struct CopyCommand {
  VkBuffer source = VK_NULL_HANDLE;
  VkDeviceSize source_offset_bytes = 0;
  VkBuffer destination = VK_NULL_HANDLE;
  VkDeviceSize destination_offset_bytes = 0;
  VkDeviceSize size_bytes = 0;
};

/// A pipeline barrier that orders everything recorded or submitted before it
/// (shader and transfer writes) before everything after it (shader and
/// transfer reads and writes): submissions on one queue run in order, but
/// without a memory dependency of their own, and so do the commands of one
/// command buffer.
void barrier_from_earlier_work(VkCommandBuffer command_buffer);
/// Makes the writes before it visible to the host once the timeline is reached.
void barrier_to_host(VkCommandBuffer command_buffer);
/// Points the storage-buffer bindings 0..n-1 of `set` at `buffers`.
void write_descriptors(VkDevice device, VkDescriptorSet set, std::span<const BoundBuffer> buffers);
/// Binds, pushes the constants and dispatches; with a query pool, brackets
/// the dispatch with timestamps `first_query` and `first_query + 1`.
void record_dispatch(VkCommandBuffer command_buffer, VkDescriptorSet set,
                     const DispatchCommand& dispatch, VkQueryPool query_pool = VK_NULL_HANDLE,
                     std::uint32_t first_query = 0);
void record_copy(VkCommandBuffer command_buffer, const CopyCommand& copy);

class CommandRing {
 public:
  explicit CommandRing(std::shared_ptr<VulkanDevice> device);
  ~CommandRing();
  CommandRing(const CommandRing&) = delete;
  CommandRing& operator=(const CommandRing&) = delete;
  CommandRing(CommandRing&&) = delete;
  CommandRing& operator=(CommandRing&&) = delete;

  /// Records and submits; returns the work's timeline value. Thread-safe.
  std::uint64_t submit(const DispatchCommand& dispatch);
  std::uint64_t submit(const CopyCommand& copy);

  /// Device time of the finished dispatches so far, in nanoseconds (0 where
  /// the queue has no timestamps).
  [[nodiscard]] std::uint64_t gpu_time_ns();

 private:
  struct Slot {
    VkCommandPool command_pool = VK_NULL_HANDLE;
    VkCommandBuffer command_buffer = VK_NULL_HANDLE;
    VkDescriptorPool descriptor_pool = VK_NULL_HANDLE;
    std::uint32_t first_query = 0;
    std::uint64_t timeline_value = 0;
    bool busy = false;            // being recorded by a thread
    bool timing_pending = false;  // timestamps not yet read
  };

  Slot& acquire();
  std::uint64_t finish(Slot& slot, bool timed);
  void collect_timing(Slot& slot);  // with mutex_ held
  void begin(Slot& slot, bool timed);

  static constexpr std::size_t kMaxSlots = 16;

  std::shared_ptr<VulkanDevice> device_;
  VkQueryPool query_pool_ = VK_NULL_HANDLE;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::uint64_t gpu_time_ns_ = 0;
};

}  // namespace bufferpool::vulkan_detail
