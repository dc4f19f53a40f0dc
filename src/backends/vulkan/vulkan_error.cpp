#include "backends/vulkan/vulkan_error.hpp"

#include <bufferpool/errors.hpp>

#include <vulkan/vk_enum_string_helper.h>

#include <array>
#include <string>

namespace bufferpool::vulkan_detail {

const char* result_name(VkResult result) noexcept {
  // Generated from the Vulkan registry (vk.xml) with the validation layers:
  // every code of this header version, extensions' included.
  return string_VkResult(result);
}

void throw_result(VkResult result, std::string_view what) {
  std::string message = "bufferpool: vulkan: ";
  message += what;
  message += " failed with ";
  message += result_name(result);
  message += " (" + std::to_string(result) + ")";
  if (is_out_of_memory(result)) {
    throw OutOfMemoryError(message + ": the " +
                               (result == VK_ERROR_OUT_OF_HOST_MEMORY ? "host" : "device") +
                               " has no memory left for it; free allocations, or allocate less",
                           0, 0, 0);
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
