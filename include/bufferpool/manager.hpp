// ComputeManager: a device, a buffer pool on it, shader libraries, compute
// pipelines, and dispatches, behind one object (the design's metal_manager).
#pragma once

#include <bufferpool/backend.hpp>
#include <bufferpool/buffer.hpp>
#include <bufferpool/config.hpp>
#include <bufferpool/errors.hpp>
#include <bufferpool/metrics.hpp>
#include <bufferpool/pool.hpp>
#include <bufferpool/vulkan.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace bufferpool {

/// A shader did not compile. what() carries the compiler's messages, each
/// prefixed "name:line:".
class ShaderCompileError : public BackendError {
 public:
  using BackendError::BackendError;
};

struct ManagerOptions {
  /// "auto": Vulkan when a device exists, host memory otherwise. "vulkan":
  /// Vulkan or an error. "host": host memory; buffers work, shaders do not.
  std::string backend = "auto";
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
  /// backend_adaptors.hpp do. Staging buffers (device-local
  /// placement only) are not wrapped.
  std::function<std::shared_ptr<Backend>(std::shared_ptr<Backend>)> backend_adaptor;
};

/// Three sizes: thread groups in a dispatch, threads in a group, or threads
/// in all. Braced lists work: `{groups, 1, 1}`.
struct Extent3D {
  std::uint32_t x = 1;
  std::uint32_t y = 1;
  std::uint32_t z = 1;

  Extent3D() = default;
  /// Throws InvalidArgumentError for a size above 2^32 - 1.
  Extent3D(std::size_t size_x, std::size_t size_y = 1, std::size_t size_z = 1);

  [[nodiscard]] std::uint64_t volume() const noexcept {
    return std::uint64_t{x} * std::uint64_t{y} * std::uint64_t{z};
  }
  friend bool operator==(const Extent3D&, const Extent3D&) = default;
};

/// The buffers of a dispatch, bound in order; a braced list `{x, y}`, or a
/// span or vector of BufferRef. Holds no references of its own beyond the
/// call it is passed to.
class BufferList {
 public:
  BufferList(std::initializer_list<BufferRef> buffers) noexcept
      : buffers_(buffers.begin(), buffers.size()) {}
  BufferList(std::span<const BufferRef> buffers) noexcept : buffers_(buffers) {}
  BufferList(const std::vector<BufferRef>& buffers) noexcept : buffers_(buffers) {}

  [[nodiscard]] std::span<const BufferRef> buffers() const noexcept { return buffers_; }
  [[nodiscard]] std::size_t size() const noexcept { return buffers_.size(); }

 private:
  std::span<const BufferRef> buffers_;
};

/// Small scalar parameters for a kernel's push_constant block: any trivially
/// copyable struct of up to 128 bytes, laid out as the shader's block is
/// (std430: a float or uint is 4 bytes, 4-byte aligned).
///
///     struct Saxpy { std::uint32_t n; float a; };
///     manager.execute_shader("saxpy", {x, y}, {out}, n, Saxpy{n, 2.0f});
class PushConstants {
 public:
  static constexpr std::size_t kMaxBytes = 128;

  PushConstants() noexcept = default;
  template <typename T>
  requires(std::is_trivially_copyable_v<T> && !std::is_pointer_v<T> &&
           !std::is_same_v<T, PushConstants>) PushConstants(const T& value)
  noexcept  // NOLINT(google-explicit-constructor): reads as a value
      : size_bytes_(sizeof(T)) {
    static_assert(sizeof(T) <= kMaxBytes, "push constants hold at most 128 bytes");
    std::memcpy(storage_.data(), &value, sizeof(T));
  }

  [[nodiscard]] std::span<const std::byte> bytes() const noexcept {
    return {storage_.data(), size_bytes_};
  }

 private:
  std::array<std::byte, kMaxBytes> storage_{};
  std::size_t size_bytes_ = 0;
};

/// Work handed to the device and not waited for. Every buffer it uses stays
/// out of reuse until it is done, even if the caller drops its references.
class Submission {
 public:
  Submission() = default;
  Submission(std::shared_ptr<const Backend> backend, std::uint64_t timeline_value) noexcept
      : backend_(std::move(backend)), timeline_value_(timeline_value) {}

  /// Blocks until the work is done.
  void wait() const noexcept {
    if (backend_) backend_->wait_for_timeline(timeline_value_);
  }
  /// Whether the work is done (never blocks).
  [[nodiscard]] bool done() const noexcept {
    return !backend_ || backend_->completed_timeline() >= timeline_value_;
  }
  /// The work's value on the device timeline.
  [[nodiscard]] std::uint64_t timeline_value() const noexcept { return timeline_value_; }

 private:
  std::shared_ptr<const Backend> backend_;
  std::uint64_t timeline_value_ = 0;
};

/// What the manager did, and its pool's metrics.
struct PerformanceMetrics {
  PoolMetrics buffer_pool;             ///< the pool's own counters
  std::string backend;                 ///< Backend::name(): "host", "vulkan: llvmpipe ..."
  std::uint64_t dispatches = 0;        ///< shader dispatches submitted
  std::uint64_t buffers_created = 0;   ///< create_buffer() calls
  std::uint64_t bytes_uploaded = 0;    ///< host to device, by create_buffer / upload
  std::uint64_t bytes_downloaded = 0;  ///< device to host, by get_buffer_data
  std::uint64_t staging_copies = 0;    ///< transfers through staging buffers
  std::uint64_t shader_libraries = 0;  ///< libraries loaded
  std::uint64_t pipelines = 0;         ///< VkPipelines made: one per pipeline and group size
  std::uint64_t gpu_time_ns = 0;       ///< device time in finished dispatches (timestamps)
  std::uint64_t wait_time_ns = 0;      ///< host time blocked waiting for the device

  /// Every field as one JSON object; buffer_pool is PoolMetrics::to_json().
  [[nodiscard]] std::string to_json() const;
};

/// GLSL kernels shipped with the library (the shaders/ folder, embedded at
/// build time): activation, reduce_sum, matmul, saxpy.
struct ShaderSource {
  std::string_view name;
  std::string_view glsl;
};
[[nodiscard]] std::span<const ShaderSource> builtin_shader_sources() noexcept;

/// The device, its pool and its shaders.
///
///     bufferpool::ComputeManager manager;          // the best Vulkan device
///     manager.load_builtin_shader_library("kernels");
///     manager.create_compute_pipeline("kernels", "saxpy", "saxpy");
///     auto x = manager.create_buffer(std::span<const float>(xs));
///     auto y = manager.create_buffer(std::span<const float>(ys));
///     auto out = manager.create_buffer(xs.size() * sizeof(float));
///     manager.execute_shader("saxpy", {x, y}, {out}, n, Saxpy{n, 2.0f});
///     auto result = manager.get_buffer_data<float>(out);
///
/// Methods are thread-safe. Buffers come from manager.pool(); a buffer
/// released while submitted work uses it is not reused until the work ends.
class ComputeManager {
 public:
  /// Throws ConfigError for an unknown backend name or a bad PoolConfig,
  /// NoVulkanDeviceError / BackendError when backend "vulkan" finds no device.
  explicit ComputeManager(const ManagerOptions& options = {});
  ~ComputeManager();
  ComputeManager(const ComputeManager&) = delete;
  ComputeManager& operator=(const ComputeManager&) = delete;
  ComputeManager(ComputeManager&&) = delete;
  ComputeManager& operator=(ComputeManager&&) = delete;

  [[nodiscard]] BufferPool& pool() noexcept;
  /// Backend::name() of the pool's backend.
  [[nodiscard]] std::string backend_name() const;
  /// Whether shaders can run (the Vulkan backend).
  [[nodiscard]] bool can_execute_shaders() const noexcept;

  // --- Buffers -------------------------------------------------------------

  /// A buffer from the pool holding a copy of `data`. Throws
  /// InvalidArgumentError for empty data.
  template <typename T>
  requires std::is_trivially_copyable_v<T>
  [[nodiscard]] BufferRef create_buffer(std::span<const T> data) {
    return create_buffer_from_bytes(std::as_bytes(data));
  }
  template <typename T>
  requires std::is_trivially_copyable_v<T>
  [[nodiscard]] BufferRef create_buffer(const std::vector<T>& data) {
    return create_buffer(std::span<const T>(data));
  }
  /// A buffer of size_bytes from the pool; its contents are unspecified (a
  /// reused buffer holds what its last user left) unless
  /// PoolConfig::zero_on_reuse is on, when it holds zeros.
  ///
  /// On Vulkan the buffer is a range of a larger segment shared with other
  /// buffers; dispatches and copies bind exactly that range (offset_bytes(),
  /// size()). Vulkan code of your own gets it from vulkan_buffer_range()
  /// (<bufferpool/vulkan_buffer_range.hpp>).
  [[nodiscard]] BufferRef create_buffer(std::size_t size_bytes);

  /// Copies `data` into the start of `buffer`, after any submitted work.
  void upload(const BufferRef& buffer, std::span<const std::byte> data);

  /// Copies the start of `buffer` into `out`, after all submitted work ends.
  /// Throws InvalidArgumentError when `out` is larger than the buffer.
  template <typename T>
  requires std::is_trivially_copyable_v<T>
  void get_buffer_data(const BufferRef& buffer, std::span<T> out) {
    read_bytes(buffer, std::as_writable_bytes(out));
  }
  /// The first `count` elements of `buffer` (all of BufferRef::size() by
  /// default).
  template <typename T>
  requires std::is_trivially_copyable_v<T>
  [[nodiscard]] std::vector<T> get_buffer_data(const BufferRef& buffer,
                                               std::optional<std::size_t> count = std::nullopt) {
    std::vector<T> result(count.value_or(buffer.size() / sizeof(T)));
    get_buffer_data(buffer, std::span<T>(result));
    return result;
  }

  // --- Shaders and pipelines -------------------------------------------------

  /// Loads compute shaders under `name`: a GLSL file (.comp, .glsl; compiled
  /// with shaderc), a SPIR-V file (.spv), or a folder of them. Each shader is a
  /// function named by its file's stem; a SPIR-V file with several entry
  /// points gives one function per entry point. Replaces a library of the same
  /// name. Throws ShaderCompileError with line numbers, InvalidArgumentError
  /// for a missing or unreadable file.
  void load_shader_library(const std::filesystem::path& path, const std::string& name);
  /// One GLSL compute shader from source; its function is "main".
  void load_shader_library_from_source(std::string_view glsl, const std::string& name);
  /// The built-in kernels (builtin_shader_sources()), one function each.
  void load_builtin_shader_library(const std::string& name = "builtin");
  /// Function names in a library. Throws InvalidArgumentError for an unknown
  /// library.
  [[nodiscard]] std::vector<std::string> shader_functions(const std::string& library) const;

  /// Makes `pipeline_name` run `function` of `library` ("main" also names a
  /// library's only function). Shaders bind storage buffers at set 0,
  /// bindings 0..n-1, and take their group size from
  /// `layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;`
  /// so that the manager can choose it (a fixed local_size works too, and is
  /// then the only size). Throws InvalidArgumentError for unknown names or a
  /// name already taken, BackendError on the host backend.
  void create_compute_pipeline(const std::string& library, const std::string& function,
                               const std::string& pipeline_name);

  /// The group size used when a dispatch names none: a multiple of the
  /// device's subgroup size within its limits, shaped like `total_threads`
  /// (1-, 2- or 3-dimensional).
  [[nodiscard]] Extent3D threads_per_group(const std::string& pipeline_name,
                                           Extent3D total_threads = {}) const;

  // --- Dispatch --------------------------------------------------------------

  /// Runs `pipeline_name` over `thread_groups` groups of `threads_per_group`
  /// threads (chosen by the manager in the overload without it, see
  /// threads_per_group(); shaped like thread_groups),
  /// with `inputs` then `outputs` bound at bindings 0..n-1, and waits.
  /// Throws InvalidArgumentError when the buffer count differs from the
  /// shader's bindings, a group size passes the device's limits or differs
  /// from a fixed one, or a buffer passes maxStorageBufferRange;
  /// BackendError on the host backend.
  void execute_shader(const std::string& pipeline_name, BufferList inputs, BufferList outputs,
                      Extent3D thread_groups, Extent3D threads_per_group,
                      const PushConstants& push_constants = {});
  /// As above, with the group size chosen by the manager.
  void execute_shader(const std::string& pipeline_name, BufferList inputs, BufferList outputs,
                      Extent3D thread_groups, const PushConstants& push_constants = {});
  /// Runs at least `total_threads` threads in one dimension, in groups the
  /// manager chooses; kernels bounds-check their index.
  void execute_shader(const std::string& pipeline_name, BufferList inputs, BufferList outputs,
                      std::size_t total_threads, const PushConstants& push_constants = {});
  /// Runs at least `total_threads` threads in up to three dimensions.
  void execute_shader_over(const std::string& pipeline_name, BufferList inputs, BufferList outputs,
                           Extent3D total_threads, const PushConstants& push_constants = {},
                           std::optional<Extent3D> threads_per_group = {});

  /// As execute_shader, without waiting.
  [[nodiscard]] Submission submit(const std::string& pipeline_name, BufferList inputs,
                                  BufferList outputs, Extent3D thread_groups,
                                  Extent3D threads_per_group,
                                  const PushConstants& push_constants = {});
  [[nodiscard]] Submission submit(const std::string& pipeline_name, BufferList inputs,
                                  BufferList outputs, Extent3D thread_groups,
                                  const PushConstants& push_constants = {});
  [[nodiscard]] Submission submit(const std::string& pipeline_name, BufferList inputs,
                                  BufferList outputs, std::size_t total_threads,
                                  const PushConstants& push_constants = {});
  [[nodiscard]] Submission submit_over(const std::string& pipeline_name, BufferList inputs,
                                       BufferList outputs, Extent3D total_threads,
                                       const PushConstants& push_constants = {},
                                       std::optional<Extent3D> threads_per_group = {});

  /// Blocks until all submitted work is done.
  void wait_idle() const;

  // --- Metrics ---------------------------------------------------------------

  [[nodiscard]] PerformanceMetrics get_performance_metrics() const;

 private:
  struct Impl;

  BufferRef create_buffer_from_bytes(std::span<const std::byte> data);
  void read_bytes(const BufferRef& buffer, std::span<std::byte> out);

  std::unique_ptr<Impl> impl_;
};

}  // namespace bufferpool
