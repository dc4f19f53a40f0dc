// PushConstants: the small scalar parameters of one dispatch.
#pragma once

#include <bufferpool/dispatch_size.hpp>

#include <array>
#include <cstddef>
#include <cstring>
#include <span>
#include <type_traits>

namespace bufferpool {

/// Small scalar parameters for a kernel's push_constant block: any trivially
/// copyable struct of up to 128 bytes (not a pointer or a dispatch size), laid out as the shader's
/// block is (std430: a float or uint is 4 bytes, 4-byte aligned).
///
///     struct Saxpy { std::uint32_t n; float a; };
///     manager.execute_shader("saxpy", {x, y}, {out}, TotalThreads{n}, Saxpy{n, 2.0f});
///
/// A value type of 136 bytes: making one copies the struct, allocates
/// nothing, and may happen on any thread. A struct above 128 bytes does not
/// compile.
class PushConstants {
 public:
  static constexpr std::size_t kMaxBytes = 128;

  PushConstants() noexcept = default;
  template <typename T>
  requires(std::is_trivially_copyable_v<T> && !std::is_pointer_v<T> &&
           !std::is_same_v<T, PushConstants> && !is_dispatch_size_v<T>)
      PushConstants(const T& value)
  noexcept  // NOLINT(google-explicit-constructor): reads as a value
      : size_bytes_(sizeof(T)) {
    static_assert(sizeof(T) <= kMaxBytes, "push constants hold at most 128 bytes");
    std::memcpy(storage_.data(), &value, sizeof(T));
  }

  /// The struct's bytes; empty for no push constants.
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept {
    return {storage_.data(), size_bytes_};
  }

 private:
  std::array<std::byte, kMaxBytes> storage_{};
  std::size_t size_bytes_ = 0;
};

}  // namespace bufferpool
