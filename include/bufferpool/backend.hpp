// The Backend interface: where a pool's memory comes from. A backend knows
// nothing of pooling; the pool knows nothing of the backend's device. A new
// backend (CUDA, Metal) is one class implementing this interface.
//
// The backends the library ships: host memory (<bufferpool/host_backend.hpp>),
// Vulkan (<bufferpool/vulkan.hpp>, target bufferpool::vulkan), and adaptors
// that wrap another backend (<bufferpool/backend_adaptors.hpp>).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
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

/// What the device says may be allocated, and is, from one memory heap.
struct MemoryBudget {
  /// How much the process may use of the heap before allocations are likely
  /// to fail or to slow the system down (VkPhysicalDeviceMemoryBudgetPropertiesEXT::heapBudget).
  /// It changes as other processes take and give back memory, and is at
  /// most the heap's size.
  std::size_t budget_bytes = 0;
  /// How much of the heap the process uses now, through every API, not only
  /// this backend (heapUsage).
  std::size_t usage_bytes = 0;
};

/// Where memory comes from.
///
/// Threads: implementations must be thread-safe: the pool calls every member
/// from any thread, several at once, outside its own locks, and more than one
/// pool may share a backend. Adaptors (backend_adaptors.hpp) keep that
/// promise when their upstream does.
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
  ///
  /// Cost: a driver or system call (vkAllocateMemory, aligned_alloc), which
  /// is why the pool calls it only on a miss. May block on the driver.
  [[nodiscard]] virtual Allocation allocate(std::size_t size_bytes) = 0;

  /// Gives back an allocation made by allocate(). Never throws. (Not named
  /// free(), which static analysers take for the C library's.) The caller
  /// guarantees that no device work uses it any more.
  ///
  /// Cost: a driver or system call; may block on the driver.
  virtual void deallocate(const Allocation& allocation) noexcept = 0;

  /// The highest timeline value whose work has completed. Never blocks; on
  /// Vulkan a driver query (vkGetSemaphoreCounterValue), so the pool caches
  /// what it last read.
  [[nodiscard]] virtual std::uint64_t completed_timeline() const noexcept = 0;

  /// Blocks the calling thread until completed_timeline() >= value: as long
  /// as the device needs to finish that work. Returns at once for a value
  /// already reached.
  virtual void wait_for_timeline(std::uint64_t value) const noexcept = 0;

  /// The largest single allocation the backend can make. Constant; cheap.
  [[nodiscard]] virtual std::size_t max_allocation_bytes() const noexcept = 0;

  /// Buffers start at offsets inside an allocation that are multiples of
  /// this power of two (Vulkan: minStorageBufferOffsetAlignment, so that a
  /// descriptor can bind the range). The pool also rounds buffer sizes to it.
  /// Constant; cheap.
  [[nodiscard]] virtual std::size_t buffer_alignment_bytes() const noexcept = 0;

  /// The most allocations that may be live at once (Vulkan:
  /// maxMemoryAllocationCount); SIZE_MAX where the backend sets no bound.
  /// Constant; cheap.
  [[nodiscard]] virtual std::size_t max_live_allocations() const noexcept {
    return std::numeric_limits<std::size_t>::max();
  }

  /// Sets bytes [offset_bytes, offset_bytes + size_bytes) of an allocation to
  /// zero (the pool calls it for a buffer it must hand out zeroed). The range
  /// is not in use by device work when this is called. The default writes
  /// through host_ptr and throws BackendError where the allocation is not
  /// host-visible; a backend with device-local memory overrides it (and may
  /// then block until the device has done the fill).
  virtual void fill_zero(const Allocation& allocation, std::size_t offset_bytes,
                         std::size_t size_bytes);

  /// The device's memory budget and current use of the heap this backend
  /// allocates from, where the device reports them (Vulkan:
  /// VK_EXT_memory_budget); std::nullopt where it does not (host memory, a
  /// Vulkan device without the extension).
  ///
  /// Cost: a driver query each call (the figures change as any process
  /// allocates), no allocation; never blocks on device work. Not for a hot
  /// path: read it when a request fails or to report.
  [[nodiscard]] virtual std::optional<MemoryBudget> memory_budget() const noexcept {
    return std::nullopt;
  }

  /// A short name for messages and metrics ("host", "vulkan: llvmpipe ...").
  /// Allocates the string.
  [[nodiscard]] virtual std::string name() const = 0;

  /// For an adaptor (a backend that forwards to another, as those of
  /// backend_adaptors.hpp do): the backend it forwards to; nullptr for a
  /// backend that allocates memory itself, which is the default.
  ///
  /// Library code follows it to the backend that made a buffer's memory:
  /// bufferpool::vulkan_buffer_range() walks it to the innermost backend to
  /// find the VkBuffer behind a BufferRef. So an adaptor of your own should
  /// derive from ForwardingBackend (forwarding_backend.hpp), which returns
  /// its upstream here, or override it to do so, and must then pass on its
  /// upstream's allocations unchanged (handle and host_ptr), as the
  /// innermost backend reads the handle as its own. An adaptor that does not
  /// override it still works for pooling, but vulkan_buffer_range() refuses
  /// the buffers of pools on it with UsageError, as it refuses a host
  /// buffer.
  ///
  /// Constant; cheap (one virtual call); any thread.
  [[nodiscard]] virtual const Backend* wrapped_backend() const noexcept { return nullptr; }
};

}  // namespace bufferpool
