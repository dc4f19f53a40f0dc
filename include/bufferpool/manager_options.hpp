// ManagerOptions: how a ComputeManager is made, and the choice of its
// backend.
#pragma once

#include <bufferpool/backend.hpp>
#include <bufferpool/config.hpp>
#include <bufferpool/vulkan.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

namespace bufferpool {

/// Which backend a ComputeManager's pool allocates from.
enum class ManagerBackend : std::uint8_t {
  /// Vulkan when a device exists (NoVulkanDeviceError is caught), host
  /// memory otherwise. Any other Vulkan error (a device named in
  /// VulkanBackendOptions::device or BUFFERPOOL_DEVICE that does not exist)
  /// is thrown, not hidden. Named "auto" in text.
  automatic,
  /// Vulkan or an error.
  vulkan,
  /// Host memory: buffers work, shaders do not (executing one throws
  /// BackendError).
  host,
};

/// "auto", "vulkan" or "host". Never throws; a value outside the enum gives
/// "unknown".
[[nodiscard]] std::string_view to_string(ManagerBackend backend) noexcept;

/// The backend named `name` ("auto", "vulkan" or "host", exactly; to_string()
/// gives them back), for names that come from outside the program: the
/// command line, the environment, Python. Throws ConfigError naming `name`
/// and listing the accepted names. Cheap; any thread.
[[nodiscard]] ManagerBackend parse_manager_backend(std::string_view name);

/// How a ComputeManager is made. A plain value; read only by the
/// ComputeManager constructor, which copies what it keeps.
struct ManagerOptions {
  /// The backend the pool allocates from; see ManagerBackend.
  ManagerBackend backend = ManagerBackend::automatic;
  /// The pool's settings. max_pool_size = 0 turns pooling off, for
  /// comparisons.
  PoolConfig pool;
  /// Device choice, memory placement and validation for the Vulkan backend.
  VulkanBackendOptions vulkan;
  /// Wraps the backend the pool allocates from, to add one concern such as
  /// counting or fault injection:
  ///
  ///     options.backend_adaptor = [](std::shared_ptr<Backend> device) {
  ///       return std::make_shared<CountingBackend>(std::move(device));
  ///     };
  ///
  /// The wrapper must hand back its upstream's allocations unchanged, and
  /// report its buffer_alignment_bytes(), as the adaptors in
  /// backend_adaptors.hpp do (derive it from ForwardingBackend, which
  /// forwards every call). Staging buffers (device-local
  /// placement only) are not wrapped. Called once, on the constructing
  /// thread.
  std::function<std::shared_ptr<Backend>(std::shared_ptr<Backend>)> backend_adaptor;
};

}  // namespace bufferpool
