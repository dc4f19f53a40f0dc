// VulkanDevice: one instance, one logical device, one compute queue and the
// timeline semaphore that numbers the work submitted to it. Shared by the
// backends (device-local and staging) and the compute machinery on top.
#pragma once

#include <bufferpool/backend.hpp>
#include <bufferpool/vulkan.hpp>

#include <vulkan/vulkan.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace bufferpool::vulkan_detail {

/// A device's live allocations and their limit (maxMemoryAllocationCount, or
/// lower), shared by every backend on the device (a manager's pool and its
/// staging pool, any others a program makes). A backend takes one before it
/// asks the driver for memory and gives it back after the driver has freed
/// it (or failed to allocate), so that the driver never sees more than
/// `limit` live allocations, whichever threads and backends allocate at once.
class AllocationBudget {
 public:
  explicit AllocationBudget(std::uint32_t limit = 0) noexcept : limit_(limit) {}
  /// Set before any backend uses the budget.
  void set_limit(std::uint32_t limit) noexcept { limit_ = limit; }
  [[nodiscard]] std::uint32_t limit() const noexcept { return limit_; }
  /// Allocations taken and not given back; may be read on any thread.
  [[nodiscard]] std::uint32_t live() const noexcept {
    return live_.load(std::memory_order_relaxed);
  }

  /// Takes one allocation; false, taking nothing, when all `limit` are
  /// taken. Lock-free: a compare-and-swap, retried while other threads take
  /// or give back. (Relaxed: the count publishes nothing; the driver calls
  /// it guards order themselves.)
  [[nodiscard]] bool try_take() noexcept {
    std::uint32_t live = live_.load(std::memory_order_relaxed);
    do {
      if (live >= limit_) return false;
    } while (!live_.compare_exchange_weak(live, live + 1, std::memory_order_relaxed));
    return true;
  }
  /// Gives back one allocation taken by try_take(). One atomic decrement.
  void give_back() noexcept { live_.fetch_sub(1, std::memory_order_relaxed); }

 private:
  std::uint32_t limit_ = 0;
  std::atomic<std::uint32_t> live_{0};
};

/// The device VulkanBackendOptions::device (or, when that is empty and
/// `wanted` came from it, BUFFERPOOL_DEVICE) asks for, as an index into
/// `devices`: by index, by part of its name (case-insensitive), or, for an
/// empty `wanted`, the usable device of the most preferred VulkanDeviceType
/// (the first listed among equals). `source` names where `wanted` came from,
/// for the message. Throws NoVulkanDeviceError when there are no devices or
/// none is usable, BackendError when none matches (the message lists them).
[[nodiscard]] std::uint32_t choose_device(const std::vector<VulkanDeviceInfo>& devices,
                                          const std::string& wanted, const char* source);

class VulkanDevice {
  struct Passkey {};

 public:
  /// Picks and opens a device as VulkanBackendOptions describes. Throws
  /// NoVulkanDeviceError or BackendError (see make_vulkan_backend).
  [[nodiscard]] static std::shared_ptr<VulkanDevice> open(const VulkanBackendOptions& options);

  VulkanDevice(Passkey /*only open() makes one*/, const VulkanBackendOptions& options);
  ~VulkanDevice();
  VulkanDevice(const VulkanDevice&) = delete;
  VulkanDevice& operator=(const VulkanDevice&) = delete;
  VulkanDevice(VulkanDevice&&) = delete;
  VulkanDevice& operator=(VulkanDevice&&) = delete;

  [[nodiscard]] VkDevice device() const noexcept { return device_; }
  [[nodiscard]] VkPhysicalDevice physical_device() const noexcept { return physical_device_; }
  [[nodiscard]] std::uint32_t queue_family() const noexcept { return queue_family_; }
  [[nodiscard]] const VkPhysicalDeviceLimits& limits() const noexcept { return properties_.limits; }
  [[nodiscard]] const VkPhysicalDeviceMemoryProperties& memory_properties() const noexcept {
    return memory_properties_;
  }
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  /// Threads per subgroup (warp, wavefront), for choosing thread-group sizes.
  [[nodiscard]] std::uint32_t subgroup_size() const noexcept { return subgroup_size_; }
  /// maxMemoryAllocationSize, and maxBufferSize where the device reports it.
  [[nodiscard]] std::size_t max_buffer_bytes() const noexcept { return max_buffer_bytes_; }
  /// Nanoseconds per timestamp tick; 0 when the queue cannot time work.
  [[nodiscard]] double timestamp_period_ns() const noexcept { return timestamp_period_ns_; }

  /// Submits one command buffer, signalling the next timeline value, and
  /// returns that value. Thread-safe.
  std::uint64_t submit(VkCommandBuffer command_buffer);

  [[nodiscard]] std::uint64_t last_submitted() const noexcept {
    return last_submitted_.load(std::memory_order_acquire);
  }
  [[nodiscard]] std::uint64_t completed_timeline() const noexcept;
  /// Waits until `value` is reached; a value never submitted is clamped to
  /// the last submitted one, so this cannot hang on work that does not exist.
  void wait_for_timeline(std::uint64_t value) const noexcept;

  /// Whether robustBufferAccess is on: an access outside a descriptor's range
  /// cannot reach memory outside the VkBuffer (the segment) it names.
  [[nodiscard]] bool robust_buffer_access() const noexcept { return robust_buffer_access_; }
  /// Whether VK_EXT_robustness2's robustBufferAccess2 is on as well: an
  /// out-of-range write is discarded and an out-of-range read gives zero,
  /// judged against the descriptor's range, so a buffer's neighbours in its
  /// segment are safe by the specification, not only by the driver's choice.
  [[nodiscard]] bool robust_buffer_access2() const noexcept { return robust_buffer_access2_; }

  /// As wait_for_timeline(), for a caller that must know the work ran (a
  /// fill that zeroes memory): throws BackendError when the wait fails (a
  /// lost device).
  void wait_for_timeline_or_throw(std::uint64_t value) const;

  /// The most allocations live at once: maxMemoryAllocationCount, or
  /// VulkanBackendOptions::max_live_allocations where that is lower.
  [[nodiscard]] std::uint32_t allocation_limit() const noexcept { return budget_.limit(); }
  /// The device's live allocations, taken and given back by every backend on
  /// the device as it allocates and frees segments.
  [[nodiscard]] AllocationBudget& allocation_budget() noexcept { return budget_; }
  [[nodiscard]] std::uint32_t live_allocations() const noexcept { return budget_.live(); }

  /// Whether VK_EXT_memory_budget is on.
  [[nodiscard]] bool has_memory_budget() const noexcept { return memory_budget_; }
  /// Budget and use of one memory heap (VK_EXT_memory_budget); nullopt
  /// where the extension is off. One driver query.
  [[nodiscard]] std::optional<MemoryBudget> memory_budget(std::uint32_t heap_index) const noexcept;

  /// Forwards a validation message to the user's callback, or stderr.
  void report_validation_message(const char* message) const;

 private:
  void destroy() noexcept;

  std::function<void(const std::string&)> on_validation_message_;
  VkInstance instance_ = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
  VkPhysicalDevice physical_device_ = VK_NULL_HANDLE;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  VkSemaphore timeline_ = VK_NULL_HANDLE;
  std::uint32_t queue_family_ = 0;
  VkPhysicalDeviceProperties properties_{};
  VkPhysicalDeviceMemoryProperties memory_properties_{};
  std::string name_;
  std::uint32_t subgroup_size_ = 1;
  std::size_t max_buffer_bytes_ = 0;
  double timestamp_period_ns_ = 0.0;
  bool robust_buffer_access_ = false;
  bool robust_buffer_access2_ = false;
  bool memory_budget_ = false;

  std::mutex queue_mutex_;
  std::atomic<std::uint64_t> last_submitted_{0};
  AllocationBudget budget_;
};

}  // namespace bufferpool::vulkan_detail
