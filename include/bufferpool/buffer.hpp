// BufferRef: a reference-counted handle to a pooled buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

namespace bufferpool {

class Backend;

namespace detail {
struct Block;
class PoolCore;
struct BufferAccess;
}  // namespace detail

/// A handle to a buffer from a BufferPool, like a std::shared_ptr: a copy adds
/// a reference, destruction drops one, a move transfers it. The buffer goes
/// back to its pool when its last reference goes, never earlier, never twice.
///
/// The count belongs to the buffer and is shared by all its handles: one per
/// live handle, plus one per increment() not yet matched by a decrement().
/// The design's explicit counting works as written:
///
///     auto buffer = pool.get_buffer(1024);  // ref_count() == 1
///     buffer.increment();                   // 2
///     buffer.decrement();                   // 1
///     buffer.decrement();                   // 0: back in the pool, handle empty
///
/// Threads: a handle is not itself thread-safe (use one handle per thread,
/// as with shared_ptr); the buffer's count is, so copies may live, be used
/// and be dropped on any thread at once, also after the pool is destroyed.
///
/// Costs: copying a handle is one relaxed atomic increment; moving one
/// touches no atomic; the accessors are plain loads. Dropping a reference
/// that is not the last is one atomic decrement. Dropping the last
/// reference (destruction, reset(), decrement(), assignment over the
/// handle) is a release to the pool, described at reset().
class BufferRef {
 public:
  /// An empty handle: operator bool is false, ref_count() is 0.
  BufferRef() noexcept = default;
  BufferRef(const BufferRef& other) noexcept;
  BufferRef(BufferRef&& other) noexcept
      : core_(std::exchange(other.core_, nullptr)), block_(std::exchange(other.block_, nullptr)) {}
  BufferRef& operator=(const BufferRef& other) noexcept;
  BufferRef& operator=(BufferRef&& other) noexcept;
  ~BufferRef() { reset(); }

  /// Drops this handle's reference and leaves it empty. Never throws; does
  /// nothing on an empty handle.
  ///
  /// When it was the last reference, the buffer goes back to its pool on
  /// the calling thread. Usually that is the pool's hit path: the buffer
  /// joins the thread's idle list under that list's own lock (no global
  /// lock, no allocation; a clock read every 16 releases). It costs more,
  /// and can block, when the release also:
  ///  - passes max_pool_size or max_cached_bytes, or lands on a due cleanup
  ///    (ttl): idle buffers go back to their segments, and an emptied
  ///    segment back to the backend (a driver call);
  ///  - finds caching off (max_pool_size 0) or the pool destroyed: the
  ///    buffer's memory is freed now;
  /// and freeing a buffer that device work still uses (mark_used_until)
  /// first waits for that work to finish. A buffer released while device
  /// work uses it, with caching on, is put aside without waiting.
  void reset() noexcept {
    if (block_ != nullptr) drop_reference();
  }

  /// Adds an explicit reference to the buffer: one atomic increment.
  /// Throws UsageError on an empty handle.
  void increment();

  /// Drops an outstanding explicit reference if there is one, otherwise this
  /// handle's own reference, which leaves the handle empty. The buffer goes
  /// back to the pool when the count reaches zero, as reset() describes.
  /// One atomic compare-and-swap (retried while other threads change the
  /// count). Throws UsageError on an empty handle (a decrement past zero).
  void decrement();

  /// References to the buffer: live handles plus outstanding increments.
  /// 0 for an empty handle. With other threads holding copies, the count
  /// may have changed by the time the caller reads it.
  [[nodiscard]] std::uint32_t ref_count() const noexcept;

  /// Bytes asked for; 0 for an empty handle.
  [[nodiscard]] std::size_t size() const noexcept;
  /// Bytes usable: at least size(), rounded up to the backend's alignment.
  [[nodiscard]] std::size_t capacity() const noexcept;

  /// Host pointer to the buffer's first byte. Throws UsageError on an empty
  /// handle, or where the memory is not host-visible (a device-local Vulkan
  /// buffer: use ComputeManager::get_buffer_data).
  /// The memory itself is not synchronised: threads that write it share
  /// it as any memory, and device work that may still use the buffer must be
  /// waited for first (ComputeManager::get_buffer_data and upload do).
  [[nodiscard]] std::byte* data() const;
  /// Whether data() can be called.
  [[nodiscard]] bool host_visible() const noexcept;
  /// The first size() bytes as a span. Throws as data() does.
  [[nodiscard]] std::span<std::byte> bytes() const { return {data(), size()}; }

  /// The backend's handle of the allocation (a segment, shared with other
  /// buffers) that holds this buffer: the buffer is bytes
  /// [offset_bytes(), offset_bytes() + capacity()) of it. For a backend's own
  /// use; Vulkan code gets the VkBuffer, offset and range from
  /// bufferpool::vulkan_buffer_range(). Throws UsageError on an empty handle.
  [[nodiscard]] std::uint64_t native_handle() const;
  /// Where the buffer starts inside its allocation: a multiple of the
  /// backend's buffer_alignment_bytes(). Throws UsageError on an empty handle.
  [[nodiscard]] std::size_t offset_bytes() const;
  /// The backend of the pool the buffer came from, as given to the pool (an
  /// adaptor, where the pool's backend is one: follow
  /// Backend::wrapped_backend() to the backend that made native_handle()).
  /// Valid while this handle holds its reference, also after the BufferPool
  /// is destroyed: a referenced buffer keeps its pool's state, and so the
  /// backend, alive. Throws UsageError on an empty handle.
  ///
  /// Threads: any, as the other accessors. Cost: two loads.
  [[nodiscard]] const Backend& backend() const;

  /// Records that device work numbered `timeline_value` on the backend's
  /// timeline uses this buffer: once released, the buffer is neither reused
  /// nor freed until the backend's completed_timeline() reaches that value.
  /// The highest value recorded counts, whatever the order of the calls and
  /// the threads they come from (an atomic maximum: a compare-and-swap,
  /// retried while another thread raises it). Throws UsageError on an empty
  /// handle.
  void mark_used_until(std::uint64_t timeline_value);

  explicit operator bool() const noexcept { return block_ != nullptr; }

  friend bool operator==(const BufferRef& a, const BufferRef& b) noexcept {
    return a.block_ == b.block_;
  }

 private:
  friend class detail::PoolCore;
  friend struct detail::BufferAccess;
  BufferRef(detail::PoolCore* core, detail::Block* block) noexcept : core_(core), block_(block) {}

  void drop_reference() noexcept;
  void require_block(const char* operation) const;

  detail::PoolCore* core_ = nullptr;
  detail::Block* block_ = nullptr;
};

}  // namespace bufferpool
