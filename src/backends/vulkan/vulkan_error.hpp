// Turning VkResult codes into the library's exceptions.
#pragma once

#include <vulkan/vulkan.h>

#include <concepts>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

namespace bufferpool::vulkan_detail {

/// "VK_ERROR_OUT_OF_DEVICE_MEMORY" and so on: every code the Vulkan headers
/// define (vk_enum_string_helper.h), "Unhandled VkResult" for a code newer
/// than them (throw_result() adds the number).
[[nodiscard]] const char* result_name(VkResult result) noexcept;

/// Whether `result` says host or device memory ran out.
[[nodiscard]] inline bool is_out_of_memory(VkResult result) noexcept {
  return result == VK_ERROR_OUT_OF_DEVICE_MEMORY || result == VK_ERROR_OUT_OF_HOST_MEMORY;
}

/// Throws OutOfMemoryError for the out-of-memory codes (so that a pool frees
/// its idle buffers and retries), BackendError for any other failure; `what`
/// says what was being done ("vkCreateBuffer of 4 MiB on llvmpipe").
[[noreturn]] void throw_result(VkResult result, std::string_view what);

/// Throws as throw_result() does unless `result` is VK_SUCCESS. `what` is a
/// step name ("vkQueueSubmit"): nothing is formatted on success.
inline void check(VkResult result, const char* what) {
  if (result != VK_SUCCESS) [[unlikely]] {
    throw_result(result, what);
  }
}

/// As above, for a message with details: `describe` builds it, and is called
/// only on failure, so that a call that succeeds (every allocation on the
/// pool's miss path) formats no strings.
///
///     check(vkAllocateMemory(...), [&] { return "vkAllocateMemory of " + format_bytes(n); });
template <typename Describe>
requires std::invocable<Describe> &&
    std::convertible_to<std::invoke_result_t<Describe>, std::string>
inline void check(VkResult result, Describe&& describe) {
  if (result != VK_SUCCESS) [[unlikely]] {
    throw_result(result, std::string(std::forward<Describe>(describe)()));
  }
}

/// Sizes in messages: "4 MiB", "1.5 KiB", "1000 B". The backend's own, so
/// that it needs nothing of the pool's internals.
[[nodiscard]] std::string format_bytes(std::size_t bytes);

}  // namespace bufferpool::vulkan_detail
