// The error of a compute shader that does not compile, thrown by the Vulkan
// backend's shader compiler and passed on by the ComputeManager.
#pragma once

#include <bufferpool/errors.hpp>

namespace bufferpool {

/// A GLSL shader did not compile. what() carries the compiler's messages,
/// each prefixed "name:line:", where name is the file or the library name
/// the source was loaded under.
class ShaderCompileError : public BackendError {
 public:
  using BackendError::BackendError;
};

}  // namespace bufferpool
