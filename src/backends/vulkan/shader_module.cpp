#include "backends/vulkan/shader_module.hpp"

#include <bufferpool/errors.hpp>
#include <bufferpool/shader_compile_error.hpp>

#include <shaderc/shaderc.hpp>
#include <spirv-tools/libspirv.hpp>
#include <spirv/unified1/spirv.hpp>

#include <algorithm>
#include <cstring>
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

void validate_spirv(const std::vector<std::uint32_t>& spirv, const std::string& source_name) {
  // One validator per call, as with the compiler: no shared state, no lock.
  spvtools::SpirvTools tools(SPV_ENV_VULKAN_1_2);
  std::string messages;
  tools.SetMessageConsumer([&messages](spv_message_level_t /*level*/, const char* /*source*/,
                                       const spv_position_t& position, const char* message) {
    messages += "\n  word " + std::to_string(position.index) + ": " + message;
  });
  if (!tools.Validate(spirv)) {
    throw InvalidArgumentError(
        "bufferpool: \"" + source_name +
        "\" is not valid SPIR-V for Vulkan 1.2 (SPIRV-Tools' validator):" + messages +
        "\nRebuild it with glslc or glslangValidator "
        "(--target-env vulkan1.2), or check that the file is not damaged");
  }
}

ShaderInterface reflect(const std::vector<std::uint32_t>& spirv, const std::string& source_name) {
  if (spirv.size() < 5 || spirv[0] != spv::MagicNumber) {
    throw InvalidArgumentError("bufferpool: \"" + source_name +
                               "\" is not SPIR-V (no magic number 0x07230203 at its start); "
                               "build it with glslc or glslangValidator");
  }
  ShaderInterface result;
  std::map<std::uint32_t, std::uint32_t> binding_of;  // id -> binding
  std::map<std::uint32_t, std::uint32_t> set_of;      // id -> descriptor set
  std::set<std::uint32_t> spec_ids;
  bool workgroup_size_builtin = false;
  for (std::size_t at = 5; at < spirv.size();) {
    const std::uint32_t word_count = spirv[at] >> spv::WordCountShift;
    const std::uint32_t opcode = spirv[at] & spv::OpCodeMask;
    if (word_count == 0 || at + word_count > spirv.size()) {
      throw InvalidArgumentError("bufferpool: \"" + source_name +
                                 "\" is truncated or damaged SPIR-V; rebuild it");
    }
    const std::uint32_t* words = &spirv[at];
    if (opcode == spv::OpEntryPoint && word_count > 3 && words[1] == spv::ExecutionModelGLCompute) {
      const auto* text = reinterpret_cast<const char*>(&words[3]);
      const std::size_t max_length = (word_count - 3) * sizeof(std::uint32_t);
      result.entry_points.emplace_back(text, strnlen(text, max_length));
    } else if (opcode == spv::OpExecutionMode && word_count >= 6 &&
               words[2] == spv::ExecutionModeLocalSize) {
      result.declared_local_size = {words[3], words[4], words[5]};
    } else if (opcode == spv::OpDecorate && word_count >= 4) {
      const std::uint32_t target = words[1];
      switch (words[2]) {
        case spv::DecorationBinding:
          binding_of[target] = words[3];
          break;
        case spv::DecorationDescriptorSet:
          set_of[target] = words[3];
          break;
        case spv::DecorationSpecId:
          spec_ids.insert(words[3]);
          break;
        case spv::DecorationBuiltIn:
          if (words[3] == spv::BuiltInWorkgroupSize) workgroup_size_builtin = true;
          break;
        default:
          break;
      }
    } else if (opcode == spv::OpVariable && word_count >= 4 &&
               words[3] == spv::StorageClassPushConstant) {
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
