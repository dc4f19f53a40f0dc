// The host-memory backend: aligned, pooled host buffers (staging memory,
// CPU-side work), and the backend that needs nothing but the C++ standard
// library.
#pragma once

#include <bufferpool/backend.hpp>

#include <cstddef>
#include <memory>

namespace bufferpool {

/// Options for the host-memory backend.
struct HostBackendOptions {
  /// Alignment of every allocation, a power of two >= alignof(std::max_align_t).
  /// 64 bytes keeps buffers on their own cache lines.
  std::size_t alignment_bytes = 64;
};

/// Aligned host memory (std::aligned_alloc). Its work is always complete:
/// completed_timeline() is the largest 64-bit value and wait_for_timeline()
/// returns at once; memory_budget() is std::nullopt.
///
/// Throws ConfigError when alignment_bytes is not a power of two at least
/// alignof(std::max_align_t). The backend is thread-safe; allocate() and
/// deallocate() cost what the C library's aligned_alloc and free cost, and
/// allocate() throws OutOfMemoryError when aligned_alloc fails.
[[nodiscard]] std::shared_ptr<Backend> make_host_backend(HostBackendOptions options = {});

}  // namespace bufferpool
