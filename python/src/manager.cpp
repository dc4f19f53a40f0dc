// ComputeManager in Python: the design's metal_manager on Vulkan. The GIL is
// released wherever the call may wait for the device or compile shaders, and
// buffers passed in are copied to C++ handles first, so that another Python
// thread may use the same BufferRef objects meanwhile.
#include "bindings.hpp"

#include <bufferpool/errors.hpp>
#include <bufferpool/manager.hpp>
#include <bufferpool/sequence.hpp>
#include <bufferpool/vulkan.hpp>

#include <pybind11/numpy.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <Python.h>

#include <array>
#include <cstring>
#include <mutex>
#include <optional>
#include <span>
#include <utility>

namespace bufferpool::python {
namespace {

/// A C-contiguous, read-only view of any buffer-protocol object, released
/// when it goes. Non-contiguous arrays are copied to C order first.
class ContiguousBytes {
 public:
  ContiguousBytes(const py::handle& source, const char* what) {
    if (PyObject_CheckBuffer(source.ptr()) == 0) {
      throw InvalidArgumentError(std::string("bufferpool: ") + what +
                                 " takes bytes, a numpy array or another object with the "
                                 "buffer protocol, got " +
                                 py::repr(source).cast<std::string>());
    }
    py::object contiguous = py::reinterpret_borrow<py::object>(source);
    if (PyObject_GetBuffer(contiguous.ptr(), &view_, PyBUF_C_CONTIGUOUS) != 0) {
      // A strided view (a slice, a transposed array): its elements in C order.
      PyErr_Clear();
      contiguous = py::module_::import("numpy").attr("ascontiguousarray")(source);
      if (PyObject_GetBuffer(contiguous.ptr(), &view_, PyBUF_C_CONTIGUOUS) != 0) {
        throw py::error_already_set();
      }
    }
  }
  ~ContiguousBytes() { PyBuffer_Release(&view_); }
  ContiguousBytes(const ContiguousBytes&) = delete;
  ContiguousBytes& operator=(const ContiguousBytes&) = delete;
  ContiguousBytes(ContiguousBytes&&) = delete;
  ContiguousBytes& operator=(ContiguousBytes&&) = delete;

  [[nodiscard]] std::span<const std::byte> bytes() const noexcept {
    return {static_cast<const std::byte*>(view_.buf), static_cast<std::size_t>(view_.len)};
  }

 private:
  Py_buffer view_{};
};

// PushConstants takes a trivially copyable value whose size is its type's;
// Python's bytes have a size known only at run time, so one instantiation
// per size (1..128 bytes) makes the value.
template <std::size_t N>
PushConstants push_constants_of(const std::byte* data) {
  std::array<std::byte, N> value{};
  std::memcpy(value.data(), data, N);
  return PushConstants(value);
}

template <std::size_t... Index>
constexpr auto make_push_constant_table(std::index_sequence<Index...> /*sizes*/) {
  return std::array<PushConstants (*)(const std::byte*), sizeof...(Index)>{
      &push_constants_of<Index + 1>...};
}

PushConstants push_constants_from(const py::handle& value) {
  if (value.is_none()) return {};
  const ContiguousBytes source(value, "push_constants");
  const auto bytes = source.bytes();
  if (bytes.empty() || bytes.size() > PushConstants::kMaxBytes) {
    throw InvalidArgumentError(
        "bufferpool: push constants are 1 to 128 bytes (Vulkan's guaranteed "
        "maxPushConstantsSize), got " +
        std::to_string(bytes.size()) +
        "; pass larger parameters in a buffer, or pack the block as the shader declares it "
        "(numpy.array((n, a), dtype=[('n', '<u4'), ('a', '<f4')]))");
  }
  static constexpr auto table =
      make_push_constant_table(std::make_index_sequence<PushConstants::kMaxBytes>{});
  return table[bytes.size() - 1](bytes.data());
}

std::optional<Extent3D> extent_from(const py::handle& value, const char* what) {
  if (value.is_none()) return std::nullopt;
  const auto fail = [&]() -> Extent3D {
    throw InvalidArgumentError(std::string("bufferpool: ") + what +
                               " must be an int or a tuple of 1 to 3 ints >= 1, got " +
                               py::repr(value).cast<std::string>());
  };
  const auto size_of = [&](const py::handle& item) -> std::size_t {
    const py::object integer = integer_of(item);
    if (integer.is_none()) fail();
    const long long number = PyLong_AsLongLong(integer.ptr());
    if (number == -1 && PyErr_Occurred() != nullptr) {
      PyErr_Clear();
      fail();
    }
    if (number < 1) fail();
    return static_cast<std::size_t>(number);
  };
  if (!integer_of(value).is_none()) return Extent3D(size_of(value));
  if (!py::isinstance<py::sequence>(value) || py::isinstance<py::str>(value)) return fail();
  const auto items = py::reinterpret_borrow<py::sequence>(value);
  if (items.size() < 1 || items.size() > 3) return fail();
  std::array<std::size_t, 3> sizes{1, 1, 1};
  for (std::size_t i = 0; i < items.size(); ++i) sizes[i] = size_of(items[i]);
  return Extent3D(sizes[0], sizes[1], sizes[2]);
}

std::vector<BufferRef> handles_from(const py::handle& buffers, const char* what) {
  if (const PyBufferRef* single = buffer_of(buffers)) return {require_live(*single, what)};
  if (!py::isinstance<py::sequence>(buffers) || py::isinstance<py::str>(buffers)) {
    throw InvalidArgumentError(std::string("bufferpool: ") + what +
                               " must be a list of BufferRef, got " +
                               py::repr(buffers).cast<std::string>());
  }
  std::vector<BufferRef> handles;
  for (const py::handle item : py::reinterpret_borrow<py::sequence>(buffers)) {
    handles.push_back(require_live(buffer_arg(item, what), what));
  }
  return handles;
}

/// One dispatch as Python describes it, converted while the GIL is held.
struct Dispatch {
  std::string pipeline;
  std::vector<BufferRef> inputs;
  std::vector<BufferRef> outputs;
  DispatchGrid grid;
  std::optional<ThreadsPerGroup> threads_per_group;
  PushConstants push_constants;
};

/// `call` names the Python method in the message for a wrong set of sizes.
Dispatch dispatch_from(std::string pipeline, const py::handle& inputs, const py::handle& outputs,
                       const py::handle& thread_groups, const py::handle& threads_per_group,
                       const py::handle& push_constants, const py::handle& total_threads,
                       const char* call = "execute_shader") {
  const auto groups = extent_from(thread_groups, "thread_groups");
  const auto threads = extent_from(total_threads, "total_threads");
  if (groups.has_value() == threads.has_value()) {
    throw InvalidArgumentError(
        std::string("bufferpool: ") + call + "(\"" + pipeline +
        "\") needs either thread_groups (groups of threads_per_group threads; the manager "
        "picks the group size when it is None) or total_threads (threads in all, in groups "
        "the manager picks), not " +
        (groups ? "both" : "neither"));
  }
  const auto size = extent_from(threads_per_group, "threads_per_group");
  return Dispatch{
      std::move(pipeline),
      handles_from(inputs, "inputs"),
      handles_from(outputs, "outputs"),
      groups ? DispatchGrid(ThreadGroups{*groups}) : DispatchGrid(TotalThreads{*threads}),
      size ? std::optional(ThreadsPerGroup{*size}) : std::nullopt,
      push_constants_from(push_constants)};
}

Submission run(ComputeManager& manager, const Dispatch& d, bool wait) {
  const BufferList inputs(d.inputs);
  const BufferList outputs(d.outputs);
  const Submission submitted =
      d.threads_per_group ? manager.submit(d.pipeline, inputs, outputs, d.grid,
                                           *d.threads_per_group, d.push_constants)
                          : manager.submit(d.pipeline, inputs, outputs, d.grid, d.push_constants);
  if (!wait) return submitted;
  // execute_shader waits for all submitted work, not only this dispatch's.
  manager.wait_idle();
  return {};
}

/// A Sequence as Python holds it. `manager` (the Python ComputeManager)
/// keeps the C++ manager alive for as long as the sequence is reachable.
/// A Sequence is used by one thread at a time; calls release the GIL, so
/// `mutex` makes Python threads sharing one take turns. It is only taken
/// with the GIL released, and nothing under it takes the GIL.
class PySequence {
 public:
  PySequence(py::object manager, Sequence sequence)
      : manager_(std::move(manager)), sequence_(std::move(sequence)) {}

  [[nodiscard]] const py::object& manager_object() const noexcept { return manager_; }
  [[nodiscard]] const PyComputeManager& manager() const {
    return manager_.cast<const PyComputeManager&>();
  }
  /// Runs `body(sequence)` without the GIL, alone on this sequence.
  template <typename Body>
  decltype(auto) locked(Body body) {
    const py::gil_scoped_release unlocked;
    const std::lock_guard lock(mutex_);
    return body(sequence_);
  }

 private:
  // Declared first, destroyed last: the sequence goes before its manager.
  py::object manager_;
  std::mutex mutex_;
  Sequence sequence_;
};

/// Records `d` as ComputeManager::execute_shader would run it (run() above).
void record(Sequence& sequence, const Dispatch& d) {
  const BufferList inputs(d.inputs);
  const BufferList outputs(d.outputs);
  if (d.threads_per_group) {
    sequence.record(d.pipeline, inputs, outputs, d.grid, *d.threads_per_group, d.push_constants);
  } else {
    sequence.record(d.pipeline, inputs, outputs, d.grid, d.push_constants);
  }
}

py::tuple extent_tuple(const Extent3D& extent) {
  return py::make_tuple(extent.x, extent.y, extent.z);
}

py::dict device_as_dict(const VulkanDeviceInfo& info) {
  py::dict result;
  result["index"] = info.index;
  result["name"] = info.name;
  result["type"] = std::string(to_string(info.type));
  result["api_version"] = info.api_version;
  result["device_local_bytes"] = info.device_local_bytes;
  result["usable"] = info.usable;
  return result;
}

}  // namespace

VulkanBackendOptions vulkan_options_from(const py::handle& device, const std::string& placement,
                                         bool validation) {
  VulkanBackendOptions options;
  if (PyLong_Check(device.ptr()) && !PyBool_Check(device.ptr())) {
    options.device = std::to_string(device.cast<long long>());
  } else if (py::isinstance<py::str>(device)) {
    options.device = device.cast<std::string>();
  } else if (!device.is_none()) {
    throw ConfigError(
        "bufferpool: device must be None (the best device), an index or part of "
        "a device's name, got " +
        py::repr(device).cast<std::string>());
  }
  options.placement = parse_vulkan_memory_placement(placement);
  options.enable_validation = validation;
  return options;
}

PyComputeManager::PyComputeManager(const ManagerOptions& options)
    : buffer_type_(python::buffer_type()) {
  ManagerOptions own = options;
  if (own.vulkan.enable_validation) {
    own.vulkan.on_validation_message = [this](const std::string& message) {
      add_validation_message(message);
    };
  }
  const py::gil_scoped_release unlocked;  // instance and device creation
  manager_ = std::make_unique<ComputeManager>(own);
}

void PyComputeManager::add_validation_message(const std::string& message) {
  const std::lock_guard lock(messages_mutex_);
  messages_.push_back(message);
}

std::vector<std::string> PyComputeManager::validation_messages() const {
  const std::lock_guard lock(messages_mutex_);
  return messages_;
}

void bind_manager(py::module_& module) {
  module.def(
      "list_vulkan_devices",
      [] {
        std::vector<VulkanDeviceInfo> devices;
        {
          const py::gil_scoped_release unlocked;
          devices = list_vulkan_devices();
        }
        py::list result;
        for (const auto& info : devices) result.append(device_as_dict(info));
        return result;
      },
      "The Vulkan devices the loader reports, as dicts (index, name, type, usable, ...). "
      "Raises NoVulkanDeviceError when there is no driver at all.");
  module.def(
      "vulkan_backend",
      [](const py::handle& device, const std::string& placement, bool validation) {
        const VulkanBackendOptions options = vulkan_options_from(device, placement, validation);
        const py::gil_scoped_release unlocked;
        return make_vulkan_backend(options);
      },
      py::arg("device") = py::none(), py::arg("placement") = "automatic",
      py::arg("validation") = false,
      "A Vulkan backend on the chosen device (None: the best; an index; or part of a name, "
      "as BUFFERPOOL_DEVICE). Raises NoVulkanDeviceError or BackendError.");

  py::class_<Submission>(module, "Submission",
                         "Work handed to the device by ComputeManager.submit(), not waited for.")
      .def(
          "wait",
          [](const Submission& submission) {
            const py::gil_scoped_release unlocked;
            submission.wait();
          },
          "Blocks until the work is done (without the GIL).")
      .def("done", &Submission::done, "Whether the work is done; never blocks.")
      .def_property_readonly("timeline_value", &Submission::timeline_value);

  py::class_<PyComputeManager>(
      module, "ComputeManager",
      "A device, a buffer pool on it, shader libraries, pipelines and dispatches (the "
      "design's metal_manager).\n\n"
      "    manager = bufferpool.ComputeManager()   # the best Vulkan device\n"
      "    manager.load_builtin_shader_library('kernels')\n"
      "    manager.create_compute_pipeline('kernels', 'saxpy', 'saxpy')\n"
      "    x = manager.create_buffer(numpy.ones(1000, numpy.float32))\n\n"
      "backend: 'auto' (Vulkan when a device exists, else host memory, where buffers work "
      "and shaders raise BackendError), 'vulkan' or 'host'. device: None, an index or part "
      "of a name. pool: a PoolConfig or a dict of its settings. validation=True turns on "
      "VK_LAYER_KHRONOS_validation and collects its messages in validation_messages. "
      "placement: 'automatic', 'host_visible' or 'device_local' (no buffer protocol; data "
      "goes through staging copies). Methods may be called from several threads.")
      .def(py::init([](const std::string& backend, const py::handle& device, const py::handle& pool,
                       bool validation, const std::string& placement) {
             ManagerOptions options;
             options.backend = parse_manager_backend(backend);
             options.pool = pool_config_from(pool);
             options.vulkan = vulkan_options_from(device, placement, validation);
             return std::make_unique<PyComputeManager>(options);
           }),
           py::arg("backend") = "auto", py::arg("device") = py::none(),
           py::arg("pool") = py::none(), py::kw_only(), py::arg("validation") = false,
           py::arg("placement") = "automatic")
      .def(
          "create_buffer",
          [](const py::object& self, const py::handle& data) {
            const auto& wrapper = self.cast<const PyComputeManager&>();
            ComputeManager& manager = wrapper.manager();
            if (const py::object size = integer_of(data); !size.is_none()) {
              const auto size_bytes = size.cast<std::size_t>();
              return make_buffer(wrapper.buffer_type(), self, manager.create_buffer(size_bytes));
            }
            const ContiguousBytes bytes(data, "create_buffer(data)");
            BufferRef buffer;
            {
              const py::gil_scoped_release unlocked;  // the copy, and a staging wait
              buffer = manager.create_buffer(bytes.bytes());
            }
            return make_buffer(wrapper.buffer_type(), self, std::move(buffer));
          },
          py::arg("data"),
          "A buffer from the pool holding a copy of `data` (bytes, a numpy array, any "
          "buffer-protocol object; non-contiguous arrays in C order), or of `data` bytes when "
          "it is an int (contents unspecified unless zero_on_reuse). Raises "
          "InvalidArgumentError for empty data.")
      .def(
          "upload",
          [](const PyComputeManager& self, const py::handle& buffer, const py::handle& data) {
            const BufferRef handle = require_live(buffer_arg(buffer, "upload()"), "upload()");
            const ContiguousBytes bytes(data, "upload(buffer, data)");
            const py::gil_scoped_release unlocked;
            self.manager().upload(handle, bytes.bytes());
          },
          py::arg("buffer"), py::arg("data"),
          "Copies `data` into the start of `buffer`, after any submitted work.")
      .def(
          "get_buffer_data",
          [](const PyComputeManager& self, const py::handle& buffer, const py::handle& dtype,
             const py::handle& count) {
            const BufferRef handle =
                require_live(buffer_arg(buffer, "get_buffer_data()"), "get_buffer_data()");
            const py::dtype type =
                dtype.is_none() ? py::dtype("float32")
                                : py::dtype::from_args(py::reinterpret_borrow<py::object>(dtype));
            if (type.attr("hasobject").cast<bool>()) {
              throw InvalidArgumentError("bufferpool: get_buffer_data() reads plain bytes; dtype " +
                                         py::repr(type).cast<std::string>() +
                                         " holds Python objects");
            }
            const auto item_bytes = static_cast<std::size_t>(type.itemsize());
            const std::size_t elements =
                count.is_none() ? handle.size() / item_bytes : count.cast<std::size_t>();
            py::array result(type, std::vector<py::ssize_t>{static_cast<py::ssize_t>(elements)});
            const std::span<std::byte> out(static_cast<std::byte*>(result.mutable_data()),
                                           elements * item_bytes);
            {
              const py::gil_scoped_release unlocked;  // waits for submitted work
              self.manager().get_buffer_data(handle, out);
            }
            return result;
          },
          py::arg("buffer"), py::arg("dtype") = py::none(), py::arg("count") = py::none(),
          "The first `count` elements of `buffer` (all of it by default) as a new numpy "
          "array of `dtype` (None: numpy.float32), "
          "after all submitted work ends. Raises InvalidArgumentError when count "
          "elements pass the buffer's size.")
      .def(
          "load_shader_library",
          [](const PyComputeManager& self, const std::filesystem::path& path,
             const std::string& name) {
            const py::gil_scoped_release unlocked;
            self.manager().load_shader_library(path, name);
          },
          py::arg("path"), py::arg("name"),
          "Loads compute shaders under `name`: a GLSL file (.comp, .glsl), a SPIR-V file "
          "(.spv) or a folder of them; each function is named by its file's stem. Raises "
          "ShaderCompileError with line numbers, InvalidArgumentError for a missing file.")
      .def(
          "load_shader_library_from_source",
          [](const PyComputeManager& self, const std::string& glsl, const std::string& name) {
            const py::gil_scoped_release unlocked;
            self.manager().load_shader_library_from_source(glsl, name);
          },
          py::arg("glsl"), py::arg("name"),
          "One GLSL compute shader from source; its function is 'main'.")
      .def(
          "load_builtin_shader_library",
          [](const PyComputeManager& self, const std::string& name) {
            const py::gil_scoped_release unlocked;
            self.manager().load_builtin_shader_library(name);
          },
          py::arg("name") = "builtin",
          "The built-in kernels: activation, reduce_sum, matmul, saxpy.")
      .def(
          "shader_functions",
          [](const PyComputeManager& self, const std::string& library) {
            return self.manager().shader_functions(library);
          },
          py::arg("library"))
      .def(
          "create_compute_pipeline",
          [](const PyComputeManager& self, const std::string& library, const std::string& function,
             const std::string& name) {
            const py::gil_scoped_release unlocked;
            self.manager().create_compute_pipeline(library, function, name);
          },
          py::arg("library"), py::arg("function"), py::arg("name"),
          "Makes pipeline `name` run `function` of `library`. Raises InvalidArgumentError for "
          "unknown or taken names, BackendError on the host backend.")
      .def(
          "threads_per_group",
          [](const PyComputeManager& self, const std::string& pipeline,
             const py::handle& total_threads) {
            const TotalThreads total{
                extent_from(total_threads, "total_threads").value_or(Extent3D{})};
            return extent_tuple(self.manager().threads_per_group(pipeline, total).extent());
          },
          py::arg("pipeline"), py::arg("total_threads") = py::none(),
          "The group size the manager picks for `pipeline`, as (x, y, z).")
      .def(
          "execute_shader",
          [](const PyComputeManager& self, std::string pipeline, const py::handle& inputs,
             const py::handle& outputs, const py::handle& thread_groups,
             const py::handle& threads_per_group, const py::handle& push_constants,
             const py::handle& total_threads) {
            const Dispatch dispatch =
                dispatch_from(std::move(pipeline), inputs, outputs, thread_groups,
                              threads_per_group, push_constants, total_threads);
            const py::gil_scoped_release unlocked;
            (void)run(self.manager(), dispatch, /*wait=*/true);
          },
          py::arg("name"), py::arg("inputs"), py::arg("outputs"),
          py::arg("thread_groups") = py::none(), py::arg("threads_per_group") = py::none(),
          py::arg("push_constants") = py::none(), py::kw_only(),
          py::arg("total_threads") = py::none(),
          "Runs pipeline `name` with `inputs` then `outputs` bound at bindings 0..n-1, and "
          "waits (without the GIL). Give thread_groups (an int or (x, y, z); "
          "threads_per_group too, or the manager picks it) or total_threads (the manager "
          "picks groups). push_constants: bytes, a numpy structured scalar or array, up to "
          "128 bytes laid out as the shader's push_constant block.")
      .def(
          "submit",
          [](const PyComputeManager& self, std::string pipeline, const py::handle& inputs,
             const py::handle& outputs, const py::handle& thread_groups,
             const py::handle& threads_per_group, const py::handle& push_constants,
             const py::handle& total_threads) {
            const Dispatch dispatch =
                dispatch_from(std::move(pipeline), inputs, outputs, thread_groups,
                              threads_per_group, push_constants, total_threads);
            const py::gil_scoped_release unlocked;
            return run(self.manager(), dispatch, /*wait=*/false);
          },
          py::arg("name"), py::arg("inputs"), py::arg("outputs"),
          py::arg("thread_groups") = py::none(), py::arg("threads_per_group") = py::none(),
          py::arg("push_constants") = py::none(), py::kw_only(),
          py::arg("total_threads") = py::none(),
          "As execute_shader, without waiting: returns a Submission (wait(), done()). The "
          "buffers it uses stay out of reuse until it is done; wait before reading or "
          "writing their bytes through a view.")
      .def(
          "wait_idle",
          [](const PyComputeManager& self) {
            const py::gil_scoped_release unlocked;
            self.manager().wait_idle();
          },
          "Blocks until all submitted work is done.")
      .def(
          "get_performance_metrics",
          [](const PyComputeManager& self) {
            return json_to_dict(self.manager().get_performance_metrics().to_json());
          },
          "What the manager did, as a dict; its 'buffer_pool' entry is the pool's metrics.")
      .def_property_readonly(
          "pool",
          [](const py::object& self) {
            return PyBufferPool(self.cast<const PyComputeManager&>().manager().pool(), self);
          },
          "The manager's own pool (cleanup(), clear(), metrics(), reset_peak(), get_buffer()).")
      .def_property_readonly(
          "backend_name",
          [](const PyComputeManager& self) { return self.manager().backend_name(); })
      .def_property_readonly(
          "can_execute_shaders",
          [](const PyComputeManager& self) { return self.manager().can_execute_shaders(); })
      .def_property_readonly("validation_messages", &PyComputeManager::validation_messages,
                             "Messages from the validation layer (validation=True).")
      .def(
          "sequence",
          [](const py::object& self) {
            return std::make_unique<PySequence>(
                self, self.cast<const PyComputeManager&>().manager().sequence());
          },
          "A new, empty Sequence: dispatches, uploads and copies recorded once into one "
          "command buffer and submitted together, any number of times, with stream-ordered "
          "reuse of the buffers that die inside it. Raises BackendError on the host backend.");

  py::class_<PySequence>(
      module, "Sequence",
      "Work recorded into one command buffer, made by ComputeManager.sequence(): each "
      "command runs after the ones recorded before it and sees their writes, and the whole "
      "list costs one submission.\n\n"
      "    seq = manager.sequence()\n"
      "    hidden = seq.create_buffer(n * 4)\n"
      "    seq.record('saxpy', [x, y], [hidden], total_threads=n, push_constants=p)\n"
      "    out = seq.create_buffer(n * 4)\n"
      "    seq.record('saxpy', [hidden, y], [out], total_threads=n, push_constants=p)\n"
      "    seq.execute()   # one submission, waited for (without the GIL)\n\n"
      "Commands are checked when recorded, as execute_shader checks them; the first "
      "submit() fixes the sequence, and record*() then raise UsageError. A buffer from "
      "create_buffer() that was recorded and has no other handle left may be handed out "
      "again by a later create_buffer() of the same sequence. The sequence keeps its "
      "manager alive, and holds every buffer it recorded until it goes. One thread at a "
      "time uses a sequence (others wait their turn).")
      .def(
          "create_buffer",
          [](PySequence& self, std::size_t size_bytes) {
            BufferRef buffer =
                self.locked([&](Sequence& sequence) { return sequence.create_buffer(size_bytes); });
            return make_buffer(self.manager().buffer_type(), self.manager_object(),
                               std::move(buffer));
          },
          py::arg("size"),
          "A buffer of `size` bytes for this sequence: before the first submit(), possibly "
          "the memory of one of this sequence's buffers that was recorded and whose other "
          "handles are all gone (stream-ordered reuse), else one from the manager's pool. "
          "Contents unspecified.")
      .def(
          "record",
          [](PySequence& self, std::string pipeline, const py::handle& inputs,
             const py::handle& outputs, const py::handle& thread_groups,
             const py::handle& threads_per_group, const py::handle& push_constants,
             const py::handle& total_threads) {
            const Dispatch dispatch =
                dispatch_from(std::move(pipeline), inputs, outputs, thread_groups,
                              threads_per_group, push_constants, total_threads, "Sequence.record");
            self.locked([&](Sequence& sequence) { record(sequence, dispatch); });
          },
          py::arg("name"), py::arg("inputs"), py::arg("outputs"),
          py::arg("thread_groups") = py::none(), py::arg("threads_per_group") = py::none(),
          py::arg("push_constants") = py::none(), py::kw_only(),
          py::arg("total_threads") = py::none(),
          "Records pipeline `name` with the arguments ComputeManager.execute_shader takes "
          "(thread_groups, with or without threads_per_group, or total_threads; "
          "push_constants), checked as it checks them. Raises UsageError once submitted.")
      .def(
          "record_upload",
          [](PySequence& self, const py::handle& buffer, const py::handle& data) {
            const BufferRef handle = require_live(buffer_arg(buffer, "Sequence.record_upload()"),
                                                  "Sequence.record_upload()");
            const ContiguousBytes bytes(data, "Sequence.record_upload(buffer, data)");
            self.locked([&](Sequence& sequence) {
              sequence.record_upload<std::byte>(handle, bytes.bytes());
            });
          },
          py::arg("buffer"), py::arg("data"),
          "Records a copy of `data` (bytes, a numpy array, any buffer-protocol object) into "
          "the start of `buffer`: the bytes are copied now, and from that copy into the "
          "buffer at each submission. Raises InvalidArgumentError for empty data or data "
          "larger than the buffer.")
      .def(
          "record_copy",
          [](PySequence& self, const py::handle& source, const py::handle& destination,
             std::size_t size_bytes) {
            const BufferRef from = require_live(buffer_arg(source, "Sequence.record_copy()"),
                                                "Sequence.record_copy()");
            const BufferRef to = require_live(buffer_arg(destination, "Sequence.record_copy()"),
                                              "Sequence.record_copy()");
            self.locked([&](Sequence& sequence) { sequence.record_copy(from, to, size_bytes); });
          },
          py::arg("source"), py::arg("destination"), py::arg("size_bytes"),
          "Records a copy of the first `size_bytes` of `source` to the start of "
          "`destination`.")
      .def(
          "submit",
          [](PySequence& self) {
            return self.locked([](Sequence& sequence) { return sequence.submit(); });
          },
          "Submits the recorded commands and returns a Submission at once (recording the "
          "command buffer the first time). May be called again before an earlier one is "
          "done: the device runs them in order. Raises UsageError with nothing recorded.")
      .def(
          "execute",
          [](PySequence& self) {
            const Submission submission =
                self.locked([](Sequence& sequence) { return sequence.submit(); });
            const py::gil_scoped_release unlocked;
            submission.wait();
          },
          "submit(), then waits for it (without the GIL).")
      .def_property_readonly(
          "command_count",
          [](PySequence& self) {
            return self.locked([](const Sequence& sequence) { return sequence.command_count(); });
          },
          "Commands recorded (dispatches, uploads and copies).")
      .def_property_readonly(
          "submitted",
          [](PySequence& self) {
            return self.locked([](const Sequence& sequence) { return sequence.submitted(); });
          },
          "Whether submit() was called: the sequence is then fixed.");
}

}  // namespace bufferpool::python
