#include "backends/vulkan/command_ring.hpp"

#include "backends/vulkan/vulkan_error.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

namespace bufferpool::vulkan_detail {

// Each submission is ordered after everything submitted before it: the queue
// runs submissions in order but without a memory dependency of its own.
void barrier_from_earlier_work(VkCommandBuffer command_buffer) {
  VkMemoryBarrier barrier{};
  barrier.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
  barrier.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  barrier.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                          VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  vkCmdPipelineBarrier(command_buffer,
                       VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                       VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1,
                       &barrier, 0, nullptr, 0, nullptr);
}

// Makes the work's writes visible to the host once the timeline is reached.
void barrier_to_host(VkCommandBuffer command_buffer) {
  VkMemoryBarrier barrier{};
  barrier.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
  barrier.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  barrier.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
  vkCmdPipelineBarrier(command_buffer,
                       VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                       VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &barrier, 0, nullptr, 0, nullptr);
}

void write_descriptors(VkDevice device, VkDescriptorSet set, std::span<const BoundBuffer> buffers) {
  std::array<VkDescriptorBufferInfo, ComputeProgram::kMaxBindings> infos{};
  std::array<VkWriteDescriptorSet, ComputeProgram::kMaxBindings> writes{};
  for (std::size_t index = 0; index < buffers.size(); ++index) {
    infos[index].buffer = buffers[index].buffer;
    infos[index].offset = buffers[index].offset_bytes;
    infos[index].range = buffers[index].range_bytes;
    writes[index].sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET;
    writes[index].dstSet = set;
    writes[index].dstBinding = static_cast<std::uint32_t>(index);
    writes[index].descriptorCount = 1;
    writes[index].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    writes[index].pBufferInfo = &infos[index];
  }
  vkUpdateDescriptorSets(device, static_cast<std::uint32_t>(buffers.size()), writes.data(), 0,
                         nullptr);
}

void record_dispatch(VkCommandBuffer command_buffer, VkDescriptorSet set,
                     const DispatchCommand& dispatch, VkQueryPool query_pool,
                     std::uint32_t first_query) {
  vkCmdBindPipeline(command_buffer, VK_PIPELINE_BIND_POINT_COMPUTE, dispatch.pipeline);
  if (set != VK_NULL_HANDLE) {
    vkCmdBindDescriptorSets(command_buffer, VK_PIPELINE_BIND_POINT_COMPUTE,
                            dispatch.program->layout(), 0, 1, &set, 0, nullptr);
  }
  // The whole range is pushed, zero-padded, so a kernel never reads
  // constants that were not set.
  std::array<std::byte, ComputeProgram::kPushConstantBytes> push{};
  if (!dispatch.push_constants.empty()) {  // an empty span may hold a null pointer
    std::memcpy(push.data(), dispatch.push_constants.data(),
                std::min(push.size(), dispatch.push_constants.size()));
  }
  vkCmdPushConstants(command_buffer, dispatch.program->layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0,
                     ComputeProgram::kPushConstantBytes, push.data());
  if (query_pool != VK_NULL_HANDLE) {
    vkCmdWriteTimestamp(command_buffer, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, query_pool, first_query);
  }
  vkCmdDispatch(command_buffer, dispatch.group_count[0], dispatch.group_count[1],
                dispatch.group_count[2]);
  if (query_pool != VK_NULL_HANDLE) {
    vkCmdWriteTimestamp(command_buffer, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, query_pool,
                        first_query + 1);
  }
}

void record_copy(VkCommandBuffer command_buffer, const CopyCommand& copy) {
  VkBufferCopy region{};
  region.srcOffset = copy.source_offset_bytes;
  region.dstOffset = copy.destination_offset_bytes;
  region.size = copy.size_bytes;
  vkCmdCopyBuffer(command_buffer, copy.source, copy.destination, 1, &region);
}

CommandRing::CommandRing(std::shared_ptr<VulkanDevice> device) : device_(std::move(device)) {
  if (device_->timestamp_period_ns() > 0.0) {
    VkQueryPoolCreateInfo query_info{};
    query_info.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO;
    query_info.queryType = VK_QUERY_TYPE_TIMESTAMP;
    query_info.queryCount = static_cast<std::uint32_t>(2 * kMaxSlots);
    check(vkCreateQueryPool(device_->device(), &query_info, nullptr, &query_pool_),
          "vkCreateQueryPool");
  }
}

CommandRing::~CommandRing() {
  device_->wait_for_timeline(device_->last_submitted());
  const VkDevice vk_device = device_->device();
  for (const auto& slot : slots_) {
    vkDestroyDescriptorPool(vk_device, slot->descriptor_pool, nullptr);
    vkDestroyCommandPool(vk_device, slot->command_pool, nullptr);
  }
  if (query_pool_ != VK_NULL_HANDLE) vkDestroyQueryPool(vk_device, query_pool_, nullptr);
}

CommandRing::Slot& CommandRing::acquire() {
  std::unique_lock lock(mutex_);
  for (;;) {
    const std::uint64_t completed = device_->completed_timeline();
    Slot* oldest = nullptr;
    for (const auto& slot : slots_) {
      if (slot->busy) continue;
      if (slot->timeline_value <= completed) {
        collect_timing(*slot);
        slot->busy = true;
        return *slot;
      }
      if (oldest == nullptr || slot->timeline_value < oldest->timeline_value) oldest = slot.get();
    }
    if (slots_.size() < kMaxSlots) break;
    if (oldest == nullptr) {
      // Every slot is being recorded by another thread: let one finish.
      lock.unlock();
      device_->wait_for_timeline(device_->last_submitted());
      lock.lock();
      continue;
    }
    const std::uint64_t value = oldest->timeline_value;
    lock.unlock();
    device_->wait_for_timeline(value);
    lock.lock();
  }

  auto slot = std::make_unique<Slot>();
  const VkDevice vk_device = device_->device();
  VkCommandPoolCreateInfo pool_info{};
  pool_info.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
  pool_info.flags = VK_COMMAND_POOL_CREATE_TRANSIENT_BIT;
  pool_info.queueFamilyIndex = device_->queue_family();
  check(vkCreateCommandPool(vk_device, &pool_info, nullptr, &slot->command_pool),
        "vkCreateCommandPool");
  try {
    VkCommandBufferAllocateInfo buffer_info{};
    buffer_info.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
    buffer_info.commandPool = slot->command_pool;
    buffer_info.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    buffer_info.commandBufferCount = 1;
    check(vkAllocateCommandBuffers(vk_device, &buffer_info, &slot->command_buffer),
          "vkAllocateCommandBuffers");
    VkDescriptorPoolSize pool_size{};
    pool_size.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    pool_size.descriptorCount = ComputeProgram::kMaxBindings;
    VkDescriptorPoolCreateInfo descriptor_info{};
    descriptor_info.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO;
    descriptor_info.maxSets = 1;
    descriptor_info.poolSizeCount = 1;
    descriptor_info.pPoolSizes = &pool_size;
    check(vkCreateDescriptorPool(vk_device, &descriptor_info, nullptr, &slot->descriptor_pool),
          "vkCreateDescriptorPool");
  } catch (...) {
    vkDestroyCommandPool(vk_device, slot->command_pool, nullptr);
    throw;
  }
  slot->first_query = static_cast<std::uint32_t>(2 * slots_.size());
  slot->busy = true;
  slots_.push_back(std::move(slot));
  return *slots_.back();
}

void CommandRing::collect_timing(Slot& slot) {
  if (!slot.timing_pending) return;
  slot.timing_pending = false;
  std::array<std::uint64_t, 2> ticks{};
  if (vkGetQueryPoolResults(device_->device(), query_pool_, slot.first_query, 2, sizeof(ticks),
                            ticks.data(), sizeof(std::uint64_t),
                            VK_QUERY_RESULT_64_BIT) == VK_SUCCESS &&
      ticks[1] >= ticks[0]) {
    gpu_time_ns_ += static_cast<std::uint64_t>(static_cast<double>(ticks[1] - ticks[0]) *
                                               device_->timestamp_period_ns());
  }
}

void CommandRing::begin(Slot& slot, bool timed) {
  const VkDevice vk_device = device_->device();
  check(vkResetCommandPool(vk_device, slot.command_pool, 0), "vkResetCommandPool");
  VkCommandBufferBeginInfo begin_info{};
  begin_info.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
  begin_info.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  check(vkBeginCommandBuffer(slot.command_buffer, &begin_info), "vkBeginCommandBuffer");
  if (timed) vkCmdResetQueryPool(slot.command_buffer, query_pool_, slot.first_query, 2);
  barrier_from_earlier_work(slot.command_buffer);
}

std::uint64_t CommandRing::finish(Slot& slot, bool timed) {
  barrier_to_host(slot.command_buffer);
  std::uint64_t value = 0;
  try {
    check(vkEndCommandBuffer(slot.command_buffer), "vkEndCommandBuffer");
    value = device_->submit(slot.command_buffer);
  } catch (...) {
    const std::lock_guard lock(mutex_);
    slot.busy = false;
    throw;
  }
  const std::lock_guard lock(mutex_);
  slot.timeline_value = value;
  slot.timing_pending = timed;
  slot.busy = false;
  return value;
}

std::uint64_t CommandRing::submit(const DispatchCommand& dispatch) {
  Slot& slot = acquire();
  const bool timed = query_pool_ != VK_NULL_HANDLE;
  try {
    const VkDevice vk_device = device_->device();
    check(vkResetDescriptorPool(vk_device, slot.descriptor_pool, 0), "vkResetDescriptorPool");
    VkDescriptorSet set = VK_NULL_HANDLE;
    if (!dispatch.buffers.empty()) {
      VkDescriptorSetAllocateInfo set_info{};
      set_info.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO;
      set_info.descriptorPool = slot.descriptor_pool;
      set_info.descriptorSetCount = 1;
      const VkDescriptorSetLayout layout = dispatch.program->set_layout();
      set_info.pSetLayouts = &layout;
      check(vkAllocateDescriptorSets(vk_device, &set_info, &set), "vkAllocateDescriptorSets");
      write_descriptors(vk_device, set, dispatch.buffers);
    }
    begin(slot, timed);
    record_dispatch(slot.command_buffer, set, dispatch, timed ? query_pool_ : VK_NULL_HANDLE,
                    slot.first_query);
  } catch (...) {
    const std::lock_guard lock(mutex_);
    slot.busy = false;
    throw;
  }
  return finish(slot, timed);
}

std::uint64_t CommandRing::submit(const CopyCommand& copy) {
  Slot& slot = acquire();
  try {
    begin(slot, false);
    record_copy(slot.command_buffer, copy);
  } catch (...) {
    const std::lock_guard lock(mutex_);
    slot.busy = false;
    throw;
  }
  return finish(slot, false);
}

std::uint64_t CommandRing::gpu_time_ns() {
  const std::lock_guard lock(mutex_);
  const std::uint64_t completed = device_->completed_timeline();
  for (const auto& slot : slots_) {
    if (!slot->busy && slot->timeline_value <= completed) collect_timing(*slot);
  }
  return gpu_time_ns_;
}

}  // namespace bufferpool::vulkan_detail
