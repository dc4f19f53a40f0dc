#include "backends/vulkan/vulkan_device.hpp"

#include "backends/vulkan/vulkan_error.hpp"

#include <bufferpool/errors.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <limits>
#include <optional>
#include <sstream>
#include <string_view>
#include <utility>
#include <vector>

namespace bufferpool::vulkan_detail {
namespace {

constexpr const char* kValidationLayer = "VK_LAYER_KHRONOS_validation";
constexpr const char* kInstallHint =
    "Install a Vulkan driver: on Debian or Ubuntu `sudo apt-get install mesa-vulkan-drivers` "
    "gives lavapipe, which runs on the CPU; for a GPU install its vendor's driver. "
    "`vulkaninfo --summary` (package vulkan-tools) lists what the loader finds; check that "
    "VK_ICD_FILENAMES and VK_DRIVER_FILES are unset or point at an installed driver";

bool env_flag(const char* name) {
  // Read while opening a device, before any thread of ours could change the
  // environment.
  const char* value = std::getenv(name);  // NOLINT(concurrency-mt-unsafe)
  return value != nullptr && value[0] != '\0' && std::strcmp(value, "0") != 0;
}

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

bool has_layer(const char* layer) {
  std::uint32_t count = 0;
  vkEnumerateInstanceLayerProperties(&count, nullptr);
  std::vector<VkLayerProperties> layers(count);
  vkEnumerateInstanceLayerProperties(&count, layers.data());
  return std::any_of(layers.begin(), layers.end(), [layer](const VkLayerProperties& properties) {
    return std::strcmp(properties.layerName, layer) == 0;
  });
}

bool has_instance_extension(const char* extension) {
  std::uint32_t count = 0;
  vkEnumerateInstanceExtensionProperties(nullptr, &count, nullptr);
  std::vector<VkExtensionProperties> extensions(count);
  vkEnumerateInstanceExtensionProperties(nullptr, &count, extensions.data());
  return std::any_of(extensions.begin(), extensions.end(),
                     [extension](const VkExtensionProperties& properties) {
                       return std::strcmp(properties.extensionName, extension) == 0;
                     });
}

bool has_device_extension(VkPhysicalDevice device, const char* extension) {
  std::uint32_t count = 0;
  vkEnumerateDeviceExtensionProperties(device, nullptr, &count, nullptr);
  std::vector<VkExtensionProperties> extensions(count);
  vkEnumerateDeviceExtensionProperties(device, nullptr, &count, extensions.data());
  return std::any_of(extensions.begin(), extensions.end(),
                     [extension](const VkExtensionProperties& properties) {
                       return std::strcmp(properties.extensionName, extension) == 0;
                     });
}

VKAPI_ATTR VkBool32 VKAPI_CALL on_debug_message(VkDebugUtilsMessageSeverityFlagBitsEXT /*severity*/,
                                                VkDebugUtilsMessageTypeFlagsEXT /*type*/,
                                                const VkDebugUtilsMessengerCallbackDataEXT* data,
                                                void* user_data) {
  static_cast<const VulkanDevice*>(user_data)->report_validation_message(
      data != nullptr && data->pMessage != nullptr ? data->pMessage : "(no message)");
  return VK_FALSE;
}

VkDebugUtilsMessengerCreateInfoEXT messenger_info(const VulkanDevice* device) {
  VkDebugUtilsMessengerCreateInfoEXT info{};
  info.sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT;
  info.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                         VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
  info.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                     VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                     VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
  info.pfnUserCallback = on_debug_message;
  info.pUserData = const_cast<VulkanDevice*>(device);  // NOLINT: the C API takes void*
  return info;
}

/// Creates an instance; `debug` (may be null) is chained so that messages
/// from instance creation itself are seen too.
VkInstance create_instance(bool validation, const VkDebugUtilsMessengerCreateInfoEXT* debug) {
  VkApplicationInfo application{};
  application.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
  application.pApplicationName = "bufferpool";
  application.pEngineName = "bufferpool";
  application.apiVersion = VK_API_VERSION_1_2;

  std::vector<const char*> layers;
  std::vector<const char*> extensions;
  if (validation) {
    if (!has_layer(kValidationLayer)) {
      throw BackendError(
          "bufferpool: vulkan: validation was asked for (VulkanBackendOptions::enable_validation "
          "or BUFFERPOOL_VALIDATION) but VK_LAYER_KHRONOS_validation is not installed; install "
          "it (Debian: `sudo apt-get install vulkan-validationlayers`) or turn validation off");
    }
    layers.push_back(kValidationLayer);
    extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
  }
  VkInstanceCreateInfo info{};
  info.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
  info.pApplicationInfo = &application;
  // MoltenVK (Apple GPUs over Metal) is only listed when asked for.
  if (has_instance_extension(VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME)) {
    extensions.push_back(VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME);
    info.flags |= VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR;
  }
  info.enabledLayerCount = static_cast<std::uint32_t>(layers.size());
  info.ppEnabledLayerNames = layers.data();
  info.enabledExtensionCount = static_cast<std::uint32_t>(extensions.size());
  info.ppEnabledExtensionNames = extensions.data();
  if (validation) info.pNext = debug;

  VkInstance instance = VK_NULL_HANDLE;
  const VkResult result = vkCreateInstance(&info, nullptr, &instance);
  if (result == VK_ERROR_INCOMPATIBLE_DRIVER || result == VK_ERROR_INITIALIZATION_FAILED) {
    throw NoVulkanDeviceError(std::string("bufferpool: no Vulkan device found: vkCreateInstance "
                                          "returned ") +
                              result_name(result) + ", the loader found no driver. " +
                              kInstallHint);
  }
  check(result, "vkCreateInstance");
  return instance;
}

std::vector<VkPhysicalDevice> physical_devices(VkInstance instance) {
  std::uint32_t count = 0;
  check(vkEnumeratePhysicalDevices(instance, &count, nullptr), "vkEnumeratePhysicalDevices");
  std::vector<VkPhysicalDevice> devices(count);
  check(vkEnumeratePhysicalDevices(instance, &count, devices.data()), "vkEnumeratePhysicalDevices");
  devices.resize(count);
  return devices;
}

std::optional<std::uint32_t> compute_queue_family(VkPhysicalDevice device) {
  std::uint32_t count = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(device, &count, nullptr);
  std::vector<VkQueueFamilyProperties> families(count);
  vkGetPhysicalDeviceQueueFamilyProperties(device, &count, families.data());
  // A compute-only family is the GPU's async compute engine; fall back to any.
  std::optional<std::uint32_t> any;
  for (std::uint32_t index = 0; index < count; ++index) {
    if ((families[index].queueFlags & VK_QUEUE_COMPUTE_BIT) == 0) continue;
    if ((families[index].queueFlags & VK_QUEUE_GRAPHICS_BIT) == 0) return index;
    if (!any) any = index;
  }
  return any;
}

VulkanDeviceInfo describe(VkPhysicalDevice device, std::uint32_t index) {
  VkPhysicalDeviceProperties properties{};
  vkGetPhysicalDeviceProperties(device, &properties);
  VkPhysicalDeviceMemoryProperties memory{};
  vkGetPhysicalDeviceMemoryProperties(device, &memory);
  VulkanDeviceInfo info;
  info.index = index;
  info.name = properties.deviceName;
  info.api_version = properties.apiVersion;
  switch (properties.deviceType) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
      info.type = VulkanDeviceType::discrete_gpu;
      break;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
      info.type = VulkanDeviceType::integrated_gpu;
      break;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
      info.type = VulkanDeviceType::virtual_gpu;
      break;
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
      info.type = VulkanDeviceType::cpu;
      break;
    default:
      info.type = VulkanDeviceType::other;
      break;
  }
  for (std::uint32_t heap = 0; heap < memory.memoryHeapCount; ++heap) {
    if ((memory.memoryHeaps[heap].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) != 0) {
      info.device_local_bytes = std::max(info.device_local_bytes,
                                         static_cast<std::size_t>(memory.memoryHeaps[heap].size));
    }
  }
  bool timeline = false;
  if (properties.apiVersion >= VK_API_VERSION_1_2) {
    VkPhysicalDeviceVulkan12Features features12{};
    features12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES;
    VkPhysicalDeviceFeatures2 features{};
    features.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
    features.pNext = &features12;
    vkGetPhysicalDeviceFeatures2(device, &features);
    timeline = features12.timelineSemaphore == VK_TRUE;
  }
  info.usable = timeline && compute_queue_family(device).has_value();
  return info;
}

std::string describe_all(const std::vector<VulkanDeviceInfo>& devices) {
  std::ostringstream out;
  for (const auto& device : devices) {
    out << "\n  " << device.index << ": " << device.name << " (" << to_string(device.type)
        << ", Vulkan " << VK_API_VERSION_MAJOR(device.api_version) << '.'
        << VK_API_VERSION_MINOR(device.api_version)
        << (device.usable ? ")" : "; unusable: needs Vulkan 1.2 timeline semaphores and compute)");
  }
  return out.str();
}

}  // namespace

std::uint32_t choose_device(const std::vector<VulkanDeviceInfo>& devices, const std::string& wanted,
                            const char* source) {
  if (devices.empty()) {
    throw NoVulkanDeviceError(
        std::string("bufferpool: no Vulkan device found: the loader reports none. ") +
        kInstallHint);
  }
  if (wanted.empty()) {
    const VulkanDeviceInfo* best = nullptr;
    for (const auto& device : devices) {
      // The enum's order is the preference; the first listed wins a tie.
      if (device.usable && (best == nullptr || device.type > best->type)) {
        best = &device;
      }
    }
    if (best == nullptr) {
      throw NoVulkanDeviceError(
          "bufferpool: no usable Vulkan device: none has Vulkan 1.2 timeline semaphores and a "
          "compute queue. Devices:" +
          describe_all(devices) + "\nUpdate the driver. " + kInstallHint);
    }
    return best->index;
  }
  const bool numeric = std::all_of(wanted.begin(), wanted.end(),
                                   [](unsigned char c) { return std::isdigit(c) != 0; });
  for (const auto& device : devices) {
    const bool match = numeric
                           ? std::to_string(device.index) == wanted
                           : lowercase(device.name).find(lowercase(wanted)) != std::string::npos;
    if (match && device.usable) return device.index;
  }
  throw BackendError(std::string("bufferpool: ") + source + " asks for Vulkan device \"" + wanted +
                     "\", but no usable device has that index or a name containing it. "
                     "Devices:" +
                     describe_all(devices) +
                     "\nName one of these by index or by part of its "
                     "name, or leave it empty to pick the best");
}

std::shared_ptr<VulkanDevice> VulkanDevice::open(const VulkanBackendOptions& options) {
  return std::make_shared<VulkanDevice>(Passkey{}, options);
}

VulkanDevice::VulkanDevice(Passkey /*unused*/, const VulkanBackendOptions& options)
    : on_validation_message_(options.on_validation_message) {
  const bool validation = options.enable_validation || env_flag("BUFFERPOOL_VALIDATION");
  const VkDebugUtilsMessengerCreateInfoEXT debug = messenger_info(this);
  instance_ = create_instance(validation, &debug);
  try {
    if (validation) {
      const auto create_messenger = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
          vkGetInstanceProcAddr(instance_, "vkCreateDebugUtilsMessengerEXT"));
      if (create_messenger != nullptr) {
        check(create_messenger(instance_, &debug, nullptr, &messenger_),
              "vkCreateDebugUtilsMessengerEXT");
      }
    }

    const auto devices = physical_devices(instance_);
    std::vector<VulkanDeviceInfo> infos;
    for (std::uint32_t index = 0; index < devices.size(); ++index) {
      infos.push_back(describe(devices[index], index));
    }
    std::string wanted = options.device;
    const char* source = "VulkanBackendOptions::device";
    if (wanted.empty()) {
      // NOLINTNEXTLINE(concurrency-mt-unsafe): read once, while opening the device
      if (const char* env = std::getenv("BUFFERPOOL_DEVICE"); env != nullptr) wanted = env;
      source = "the environment variable BUFFERPOOL_DEVICE";
    }
    physical_device_ = devices[choose_device(infos, wanted, source)];

    VkPhysicalDeviceSubgroupProperties subgroup{};
    subgroup.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES;
    VkPhysicalDeviceMaintenance3Properties maintenance3{};
    maintenance3.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES;
    maintenance3.pNext = &subgroup;
    VkPhysicalDeviceProperties2 properties2{};
    properties2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2;
    properties2.pNext = &maintenance3;
    vkGetPhysicalDeviceProperties2(physical_device_, &properties2);
    properties_ = properties2.properties;
    subgroup_size_ = std::max(1U, subgroup.subgroupSize);
    max_buffer_bytes_ = static_cast<std::size_t>(maintenance3.maxMemoryAllocationSize);
    if (properties_.apiVersion >= VK_API_VERSION_1_3) {
      VkPhysicalDeviceMaintenance4Properties maintenance4{};
      maintenance4.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_4_PROPERTIES;
      VkPhysicalDeviceProperties2 more{};
      more.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2;
      more.pNext = &maintenance4;
      vkGetPhysicalDeviceProperties2(physical_device_, &more);
      max_buffer_bytes_ =
          std::min(max_buffer_bytes_, static_cast<std::size_t>(maintenance4.maxBufferSize));
    }
    vkGetPhysicalDeviceMemoryProperties(physical_device_, &memory_properties_);
    name_ = properties_.deviceName;
    queue_family_ = *compute_queue_family(physical_device_);

    std::uint32_t family_count = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(physical_device_, &family_count, nullptr);
    std::vector<VkQueueFamilyProperties> families(family_count);
    vkGetPhysicalDeviceQueueFamilyProperties(physical_device_, &family_count, families.data());
    if (families[queue_family_].timestampValidBits > 0) {
      timestamp_period_ns_ = static_cast<double>(properties_.limits.timestampPeriod);
    }

    const float priority = 1.0F;
    VkDeviceQueueCreateInfo queue_info{};
    queue_info.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
    queue_info.queueFamilyIndex = queue_family_;
    queue_info.queueCount = 1;
    queue_info.pQueuePriorities = &priority;

    const std::uint32_t device_limit = properties_.limits.maxMemoryAllocationCount;
    budget_.set_limit(options.max_live_allocations == 0
                          ? device_limit
                          : static_cast<std::uint32_t>(
                                std::min<std::size_t>(options.max_live_allocations, device_limit)));

    std::vector<const char*> extensions;
    // The spec requires enabling it where offered (MoltenVK).
    if (has_device_extension(physical_device_, "VK_KHR_portability_subset")) {
      extensions.push_back("VK_KHR_portability_subset");
    }

    // Buffers are ranges of shared segments, so a kernel that indexes past
    // its buffer must not reach its neighbours. robustBufferAccess keeps
    // out-of-range accesses inside the VkBuffer, which is the whole segment;
    // robustBufferAccess2 (VK_EXT_robustness2) judges them against the
    // descriptor's range, which is the buffer itself, and discards them. Both
    // are turned on where the device offers them.
    // The heap's budget and use, for Backend::memory_budget() and the
    // pool's out-of-memory messages; nothing else depends on it.
    memory_budget_ = has_device_extension(physical_device_, VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
    if (memory_budget_) extensions.push_back(VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);

    const bool offers_robustness2 = has_device_extension(physical_device_, "VK_EXT_robustness2");
    VkPhysicalDeviceRobustness2FeaturesEXT robustness2_offered{};
    robustness2_offered.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ROBUSTNESS_2_FEATURES_EXT;
    VkPhysicalDeviceFeatures2 offered{};
    offered.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
    offered.pNext = offers_robustness2 ? &robustness2_offered : nullptr;
    vkGetPhysicalDeviceFeatures2(physical_device_, &offered);
    robust_buffer_access_ = offered.features.robustBufferAccess == VK_TRUE;
    // robustBufferAccess2 may only be enabled together with robustBufferAccess.
    robust_buffer_access2_ =
        robust_buffer_access_ && robustness2_offered.robustBufferAccess2 == VK_TRUE;

    VkPhysicalDeviceRobustness2FeaturesEXT robustness2{};
    robustness2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ROBUSTNESS_2_FEATURES_EXT;
    robustness2.robustBufferAccess2 = VK_TRUE;
    VkPhysicalDeviceVulkan12Features features12{};
    features12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES;
    features12.timelineSemaphore = VK_TRUE;
    if (robust_buffer_access2_) {
      features12.pNext = &robustness2;
      extensions.push_back("VK_EXT_robustness2");
    }
    VkPhysicalDeviceFeatures2 enabled{};
    enabled.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
    enabled.pNext = &features12;
    enabled.features.robustBufferAccess = robust_buffer_access_ ? VK_TRUE : VK_FALSE;

    VkDeviceCreateInfo device_info{};
    device_info.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
    device_info.pNext = &enabled;
    device_info.queueCreateInfoCount = 1;
    device_info.pQueueCreateInfos = &queue_info;
    device_info.enabledExtensionCount = static_cast<std::uint32_t>(extensions.size());
    device_info.ppEnabledExtensionNames = extensions.data();
    check(vkCreateDevice(physical_device_, &device_info, nullptr, &device_),
          [&] { return "vkCreateDevice on " + name_; });
    vkGetDeviceQueue(device_, queue_family_, 0, &queue_);

    VkSemaphoreTypeCreateInfo type_info{};
    type_info.sType = VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO;
    type_info.semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE;
    type_info.initialValue = 0;
    VkSemaphoreCreateInfo semaphore_info{};
    semaphore_info.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO;
    semaphore_info.pNext = &type_info;
    check(vkCreateSemaphore(device_, &semaphore_info, nullptr, &timeline_),
          "vkCreateSemaphore (timeline)");
  } catch (...) {
    destroy();
    throw;
  }
}

VulkanDevice::~VulkanDevice() { destroy(); }

void VulkanDevice::destroy() noexcept {
  if (device_ != VK_NULL_HANDLE) {
    vkDeviceWaitIdle(device_);
    if (timeline_ != VK_NULL_HANDLE) vkDestroySemaphore(device_, timeline_, nullptr);
    vkDestroyDevice(device_, nullptr);
    device_ = VK_NULL_HANDLE;
  }
  if (messenger_ != VK_NULL_HANDLE) {
    const auto destroy_messenger = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance_, "vkDestroyDebugUtilsMessengerEXT"));
    if (destroy_messenger != nullptr) destroy_messenger(instance_, messenger_, nullptr);
    messenger_ = VK_NULL_HANDLE;
  }
  if (instance_ != VK_NULL_HANDLE) {
    vkDestroyInstance(instance_, nullptr);
    instance_ = VK_NULL_HANDLE;
  }
}

std::uint64_t VulkanDevice::submit(VkCommandBuffer command_buffer) {
  const std::lock_guard lock(queue_mutex_);
  // Values must rise in submission order, so the number is taken under the
  // queue's lock.
  const std::uint64_t value = last_submitted_.load(std::memory_order_relaxed) + 1;
  VkTimelineSemaphoreSubmitInfo timeline_info{};
  timeline_info.sType = VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO;
  timeline_info.signalSemaphoreValueCount = 1;
  timeline_info.pSignalSemaphoreValues = &value;
  VkSubmitInfo submit_info{};
  submit_info.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
  submit_info.pNext = &timeline_info;
  submit_info.commandBufferCount = 1;
  submit_info.pCommandBuffers = &command_buffer;
  submit_info.signalSemaphoreCount = 1;
  submit_info.pSignalSemaphores = &timeline_;
  check(vkQueueSubmit(queue_, 1, &submit_info, VK_NULL_HANDLE), "vkQueueSubmit");
  last_submitted_.store(value, std::memory_order_release);
  return value;
}

std::uint64_t VulkanDevice::completed_timeline() const noexcept {
  std::uint64_t value = 0;
  if (vkGetSemaphoreCounterValue(device_, timeline_, &value) != VK_SUCCESS) {
    // A lost device completes nothing more; report everything submitted as
    // done so that no caller waits forever on it.
    return last_submitted();
  }
  return value;
}

void VulkanDevice::wait_for_timeline(std::uint64_t value) const noexcept {
  value = std::min(value, last_submitted());
  if (value == 0) return;
  VkSemaphoreWaitInfo wait_info{};
  wait_info.sType = VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO;
  wait_info.semaphoreCount = 1;
  wait_info.pSemaphores = &timeline_;
  wait_info.pValues = &value;
  (void)vkWaitSemaphores(device_, &wait_info, std::numeric_limits<std::uint64_t>::max());
}

void VulkanDevice::wait_for_timeline_or_throw(std::uint64_t value) const {
  VkSemaphoreWaitInfo wait_info{};
  wait_info.sType = VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO;
  wait_info.semaphoreCount = 1;
  wait_info.pSemaphores = &timeline_;
  wait_info.pValues = &value;
  check(vkWaitSemaphores(device_, &wait_info, std::numeric_limits<std::uint64_t>::max()),
        [&] { return "vkWaitSemaphores for work " + std::to_string(value) + " on " + name_; });
}

std::optional<MemoryBudget> VulkanDevice::memory_budget(std::uint32_t heap_index) const noexcept {
  if (!memory_budget_ || heap_index >= memory_properties_.memoryHeapCount) return std::nullopt;
  VkPhysicalDeviceMemoryBudgetPropertiesEXT budget{};
  budget.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT;
  VkPhysicalDeviceMemoryProperties2 properties{};
  properties.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2;
  properties.pNext = &budget;
  vkGetPhysicalDeviceMemoryProperties2(physical_device_, &properties);
  return MemoryBudget{static_cast<std::size_t>(budget.heapBudget[heap_index]),
                      static_cast<std::size_t>(budget.heapUsage[heap_index])};
}

void VulkanDevice::report_validation_message(const char* message) const {
  if (on_validation_message_) {
    on_validation_message_(message);
  } else {
    std::cerr << "bufferpool: vulkan validation: " << message << '\n';
  }
}

}  // namespace bufferpool::vulkan_detail

namespace bufferpool {

namespace {

constexpr std::array<std::pair<VulkanDeviceType, std::string_view>, 5> kDeviceTypeNames{{
    {VulkanDeviceType::other, "other"},
    {VulkanDeviceType::cpu, "cpu"},
    {VulkanDeviceType::virtual_gpu, "virtual"},
    {VulkanDeviceType::integrated_gpu, "integrated"},
    {VulkanDeviceType::discrete_gpu, "discrete"},
}};

constexpr std::array<std::pair<VulkanMemoryPlacement, std::string_view>, 3> kPlacementNames{{
    {VulkanMemoryPlacement::automatic, "automatic"},
    {VulkanMemoryPlacement::host_visible, "host_visible"},
    {VulkanMemoryPlacement::device_local, "device_local"},
}};

/// The value named `name` in `names`; a ConfigError listing them otherwise.
template <typename Enum, std::size_t count>
Enum parse_name(const std::array<std::pair<Enum, std::string_view>, count>& names,
                std::string_view name, const char* what) {
  std::string accepted;
  for (const auto& [value, known] : names) {
    if (known == name) return value;
    accepted += std::string(accepted.empty() ? "\"" : ", \"") + std::string(known) + "\"";
  }
  throw ConfigError("bufferpool: \"" + std::string(name) + "\" is not " + what + "; they are " +
                    accepted);
}

}  // namespace

std::string_view to_string(VulkanMemoryPlacement placement) noexcept {
  for (const auto& [value, name] : kPlacementNames) {
    if (value == placement) return name;
  }
  return "unknown";
}

VulkanMemoryPlacement parse_vulkan_memory_placement(std::string_view name) {
  return parse_name(kPlacementNames, name, "a Vulkan memory placement");
}

std::string_view to_string(VulkanDeviceType type) noexcept {
  for (const auto& [value, name] : kDeviceTypeNames) {
    if (value == type) return name;
  }
  return "unknown";
}

VulkanDeviceType parse_vulkan_device_type(std::string_view name) {
  return parse_name(kDeviceTypeNames, name, "a Vulkan device type");
}

std::vector<VulkanDeviceInfo> list_vulkan_devices() {
  const VkInstance instance = vulkan_detail::create_instance(false, nullptr);
  std::vector<VulkanDeviceInfo> result;
  try {
    const auto devices = vulkan_detail::physical_devices(instance);
    for (std::uint32_t index = 0; index < devices.size(); ++index) {
      result.push_back(vulkan_detail::describe(devices[index], index));
    }
  } catch (...) {
    vkDestroyInstance(instance, nullptr);
    throw;
  }
  vkDestroyInstance(instance, nullptr);
  return result;
}

}  // namespace bufferpool
