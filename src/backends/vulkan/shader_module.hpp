// Compute shaders: GLSL to SPIR-V with shaderc, and the little reflection the
// manager needs (entry points, bindings, push constants, resizable groups).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bufferpool::vulkan_detail {

/// Compiles GLSL compute source to SPIR-V for Vulkan 1.2. `source_name`
/// names it in messages. Throws ShaderCompileError with the compiler's
/// messages, which carry "name:line:" prefixes.
[[nodiscard]] std::vector<std::uint32_t> compile_glsl_compute(std::string_view source,
                                                              const std::string& source_name);

/// What a compute shader expects from the code that dispatches it.
struct ShaderInterface {
  std::vector<std::string> entry_points;  ///< GLCompute entry points
  /// Highest binding in descriptor set 0, plus one; every binding is taken to
  /// be a storage buffer.
  std::uint32_t binding_count = 0;
  bool uses_other_descriptor_sets = false;
  bool has_push_constants = false;
  /// Per dimension: whether the group size comes from specialization
  /// constants 0, 1, 2 (local_size_{x,y,z}_id), so the manager may choose it.
  std::array<bool, 3> resizable{};
  /// The group size the shader declares (the default where resizable).
  std::array<std::uint32_t, 3> declared_local_size{1, 1, 1};
};

/// Checks SPIR-V from outside (a .spv file) with SPIRV-Tools' validator for
/// Vulkan 1.2, the version the device is opened at. Throws
/// InvalidArgumentError with the validator's messages (each with its word
/// offset) when the module is not valid. Costs a pass over the module.
void validate_spirv(const std::vector<std::uint32_t>& spirv, const std::string& source_name);

/// Reads the interface out of SPIR-V. Throws InvalidArgumentError when the
/// words are not a SPIR-V module (validate_spirv() says why, in detail).
[[nodiscard]] ShaderInterface reflect(const std::vector<std::uint32_t>& spirv,
                                      const std::string& source_name);

}  // namespace bufferpool::vulkan_detail
