// The VkBuffer, offset and range of a pooled buffer, for Vulkan code outside
// bufferpool: descriptor writes, copies, barriers of your own.
//
// Unlike <bufferpool/vulkan.hpp>, this header includes <vulkan/vulkan.h>:
// include it only where Vulkan's headers are available (in CMake,
// find_package(Vulkan) and link Vulkan::Vulkan next to bufferpool::bufferpool;
// the installed package does not pass Vulkan's headers on by itself).
#pragma once

#include <bufferpool/buffer.hpp>

#include <vulkan/vulkan.h>

namespace bufferpool {

/// Where a pooled buffer lives on the device. A pool carves many buffers out
/// of one segment, so `buffer` is shared with other pooled buffers: always
/// bind and copy with `offset` and `range`, never the whole VkBuffer.
///
///     const bufferpool::VulkanBufferRange r = bufferpool::vulkan_buffer_range(buffer);
///     VkDescriptorBufferInfo info{r.buffer, r.offset, r.range};
///     VkBufferCopy region{/*srcOffset=*/r.offset, /*dstOffset=*/0, /*size=*/r.range};
struct VulkanBufferRange {
  /// The segment's VkBuffer (usage: storage buffer, transfer source and
  /// destination), made on the backend's own VkDevice.
  VkBuffer buffer = VK_NULL_HANDLE;
  /// Where the buffer starts in it: BufferRef::offset_bytes(), a multiple of
  /// the backend's buffer_alignment_bytes(), so a valid storage-buffer
  /// descriptor offset (minStorageBufferOffsetAlignment) on its device.
  VkDeviceSize offset = 0;
  /// The buffer's length: BufferRef::size(), the bytes asked for. Not
  /// capacity(): the padding up to the capacity is the buffer's own, but a
  /// descriptor over it would let a kernel's `data.length()` and its bounds
  /// checks count bytes the caller never asked for. With robust buffer access
  /// on (VulkanBackendProperties), accesses past `range` do not reach the
  /// neighbours in the segment.
  VkDeviceSize range = 0;
};

/// The VkBuffer, offset and range of `buffer`, which must come from a pool
/// on a Vulkan backend (make_vulkan_backend(), a ComputeManager's pool, or an
/// adaptor over either). It follows Backend::wrapped_backend() from the
/// pool's backend (BufferRef::backend()) to the Vulkan backend under the
/// adaptors, which finds the segment by the buffer's handle.
///
/// Threads: any. Calls on different handles of the same buffer, or of
/// different buffers, may run at once; as with every BufferRef call, one
/// handle must not be modified by another thread meanwhile.
///
/// Cost: no driver call, no lock, no allocation: a virtual call per adaptor,
/// a dynamic_cast, and a lookup in the backend's records of its live
/// segments (a few loads and compares). Cheap enough to call per dispatch.
///
/// Lifetime: the range is the buffer's while a reference to it is held. Once
/// the last reference goes, the pool may hand the range to another request
/// or free the segment. The pool knows only the work that the ComputeManager
/// submits (BufferRef::mark_used_until); keep a reference until work you
/// submit yourself is done.
///
/// Synchronization is the caller's: the memory is written by the backend's
/// queue (uploads, dispatches, fills), so wait for that work (for example
/// ComputeManager::wait_idle()) before using it in work of your own, and the
/// other way round.
///
/// Throws UsageError for an empty handle, or for a buffer from a pool on any
/// other backend (host memory, a test backend), or on an adaptor of your own
/// over a Vulkan backend that does not override Backend::wrapped_backend().
[[nodiscard]] VulkanBufferRange vulkan_buffer_range(const BufferRef& buffer);

}  // namespace bufferpool
