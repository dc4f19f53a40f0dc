// The C++ errors as Python exceptions. Each C++ class has a Python class of
// the same name under bufferpool.Error, and also derives from the built-in
// exception a Python caller would catch for it (MemoryError, ValueError).
#include "bindings.hpp"

#include <bufferpool/errors.hpp>
#include <bufferpool/trace.hpp>
#if BUFFERPOOL_PYTHON_VULKAN
#include <bufferpool/shader_compile_error.hpp>
#include <bufferpool/vulkan.hpp>
#endif

#include <pybind11/stl.h>

#include <Python.h>

namespace bufferpool::python {
namespace {

struct ErrorClass {
  const char* name;
  const char* base;  // another class of the module, or "" for Error's own bases
  PyObject* builtin_base;
  const char* doc;
};

// Bases before subclasses, so that each base exists when its subclasses are made.
std::vector<ErrorClass> error_classes() {
  return {
      {"Error", "", PyExc_Exception, "Base of every error bufferpool raises."},
      {"ConfigError", "Error", PyExc_ValueError,
       "A setting of a PoolConfig (or another option) makes no sense; the message names it."},
      {"InvalidArgumentError", "Error", PyExc_ValueError,
       "A call got an argument it cannot serve: size 0, a size too large for the device, "
       "an unknown name."},
      {"UsageError", "Error", nullptr,
       "The API was used against its contract: a released BufferRef used, a decrement past "
       "zero."},
      {"OutOfMemoryError", "Error", PyExc_MemoryError,
       "Memory could not be had: memory_limit, the device, or a scope's budget. Attributes: "
       "requested_bytes, limit_bytes (0 when the device ran out), in_use_bytes, details."},
      {"TraceError", "Error", PyExc_ValueError,
       "A recorded trace could not be read; the message names the file and line."},
      {"BackendError", "Error", nullptr,
       "The driver, the device or the shader compiler failed for a reason other than memory."},
      {"NoVulkanDeviceError", "BackendError", nullptr,
       "No Vulkan driver at all; the message says how to install lavapipe."},
      {"ShaderCompileError", "BackendError", nullptr,
       "A shader did not compile; the message has the compiler's line-numbered errors."},
  };
}

py::dict details_as_dict(const OutOfMemoryDetails& details) {
  py::dict result;
  result["idle_bytes_per_class"] = py::cast(details.idle_bytes_per_class);
  result["free_bytes_in_segments"] = details.free_bytes_in_segments;
  result["largest_free_block_bytes"] = details.largest_free_block_bytes;
  result["rounding_padding_bytes"] = details.rounding_padding_bytes;
  result["pending_bytes"] = details.pending_bytes;
  result["device_allocations"] = details.device_allocations;
  result["device_allocation_limit"] = details.device_allocation_limit;
  result["device_budget_bytes"] = py::cast(details.device_budget_bytes);
  result["device_usage_bytes"] = py::cast(details.device_usage_bytes);
  result["scope_name"] = details.scope_name;
  return result;
}

// Raises module.<name>(what), with `decorate` adding attributes first.
template <typename Decorate>
void raise_module_error(const char* name, const char* what, Decorate decorate) {
  const py::object type = py::module_::import("bufferpool").attr(name);
  py::object error = type(what);
  decorate(error);
  PyErr_SetObject(type.ptr(), error.ptr());
}

void raise_module_error(const char* name, const char* what) {
  raise_module_error(name, what, [](py::object&) {});
}

// Most derived first: a ShaderCompileError is also a BackendError.
void translate(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
#if BUFFERPOOL_PYTHON_VULKAN
  } catch (const ShaderCompileError& e) {
    raise_module_error("ShaderCompileError", e.what());
  } catch (const NoVulkanDeviceError& e) {
    raise_module_error("NoVulkanDeviceError", e.what());
#endif
  } catch (const BackendError& e) {
    raise_module_error("BackendError", e.what());
  } catch (const OutOfMemoryError& e) {
    raise_module_error("OutOfMemoryError", e.what(), [&e](py::object& exception) {
      exception.attr("requested_bytes") = e.requested_bytes();
      exception.attr("limit_bytes") = e.limit_bytes();
      exception.attr("in_use_bytes") = e.in_use_bytes();
      exception.attr("details") = details_as_dict(e.details());
    });
  } catch (const ConfigError& e) {
    raise_module_error("ConfigError", e.what());
  } catch (const InvalidArgumentError& e) {
    raise_module_error("InvalidArgumentError", e.what());
  } catch (const UsageError& e) {
    raise_module_error("UsageError", e.what());
  } catch (const TraceError& e) {
    raise_module_error("TraceError", e.what());
  } catch (const Error& e) {
    raise_module_error("Error", e.what());
  }
}

}  // namespace

void set_python_error(const std::exception_ptr& error) noexcept {
  try {
    // Sets the Python error for ours; rethrows anything else.
    translate(error);
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (const std::exception& e) {
    if (PyErr_Occurred() == nullptr) PyErr_SetString(PyExc_RuntimeError, e.what());
  } catch (...) {
    if (PyErr_Occurred() == nullptr) {
      PyErr_SetString(PyExc_RuntimeError, "bufferpool: unknown C++ exception");
    }
  }
}

void bind_errors(py::module_& module) {
  for (const ErrorClass& entry : error_classes()) {
    py::list bases;
    if (entry.base[0] != '\0') bases.append(module.attr(entry.base));
    if (entry.builtin_base != nullptr) bases.append(py::handle(entry.builtin_base));
    const std::string qualified = std::string("bufferpool.") + entry.name;
    PyObject* type =
        PyErr_NewExceptionWithDoc(qualified.c_str(), entry.doc, py::tuple(bases).ptr(), nullptr);
    if (type == nullptr) throw py::error_already_set();
    module.add_object(entry.name, py::reinterpret_steal<py::object>(type));
  }
  // pybind11 runs the newest translator first; one that rethrows passes the
  // exception on to the next, and pybind11's own handle the rest.
  // NOLINTNEXTLINE(performance-unnecessary-value-param): pybind11's translator type takes it so
  py::register_exception_translator([](std::exception_ptr error) {
    if (error) translate(error);
  });
}

}  // namespace bufferpool::python
