// ComputeProgram: a shader module with its layouts, and one VkPipeline per
// thread-group size (specialization constants 0, 1, 2), made on first use.
#pragma once

#include "backends/vulkan/shader_module.hpp"
#include "backends/vulkan/vulkan_device.hpp"

#include <vulkan/vulkan.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace bufferpool::vulkan_detail {

using GroupSize = std::array<std::uint32_t, 3>;

class ComputeProgram {
 public:
  /// Most storage buffers one dispatch binds.
  static constexpr std::uint32_t kMaxBindings = 32;
  /// Bytes of push constants every program's layout offers: Vulkan's
  /// guaranteed minimum, so kernels are portable.
  static constexpr std::uint32_t kPushConstantBytes = 128;

  /// Throws InvalidArgumentError when the interface asks for more than the
  /// device or this library offers (descriptor sets other than 0, too many
  /// bindings, no such entry point).
  ComputeProgram(std::shared_ptr<VulkanDevice> device, const std::vector<std::uint32_t>& spirv,
                 ShaderInterface interface, std::string entry_point, std::string name);
  ~ComputeProgram();
  ComputeProgram(const ComputeProgram&) = delete;
  ComputeProgram& operator=(const ComputeProgram&) = delete;
  ComputeProgram(ComputeProgram&&) = delete;
  ComputeProgram& operator=(ComputeProgram&&) = delete;

  /// The pipeline for this group size; made and cached on first use.
  /// Thread-safe.
  [[nodiscard]] VkPipeline pipeline_for(const GroupSize& group_size);

  [[nodiscard]] VkPipelineLayout layout() const noexcept { return layout_; }
  [[nodiscard]] VkDescriptorSetLayout set_layout() const noexcept { return set_layout_; }
  [[nodiscard]] const ShaderInterface& interface() const noexcept { return interface_; }
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  /// Pipelines made so far, one per group size used.
  [[nodiscard]] std::size_t pipeline_count() const;

 private:
  std::shared_ptr<VulkanDevice> device_;
  ShaderInterface interface_;
  std::string entry_point_;
  std::string name_;
  VkShaderModule module_ = VK_NULL_HANDLE;
  VkDescriptorSetLayout set_layout_ = VK_NULL_HANDLE;
  VkPipelineLayout layout_ = VK_NULL_HANDLE;
  mutable std::mutex pipelines_mutex_;
  std::map<GroupSize, VkPipeline> pipelines_;
};

}  // namespace bufferpool::vulkan_detail
