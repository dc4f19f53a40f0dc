#include <bufferpool/host_backend.hpp>
#include <bufferpool/manager.hpp>

#include "backends/vulkan/command_ring.hpp"
#include "backends/vulkan/compute_program.hpp"
#include "backends/vulkan/shader_module.hpp"
#include "backends/vulkan/vulkan_backend.hpp"
#include "manager/sequence_host.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include <shared_mutex>
#include <sstream>
#include <utility>

namespace bufferpool {
namespace {

using vulkan_detail::ComputeProgram;
using vulkan_detail::GroupSize;
using vulkan_detail::ShaderInterface;
using vulkan_detail::VulkanBackend;

struct ShaderFunction {
  std::shared_ptr<const std::vector<std::uint32_t>> spirv;
  ShaderInterface interface;
  std::string entry_point;
};

using ShaderLibrary = std::map<std::string, ShaderFunction>;

struct Pipeline {
  std::string name;
  ShaderInterface interface;
  std::unique_ptr<ComputeProgram> program;  // null on the host backend
};

constexpr const char* kNeedsVulkan =
    " needs the Vulkan backend, and this manager runs on host memory (ManagerOptions::backend "
    "is ManagerBackend::host, or ManagerBackend::automatic found no Vulkan device). Install a "
    "Vulkan driver (Debian: `sudo apt-get install mesa-vulkan-drivers`) and use "
    "ManagerBackend::vulkan or automatic";

std::string join_keys(const auto& map) {
  std::string result;
  for (const auto& [key, value] : map) result += (result.empty() ? "" : ", ") + key;
  return result.empty() ? "(none)" : result;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw InvalidArgumentError("bufferpool: cannot read shader file \"" + path.string() +
                               "\"; check the path (relative paths start at the working "
                               "directory, " +
                               std::filesystem::current_path().string() + ")");
  }
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

ShaderFunction compile_function(std::string_view glsl, const std::string& source_name) {
  auto spirv = std::make_shared<const std::vector<std::uint32_t>>(
      vulkan_detail::compile_glsl_compute(glsl, source_name));
  return {spirv, vulkan_detail::reflect(*spirv, source_name), "main"};
}

// The built-in kernels compile once per process, not once per manager.
const ShaderLibrary& builtin_library() {
  static const ShaderLibrary library = [] {
    ShaderLibrary result;
    for (const auto& source : builtin_shader_sources()) {
      const std::string name(source.name);
      result.emplace(name, compile_function(source.glsl, name + ".comp"));
    }
    return result;
  }();
  return library;
}

std::uint32_t round_down_to_multiple(std::uint32_t value, std::uint32_t step) {
  return std::max(step, value / step * step);
}

std::uint32_t round_up_to_multiple(std::uint32_t value, std::uint32_t step) {
  return (value + step - 1) / step * step;
}

std::string format_extent(const Extent3D& extent) {
  return std::to_string(extent.x) + "x" + std::to_string(extent.y) + "x" + std::to_string(extent.z);
}

std::uint32_t groups_for(std::uint32_t threads, std::uint32_t per_group) {
  return static_cast<std::uint32_t>((std::uint64_t{threads} + per_group - 1) / per_group);
}

}  // namespace

Extent3D::Extent3D(std::size_t size_x, std::size_t size_y, std::size_t size_z) {
  constexpr std::size_t kMax = 0xFFFFFFFFU;
  if (size_x > kMax || size_y > kMax || size_z > kMax) {
    throw InvalidArgumentError("bufferpool: a size of " + std::to_string(size_x) + "x" +
                               std::to_string(size_y) + "x" + std::to_string(size_z) +
                               " does not fit Vulkan's 32-bit dispatch sizes; split the work");
  }
  x = static_cast<std::uint32_t>(size_x);
  y = static_cast<std::uint32_t>(size_y);
  z = static_cast<std::uint32_t>(size_z);
}

struct ComputeManager::Impl final : manager_detail::SequenceHost {
  std::shared_ptr<Backend> backend;
  std::shared_ptr<VulkanBackend> vulkan;           // null on host memory
  std::shared_ptr<VulkanBackend> staging_backend;  // only where buffers are not mapped
  std::unique_ptr<BufferPool> pool;
  std::unique_ptr<BufferPool> staging_pool;
  std::unique_ptr<vulkan_detail::CommandRing> ring;

  mutable std::shared_mutex names_mutex;
  std::map<std::string, ShaderLibrary> libraries;
  std::map<std::string, std::shared_ptr<Pipeline>> pipelines;

  std::atomic<std::uint64_t> dispatches{0};
  std::atomic<std::uint64_t> buffers_created{0};
  std::atomic<std::uint64_t> bytes_uploaded{0};
  std::atomic<std::uint64_t> bytes_downloaded{0};
  std::atomic<std::uint64_t> staging_copies{0};
  std::atomic<std::uint64_t> shader_libraries{0};
  mutable std::atomic<std::uint64_t> wait_time_ns{0};

  /// Sequences still alive, closed when the manager goes.
  std::mutex sequences_mutex;
  std::vector<std::weak_ptr<Sequence::State>> sequences;
  /// Recordings of destroyed sequences whose last submission may still run.
  std::mutex retired_mutex;
  std::vector<manager_detail::RetiredRecording> retired;

  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  Impl(Impl&&) = delete;
  Impl& operator=(Impl&&) = delete;
  ~Impl() override {
    // Programs and slots may be in use by work still running.
    if (vulkan) vulkan->device()->wait_for_timeline(vulkan->device()->last_submitted());
    // With the device idle, sequences still alive give their buffers and
    // command buffers back now, while the pool and the device still exist.
    const std::lock_guard lock(sequences_mutex);
    for (const auto& weak : sequences) {
      if (const auto state = weak.lock()) state->close(true);
    }
    const std::lock_guard retired_lock(retired_mutex);
    retired.clear();
  }

  // --- SequenceHost ----------------------------------------------------------

  BufferPool& device_pool() override { return *pool; }
  BufferPool& upload_pool() override { return staging_pool ? *staging_pool : *pool; }
  std::shared_ptr<vulkan_detail::VulkanDevice> device() override { return vulkan->device(); }
  std::shared_ptr<const Backend> timeline_backend() override { return backend; }

  void count_submission(std::size_t dispatch_count, std::size_t /*copies*/,
                        std::size_t upload_bytes) override {
    dispatches.fetch_add(dispatch_count, std::memory_order_relaxed);
    bytes_uploaded.fetch_add(upload_bytes, std::memory_order_relaxed);
  }

  void retire(manager_detail::RetiredRecording recording) override {
    const std::uint64_t completed = vulkan->device()->completed_timeline();
    const std::lock_guard lock(retired_mutex);
    std::erase_if(retired, [completed](const manager_detail::RetiredRecording& entry) {
      return entry.last_submission <= completed;
    });
    if (recording.last_submission > completed) retired.push_back(std::move(recording));
  }

  void add_sequence(const std::shared_ptr<Sequence::State>& state) {
    const std::lock_guard lock(sequences_mutex);
    std::erase_if(sequences,
                  [](const std::weak_ptr<Sequence::State>& weak) { return weak.expired(); });
    sequences.push_back(state);
  }

  vulkan_detail::CopyCommand prepare_copy(const BufferRef& source, const BufferRef& destination,
                                          std::size_t bytes) override {
    vulkan_detail::CopyCommand command;
    command.source = resolve_either(source).buffer;
    command.source_offset_bytes = source.offset_bytes();
    command.destination = resolve_either(destination).buffer;
    command.destination_offset_bytes = destination.offset_bytes();
    command.size_bytes = bytes;
    return command;
  }

  void wait_all() const {
    if (!vulkan) return;
    const auto& device = *vulkan->device();
    const std::uint64_t value = device.last_submitted();
    if (device.completed_timeline() >= value) return;
    const auto start = std::chrono::steady_clock::now();
    device.wait_for_timeline(value);
    wait_time_ns.fetch_add(
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                       std::chrono::steady_clock::now() - start)
                                       .count()),
        std::memory_order_relaxed);
  }

  void add_library(const std::string& name, ShaderLibrary library) {
    if (library.empty()) {
      throw InvalidArgumentError("bufferpool: shader library \"" + name +
                                 "\" has no compute shaders");
    }
    const std::unique_lock lock(names_mutex);
    libraries[name] = std::move(library);
    shader_libraries.fetch_add(1, std::memory_order_relaxed);
  }

  std::shared_ptr<Pipeline> find_pipeline(const std::string& name) const {
    const std::shared_lock lock(names_mutex);
    const auto found = pipelines.find(name);
    if (found == pipelines.end()) {
      throw InvalidArgumentError(
          "bufferpool: no compute pipeline named \"" + name +
          "\"; create it with create_compute_pipeline(). Pipelines: " + join_keys(pipelines));
    }
    return found->second;
  }

  Extent3D automatic_group_size(const ShaderInterface& interface, const Extent3D& shape) const {
    Extent3D size;
    if (vulkan) {
      const auto& limits = vulkan->device()->limits();
      const std::uint32_t subgroup = vulkan->device()->subgroup_size();
      const std::uint32_t budget = std::min(256U, limits.maxComputeWorkGroupInvocations);
      const int dimensions = shape.z > 1 ? 3 : shape.y > 1 ? 2 : 1;
      if (dimensions == 1) {
        size.x =
            std::min(round_down_to_multiple(budget, subgroup), limits.maxComputeWorkGroupSize[0]);
      } else {
        size.x = std::min(round_up_to_multiple(dimensions == 2 ? 16U : 8U, subgroup),
                          limits.maxComputeWorkGroupSize[0]);
        const std::uint32_t rest = std::max(1U, budget / size.x);
        if (dimensions == 2) {
          size.y = std::min(rest, limits.maxComputeWorkGroupSize[1]);
        } else {
          size.y = std::min(std::min(rest, 4U), limits.maxComputeWorkGroupSize[1]);
          size.z = std::min(std::max(1U, rest / size.y), limits.maxComputeWorkGroupSize[2]);
        }
      }
    }
    // A shader with a fixed size in a dimension gets that size.
    std::array<std::uint32_t*, 3> fields{&size.x, &size.y, &size.z};
    for (std::size_t dimension = 0; dimension < 3; ++dimension) {
      if (!interface.resizable[dimension]) {
        *fields[dimension] = interface.declared_local_size[dimension];
      }
    }
    return size;
  }

  void check_group_size(const Pipeline& pipeline, const Extent3D& size) const {
    const auto& limits = vulkan->device()->limits();
    const std::array<std::uint32_t, 3> values{size.x, size.y, size.z};
    for (std::size_t dimension = 0; dimension < 3; ++dimension) {
      if (values[dimension] == 0 || values[dimension] > limits.maxComputeWorkGroupSize[dimension]) {
        throw InvalidArgumentError(
            "bufferpool: pipeline \"" + pipeline.name + "\": " + format_extent(size) +
            " threads per group; each dimension must be 1 to " +
            std::to_string(limits.maxComputeWorkGroupSize[0]) + "x" +
            std::to_string(limits.maxComputeWorkGroupSize[1]) + "x" +
            std::to_string(limits.maxComputeWorkGroupSize[2]) +
            " (maxComputeWorkGroupSize); omit threads_per_group to let the manager choose");
      }
      if (!pipeline.interface.resizable[dimension] &&
          values[dimension] != pipeline.interface.declared_local_size[dimension]) {
        const auto& declared = pipeline.interface.declared_local_size;
        throw InvalidArgumentError(
            "bufferpool: pipeline \"" + pipeline.name + "\": asked for " + format_extent(size) +
            " threads per group, but the shader fixes " + std::to_string(declared[0]) + "x" +
            std::to_string(declared[1]) + "x" + std::to_string(declared[2]) +
            "; declare layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in; "
            "to let the size be chosen per dispatch");
      }
    }
    if (size.volume() > limits.maxComputeWorkGroupInvocations) {
      throw InvalidArgumentError(
          "bufferpool: pipeline \"" + pipeline.name + "\": " + format_extent(size) + " = " +
          std::to_string(size.volume()) + " threads per group passes the device's " +
          std::to_string(limits.maxComputeWorkGroupInvocations) +
          " (maxComputeWorkGroupInvocations)");
    }
  }

  vulkan_detail::SequenceCommand prepare_dispatch(
      const std::string& pipeline_name, const BufferList& inputs, const BufferList& outputs,
      const DispatchGrid& grid, const std::optional<ThreadsPerGroup>& requested_size,
      const PushConstants& push_constants, std::shared_ptr<const void>& keep_alive) override {
    const auto pipeline = find_pipeline(pipeline_name);
    if (!vulkan)
      throw BackendError("bufferpool: running shader \"" + pipeline_name + "\"" + kNeedsVulkan);
    const std::size_t buffer_count = inputs.size() + outputs.size();
    if (buffer_count != pipeline->interface.binding_count) {
      throw InvalidArgumentError(
          "bufferpool: pipeline \"" + pipeline_name + "\" binds " +
          std::to_string(pipeline->interface.binding_count) + " buffers (bindings 0.." +
          std::to_string(pipeline->interface.binding_count) + "-1 of set 0), but " +
          std::to_string(inputs.size()) + " inputs and " + std::to_string(outputs.size()) +
          " outputs were given; pass one buffer per binding, inputs first");
    }
    if (!push_constants.bytes().empty() && !pipeline->interface.has_push_constants) {
      throw InvalidArgumentError("bufferpool: pipeline \"" + pipeline_name +
                                 "\" got push constants but its shader declares no "
                                 "layout(push_constant) block");
    }
    const Extent3D size = requested_size ? requested_size->extent()
                                         : automatic_group_size(pipeline->interface, grid.extent());
    check_group_size(*pipeline, size);
    const Extent3D& asked = grid.extent();
    const Extent3D groups = grid.counts_threads()
                                ? Extent3D{groups_for(asked.x, size.x), groups_for(asked.y, size.y),
                                           groups_for(asked.z, size.z)}
                                : asked;
    const auto& limits = vulkan->device()->limits();
    const std::array<std::uint32_t, 3> group_values{groups.x, groups.y, groups.z};
    for (std::size_t dimension = 0; dimension < 3; ++dimension) {
      if (group_values[dimension] > limits.maxComputeWorkGroupCount[dimension]) {
        throw InvalidArgumentError(
            "bufferpool: pipeline \"" + pipeline_name + "\": " + format_extent(groups) +
            " thread groups passes the device's " +
            std::to_string(limits.maxComputeWorkGroupCount[0]) + "x" +
            std::to_string(limits.maxComputeWorkGroupCount[1]) + "x" +
            std::to_string(limits.maxComputeWorkGroupCount[2]) +
            " (maxComputeWorkGroupCount); use larger groups or split the work");
      }
    }

    std::array<vulkan_detail::BoundBuffer, ComputeProgram::kMaxBindings> bound{};
    std::size_t index = 0;
    for (const BufferList* list : {&inputs, &outputs}) {
      for (const BufferRef& buffer : list->buffers()) {
        if (!buffer) {
          throw UsageError("bufferpool: pipeline \"" + pipeline_name + "\": buffer " +
                           std::to_string(index) + " (binding " + std::to_string(index) +
                           ") is an empty BufferRef");
        }
        if (buffer.size() > limits.maxStorageBufferRange) {
          throw InvalidArgumentError(
              "bufferpool: pipeline \"" + pipeline_name + "\": binding " + std::to_string(index) +
              " is a buffer of " + std::to_string(buffer.size()) + " bytes, above the device's " +
              std::to_string(limits.maxStorageBufferRange) +
              " byte maxStorageBufferRange; split the data over several dispatches");
        }
        bound[index] =
            bind(buffer, own_segment(buffer, [&] {
                   return "pipeline \"" + pipeline_name + "\": binding " + std::to_string(index);
                 }));
        ++index;
      }
    }

    vulkan_detail::SequenceCommand command;
    command.program = pipeline->program.get();
    command.pipeline = pipeline->program->pipeline_for({size.x, size.y, size.z});
    command.buffers.assign(bound.begin(),
                           bound.begin() + static_cast<std::ptrdiff_t>(buffer_count));
    const auto push = push_constants.bytes();
    command.push_constants.assign(push.begin(), push.end());
    command.group_count = {groups.x, groups.y, groups.z};
    keep_alive = pipeline;
    return command;
  }

  std::uint64_t dispatch(const std::string& pipeline_name, const BufferList& inputs,
                         const BufferList& outputs, const DispatchGrid& grid,
                         const std::optional<ThreadsPerGroup>& requested_size,
                         const PushConstants& push_constants) {
    std::shared_ptr<const void> pipeline;
    const auto prepared = prepare_dispatch(pipeline_name, inputs, outputs, grid, requested_size,
                                           push_constants, pipeline);
    vulkan_detail::DispatchCommand command;
    command.program = prepared.program;
    command.pipeline = prepared.pipeline;
    command.buffers = prepared.buffers;
    command.push_constants = prepared.push_constants;
    command.group_count = prepared.group_count;
    const std::uint64_t value = ring->submit(command);
    dispatches.fetch_add(1, std::memory_order_relaxed);
    mark_used(inputs, value);
    mark_used(outputs, value);
    return value;
  }

  // A buffer is bytes [offset, offset + size()) of its segment's VkBuffer,
  // and a descriptor covers exactly those: range is size(), the bytes asked
  // for, not capacity(), so that a kernel's `data.length()` and its bounds
  // checks see the buffer the caller made, and robust buffer access discards
  // what lands past it instead of letting it reach the neighbours. (Robust
  // access may round the range up to robustStorageBufferAccessSizeAlignment,
  // at most 4 bytes: still inside the buffer's capacity, a multiple of 256.)
  vulkan_detail::BoundBuffer bind(const BufferRef& buffer,
                                  const vulkan_detail::Segment& segment) const {
    const std::size_t offset = buffer.offset_bytes();
    const std::size_t alignment = vulkan->device()->limits().minStorageBufferOffsetAlignment;
    if (offset % alignment != 0 || offset > segment.size_bytes ||
        buffer.size() > segment.size_bytes - offset) {
      throw UsageError(
          "bufferpool: a buffer of " + std::to_string(buffer.size()) + " bytes at offset " +
          std::to_string(offset) + " of a segment of " + std::to_string(segment.size_bytes) +
          " bytes cannot be bound: offsets must be multiples of " + std::to_string(alignment) +
          " (minStorageBufferOffsetAlignment) inside the segment. A backend adaptor "
          "(ManagerOptions::backend_adaptor) must pass on its upstream's allocations and "
          "buffer_alignment_bytes() unchanged");
    }
    return {segment.buffer, offset, buffer.size()};
  }

  static void mark_used(const BufferList& list, std::uint64_t value) {
    for (const BufferRef& buffer : list.buffers()) {
      BufferRef handle = buffer;  // mark_used_until is not const; the count is shared
      handle.mark_used_until(value);
    }
  }

  // The segment of a buffer from this manager's pool. `describe` names the
  // buffer's role for the message, and runs only when it is foreign.
  template <typename Describe>
  const vulkan_detail::Segment& own_segment(const BufferRef& buffer, Describe&& describe) const {
    if (const auto* segment = vulkan->find(buffer.native_handle())) return *segment;
    throw UsageError("bufferpool: " + std::string(std::forward<Describe>(describe)()) +
                     " is a buffer from another pool, not this ComputeManager's (" +
                     vulkan->device()->name() +
                     "); create buffers with the ComputeManager that runs the work");
  }

  // A copy's ends are a pooled buffer and a staging buffer, in either order.
  const vulkan_detail::Segment& resolve_either(const BufferRef& buffer) const {
    if (staging_backend) {
      if (const auto* staging = staging_backend->find(buffer.native_handle())) return *staging;
    }
    return own_segment(buffer, [] { return "a copy's buffer"; });
  }

  // Copies the first `bytes` of one buffer to the first `bytes` of another:
  // each end is its segment's VkBuffer at the buffer's offset.
  std::uint64_t copy(const BufferRef& source, const BufferRef& destination, std::size_t bytes) {
    const std::uint64_t value = ring->submit(prepare_copy(source, destination, bytes));
    staging_copies.fetch_add(1, std::memory_order_relaxed);
    BufferRef(source).mark_used_until(value);
    BufferRef(destination).mark_used_until(value);
    return value;
  }

  void write(const BufferRef& buffer, std::span<const std::byte> data, bool may_be_in_use) {
    if (!buffer) throw UsageError("bufferpool: upload to an empty BufferRef");
    if (data.size() > buffer.size()) {
      throw InvalidArgumentError("bufferpool: cannot upload " + std::to_string(data.size()) +
                                 " bytes into a buffer of " + std::to_string(buffer.size()) +
                                 " bytes; create a larger buffer");
    }
    if (data.empty()) return;
    if (buffer.host_visible()) {
      if (may_be_in_use) wait_all();
      std::memcpy(buffer.data(), data.data(), data.size());
    } else {
      // Staging buffers come from their own pool, so they are reused too; the
      // copy is ordered before later dispatches on the queue, so no wait.
      BufferRef staging = staging_pool->get_buffer(data.size());
      std::memcpy(staging.data(), data.data(), data.size());
      copy(staging, buffer, data.size());
    }
    bytes_uploaded.fetch_add(data.size(), std::memory_order_relaxed);
  }
};

ComputeManager::ComputeManager(const ManagerOptions& options) : impl_(std::make_unique<Impl>()) {
  Impl& impl = *impl_;
  switch (options.backend) {
    case ManagerBackend::host:
      impl.backend = make_host_backend();
      break;
    case ManagerBackend::vulkan:
    case ManagerBackend::automatic:
      try {
        impl.vulkan = std::dynamic_pointer_cast<VulkanBackend>(make_vulkan_backend(options.vulkan));
        impl.backend = impl.vulkan;
      } catch (const NoVulkanDeviceError&) {
        if (options.backend == ManagerBackend::vulkan) throw;
        impl.backend = make_host_backend();
      }
      break;
    default:
      throw ConfigError("bufferpool: ManagerOptions::backend holds " +
                        std::to_string(static_cast<int>(options.backend)) +
                        ", which is no ManagerBackend; use ManagerBackend::automatic, vulkan or "
                        "host, or parse_manager_backend() for a name");
  }
  std::shared_ptr<Backend> pool_backend = impl.backend;
  if (options.backend_adaptor) {
    pool_backend = options.backend_adaptor(impl.backend);
    if (!pool_backend) {
      throw ConfigError("bufferpool: ManagerOptions::backend_adaptor returned no backend");
    }
  }
  impl.pool = std::make_unique<BufferPool>(std::move(pool_backend), options.pool);
  if (impl.vulkan) {
    impl.ring = std::make_unique<vulkan_detail::CommandRing>(impl.vulkan->device());
    if (!impl.vulkan->host_visible()) {
      impl.staging_backend = std::make_shared<VulkanBackend>(impl.vulkan->device(),
                                                             VulkanMemoryPlacement::host_visible);
      PoolConfig staging_config = options.pool;
      // A staging buffer's bytes reach no one but the copy that just filled
      // them (an upload's data, a download's result), so zeroing it first
      // would be a memset for nothing.
      staging_config.zero_on_reuse = false;
      impl.staging_pool = std::make_unique<BufferPool>(impl.staging_backend, staging_config);
    }
  }
}

ComputeManager::~ComputeManager() = default;

BufferPool& ComputeManager::pool() noexcept { return *impl_->pool; }

std::string ComputeManager::backend_name() const { return impl_->backend->name(); }

bool ComputeManager::can_execute_shaders() const noexcept { return impl_->vulkan != nullptr; }

BufferRef ComputeManager::create_buffer(std::size_t size_bytes) {
  BufferRef buffer = impl_->pool->get_buffer(size_bytes);
  impl_->buffers_created.fetch_add(1, std::memory_order_relaxed);
  return buffer;
}

BufferRef ComputeManager::create_buffer_from_bytes(std::span<const std::byte> data) {
  if (data.empty()) {
    throw InvalidArgumentError(
        "bufferpool: create_buffer() got no data; pass at least one "
        "element, or create_buffer(size_bytes) for an empty buffer");
  }
  BufferRef buffer = create_buffer(data.size());
  // A buffer fresh from the pool is used by no device work.
  impl_->write(buffer, data, /*may_be_in_use=*/false);
  return buffer;
}

void ComputeManager::upload(const BufferRef& buffer, std::span<const std::byte> data) {
  impl_->write(buffer, data, /*may_be_in_use=*/true);
}

void ComputeManager::read_bytes(const BufferRef& buffer, std::span<std::byte> out) {
  Impl& impl = *impl_;
  if (!buffer) throw UsageError("bufferpool: get_buffer_data() on an empty BufferRef");
  if (out.size() > buffer.size()) {
    throw InvalidArgumentError("bufferpool: get_buffer_data() asked for " +
                               std::to_string(out.size()) + " bytes of a buffer of " +
                               std::to_string(buffer.size()) + " bytes; ask for at most size()");
  }
  if (out.empty()) return;
  impl.wait_all();
  if (buffer.host_visible()) {
    std::memcpy(out.data(), buffer.data(), out.size());
  } else {
    BufferRef staging = impl.staging_pool->get_buffer(out.size());
    impl.copy(buffer, staging, out.size());
    impl.wait_all();
    std::memcpy(out.data(), staging.data(), out.size());
  }
  impl.bytes_downloaded.fetch_add(out.size(), std::memory_order_relaxed);
}

void ComputeManager::load_shader_library(const std::filesystem::path& path,
                                         const std::string& name) {
  std::vector<std::filesystem::path> files;
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    for (const auto& entry : std::filesystem::directory_iterator(path)) {
      const auto extension = entry.path().extension();
      if (extension == ".comp" || extension == ".glsl" || extension == ".spv") {
        files.push_back(entry.path());
      }
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) {
      throw InvalidArgumentError("bufferpool: shader folder \"" + path.string() +
                                 "\" holds no .comp, .glsl or .spv files");
    }
  } else {
    files.push_back(path);
  }
  ShaderLibrary library;
  for (const auto& file : files) {
    const std::string content = read_file(file);
    const std::string stem = file.stem().string();
    if (file.extension() == ".spv") {
      if (content.size() % sizeof(std::uint32_t) != 0) {
        throw InvalidArgumentError("bufferpool: \"" + file.string() +
                                   "\" is not SPIR-V: its size is not a multiple of 4 bytes");
      }
      auto words =
          std::make_shared<std::vector<std::uint32_t>>(content.size() / sizeof(std::uint32_t));
      std::memcpy(words->data(), content.data(), content.size());
      // Before reflect() reads it, and long before a driver sees it: a
      // damaged file gets the validator's message, not a driver crash.
      vulkan_detail::validate_spirv(*words, file.string());
      auto interface = vulkan_detail::reflect(*words, file.string());
      std::shared_ptr<const std::vector<std::uint32_t>> spirv = std::move(words);
      if (interface.entry_points.empty()) {
        throw InvalidArgumentError("bufferpool: \"" + file.string() +
                                   "\" has no compute (GLCompute) entry point");
      }
      const bool only_main =
          interface.entry_points.size() == 1 && interface.entry_points[0] == "main";
      for (const auto& entry : interface.entry_points) {
        library[only_main ? stem : entry] = ShaderFunction{spirv, interface, entry};
      }
    } else {
      library[stem] = compile_function(content, file.filename().string());
    }
  }
  impl_->add_library(name, std::move(library));
}

void ComputeManager::load_shader_library_from_source(std::string_view glsl,
                                                     const std::string& name) {
  ShaderLibrary library;
  library.emplace("main", compile_function(glsl, name));
  impl_->add_library(name, std::move(library));
}

void ComputeManager::load_builtin_shader_library(const std::string& name) {
  impl_->add_library(name, builtin_library());
}

std::vector<std::string> ComputeManager::shader_functions(const std::string& library) const {
  const std::shared_lock lock(impl_->names_mutex);
  const auto found = impl_->libraries.find(library);
  if (found == impl_->libraries.end()) {
    throw InvalidArgumentError("bufferpool: no shader library named \"" + library +
                               "\"; libraries: " + join_keys(impl_->libraries));
  }
  std::vector<std::string> names;
  for (const auto& [function, unused] : found->second) names.push_back(function);
  return names;
}

void ComputeManager::create_compute_pipeline(const std::string& library,
                                             const std::string& function,
                                             const std::string& pipeline_name) {
  Impl& impl = *impl_;
  ShaderFunction shader;
  {
    const std::shared_lock lock(impl.names_mutex);
    const auto found = impl.libraries.find(library);
    if (found == impl.libraries.end()) {
      throw InvalidArgumentError("bufferpool: no shader library named \"" + library +
                                 "\"; load it first. Libraries: " + join_keys(impl.libraries));
    }
    auto match = found->second.find(function);
    if (match == found->second.end() && function == "main" && found->second.size() == 1) {
      match = found->second.begin();
    }
    if (match == found->second.end()) {
      throw InvalidArgumentError("bufferpool: shader library \"" + library +
                                 "\" has no function \"" + function +
                                 "\"; functions: " + join_keys(found->second));
    }
    shader = match->second;
    if (impl.pipelines.count(pipeline_name) != 0) {
      throw InvalidArgumentError("bufferpool: a compute pipeline named \"" + pipeline_name +
                                 "\" exists already; choose another name");
    }
  }
  auto pipeline = std::make_shared<Pipeline>();
  pipeline->name = pipeline_name;
  pipeline->interface = shader.interface;
  if (impl.vulkan) {
    pipeline->program = std::make_unique<ComputeProgram>(
        impl.vulkan->device(), *shader.spirv, shader.interface, shader.entry_point, pipeline_name);
    // Made now so that a bad shader fails here, not at its first dispatch.
    const Extent3D size = impl.automatic_group_size(shader.interface, {});
    (void)pipeline->program->pipeline_for({size.x, size.y, size.z});
  }
  const std::unique_lock lock(impl.names_mutex);
  if (!impl.pipelines.emplace(pipeline_name, std::move(pipeline)).second) {
    throw InvalidArgumentError("bufferpool: a compute pipeline named \"" + pipeline_name +
                               "\" exists already; choose another name");
  }
}

ThreadsPerGroup ComputeManager::threads_per_group(const std::string& pipeline_name,
                                                  const DispatchGrid& grid) const {
  const auto pipeline = impl_->find_pipeline(pipeline_name);
  return ThreadsPerGroup{impl_->automatic_group_size(pipeline->interface, grid.extent())};
}

Submission ComputeManager::submit(const std::string& pipeline_name, BufferList inputs,
                                  BufferList outputs, const DispatchGrid& grid,
                                  const ThreadsPerGroup& threads_per_group,
                                  const PushConstants& push_constants) {
  const std::uint64_t value =
      impl_->dispatch(pipeline_name, inputs, outputs, grid, threads_per_group, push_constants);
  return {impl_->backend, value};
}

Submission ComputeManager::submit(const std::string& pipeline_name, BufferList inputs,
                                  BufferList outputs, const DispatchGrid& grid,
                                  const PushConstants& push_constants) {
  const std::uint64_t value =
      impl_->dispatch(pipeline_name, inputs, outputs, grid, std::nullopt, push_constants);
  return {impl_->backend, value};
}

void ComputeManager::execute_shader(const std::string& pipeline_name, BufferList inputs,
                                    BufferList outputs, const DispatchGrid& grid,
                                    const ThreadsPerGroup& threads_per_group,
                                    const PushConstants& push_constants) {
  (void)submit(pipeline_name, inputs, outputs, grid, threads_per_group, push_constants);
  impl_->wait_all();
}

void ComputeManager::execute_shader(const std::string& pipeline_name, BufferList inputs,
                                    BufferList outputs, const DispatchGrid& grid,
                                    const PushConstants& push_constants) {
  (void)submit(pipeline_name, inputs, outputs, grid, push_constants);
  impl_->wait_all();
}

void ComputeManager::wait_idle() const { impl_->wait_all(); }

Sequence ComputeManager::sequence() {
  Impl& impl = *impl_;
  if (!impl.vulkan)
    throw BackendError(std::string("bufferpool: ComputeManager::sequence()") + kNeedsVulkan);
  auto state = std::make_shared<Sequence::State>();
  state->host = &impl;
  state->stream = impl.pool->open_stream();
  impl.add_sequence(state);
  return Sequence(std::move(state));
}

PerformanceMetrics ComputeManager::get_performance_metrics() const {
  const Impl& impl = *impl_;
  PerformanceMetrics result;
  result.buffer_pool = impl.pool->metrics();
  result.backend = impl.backend->name();
  result.dispatches = impl.dispatches.load(std::memory_order_relaxed);
  result.buffers_created = impl.buffers_created.load(std::memory_order_relaxed);
  result.bytes_uploaded = impl.bytes_uploaded.load(std::memory_order_relaxed);
  result.bytes_downloaded = impl.bytes_downloaded.load(std::memory_order_relaxed);
  result.staging_copies = impl.staging_copies.load(std::memory_order_relaxed);
  result.shader_libraries = impl.shader_libraries.load(std::memory_order_relaxed);
  result.wait_time_ns = impl.wait_time_ns.load(std::memory_order_relaxed);
  if (impl.ring) result.gpu_time_ns = impl.ring->gpu_time_ns();
  const std::shared_lock lock(impl.names_mutex);
  for (const auto& [name, pipeline] : impl.pipelines) {
    if (pipeline->program) result.pipelines += pipeline->program->pipeline_count();
  }
  return result;
}

std::string PerformanceMetrics::to_json() const {
  // nlohmann::json escapes every control character, keeps 64-bit counters
  // exact and ignores the global locale.
  const nlohmann::ordered_json json = {
      {"backend", backend},
      {"dispatches", dispatches},
      {"buffers_created", buffers_created},
      {"bytes_uploaded", bytes_uploaded},
      {"bytes_downloaded", bytes_downloaded},
      {"staging_copies", staging_copies},
      {"shader_libraries", shader_libraries},
      {"pipelines", pipelines},
      {"gpu_time_ns", gpu_time_ns},
      {"wait_time_ns", wait_time_ns},
      {"buffer_pool", nlohmann::ordered_json::parse(buffer_pool.to_json())},
  };
  return json.dump();
}

std::string_view to_string(ManagerBackend backend) noexcept {
  switch (backend) {
    case ManagerBackend::automatic:
      return "auto";
    case ManagerBackend::vulkan:
      return "vulkan";
    case ManagerBackend::host:
      return "host";
  }
  return "unknown";
}

ManagerBackend parse_manager_backend(std::string_view name) {
  for (const ManagerBackend backend :
       {ManagerBackend::automatic, ManagerBackend::vulkan, ManagerBackend::host}) {
    if (to_string(backend) == name) return backend;
  }
  throw ConfigError("bufferpool: \"" + std::string(name) +
                    "\" is not a ComputeManager backend; the backends are \"auto\" (Vulkan "
                    "when a device exists, host memory otherwise), \"vulkan\" and \"host\"");
}

}  // namespace bufferpool
