#include "backends/vulkan/vulkan_backend.hpp"

#include "backends/vulkan/vulkan_error.hpp"

#include <bufferpool/errors.hpp>
#include <bufferpool/vulkan_buffer_range.hpp>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstring>
#include <optional>
#include <string>

namespace bufferpool::vulkan_detail {
namespace {

constexpr VkBufferUsageFlags kUsage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
                                      VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                      VK_BUFFER_USAGE_TRANSFER_DST_BIT;

std::optional<std::uint32_t> find_memory_type(const VkPhysicalDeviceMemoryProperties& memory,
                                              std::uint32_t allowed_types,
                                              VkMemoryPropertyFlags required) {
  for (std::uint32_t index = 0; index < memory.memoryTypeCount; ++index) {
    if ((allowed_types & (1U << index)) != 0 &&
        (memory.memoryTypes[index].propertyFlags & required) == required) {
      return index;
    }
  }
  return std::nullopt;
}

std::size_t heap_bytes(const VkPhysicalDeviceMemoryProperties& memory, std::uint32_t type) {
  return static_cast<std::size_t>(memory.memoryHeaps[memory.memoryTypes[type].heapIndex].size);
}

std::size_t largest_device_local_heap(const VkPhysicalDeviceMemoryProperties& memory) {
  std::size_t largest = 0;
  for (std::uint32_t heap = 0; heap < memory.memoryHeapCount; ++heap) {
    if ((memory.memoryHeaps[heap].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) != 0) {
      largest = std::max(largest, static_cast<std::size_t>(memory.memoryHeaps[heap].size));
    }
  }
  return largest;
}

}  // namespace

VulkanBackend::VulkanBackend(std::shared_ptr<VulkanDevice> device, VulkanMemoryPlacement placement)
    : device_(std::move(device)) {
  // The memory types a storage buffer may use do not depend on its size, so
  // one probe decides the type for all.
  VkBufferCreateInfo probe_info{};
  probe_info.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
  probe_info.size = 256;
  probe_info.usage = kUsage;
  probe_info.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  VkBuffer probe = VK_NULL_HANDLE;
  check(vkCreateBuffer(device_->device(), &probe_info, nullptr, &probe), "vkCreateBuffer (probe)");
  VkMemoryRequirements requirements{};
  vkGetBufferMemoryRequirements(device_->device(), probe, &requirements);
  vkDestroyBuffer(device_->device(), probe, nullptr);

  const auto& memory = device_->memory_properties();
  const VkMemoryPropertyFlags mappable =
      VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  std::optional<std::uint32_t> type;
  switch (placement) {
    case VulkanMemoryPlacement::automatic: {
      // Mappable device-local memory is only worth it when it is most of the
      // device's memory (unified memory, resizable BAR), not a 256 MiB window.
      type = find_memory_type(memory, requirements.memoryTypeBits,
                              mappable | VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
      if (type && heap_bytes(memory, *type) >= largest_device_local_heap(memory) / 2) {
        mapped_ = true;
      } else {
        type = find_memory_type(memory, requirements.memoryTypeBits,
                                VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
        if (!type) {
          type = find_memory_type(memory, requirements.memoryTypeBits, mappable);
          mapped_ = type.has_value();
        }
      }
      break;
    }
    case VulkanMemoryPlacement::host_visible:
      type = find_memory_type(memory, requirements.memoryTypeBits, mappable);
      mapped_ = true;
      break;
    case VulkanMemoryPlacement::device_local:
      type = find_memory_type(memory, requirements.memoryTypeBits,
                              VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
      break;
  }
  if (!type) {
    throw BackendError("bufferpool: vulkan: " + device_->name() +
                       " has no memory type for storage buffers with the asked placement; "
                       "use VulkanMemoryPlacement::automatic");
  }
  memory_type_index_ = *type;
  max_allocation_bytes_ =
      std::min(device_->max_buffer_bytes(), heap_bytes(memory, memory_type_index_));

  // Buffers start at multiples of this inside a segment, and their sizes are
  // multiples of it. A descriptor binds a buffer at its offset only if that is
  // a multiple of minStorageBufferOffsetAlignment; vkCmdFillBuffer needs
  // offsets and sizes that are multiples of 4 (vkCmdCopyBuffer needs none).
  // 256 bytes as a floor, though lavapipe asks for 16: it is the most that
  // minStorageBufferOffsetAlignment (and nonCoherentAtomSize) may be on any
  // conformant device, so a pool carves the same layout on every device and
  // what was measured on one holds on another; and it keeps two buffers off
  // one GPU cache line (64 to 128 bytes), so kernels writing neighbouring
  // buffers never share a line. The price is at most 255 bytes of rounding
  // per buffer, which only buffers far below 256 bytes feel. The device's own
  // value is taken should one ever report more (a power of two by the
  // specification; bit_ceil keeps the contract should a driver get it wrong).
  const auto& limits = device_->limits();
  buffer_alignment_bytes_ = std::max<std::size_t>(
      {256, std::bit_ceil(static_cast<std::size_t>(limits.minStorageBufferOffsetAlignment))});
}

VulkanBackend::~VulkanBackend() {
  // The pool frees every segment before it lets go of its backend; any left
  // here was leaked by a bug, and is freed so that the device can close, and
  // given back to the device's budget, which other backends may still use.
  for (const Segment& segment : segments_.erase_all()) {
    destroy_objects(segment);
    device_->allocation_budget().give_back();
  }
  if (fill_pool_ != VK_NULL_HANDLE) vkDestroyCommandPool(device_->device(), fill_pool_, nullptr);
}

void VulkanBackend::destroy_objects(const Segment& segment) noexcept {
  const VkDevice device = device_->device();
  if (segment.mapped != nullptr) vkUnmapMemory(device, segment.memory);
  if (segment.buffer != VK_NULL_HANDLE) vkDestroyBuffer(device, segment.buffer, nullptr);
  if (segment.memory != VK_NULL_HANDLE) vkFreeMemory(device, segment.memory, nullptr);
}

Allocation VulkanBackend::allocate(std::size_t size_bytes) {
  if (size_bytes == 0 || size_bytes > max_allocation_bytes_) {
    throw InvalidArgumentError("bufferpool: vulkan: cannot allocate a segment of " +
                               std::to_string(size_bytes) + " bytes on " + device_->name() +
                               ": a segment holds 1 to " + std::to_string(max_allocation_bytes_) +
                               " bytes (maxMemoryAllocationSize, maxBufferSize and heap size); "
                               "split the data into smaller buffers");
  }
  AllocationBudget& budget = device_->allocation_budget();
  // One of the device's allocations is taken before the driver is asked, and
  // given back only once the driver has freed it (or failed to make it), so
  // that however many backends and threads allocate at once, the driver never
  // holds more than the limit.
  if (!budget.try_take()) {
    // As a lack of memory, so that the pool frees idle segments and retries.
    throw OutOfMemoryError(
        "bufferpool: vulkan: " + device_->name() + " allows " +
            std::to_string(device_->allocation_limit()) +
            " live device allocations (maxMemoryAllocationCount is " +
            std::to_string(device_->limits().maxMemoryAllocationCount) +
            ", VulkanBackendOptions::max_live_allocations may lower it) and all are in use; "
            "free allocations, or make fewer, larger ones",
        size_bytes, 0, 0);
  }
  SegmentRecords::Reservation reservation;
  try {
    reservation = segments_.reserve();
  } catch (const OutOfMemoryError& error) {
    budget.give_back();
    throw OutOfMemoryError(error.what(), size_bytes, 0, 0);
  } catch (...) {
    budget.give_back();
    throw;
  }
  // Messages are built only when a step fails: a segment allocation is the
  // pool's miss path, and costs what the driver calls cost.
  const auto failed = [this, size_bytes](const char* step) {
    return std::string(step) + " of " + format_bytes(size_bytes) + " on " + device_->name();
  };
  Segment segment;
  segment.size_bytes = size_bytes;
  const VkDevice device = device_->device();
  try {
    VkBufferCreateInfo buffer_info{};
    buffer_info.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
    buffer_info.size = size_bytes;
    buffer_info.usage = kUsage;
    buffer_info.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    check(vkCreateBuffer(device, &buffer_info, nullptr, &segment.buffer),
          [&] { return failed("vkCreateBuffer"); });
    VkMemoryRequirements requirements{};
    vkGetBufferMemoryRequirements(device, segment.buffer, &requirements);
    VkMemoryAllocateInfo allocate_info{};
    allocate_info.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
    allocate_info.allocationSize = requirements.size;
    allocate_info.memoryTypeIndex = memory_type_index_;
    check(vkAllocateMemory(device, &allocate_info, nullptr, &segment.memory),
          [&] { return failed("vkAllocateMemory"); });
    check(vkBindBufferMemory(device, segment.buffer, segment.memory, 0),
          [&] { return failed("vkBindBufferMemory"); });
    if (mapped_) {
      void* pointer = nullptr;
      check(vkMapMemory(device, segment.memory, 0, VK_WHOLE_SIZE, 0, &pointer),
            [&] { return failed("vkMapMemory"); });
      segment.mapped = static_cast<std::byte*>(pointer);
    }
  } catch (const OutOfMemoryError& error) {
    destroy_objects(segment);
    segments_.cancel(reservation);
    budget.give_back();
    throw OutOfMemoryError(error.what(), size_bytes, 0, 0);
  } catch (...) {
    destroy_objects(segment);
    segments_.cancel(reservation);
    budget.give_back();
    throw;
  }
  segments_.publish(reservation, segment);
  return Allocation{reservation.handle, segment.mapped, size_bytes};
}

void VulkanBackend::deallocate(const Allocation& allocation) noexcept {
  // Only this backend's own live handles: another's are not its to free, and
  // one freed already is not freed again.
  const auto segment = segments_.erase(allocation.handle);
  if (!segment) return;
  destroy_objects(*segment);
  device_->allocation_budget().give_back();
}

void VulkanBackend::fill_zero(const Allocation& allocation, std::size_t offset_bytes,
                              std::size_t size_bytes) {
  const Segment& segment = resolve(allocation.handle);
  if (offset_bytes > segment.size_bytes || size_bytes > segment.size_bytes - offset_bytes) {
    throw InvalidArgumentError("bufferpool: vulkan: fill_zero of bytes " +
                               std::to_string(offset_bytes) + " to " +
                               std::to_string(offset_bytes + size_bytes) + " of a segment of " +
                               std::to_string(segment.size_bytes) +
                               " bytes: the range must lie "
                               "inside the segment");
  }
  if (size_bytes == 0) return;
  if (segment.mapped != nullptr) {
    // Coherent memory that no device work uses now (the caller's promise).
    std::memset(segment.mapped + offset_bytes, 0, size_bytes);
    return;
  }
  if (offset_bytes % 4 != 0 || size_bytes % 4 != 0) {
    throw InvalidArgumentError(
        "bufferpool: vulkan: fill_zero at offset " + std::to_string(offset_bytes) + " of " +
        std::to_string(size_bytes) +
        " bytes: device-local memory is zeroed with vkCmdFillBuffer, which needs multiples of "
        "4 bytes (offsets and sizes at multiples of buffer_alignment_bytes() always are)");
  }

  const std::lock_guard lock(fill_mutex_);
  const VkDevice device = device_->device();
  if (fill_pool_ == VK_NULL_HANDLE) {
    VkCommandPoolCreateInfo pool_info{};
    pool_info.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
    pool_info.flags = VK_COMMAND_POOL_CREATE_TRANSIENT_BIT;
    pool_info.queueFamilyIndex = device_->queue_family();
    VkCommandPool pool = VK_NULL_HANDLE;
    check(vkCreateCommandPool(device, &pool_info, nullptr, &pool),
          "vkCreateCommandPool (fill_zero)");
    VkCommandBufferAllocateInfo buffer_info{};
    buffer_info.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
    buffer_info.commandPool = pool;
    buffer_info.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    buffer_info.commandBufferCount = 1;
    const VkResult allocated = vkAllocateCommandBuffers(device, &buffer_info, &fill_commands_);
    if (allocated != VK_SUCCESS) {
      vkDestroyCommandPool(device, pool, nullptr);
      throw_result(allocated, "vkAllocateCommandBuffers (fill_zero)");
    }
    fill_pool_ = pool;
  } else {
    // The last fill was waited for, so its command buffer is free to reuse.
    check(vkResetCommandPool(device, fill_pool_, 0), "vkResetCommandPool (fill_zero)");
  }
  VkCommandBufferBeginInfo begin_info{};
  begin_info.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
  begin_info.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  check(vkBeginCommandBuffer(fill_commands_, &begin_info), "vkBeginCommandBuffer (fill_zero)");
  // After the writes of earlier work on the range (the last user's kernels),
  // and before any later work reads or writes it, whoever records that work.
  VkMemoryBarrier before{};
  before.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
  before.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  before.dstAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
  vkCmdPipelineBarrier(fill_commands_,
                       VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                       VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &before, 0, nullptr, 0, nullptr);
  vkCmdFillBuffer(fill_commands_, segment.buffer, offset_bytes, size_bytes, 0);
  VkMemoryBarrier after{};
  after.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
  after.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
  after.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                        VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  vkCmdPipelineBarrier(fill_commands_, VK_PIPELINE_STAGE_TRANSFER_BIT,
                       VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1,
                       &after, 0, nullptr, 0, nullptr);
  check(vkEndCommandBuffer(fill_commands_), "vkEndCommandBuffer (fill_zero)");
  // The caller hands the buffer out next: the zeros must be there, so a
  // failed wait is an error, not a skipped fill.
  device_->wait_for_timeline_or_throw(device_->submit(fill_commands_));
}

std::optional<MemoryBudget> VulkanBackend::memory_budget() const noexcept {
  return device_->memory_budget(
      device_->memory_properties().memoryTypes[memory_type_index_].heapIndex);
}

std::string VulkanBackend::name() const { return "vulkan: " + device_->name(); }

const Segment& VulkanBackend::resolve(std::uint64_t handle) const {
  const Segment* found = find(handle);
  if (found == nullptr) {
    throw UsageError("bufferpool: vulkan: allocation handle " + std::to_string(handle) +
                     " is not a live allocation of this backend (" + device_->name() +
                     "): it was made by another backend, or already freed; pass "
                     "allocations to the backend that made them");
  }
  return *found;
}

VulkanBackendProperties VulkanBackend::properties() const {
  VulkanBackendProperties result;
  result.device_name = device_->name();
  result.buffer_alignment_bytes = buffer_alignment_bytes_;
  result.min_storage_buffer_offset_alignment =
      static_cast<std::size_t>(device_->limits().minStorageBufferOffsetAlignment);
  result.max_live_allocations = device_->allocation_limit();
  result.device_max_memory_allocation_count = device_->limits().maxMemoryAllocationCount;
  result.live_allocations = device_->live_allocations();
  result.host_visible = mapped_;
  result.robust_buffer_access = device_->robust_buffer_access();
  result.robust_buffer_access2 = device_->robust_buffer_access2();
  result.memory_budget = device_->has_memory_budget();
  result.heap_bytes = heap_bytes(device_->memory_properties(), memory_type_index_);
  return result;
}

}  // namespace bufferpool::vulkan_detail

namespace bufferpool {
namespace {

/// Adaptors vulkan_buffer_range() looks through before it takes the chain of
/// wrapped_backend() for a loop.
constexpr std::size_t kMaxAdaptors = 64;

}  // namespace

std::shared_ptr<Backend> make_vulkan_backend(const VulkanBackendOptions& options) {
  auto device = vulkan_detail::VulkanDevice::open(options);
  return std::make_shared<vulkan_detail::VulkanBackend>(std::move(device), options.placement);
}

VulkanBackendProperties vulkan_backend_properties(const Backend& backend) {
  const auto* vulkan = dynamic_cast<const vulkan_detail::VulkanBackend*>(&backend);
  if (vulkan == nullptr) {
    throw UsageError("bufferpool: vulkan_backend_properties() got the " + backend.name() +
                     " backend, not one made by make_vulkan_backend(); pass the Vulkan backend "
                     "itself, not an adaptor over it");
  }
  return vulkan->properties();
}

VulkanBufferRange vulkan_buffer_range(const BufferRef& buffer) {
  if (!buffer) {
    throw UsageError(
        "bufferpool: vulkan_buffer_range() on an empty BufferRef: its reference was released "
        "or it was never assigned a buffer");
  }
  // The backend that made the buffer's segment: under the adaptors the pool
  // may have been given, the innermost one.
  const Backend* maker = &buffer.backend();
  for (std::size_t adaptors = 0; const Backend* wrapped = maker->wrapped_backend(); ++adaptors) {
    if (adaptors == kMaxAdaptors) {
      throw UsageError("bufferpool: vulkan_buffer_range() on a buffer from a pool on more than " +
                       std::to_string(kMaxAdaptors) +
                       " backend adaptors, one over the other: a wrapped_backend() that leads "
                       "back to itself? An adaptor's wrapped_backend() names its upstream");
    }
    maker = wrapped;
  }
  const auto* vulkan = dynamic_cast<const vulkan_detail::VulkanBackend*>(maker);
  if (vulkan == nullptr) {
    throw UsageError(
        "bufferpool: vulkan_buffer_range() on a buffer that is not from a pool on a Vulkan "
        "backend (its memory comes from the " +
        maker->name() +
        " backend: host memory, another backend, or an adaptor that does not override "
        "Backend::wrapped_backend()); only buffers whose memory is a VkBuffer have a Vulkan "
        "range");
  }
  const vulkan_detail::Segment* segment = vulkan->find(buffer.native_handle());
  if (segment == nullptr) {
    throw UsageError(
        "bufferpool: vulkan_buffer_range() on a buffer whose segment handle is not a live "
        "allocation of its Vulkan backend (" +
        maker->name() +
        "): an adaptor between the pool and the Vulkan backend changed the allocations it "
        "passed on; adaptors must pass on their upstream's allocations unchanged");
  }
  return VulkanBufferRange{segment->buffer, buffer.offset_bytes(), buffer.size()};
}

}  // namespace bufferpool
