// Extent3D: a size in up to three dimensions, for dispatches.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bufferpool {

/// Three 32-bit sizes, with no meaning of their own: the dispatch calls take
/// ThreadGroups, ThreadsPerGroup or TotalThreads (dispatch_size.hpp), which
/// hold one. A value type; every call is cheap and may run on any thread.
struct Extent3D {
  std::uint32_t x = 1;
  std::uint32_t y = 1;
  std::uint32_t z = 1;

  Extent3D() = default;
  /// Throws InvalidArgumentError for a size above 2^32 - 1 (Vulkan's
  /// dispatch sizes are 32-bit).
  Extent3D(std::size_t size_x, std::size_t size_y = 1, std::size_t size_z = 1);

  /// x * y * z, without overflow.
  [[nodiscard]] std::uint64_t volume() const noexcept {
    return std::uint64_t{x} * std::uint64_t{y} * std::uint64_t{z};
  }
  friend bool operator==(const Extent3D&, const Extent3D&) = default;
};

}  // namespace bufferpool
