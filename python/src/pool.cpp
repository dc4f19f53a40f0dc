// BufferPool, backends and the auto-release pool in Python.
#include "bindings.hpp"

#include <bufferpool/backend.hpp>
#include <bufferpool/backend_adaptors.hpp>
#include <bufferpool/errors.hpp>
#include <bufferpool/host_backend.hpp>
#if BUFFERPOOL_PYTHON_VULKAN
#include <bufferpool/vulkan.hpp>
#endif

#include <pybind11/stl.h>

#include <Python.h>

#include <memory>
#include <string>
#include <vector>

namespace bufferpool::python {
namespace {

/// The design's auto-release pool (its `metal_autoreleasepool()`):
///
///     with bufferpool.autoreleasepool() as pool:
///         buffer = manager.create_buffer(data)
///         pool.add(buffer)
///     # buffer is released here, also when the block raised
///
/// add() hands the pool one reference of the buffer, as autorelease does in
/// Objective-C: when the block ends, the pool drops it (one decrement()
/// per add()), which releases the Python handle unless explicit increments
/// remain. A Python variable outlives its block, so this, and not an extra
/// reference as in C++'s AutoReleaseScope, is what makes the buffer go back
/// at the end of the `with`. Pools nest: each drops what was added to it.
class PyAutoReleasePool {
 public:
  py::object add(const py::object& buffer) {
    require_live(buffer_arg(buffer, "autoreleasepool.add()"), "autoreleasepool.add()");
    held_.push_back(buffer);
    return buffer;
  }

  /// Drops every reference added, newest first. A buffer whose handle was
  /// already released by its owner is a double release: the others are
  /// still dropped, then UsageError says how many.
  void drain() {
    std::size_t already_released = 0;
    while (!held_.empty()) {
      const py::object buffer = std::move(held_.back());
      held_.pop_back();
      PyBufferRef& handle = *buffer_of(buffer);
      if (handle.ref) {
        handle.ref.decrement();
      } else {
        ++already_released;
      }
    }
    if (already_released > 0) {
      throw UsageError("bufferpool: " + std::to_string(already_released) +
                       " buffer(s) added to an autoreleasepool were released before it ended "
                       "(decrement() or release() after add()); the pool drops the reference "
                       "add() gave it, so leave that one to the pool, or increment() first");
    }
  }

  [[nodiscard]] std::size_t size() const noexcept { return held_.size(); }

 private:
  std::vector<py::object> held_;
};

// get_buffer(size_bytes) is the hit path, so it is a method of CPython's
// fast-call convention rather than a pybind11 function, whose argument
// dispatch alone costs more than the pool's hit and the new BufferRef
// together (docs/benchmarks.md, "Python").
PyObject* get_buffer_method(PyObject* self, PyObject* const* args, Py_ssize_t positional,
                            PyObject* keywords) {
  return guarded<PyObject*>(nullptr, [=]() -> PyObject* {
    const Py_ssize_t keyword_count = keywords == nullptr ? 0 : PyTuple_GET_SIZE(keywords);
    const bool by_keyword =
        positional == 0 && keyword_count == 1 &&
        PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(keywords, 0), "size_bytes") == 0;
    if (!(positional == 1 && keyword_count == 0) && !by_keyword) {
      PyErr_SetString(PyExc_TypeError, "BufferPool.get_buffer() takes one argument, size_bytes");
      return nullptr;
    }
    PyObject* size = args[0];
    // An int is the hit path; numpy integers and the rest take the long way.
    py::object integer;
    if (!PyLong_Check(size) || PyBool_Check(size)) {
      integer = integer_of(size);
      if (integer.is_none()) {
        PyErr_Format(PyExc_TypeError, "BufferPool.get_buffer(): size_bytes must be an int, not %s",
                     Py_TYPE(size)->tp_name);
        return nullptr;
      }
      size = integer.ptr();
    }
    const std::size_t size_bytes = PyLong_AsSize_t(size);
    if (size_bytes == static_cast<std::size_t>(-1) && PyErr_Occurred() != nullptr) {
      PyErr_Clear();
      throw InvalidArgumentError("bufferpool: get_buffer() of " +
                                 py::repr(size).cast<std::string>() +
                                 " bytes; ask for 1 byte or more");
    }
    // The method's descriptor has checked that `self` is a BufferPool, a
    // final class, so its C++ object is the instance's first value: read it
    // there rather than through pybind11's cast, whose type lookup (hashing
    // the type's name) is a fifth of this call.
    auto* instance = reinterpret_cast<py::detail::instance*>(self);
    const auto holder = instance->get_value_and_holder();
    if (!holder.holder_constructed()) {
      PyErr_SetString(PyExc_TypeError, "BufferPool.get_buffer(): the pool's __init__ never ran");
      return nullptr;
    }
    const auto* pool = static_cast<const PyBufferPool*>(holder.value_ptr());
    return pool->get_buffer(size_bytes).release().ptr();
  });
}

// keep_alive is set for a ComputeManager source, which a build without Vulkan has none of.
std::shared_ptr<Backend> backend_from(const py::handle& source,
                                      [[maybe_unused]] py::object& keep_alive) {
  if (source.is_none()) return make_host_backend();
  if (py::isinstance<Backend>(source)) return source.cast<std::shared_ptr<Backend>>();
#if BUFFERPOOL_PYTHON_VULKAN
  if (py::isinstance<PyComputeManager>(source)) {
    // The manager's device, without owning it: the pool, and every buffer
    // from it, hold the manager's Python object instead.
    keep_alive = py::reinterpret_borrow<py::object>(source);
    Backend& device = source.cast<PyComputeManager&>().manager().pool().backend();
    return {std::shared_ptr<Backend>{}, &device};
  }
  if (py::isinstance<py::str>(source)) {
    const auto name = source.cast<std::string>();
    if (name == "host") return make_host_backend();
    if (name == "vulkan") {
      const py::gil_scoped_release unlocked;
      return make_vulkan_backend();
    }
  }
#else
  if (py::isinstance<py::str>(source) && source.cast<std::string>() == "host") {
    return make_host_backend();
  }
#endif
  throw InvalidArgumentError(
      "bufferpool: BufferPool(source) takes None (host memory), 'host', 'vulkan', a Backend "
      "(bufferpool.host_backend(), bufferpool.vulkan_backend()) or a ComputeManager (its "
      "device; Vulkan ones need a build with bufferpool::vulkan, bufferpool.has_vulkan), "
      "got " +
      py::repr(source).cast<std::string>());
}

py::dict live_counts(const CountingBackend& backend) {
  py::dict result;
  result["live_allocations"] = backend.live_allocations();
  result["live_bytes"] = backend.live_bytes();
  result["peak_live_bytes"] = backend.peak_live_bytes();
  result["total_allocations"] = backend.total_allocations();
  result["total_frees"] = backend.total_frees();
  return result;
}

}  // namespace

void bind_pool(py::module_& module) {
  py::class_<Backend, std::shared_ptr<Backend>>(
      module, "Backend",
      "Where a pool's memory comes from: bufferpool.host_backend() or "
      "bufferpool.vulkan_backend().")
      .def_property_readonly("name", &Backend::name)
      .def_property_readonly("buffer_alignment_bytes", &Backend::buffer_alignment_bytes)
      .def_property_readonly("max_allocation_bytes", &Backend::max_allocation_bytes)
      .def_property_readonly("max_live_allocations", &Backend::max_live_allocations)
      .def("__repr__",
           [](const Backend& backend) { return "<bufferpool.Backend " + backend.name() + ">"; });

  module.def(
      "host_backend",
      [](std::size_t alignment_bytes) {
        return make_host_backend(HostBackendOptions{.alignment_bytes = alignment_bytes});
      },
      py::arg("alignment_bytes") = 64, "Aligned host memory.");

  py::class_<CountingBackend, Backend, std::shared_ptr<CountingBackend>>(
      module, "CountingBackend",
      "Forwards to another backend and counts what goes through, so that a test sees "
      "live_allocations back at 0 once everything is released.")
      .def(py::init<std::shared_ptr<Backend>>(), py::arg("upstream"))
      .def_property_readonly("live_allocations", &CountingBackend::live_allocations)
      .def_property_readonly("live_bytes", &CountingBackend::live_bytes)
      .def_property_readonly("peak_live_bytes", &CountingBackend::peak_live_bytes)
      .def_property_readonly("total_allocations", &CountingBackend::total_allocations)
      .def_property_readonly("total_frees", &CountingBackend::total_frees)
      .def("counts", &live_counts, "Every count as a dict.");

  auto pool_class =
      py::class_<PyBufferPool>(
          module, "BufferPool", py::is_final(),
          "A thread-safe cache of buffers from one backend.\n\n"
          "    pool = bufferpool.BufferPool(manager, max_pool_size=32, ttl=15.0, "
          "cleanup_interval=30.0)\n"
          "    buffer = pool.get_buffer(1024)\n\n"
          "`source` is None (host memory), a Backend, 'host', 'vulkan', or a ComputeManager "
          "(a pool of its own on the manager's device). Settings are PoolConfig's, by keyword, "
          "times in seconds; `config` gives a whole PoolConfig that they then override. Raises "
          "ConfigError for a setting that makes no sense.")
          .def(py::init([](const py::handle& source, const py::handle& config,
                           const py::kwargs& settings_given) {
                 PoolConfig settings = pool_config_from(config);
                 apply_pool_settings(settings, settings_given);
                 py::object keep_alive = py::none();
                 std::shared_ptr<Backend> backend = backend_from(source, keep_alive);
                 return PyBufferPool(
                     std::make_unique<BufferPool>(std::move(backend), std::move(settings)),
                     std::move(keep_alive));
               }),
               py::arg("source") = py::none(), py::kw_only(), py::arg("config") = py::none())
          .def(
              "cleanup",
              [](const PyBufferPool& pool) {
                const py::gil_scoped_release unlocked;
                return pool.pool().cleanup();
              },
              "Frees idle buffers past their TTL now; returns how many.")
          .def(
              "clear",
              [](const PyBufferPool& pool) {
                const py::gil_scoped_release unlocked;
                return pool.pool().clear();
              },
              "Frees every idle buffer; returns how many.")
          .def(
              "metrics",
              [](const PyBufferPool& pool) {
                return json_to_dict(pool.pool().metrics().to_json());
              },
              "The pool's counters as a dict (the keys of PoolMetrics::to_json()): hits, misses, "
              "hit_rate, current_bytes_allocated, peak_bytes_allocated, size_classes, ...")
          .def(
              "reset_peak", [](const PyBufferPool& pool) { pool.pool().reset_peak(); },
              "Sets peak_bytes_allocated to the bytes held now.")
          .def(
              "capacity_for",
              [](const PyBufferPool& pool, std::size_t size_bytes) {
                return pool.pool().capacity_for(size_bytes);
              },
              py::arg("size_bytes"), "The capacity a fresh buffer for size_bytes gets.")
          .def(
              "check_segments",
              [](const PyBufferPool& pool) { return pool.pool().check_segments(); },
              "'' when the pool's memory is consistent, else the first broken invariant.")
          .def_property_readonly(
              "config", [](const PyBufferPool& pool) { return pool.pool().config(); },
              "A copy of the pool's settings.")
          .def_property_readonly(
              "backend_name", [](const PyBufferPool& pool) { return pool.pool().backend().name(); })
          .def("__repr__", [](const PyBufferPool& pool) {
            return "<bufferpool.BufferPool on " + pool.pool().backend().name() + ">";
          });

  // CPython keeps a pointer to the method's definition for the process's
  // lifetime (an extension module is never unloaded).
  static PyMethodDef get_buffer_definition{
      "get_buffer", reinterpret_cast<PyCFunction>(reinterpret_cast<void*>(&get_buffer_method)),
      METH_FASTCALL | METH_KEYWORDS,
      "get_buffer(size_bytes)\n--\n\n"
      "A buffer of at least size_bytes with ref_count 1. Raises InvalidArgumentError for 0 or "
      "a size the backend cannot hold, OutOfMemoryError when memory_limit or the device "
      "leaves no room even after freeing every idle buffer."};
  auto* pool_type = reinterpret_cast<PyTypeObject*>(pool_class.ptr());
  PyObject* get_buffer = PyDescr_NewMethod(pool_type, &get_buffer_definition);
  if (get_buffer == nullptr) throw py::error_already_set();
  pool_class.attr("get_buffer") = py::reinterpret_steal<py::object>(get_buffer);

  py::class_<PyAutoReleasePool>(
      module, "AutoReleasePool",
      "The design's auto-release pool; make one with bufferpool.autoreleasepool().\n\n"
      "add(buffer) hands the pool one reference of the buffer, dropped (one decrement) when "
      "the `with` block ends, also by an exception: the buffer is released there unless "
      "explicit increments remain. Pools nest; each drops what was added to it.")
      .def(py::init<>())
      .def("add", &PyAutoReleasePool::add, py::arg("buffer"),
           "Hands over one reference of `buffer`; returns the buffer. Raises UsageError for a "
           "released buffer.")
      .def("drain", &PyAutoReleasePool::drain,
           "Drops the references added so far, newest first; the pool stays usable.")
      .def("__len__", &PyAutoReleasePool::size)
      .def("__enter__", [](const py::object& self) { return self; })
      .def(
          "__exit__",
          [](PyAutoReleasePool& pool, const py::handle&, const py::handle&, const py::handle&) {
            pool.drain();
            return false;
          },
          "Drains the pool; never swallows the block's exception.");
  module.def(
      "autoreleasepool", [] { return PyAutoReleasePool{}; },
      "A new auto-release pool for a `with` block (the design's metal_autoreleasepool()).");
}

}  // namespace bufferpool::python
