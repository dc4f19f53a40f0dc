#include "backends/vulkan/shader_module.hpp"

#include <bufferpool/errors.hpp>
#include <bufferpool/manager.hpp>

#include <shaderc/shaderc.hpp>

#include <algorithm>
#include <map>
#include <set>

namespace bufferpool::vulkan_detail {

std::vector<std::uint32_t> compile_glsl_compute(std::string_view source,
                                                const std::string& source_name) {
  // Compilers are cheap next to a compile, and one per call keeps this
  // thread-safe without a lock.
  const shaderc::Compiler compiler;
  shaderc::CompileOptions options;
  options.SetTargetEnvironment(shaderc_target_env_vulkan, shaderc_env_version_vulkan_1_2);
  options.SetOptimizationLevel(shaderc_optimization_level_performance);
  options.SetWarningsAsErrors();
  const auto result = compiler.CompileGlslToSpv(
      source.data(), source.size(), shaderc_compute_shader, source_name.c_str(), options);
  if (result.GetCompilationStatus() != shaderc_compilation_status_success) {
    throw ShaderCompileError("bufferpool: shader \"" + source_name +
                             "\" does not compile (GLSL compute, Vulkan 1.2):\n" +
                             result.GetErrorMessage());
  }
  return {result.cbegin(), result.cend()};
}

ShaderInterface reflect(const std::vector<std::uint32_t>& spirv, const std::string& source_name) {
  constexpr std::uint32_t kMagic = 0x07230203;
  constexpr std::uint32_t kOpEntryPoint = 15;
  constexpr std::uint32_t kOpExecutionMode = 16;
  constexpr std::uint32_t kOpDecorate = 71;
  constexpr std::uint32_t kOpVariable = 59;
  constexpr std::uint32_t kExecutionModelGLCompute = 5;
  constexpr std::uint32_t kExecutionModeLocalSize = 17;
  constexpr std::uint32_t kDecorationSpecId = 1;
  constexpr std::uint32_t kDecorationBuiltIn = 11;
  constexpr std::uint32_t kDecorationBinding = 33;
  constexpr std::uint32_t kDecorationDescriptorSet = 34;
  constexpr std::uint32_t kBuiltInWorkgroupSize = 25;
  constexpr std::uint32_t kStorageClassPushConstant = 9;

  if (spirv.size() < 5 || spirv[0] != kMagic) {
    throw InvalidArgumentError(
        "bufferpool: \"" + source_name +
        "\" is not SPIR-V (no magic number); pass GLSL compute source "
        "(.comp) or a SPIR-V binary (.spv) made by glslc or glslangValidator");
  }
  ShaderInterface result;
  std::map<std::uint32_t, std::uint32_t> binding_of;  // id -> binding
  std::map<std::uint32_t, std::uint32_t> set_of;      // id -> descriptor set
  std::set<std::uint32_t> spec_ids;
  bool workgroup_size_builtin = false;
  for (std::size_t at = 5; at < spirv.size();) {
    const std::uint32_t word_count = spirv[at] >> 16U;
    const std::uint32_t opcode = spirv[at] & 0xFFFFU;
    if (word_count == 0 || at + word_count > spirv.size()) {
      throw InvalidArgumentError("bufferpool: \"" + source_name +
                                 "\" is truncated or damaged SPIR-V; rebuild it");
    }
    const std::uint32_t* words = &spirv[at];
    if (opcode == kOpEntryPoint && word_count > 3 && words[1] == kExecutionModelGLCompute) {
      const auto* text = reinterpret_cast<const char*>(&words[3]);
      const std::size_t max_length = (word_count - 3) * sizeof(std::uint32_t);
      result.entry_points.emplace_back(text, strnlen(text, max_length));
    } else if (opcode == kOpExecutionMode && word_count >= 6 &&
               words[2] == kExecutionModeLocalSize) {
      result.declared_local_size = {words[3], words[4], words[5]};
    } else if (opcode == kOpDecorate && word_count >= 4) {
      const std::uint32_t target = words[1];
      switch (words[2]) {
        case kDecorationBinding:
          binding_of[target] = words[3];
          break;
        case kDecorationDescriptorSet:
          set_of[target] = words[3];
          break;
        case kDecorationSpecId:
          spec_ids.insert(words[3]);
          break;
        case kDecorationBuiltIn:
          if (words[3] == kBuiltInWorkgroupSize) workgroup_size_builtin = true;
          break;
        default:
          break;
      }
    } else if (opcode == kOpVariable && word_count >= 4 && words[3] == kStorageClassPushConstant) {
      result.has_push_constants = true;
    }
    at += word_count;
  }
  for (const auto& [id, binding] : binding_of) {
    const auto set = set_of.find(id);
    if (set != set_of.end() && set->second != 0) {
      result.uses_other_descriptor_sets = true;
      continue;
    }
    result.binding_count = std::max(result.binding_count, binding + 1);
  }
  for (std::uint32_t dimension = 0; dimension < 3; ++dimension) {
    result.resizable[dimension] = workgroup_size_builtin && spec_ids.count(dimension) != 0;
  }
  return result;
}

}  // namespace bufferpool::vulkan_detail
