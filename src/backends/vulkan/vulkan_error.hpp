// Turning VkResult codes into the library's exceptions.
#pragma once

#include <vulkan/vulkan.h>

#include <string>

namespace bufferpool::vulkan_detail {

/// "VK_ERROR_OUT_OF_DEVICE_MEMORY" and so on.
[[nodiscard]] const char* result_name(VkResult result) noexcept;

/// Whether `result` says host or device memory ran out.
[[nodiscard]] inline bool is_out_of_memory(VkResult result) noexcept {
  return result == VK_ERROR_OUT_OF_DEVICE_MEMORY || result == VK_ERROR_OUT_OF_HOST_MEMORY;
}

/// Throws OutOfMemoryError for the out-of-memory codes (so that a pool frees
/// its idle buffers and retries), BackendError for any other failure.
/// `what` says what was being done ("vkCreateBuffer of 4 MiB").
void check(VkResult result, const std::string& what);

}  // namespace bufferpool::vulkan_detail
