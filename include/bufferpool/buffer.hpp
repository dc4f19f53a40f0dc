// BufferRef: a reference-counted handle to a pooled buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

namespace bufferpool {

namespace detail {
struct Block;
class PoolCore;
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
/// A handle is not itself thread-safe (use one handle per thread, as with
/// shared_ptr); the buffer's count is, so copies may live on any thread.
class BufferRef {
 public:
  BufferRef() noexcept = default;
  BufferRef(const BufferRef& other) noexcept;
  BufferRef(BufferRef&& other) noexcept
      : core_(std::exchange(other.core_, nullptr)), block_(std::exchange(other.block_, nullptr)) {}
  BufferRef& operator=(const BufferRef& other) noexcept;
  BufferRef& operator=(BufferRef&& other) noexcept;
  ~BufferRef() { reset(); }

  /// Drops this handle's reference and leaves it empty. Never throws.
  void reset() noexcept {
    if (block_ != nullptr) drop_reference();
  }

  /// Adds an explicit reference to the buffer.
  /// Throws UsageError on an empty handle.
  void increment();

  /// Drops an outstanding explicit reference if there is one, otherwise this
  /// handle's own reference, which leaves the handle empty. The buffer goes
  /// back to the pool when the count reaches zero.
  /// Throws UsageError on an empty handle (a decrement past zero).
  void decrement();

  /// References to the buffer: live handles plus outstanding increments.
  /// 0 for an empty handle.
  [[nodiscard]] std::uint32_t ref_count() const noexcept;

  /// Bytes asked for.
  [[nodiscard]] std::size_t size() const noexcept;
  /// Bytes usable: at least size(), rounded up to the backend's alignment.
  [[nodiscard]] std::size_t capacity() const noexcept;

  /// Host pointer to the buffer's first byte. Throws UsageError on an empty
  /// handle, or where the memory is not host-visible (a device-local Vulkan
  /// buffer: use ComputeManager::get_buffer_data).
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

  /// Records that device work numbered `timeline_value` on the backend's
  /// timeline uses this buffer: once released, the buffer is neither reused
  /// nor freed until the backend's completed_timeline() reaches that value.
  void mark_used_until(std::uint64_t timeline_value);

  explicit operator bool() const noexcept { return block_ != nullptr; }

  friend bool operator==(const BufferRef& a, const BufferRef& b) noexcept {
    return a.block_ == b.block_;
  }

 private:
  friend class detail::PoolCore;
  BufferRef(detail::PoolCore* core, detail::Block* block) noexcept : core_(core), block_(block) {}

  void drop_reference() noexcept;
  void require_block(const char* operation) const;

  detail::PoolCore* core_ = nullptr;
  detail::Block* block_ = nullptr;
};

}  // namespace bufferpool
