// Options that turn on VK_LAYER_KHRONOS_validation and fail the running test
// on any message it reports.
#pragma once

#include <bufferpool/manager.hpp>
#include <bufferpool/vulkan.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <string>

namespace bufferpool::testing {

/// Messages reported so far in this process.
inline std::atomic<int>& validation_message_count() {
  static std::atomic<int> count{0};
  return count;
}

inline VulkanBackendOptions validated_options(
    VulkanMemoryPlacement placement = VulkanMemoryPlacement::automatic) {
  VulkanBackendOptions options;
  options.enable_validation = true;
  options.placement = placement;
  options.on_validation_message = [](const std::string& message) {
    validation_message_count().fetch_add(1);
    ADD_FAILURE() << "Vulkan validation: " << message;
  };
  return options;
}

inline ManagerOptions validated_manager_options(
    VulkanMemoryPlacement placement = VulkanMemoryPlacement::automatic) {
  ManagerOptions options;
  options.backend = ManagerBackend::vulkan;
  options.vulkan = validated_options(placement);
  return options;
}

}  // namespace bufferpool::testing
