#include "backends/vulkan/recorded_commands.hpp"

#include "backends/vulkan/vulkan_error.hpp"

#include <utility>

namespace bufferpool::vulkan_detail {

RecordedCommands::RecordedCommands(std::shared_ptr<VulkanDevice> device,
                                   std::span<const SequenceCommand> commands)
    : device_(std::move(device)) {
  const VkDevice vk_device = device_->device();
  try {
    VkCommandPoolCreateInfo pool_info{};
    pool_info.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
    pool_info.queueFamilyIndex = device_->queue_family();
    check(vkCreateCommandPool(vk_device, &pool_info, nullptr, &command_pool_),
          "vkCreateCommandPool");
    VkCommandBufferAllocateInfo buffer_info{};
    buffer_info.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
    buffer_info.commandPool = command_pool_;
    buffer_info.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    buffer_info.commandBufferCount = 1;
    check(vkAllocateCommandBuffers(vk_device, &buffer_info, &command_buffer_),
          "vkAllocateCommandBuffers");

    std::uint32_t sets = 0;
    std::uint32_t descriptors = 0;
    for (const auto& command : commands) {
      if (command.kind == SequenceCommand::Kind::dispatch && !command.buffers.empty()) {
        ++sets;
        descriptors += static_cast<std::uint32_t>(command.buffers.size());
      }
    }
    if (sets > 0) {
      VkDescriptorPoolSize pool_size{};
      pool_size.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
      pool_size.descriptorCount = descriptors;
      VkDescriptorPoolCreateInfo descriptor_info{};
      descriptor_info.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO;
      descriptor_info.maxSets = sets;
      descriptor_info.poolSizeCount = 1;
      descriptor_info.pPoolSizes = &pool_size;
      check(vkCreateDescriptorPool(vk_device, &descriptor_info, nullptr, &descriptor_pool_),
            "vkCreateDescriptorPool");
    }

    VkCommandBufferBeginInfo begin_info{};
    begin_info.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
    begin_info.flags = VK_COMMAND_BUFFER_USAGE_SIMULTANEOUS_USE_BIT;
    check(vkBeginCommandBuffer(command_buffer_, &begin_info), "vkBeginCommandBuffer");
    for (const auto& command : commands) {
      barrier_from_earlier_work(command_buffer_);
      if (command.kind == SequenceCommand::Kind::copy) {
        record_copy(command_buffer_, command.copy);
        continue;
      }
      VkDescriptorSet set = VK_NULL_HANDLE;
      if (!command.buffers.empty()) {
        VkDescriptorSetAllocateInfo set_info{};
        set_info.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO;
        set_info.descriptorPool = descriptor_pool_;
        set_info.descriptorSetCount = 1;
        const VkDescriptorSetLayout layout = command.program->set_layout();
        set_info.pSetLayouts = &layout;
        check(vkAllocateDescriptorSets(vk_device, &set_info, &set), "vkAllocateDescriptorSets");
        write_descriptors(vk_device, set, command.buffers);
      }
      DispatchCommand dispatch;
      dispatch.program = command.program;
      dispatch.pipeline = command.pipeline;
      dispatch.buffers = command.buffers;
      dispatch.push_constants = command.push_constants;
      dispatch.group_count = command.group_count;
      record_dispatch(command_buffer_, set, dispatch);
    }
    barrier_to_host(command_buffer_);
    check(vkEndCommandBuffer(command_buffer_), "vkEndCommandBuffer");
  } catch (...) {
    destroy();
    throw;
  }
}

RecordedCommands::~RecordedCommands() { destroy(); }

void RecordedCommands::destroy() noexcept {
  const VkDevice vk_device = device_->device();
  if (descriptor_pool_ != VK_NULL_HANDLE)
    vkDestroyDescriptorPool(vk_device, descriptor_pool_, nullptr);
  // Frees the command buffer with it.
  if (command_pool_ != VK_NULL_HANDLE) vkDestroyCommandPool(vk_device, command_pool_, nullptr);
  descriptor_pool_ = VK_NULL_HANDLE;
  command_pool_ = VK_NULL_HANDLE;
}

std::uint64_t RecordedCommands::submit() { return device_->submit(command_buffer_); }

}  // namespace bufferpool::vulkan_detail
