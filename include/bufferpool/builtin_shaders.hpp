// The GLSL kernels shipped with the library (the shaders/ folder, embedded at
// build time).
#pragma once

#include <span>
#include <string_view>

namespace bufferpool {

/// One built-in kernel: its name (the file's stem) and its GLSL source.
struct ShaderSource {
  std::string_view name;
  std::string_view glsl;
};

/// activation, matmul, reduce_sum, saxpy, sorted by name. The views point at
/// static storage: valid for the life of the program. Cheap; any thread.
[[nodiscard]] std::span<const ShaderSource> builtin_shader_sources() noexcept;

}  // namespace bufferpool
