// The Vulkan backend: VkBuffer + VkDeviceMemory from a chosen Vulkan device,
// with a timeline semaphore as the pool's device timeline.
//
// This header needs no Vulkan headers: it names devices by index and name, and
// hands out a plain bufferpool::Backend.
#pragma once

#include <bufferpool/backend.hpp>
#include <bufferpool/errors.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace bufferpool {

/// No Vulkan device at all: no driver installed, or the loader pointed at no
/// driver (VK_ICD_FILENAMES, VK_DRIVER_FILES). The message says how to install
/// one. ComputeManager with backend "auto" falls back to host memory on it.
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

/// What the device picker sees of one device.
struct VulkanDeviceInfo {
  std::uint32_t index = 0;             ///< position in vkEnumeratePhysicalDevices' order
  std::string name;                    ///< e.g. "llvmpipe (LLVM 15.0.6, 256 bits)"
  std::string type;                    ///< "discrete", "integrated", "virtual", "cpu" or "other"
  std::uint32_t api_version = 0;       ///< VK_MAKE_API_VERSION-encoded
  std::size_t device_local_bytes = 0;  ///< size of its largest device-local heap
  bool usable = false;                 ///< Vulkan 1.2 with timeline semaphores and a compute queue
};

struct VulkanBackendOptions {
  /// Which device: "" picks the best (discrete, then integrated, then virtual,
  /// then CPU); a number picks by VulkanDeviceInfo::index; anything else picks
  /// the first device whose name contains it (case-insensitive). When empty,
  /// the environment variable BUFFERPOOL_DEVICE is read the same way.
  std::string device;

  /// Where buffer memory lives; see VulkanMemoryPlacement.
  VulkanMemoryPlacement placement = VulkanMemoryPlacement::automatic;

  /// Enables VK_LAYER_KHRONOS_validation (Debian: vulkan-validationlayers).
  /// Also turned on by the environment variable BUFFERPOOL_VALIDATION=1.
  /// Throws BackendError when the layer is not installed.
  bool enable_validation = false;

  /// Receives every validation message (warnings and errors) when validation
  /// is on; called from any thread the driver chooses. When empty, messages go
  /// to stderr.
  std::function<void(const std::string& message)> on_validation_message;
};

/// The Vulkan devices the loader reports, usable or not. Throws
/// NoVulkanDeviceError when the loader finds no driver at all.
[[nodiscard]] std::vector<VulkanDeviceInfo> list_vulkan_devices();

/// A backend on the chosen device. Buffers are storage buffers usable as
/// transfer source and destination; the largest is bounded by the device's
/// maxMemoryAllocationSize and maxBufferSize (max_allocation_bytes()), and the
/// number live by maxMemoryAllocationCount (past it, allocate() throws
/// OutOfMemoryError so that the pool frees idle buffers and retries).
///
/// Throws NoVulkanDeviceError when there is no Vulkan device (the message
/// says how to install lavapipe), BackendError when `device` or
/// BUFFERPOOL_DEVICE matches no usable device (the message lists them).
[[nodiscard]] std::shared_ptr<Backend> make_vulkan_backend(
    const VulkanBackendOptions& options = {});

}  // namespace bufferpool
