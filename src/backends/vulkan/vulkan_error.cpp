#include "backends/vulkan/vulkan_error.hpp"

#include <bufferpool/errors.hpp>

#include <array>
#include <string>

namespace bufferpool::vulkan_detail {

const char* result_name(VkResult result) noexcept {
  switch (result) {
    case VK_SUCCESS:
      return "VK_SUCCESS";
    case VK_NOT_READY:
      return "VK_NOT_READY";
    case VK_TIMEOUT:
      return "VK_TIMEOUT";
    case VK_INCOMPLETE:
      return "VK_INCOMPLETE";
    case VK_ERROR_OUT_OF_HOST_MEMORY:
      return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
      return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED:
      return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST:
      return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_MEMORY_MAP_FAILED:
      return "VK_ERROR_MEMORY_MAP_FAILED";
    case VK_ERROR_LAYER_NOT_PRESENT:
      return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT:
      return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT:
      return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER:
      return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS:
      return "VK_ERROR_TOO_MANY_OBJECTS";
    case VK_ERROR_FORMAT_NOT_SUPPORTED:
      return "VK_ERROR_FORMAT_NOT_SUPPORTED";
    case VK_ERROR_FRAGMENTED_POOL:
      return "VK_ERROR_FRAGMENTED_POOL";
    case VK_ERROR_OUT_OF_POOL_MEMORY:
      return "VK_ERROR_OUT_OF_POOL_MEMORY";
    case VK_ERROR_INVALID_SHADER_NV:
      return "VK_ERROR_INVALID_SHADER_NV";
    default:
      return "VK_ERROR_UNKNOWN";
  }
}

void throw_result(VkResult result, std::string_view what) {
  std::string message = "bufferpool: vulkan: ";
  message += what;
  message += " failed with ";
  message += result_name(result);
  message += " (" + std::to_string(result) + ")";
  if (is_out_of_memory(result)) {
    throw OutOfMemoryError(message + "; release buffers or lower PoolConfig::memory_limit", 0, 0,
                           0);
  }
  throw BackendError(message);
}

std::string format_bytes(std::size_t bytes) {
  static constexpr std::array<const char*, 5> kUnits{"B", "KiB", "MiB", "GiB", "TiB"};
  std::size_t unit = 0;
  std::size_t whole = bytes;
  while (whole >= 1024 && unit + 1 < kUnits.size()) {
    whole /= 1024;
    ++unit;
  }
  const std::size_t scale = std::size_t{1} << (10 * unit);
  if (bytes % scale == 0) return std::to_string(whole) + " " + kUnits[unit];
  // One decimal, rounded down, so that "1.9 KiB" never reads as more than it is.
  const std::size_t tenths = (bytes % scale) * 10 / scale;
  return std::to_string(whole) + "." + std::to_string(tenths) + " " + kUnits[unit];
}

}  // namespace bufferpool::vulkan_detail
