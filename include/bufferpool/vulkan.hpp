// The Vulkan backend: segments (one VkBuffer + VkDeviceMemory each, which the
// pool carves buffers out of) from a chosen Vulkan device, with a timeline
// semaphore as the pool's device timeline.
//
// This header needs no Vulkan headers: it names devices by index and name, and
// hands out a plain bufferpool::Backend. The VkBuffer, offset and range of a
// buffer, for other Vulkan code, are in <bufferpool/vulkan_buffer_range.hpp>.
#pragma once

#include <bufferpool/backend.hpp>
#include <bufferpool/errors.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace bufferpool {

/// No Vulkan device at all: no driver installed, or the loader pointed at no
/// driver (VK_ICD_FILENAMES, VK_DRIVER_FILES). The message says how to install
/// one. A ComputeManager with ManagerBackend::automatic falls back to host
/// memory on it.
class NoVulkanDeviceError : public BackendError {
 public:
  using BackendError::BackendError;
};

/// Where a buffer's memory lives.
enum class VulkanMemoryPlacement {
  /// Device-local memory the host can map, where the device has it (every
  /// integrated GPU, lavapipe, discrete GPUs with resizable BAR); otherwise
  /// device-local memory reached through staging copies.
  automatic,
  /// Host-visible, coherent memory, always mapped (staging buffers).
  host_visible,
  /// Device-local memory, never mapped: BufferRef::data() throws, and
  /// ComputeManager moves data through staging buffers. Forcing it on a device
  /// whose memory is all host-visible exercises the staging path.
  device_local,
};

/// "automatic", "host_visible" or "device_local". Never throws.
[[nodiscard]] std::string_view to_string(VulkanMemoryPlacement placement) noexcept;

/// The placement named `name` (the names to_string() gives, exactly), for
/// names from outside the program (Python, the command line). Throws
/// ConfigError naming `name` and listing the accepted names.
[[nodiscard]] VulkanMemoryPlacement parse_vulkan_memory_placement(std::string_view name);

/// The kind of a Vulkan device (VkPhysicalDeviceType), in the order the
/// device picker prefers them: a larger value is preferred.
enum class VulkanDeviceType : std::uint8_t {
  other = 0,
  cpu = 1,             ///< a software driver such as lavapipe
  virtual_gpu = 2,     ///< a GPU shared through a hypervisor
  integrated_gpu = 3,  ///< shares the host's memory
  discrete_gpu = 4,    ///< has memory of its own
};

/// "other", "cpu", "virtual", "integrated" or "discrete". Never throws.
[[nodiscard]] std::string_view to_string(VulkanDeviceType type) noexcept;

/// The type named `name` (the names to_string() gives, exactly), for names
/// from outside the program (Python, the command line). Throws ConfigError
/// naming `name` and listing the accepted names.
[[nodiscard]] VulkanDeviceType parse_vulkan_device_type(std::string_view name);

/// What the device picker sees of one device.
struct VulkanDeviceInfo {
  std::uint32_t index = 0;  ///< position in vkEnumeratePhysicalDevices' order
  std::string name;         ///< e.g. "llvmpipe (LLVM 15.0.6, 256 bits)"
  VulkanDeviceType type = VulkanDeviceType::other;
  std::uint32_t api_version = 0;       ///< VK_MAKE_API_VERSION-encoded
  std::size_t device_local_bytes = 0;  ///< size of its largest device-local heap
  bool usable = false;                 ///< Vulkan 1.2 with timeline semaphores and a compute queue
};

struct VulkanBackendOptions {
  /// Which device: "" picks the best usable one by VulkanDeviceType
  /// (discrete, then integrated, then virtual, then CPU; the first listed
  /// among equals); a number picks by VulkanDeviceInfo::index; anything else picks
  /// the first device whose name contains it (case-insensitive). When empty,
  /// the environment variable BUFFERPOOL_DEVICE is read the same way.
  std::string device;

  /// Where buffer memory lives; see VulkanMemoryPlacement.
  VulkanMemoryPlacement placement = VulkanMemoryPlacement::automatic;

  /// Enables VK_LAYER_KHRONOS_validation (Debian: vulkan-validationlayers).
  /// Also turned on by the environment variable BUFFERPOOL_VALIDATION=1.
  /// Throws BackendError when the layer is not installed.
  bool enable_validation = false;

  /// The most device allocations (segments) live at once on the device, for
  /// every backend on it together (a ComputeManager's pool and its staging
  /// pool share one device): 0 means the device's maxMemoryAllocationCount,
  /// and a larger value than that is capped to it. Lower it to leave room for
  /// other Vulkan code in the process, or to test behaviour near the limit.
  /// Past it, allocate() throws OutOfMemoryError. Backend::max_live_allocations()
  /// reports the limit in force.
  std::size_t max_live_allocations = 0;

  /// Receives every validation message (warnings and errors) when validation
  /// is on; called from any thread the driver chooses. When empty, messages go
  /// to stderr.
  std::function<void(const std::string& message)> on_validation_message;
};

/// What a Vulkan backend's device offers and has turned on.
struct VulkanBackendProperties {
  std::string device_name;
  /// Backend::buffer_alignment_bytes(): buffer offsets and sizes are
  /// multiples of it.
  std::size_t buffer_alignment_bytes = 0;
  /// The device's minStorageBufferOffsetAlignment, which
  /// buffer_alignment_bytes meets.
  std::size_t min_storage_buffer_offset_alignment = 0;
  /// The live-allocation limit in force (Backend::max_live_allocations()).
  std::size_t max_live_allocations = 0;
  /// The device's own maxMemoryAllocationCount.
  std::size_t device_max_memory_allocation_count = 0;
  /// Device allocations live now on the device, by every backend on it.
  std::size_t live_allocations = 0;
  /// Buffers are mapped: BufferRef::data() works.
  bool host_visible = false;
  /// robustBufferAccess is on: a kernel's access outside its buffer's range
  /// cannot reach memory outside the segment's VkBuffer. Turned on wherever
  /// the device offers it (every conformant device does).
  bool robust_buffer_access = false;
  /// VK_EXT_robustness2's robustBufferAccess2 is on as well: an access
  /// outside the buffer's range is judged against that range itself, writes
  /// are discarded and reads give zero, so the buffers that share its segment
  /// are safe by the specification. Turned on wherever the device offers it;
  /// where it is off, their safety rests on how the driver implements
  /// robustBufferAccess, which the specification lets write anywhere in the
  /// segment.
  bool robust_buffer_access2 = false;
  /// VK_EXT_memory_budget is on (enabled wherever the device offers it):
  /// Backend::memory_budget() reports the heap's budget and use. Off on
  /// lavapipe (Mesa 22), which does not offer it.
  bool memory_budget = false;
  /// Size of the memory heap buffers are allocated from.
  std::size_t heap_bytes = 0;
};

/// The properties of a backend made by make_vulkan_backend(). Thread-safe;
/// cheap (no driver call). Throws UsageError for any other backend, an
/// adaptor over a Vulkan backend included: pass the Vulkan backend itself.
[[nodiscard]] VulkanBackendProperties vulkan_backend_properties(const Backend& backend);

/// The Vulkan devices the loader reports, usable or not. Throws
/// NoVulkanDeviceError when the loader finds no driver at all.
///
/// Cost: creates and destroys a Vulkan instance (the loader reads its
/// driver manifests and loads each driver: 4 to 20 ms measured with
/// lavapipe); opens no device.
/// Any thread.
[[nodiscard]] std::vector<VulkanDeviceInfo> list_vulkan_devices();

/// A backend on the chosen device. Each allocation is a segment: one storage
/// buffer usable as transfer source and destination, with its own memory,
/// which the pool carves buffers out of at multiples of
/// buffer_alignment_bytes(). The largest is bounded by the device's
/// maxMemoryAllocationSize and maxBufferSize (max_allocation_bytes()), and the
/// number live by maxMemoryAllocationCount or
/// VulkanBackendOptions::max_live_allocations (max_live_allocations(); past
/// it, allocate() throws OutOfMemoryError so that the pool frees idle
/// segments and retries). fill_zero() on device-local memory records a
/// vkCmdFillBuffer and waits for it. memory_budget() reads
/// VK_EXT_memory_budget where the device offers it
/// (VulkanBackendProperties::memory_budget), else gives std::nullopt.
///
/// Threads and costs of the backend's calls: every call may run on any
/// thread, at the same time as any other. allocate() makes the driver calls
/// a segment needs (vkCreateBuffer, vkAllocateMemory, vkBindBufferMemory,
/// vkMapMemory where mapped) and takes a spin lock held for a few loads and
/// stores; deallocate() the matching frees. completed_timeline() is one
/// vkGetSemaphoreCounterValue; wait_for_timeline() blocks in
/// vkWaitSemaphores until the device reaches the value (a value never
/// submitted is clamped to the last one submitted, so it cannot hang on
/// work that does not exist). fill_zero() is a memset on mapped memory;
/// otherwise it waits for the fill, one fill at a time per backend.
///
/// Cost of this call: opens an instance and a logical device (20 to 50 ms
/// measured on lavapipe; the first in a process also loads the driver,
/// about 0.1 s more). Several backends may share one process; each opens
/// its own device.
///
/// Throws NoVulkanDeviceError when there is no Vulkan device (the message
/// says how to install lavapipe), BackendError when `device` or
/// BUFFERPOOL_DEVICE matches no usable device (the message lists them).
[[nodiscard]] std::shared_ptr<Backend> make_vulkan_backend(
    const VulkanBackendOptions& options = {});

}  // namespace bufferpool
