// The Backend interface: where a pool's memory comes from. A backend knows
// nothing of pooling; the pool knows nothing of the backend's device. A new
// backend (CUDA, Metal) is one class implementing this interface.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>

namespace bufferpool {

/// One allocation made by a backend: a segment that the pool carves buffers
/// out of, each buffer a range (offset, size) of it.
struct Allocation {
  /// The backend's own handle (a pointer to its record, a device handle).
  std::uint64_t handle = 0;
  /// Host pointer to the memory, or nullptr where it is not host-visible.
  std::byte* host_ptr = nullptr;
  /// The bytes asked for (the backend may reserve more internally).
  std::size_t size_bytes = 0;
};

/// Where memory comes from. Implementations must be thread-safe: the pool
/// calls allocate() and deallocate() from any thread, outside its own locks.
///
/// The device timeline: work submitted to the device is numbered by a
/// monotonically increasing 64-bit value (a Vulkan timeline semaphore, say).
/// A buffer used by submitted work carries the value of that work (see
/// BufferRef::mark_used_until); the pool does not hand it out again, nor free
/// it, until completed_timeline() has reached that value.
class Backend {
 public:
  virtual ~Backend() = default;

  /// Allocates at least size_bytes. Throws OutOfMemoryError when the host or
  /// device is out of memory (the pool then frees its idle buffers and retries
  /// once), another bufferpool::Error for anything else.
  [[nodiscard]] virtual Allocation allocate(std::size_t size_bytes) = 0;

  /// Gives back an allocation made by allocate(). Never throws. (Not named
  /// free(), which static analysers take for the C library's.)
  virtual void deallocate(const Allocation& allocation) noexcept = 0;

  /// The highest timeline value whose work has completed.
  [[nodiscard]] virtual std::uint64_t completed_timeline() const noexcept = 0;

  /// Blocks until completed_timeline() >= value.
  virtual void wait_for_timeline(std::uint64_t value) const noexcept = 0;

  /// The largest single allocation the backend can make.
  [[nodiscard]] virtual std::size_t max_allocation_bytes() const noexcept = 0;

  /// Buffers start at offsets inside an allocation that are multiples of
  /// this power of two (Vulkan: minStorageBufferOffsetAlignment, so that a
  /// descriptor can bind the range). The pool also rounds buffer sizes to it.
  [[nodiscard]] virtual std::size_t buffer_alignment_bytes() const noexcept = 0;

  /// The most allocations that may be live at once (Vulkan:
  /// maxMemoryAllocationCount); SIZE_MAX where the backend sets no bound.
  [[nodiscard]] virtual std::size_t max_live_allocations() const noexcept {
    return std::numeric_limits<std::size_t>::max();
  }

  /// Sets bytes [offset_bytes, offset_bytes + size_bytes) of an allocation to
  /// zero, for PoolConfig::zero_on_reuse. The range is not in use by device
  /// work when this is called. The default writes through host_ptr and throws
  /// BackendError where the allocation is not host-visible; a backend with
  /// device-local memory overrides it.
  virtual void fill_zero(const Allocation& allocation, std::size_t offset_bytes,
                         std::size_t size_bytes);

  /// A short name for messages and metrics ("host", "vulkan: llvmpipe ...").
  [[nodiscard]] virtual std::string name() const = 0;
};

/// Options for the host-memory backend.
struct HostBackendOptions {
  /// Alignment of every allocation, a power of two >= alignof(std::max_align_t).
  /// 64 bytes keeps buffers on their own cache lines.
  std::size_t alignment_bytes = 64;
};

/// Aligned host memory. Its work is always complete: completed_timeline() is
/// the largest 64-bit value.
[[nodiscard]] std::shared_ptr<Backend> make_host_backend(HostBackendOptions options = {});

}  // namespace bufferpool
