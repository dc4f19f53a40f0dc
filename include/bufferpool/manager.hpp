// ComputeManager: a device, a buffer pool on it, shader libraries, compute
// pipelines, and dispatches, behind one object (the design's metal_manager).
//
// Part of the bufferpool::vulkan target. This header includes the types its
// calls take and return, each in its own header: ManagerOptions
// (manager_options.hpp), the dispatch sizes ThreadGroups, ThreadsPerGroup,
// TotalThreads and DispatchGrid (dispatch_size.hpp), BufferList
// (buffer_list.hpp), PushConstants (push_constants.hpp), Submission
// (submission.hpp), Sequence (sequence.hpp), PerformanceMetrics (performance_metrics.hpp), the
// built-in kernels (builtin_shaders.hpp) and ShaderCompileError
// (shader_compile_error.hpp).
//
// Threads: every call may be made from any thread, at the same time as any
// other call on the same manager, except the destructor. Calls that wait for
// the device say so; "waits for all submitted work" means the work every
// thread has submitted to this manager's device until then.
#pragma once

#include <bufferpool/buffer.hpp>
#include <bufferpool/buffer_list.hpp>
#include <bufferpool/builtin_shaders.hpp>
#include <bufferpool/dispatch_size.hpp>
#include <bufferpool/errors.hpp>
#include <bufferpool/manager_options.hpp>
#include <bufferpool/performance_metrics.hpp>
#include <bufferpool/pool.hpp>
#include <bufferpool/push_constants.hpp>
#include <bufferpool/sequence.hpp>
#include <bufferpool/shader_compile_error.hpp>
#include <bufferpool/submission.hpp>
#include <bufferpool/vulkan.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace bufferpool {

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
/// Buffers come from pool(); a buffer released while submitted work uses it
/// is not reused until the work ends. Buffers may outlive the manager: they
/// stay valid, and go back to the device when their last reference goes.
class ComputeManager {
 public:
  /// Opens the backend: on Vulkan, an instance and a logical device (15 to
  /// 30 ms measured on lavapipe; the first in a process also loads the
  /// driver), and the pool on it.
  /// Throws ConfigError for a bad PoolConfig, a backend value outside
  /// ManagerBackend or an adaptor that returns no backend;
  /// NoVulkanDeviceError when ManagerBackend::vulkan finds no device;
  /// BackendError when the Vulkan device named in VulkanBackendOptions or
  /// BUFFERPOOL_DEVICE does not exist (with ManagerBackend::automatic too).
  explicit ComputeManager(const ManagerOptions& options = {});
  /// Waits for all submitted work, then destroys pipelines and the pool
  /// (see ~BufferPool). No other call on this manager may run meanwhile.
  ~ComputeManager();
  ComputeManager(const ComputeManager&) = delete;
  ComputeManager& operator=(const ComputeManager&) = delete;
  ComputeManager(ComputeManager&&) = delete;
  ComputeManager& operator=(ComputeManager&&) = delete;

  /// The pool buffers come from; valid for the manager's life. Cheap.
  [[nodiscard]] BufferPool& pool() noexcept;
  /// Backend::name() of the pool's backend. Allocates the string.
  [[nodiscard]] std::string backend_name() const;
  /// Whether shaders can run (the Vulkan backend). Cheap.
  [[nodiscard]] bool can_execute_shaders() const noexcept;

  // --- Buffers -------------------------------------------------------------

  /// A buffer from the pool holding a copy of `data`. Throws
  /// InvalidArgumentError for empty data, and what BufferPool::get_buffer
  /// throws. Costs a pool request (which may block as get_buffer does) and
  /// a memcpy of `data`; on device-local memory, a staging buffer and one
  /// copy submitted to the queue, not waited for (later work on the queue
  /// runs after it).
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
  /// PoolConfig::zero_on_reuse is on, when it holds zeros. Costs, throws and
  /// blocks as BufferPool::get_buffer.
  ///
  /// On Vulkan the buffer is a range of a larger segment shared with other
  /// buffers; dispatches and copies bind exactly that range (offset_bytes(),
  /// size()). Vulkan code of your own gets it from vulkan_buffer_range()
  /// (<bufferpool/vulkan_buffer_range.hpp>).
  [[nodiscard]] BufferRef create_buffer(std::size_t size_bytes);

  /// Copies `data` into the start of `buffer`, after any submitted work:
  /// on host-visible memory it waits for all submitted work, then copies;
  /// on device-local memory it submits a copy from a staging buffer and does
  /// not wait. Throws UsageError for an empty handle, InvalidArgumentError
  /// when `data` is larger than the buffer.
  void upload(const BufferRef& buffer, std::span<const std::byte> data);

  /// Copies the start of `buffer` into `out`. Waits for all submitted work
  /// first (and, on device-local memory, for the copy to a staging buffer).
  /// Throws UsageError for an empty handle, InvalidArgumentError when `out`
  /// is larger than the buffer.
  template <typename T>
  requires std::is_trivially_copyable_v<T>
  void get_buffer_data(const BufferRef& buffer, std::span<T> out) {
    read_bytes(buffer, std::as_writable_bytes(out));
  }
  /// The first `count` elements of `buffer` (all of BufferRef::size() by
  /// default), as above; allocates the vector.
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
  /// with shaderc), a SPIR-V file (.spv, checked by SPIRV-Tools' validator
  /// for Vulkan 1.2 before anything else reads it), or a folder of them.
  /// Each shader is a function named by its file's stem; a SPIR-V file with
  /// several entry points gives one function per entry point. Replaces a
  /// library of the same name (pipelines made from the old one keep
  /// working).
  ///
  /// Throws ShaderCompileError with line numbers for GLSL that does not
  /// compile; InvalidArgumentError for a missing or unreadable file, an
  /// empty folder, a .spv file that is not valid SPIR-V (the validator's
  /// message says where) or has no compute entry point.
  ///
  /// Cost: reading the files and compiling each GLSL shader on the calling
  /// thread (milliseconds to a few hundred per shader); no device work, and
  /// no lock held while compiling, so other calls go on meanwhile.
  void load_shader_library(const std::filesystem::path& path, const std::string& name);
  /// One GLSL compute shader from source; its function is "main". Throws
  /// and costs as load_shader_library().
  void load_shader_library_from_source(std::string_view glsl, const std::string& name);
  /// The built-in kernels (builtin_shader_sources()), one function each. The
  /// first call in the process compiles them (1.5 s measured on a 2-core
  /// machine); later calls, from any manager, copy the compiled words.
  void load_builtin_shader_library(const std::string& name = "builtin");
  /// Function names in a library, sorted. Throws InvalidArgumentError for an
  /// unknown library. Cheap; allocates the vector.
  [[nodiscard]] std::vector<std::string> shader_functions(const std::string& library) const;

  /// Makes `pipeline_name` run `function` of `library` ("main" also names a
  /// library's only function). Shaders bind storage buffers at set 0,
  /// bindings 0..n-1, and take their group size from
  /// `layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;`
  /// so that the manager can choose it (a fixed local_size works too, and is
  /// then the only size). Throws InvalidArgumentError for unknown names, a
  /// name already taken, or a shader this library cannot bind (descriptor
  /// sets other than 0, more bindings than the device allows); BackendError
  /// when the driver refuses the shader.
  ///
  /// Cost: a VkShaderModule and the VkPipeline for the default group size,
  /// made now so that a bad shader fails here (the driver compiles it:
  /// milliseconds to tens of milliseconds). Each further group size used by
  /// a dispatch makes one more pipeline, once. On the host backend only the
  /// name is recorded.
  void create_compute_pipeline(const std::string& library, const std::string& function,
                               const std::string& pipeline_name);

  /// The group size used when a dispatch names none: a multiple of the
  /// device's subgroup size within its limits, shaped like `grid` (1-, 2- or
  /// 3-dimensional); a shader's fixed local_size where it has one. Throws
  /// InvalidArgumentError for an unknown pipeline. Cheap.
  [[nodiscard]] ThreadsPerGroup threads_per_group(const std::string& pipeline_name,
                                                  const DispatchGrid& grid = TotalThreads{1}) const;

  // --- Dispatch --------------------------------------------------------------
  //
  // Each call names what it covers by type, so that a count of threads is
  // never read as a count of groups:
  //
  //     manager.execute_shader("saxpy", {x, y}, {out}, TotalThreads{n}, params);
  //     manager.execute_shader("saxpy", {x, y}, {out}, ThreadGroups{(n + 63) / 64},
  //                            ThreadsPerGroup{64}, params);

  /// Runs `pipeline_name` over `grid` (ThreadGroups, or TotalThreads covered
  /// with whole groups) in groups of `threads_per_group` threads, with
  /// `inputs` then `outputs` bound at bindings 0..n-1, and waits for all
  /// submitted work, this dispatch's included.
  /// Throws InvalidArgumentError when the buffer count differs from the
  /// shader's bindings, a group size or group count passes the device's
  /// limits or a group size differs from a fixed one, or a buffer passes
  /// maxStorageBufferRange; UsageError for an empty handle or a buffer from
  /// another manager's pool; BackendError on the host backend.
  ///
  /// Cost: as submit(), plus the wait.
  void execute_shader(const std::string& pipeline_name, BufferList inputs, BufferList outputs,
                      const DispatchGrid& grid, const ThreadsPerGroup& threads_per_group,
                      const PushConstants& push_constants = {});
  /// As above, in groups of threads_per_group(pipeline_name, grid).
  void execute_shader(const std::string& pipeline_name, BufferList inputs, BufferList outputs,
                      const DispatchGrid& grid, const PushConstants& push_constants = {});

  /// As execute_shader, without waiting: records the dispatch into one of a
  /// few reusable command buffers and submits it. Throws as execute_shader.
  ///
  /// Cost: no Vulkan object is made (past the first 16 submissions in
  /// flight, and a pipeline for a group size not used before): a descriptor
  /// update per buffer and one vkQueueSubmit, under the queue's lock. Blocks only when 16
  /// submissions are still running, until the oldest of them ends.
  [[nodiscard]] Submission submit(const std::string& pipeline_name, BufferList inputs,
                                  BufferList outputs, const DispatchGrid& grid,
                                  const ThreadsPerGroup& threads_per_group,
                                  const PushConstants& push_constants = {});
  [[nodiscard]] Submission submit(const std::string& pipeline_name, BufferList inputs,
                                  BufferList outputs, const DispatchGrid& grid,
                                  const PushConstants& push_constants = {});

  /// Blocks until all submitted work is done. Returns at once when it is.
  void wait_idle() const;

  /// A new, empty Sequence: dispatches, uploads and copies recorded into
  /// one command buffer and submitted together, with stream-ordered reuse of
  /// the buffers that die inside it (see Sequence). Opens a stream of pool().
  /// Throws BackendError on the host backend. Cheap: no Vulkan object is made
  /// until its first submit().
  [[nodiscard]] Sequence sequence();

  // --- Metrics ---------------------------------------------------------------

  /// The counters now: BufferPool::metrics() (which takes each shard's lock
  /// in turn), the manager's own atomics, and the device time of finished
  /// dispatches (reading their timestamp queries). Never waits for the
  /// device.
  [[nodiscard]] PerformanceMetrics get_performance_metrics() const;

 private:
  struct Impl;

  BufferRef create_buffer_from_bytes(std::span<const std::byte> data);
  void read_bytes(const BufferRef& buffer, std::span<std::byte> out);

  std::unique_ptr<Impl> impl_;
};

}  // namespace bufferpool
