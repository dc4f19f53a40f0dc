#include "backends/vulkan/compute_program.hpp"

#include "backends/vulkan/vulkan_error.hpp"

#include <bufferpool/errors.hpp>

#include <algorithm>
#include <cstddef>

namespace bufferpool::vulkan_detail {

ComputeProgram::ComputeProgram(std::shared_ptr<VulkanDevice> device,
                               const std::vector<std::uint32_t>& spirv, ShaderInterface interface,
                               std::string entry_point, std::string name)
    : device_(std::move(device)),
      interface_(std::move(interface)),
      entry_point_(std::move(entry_point)),
      name_(std::move(name)) {
  const auto& limits = device_->limits();
  const std::uint32_t max_bindings =
      std::min(kMaxBindings, limits.maxPerStageDescriptorStorageBuffers);
  if (interface_.uses_other_descriptor_sets) {
    throw InvalidArgumentError("bufferpool: pipeline \"" + name_ +
                               "\": the shader uses a descriptor set other than 0; declare every "
                               "buffer as layout(set = 0, binding = i)");
  }
  if (interface_.binding_count > max_bindings) {
    throw InvalidArgumentError("bufferpool: pipeline \"" + name_ + "\": the shader binds " +
                               std::to_string(interface_.binding_count) +
                               " buffers, the limit is " + std::to_string(max_bindings) +
                               " (maxPerStageDescriptorStorageBuffers); split the kernel");
  }
  if (std::find(interface_.entry_points.begin(), interface_.entry_points.end(), entry_point_) ==
      interface_.entry_points.end()) {
    throw InvalidArgumentError("bufferpool: pipeline \"" + name_ +
                               "\": the shader has no compute "
                               "entry point \"" +
                               entry_point_ + "\"");
  }
  if (limits.maxPushConstantsSize < kPushConstantBytes) {
    throw BackendError("bufferpool: vulkan: " + device_->name() + " offers " +
                       std::to_string(limits.maxPushConstantsSize) +
                       " bytes of push constants, below Vulkan's required 128");
  }

  const VkDevice vk_device = device_->device();
  try {
    VkShaderModuleCreateInfo module_info{};
    module_info.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO;
    module_info.codeSize = spirv.size() * sizeof(std::uint32_t);
    module_info.pCode = spirv.data();
    check(vkCreateShaderModule(vk_device, &module_info, nullptr, &module_),
          [&] { return "vkCreateShaderModule for \"" + name_ + "\""; });

    std::vector<VkDescriptorSetLayoutBinding> bindings(interface_.binding_count);
    for (std::uint32_t index = 0; index < interface_.binding_count; ++index) {
      bindings[index].binding = index;
      bindings[index].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
      bindings[index].descriptorCount = 1;
      bindings[index].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
    }
    VkDescriptorSetLayoutCreateInfo set_info{};
    set_info.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO;
    set_info.bindingCount = interface_.binding_count;
    set_info.pBindings = bindings.data();
    check(vkCreateDescriptorSetLayout(vk_device, &set_info, nullptr, &set_layout_),
          [&] { return "vkCreateDescriptorSetLayout for \"" + name_ + "\""; });

    VkPushConstantRange push_range{};
    push_range.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
    push_range.size = kPushConstantBytes;
    VkPipelineLayoutCreateInfo layout_info{};
    layout_info.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO;
    layout_info.setLayoutCount = 1;
    layout_info.pSetLayouts = &set_layout_;
    layout_info.pushConstantRangeCount = 1;
    layout_info.pPushConstantRanges = &push_range;
    check(vkCreatePipelineLayout(vk_device, &layout_info, nullptr, &layout_),
          [&] { return "vkCreatePipelineLayout for \"" + name_ + "\""; });
  } catch (...) {
    if (layout_ != VK_NULL_HANDLE) vkDestroyPipelineLayout(vk_device, layout_, nullptr);
    if (set_layout_ != VK_NULL_HANDLE)
      vkDestroyDescriptorSetLayout(vk_device, set_layout_, nullptr);
    if (module_ != VK_NULL_HANDLE) vkDestroyShaderModule(vk_device, module_, nullptr);
    throw;
  }
}

ComputeProgram::~ComputeProgram() {
  const VkDevice vk_device = device_->device();
  // Work in flight may still run these pipelines.
  device_->wait_for_timeline(device_->last_submitted());
  for (const auto& [size, pipeline] : pipelines_) vkDestroyPipeline(vk_device, pipeline, nullptr);
  vkDestroyPipelineLayout(vk_device, layout_, nullptr);
  vkDestroyDescriptorSetLayout(vk_device, set_layout_, nullptr);
  vkDestroyShaderModule(vk_device, module_, nullptr);
}

VkPipeline ComputeProgram::pipeline_for(const GroupSize& group_size) {
  const std::lock_guard lock(pipelines_mutex_);
  if (const auto found = pipelines_.find(group_size); found != pipelines_.end()) {
    return found->second;
  }
  std::array<VkSpecializationMapEntry, 3> entries{};
  std::uint32_t entry_count = 0;
  for (std::uint32_t dimension = 0; dimension < 3; ++dimension) {
    if (!interface_.resizable[dimension]) continue;
    entries[entry_count].constantID = dimension;
    entries[entry_count].offset = dimension * static_cast<std::uint32_t>(sizeof(std::uint32_t));
    entries[entry_count].size = sizeof(std::uint32_t);
    ++entry_count;
  }
  VkSpecializationInfo specialization{};
  specialization.mapEntryCount = entry_count;
  specialization.pMapEntries = entries.data();
  specialization.dataSize = sizeof(group_size);
  specialization.pData = group_size.data();

  VkComputePipelineCreateInfo pipeline_info{};
  pipeline_info.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO;
  pipeline_info.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
  pipeline_info.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  pipeline_info.stage.module = module_;
  pipeline_info.stage.pName = entry_point_.c_str();
  pipeline_info.stage.pSpecializationInfo = entry_count > 0 ? &specialization : nullptr;
  pipeline_info.layout = layout_;
  VkPipeline pipeline = VK_NULL_HANDLE;
  check(vkCreateComputePipelines(device_->device(), VK_NULL_HANDLE, 1, &pipeline_info, nullptr,
                                 &pipeline),
        [&] {
          return "vkCreateComputePipelines for \"" + name_ + "\" with " +
                 std::to_string(group_size[0]) + "x" + std::to_string(group_size[1]) + "x" +
                 std::to_string(group_size[2]) + " threads per group";
        });
  pipelines_.emplace(group_size, pipeline);
  return pipeline;
}

std::size_t ComputeProgram::pipeline_count() const {
  const std::lock_guard lock(pipelines_mutex_);
  return pipelines_.size();
}

}  // namespace bufferpool::vulkan_detail
