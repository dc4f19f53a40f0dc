// What the binding sources share: the Python-side objects that wrap the C++
// API, and the functions that register each part of the module.
#pragma once

#include <bufferpool/buffer.hpp>
#include <bufferpool/config.hpp>
#include <bufferpool/pool.hpp>
#if BUFFERPOOL_PYTHON_VULKAN
#include <bufferpool/manager.hpp>
#endif

#include <pybind11/pybind11.h>

#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace bufferpool::python {

namespace py = pybind11;

/// A BufferRef as Python holds it. `owner` is the Python object the buffer
/// came from (a ComputeManager, or the one a BufferPool draws on): holding it
/// keeps the device the buffer lives on alive for as long as the buffer is
/// reachable from Python, whatever order the garbage collector frees things
/// in.
///
/// Only touched with the GIL held: a C++ handle is not itself thread-safe,
/// so calls that release the GIL work on copies of `ref`.
struct PyBufferRef {
  // Members go in reverse order: the buffer before the device it lives on.
  py::object owner;
  BufferRef ref;
};

// Python BufferRef objects are a CPython type of their own rather than a
// pybind11 class: making one on the hit path then costs one allocation,
// without pybind11's instance registry (docs/benchmarks.md, "Python").

/// The type bufferpool.BufferRef, made by bind_buffer(). Looks it up in the
/// module: call it once per pool or manager, not per buffer.
[[nodiscard]] py::object buffer_type();
/// A new Python BufferRef of `type` (what buffer_type() returned).
[[nodiscard]] py::object make_buffer(const py::object& type, py::object owner, BufferRef ref);
/// The handle inside a Python BufferRef, or nullptr when `object` is not one.
[[nodiscard]] PyBufferRef* buffer_of(const py::handle& object) noexcept;
/// As buffer_of(), but raises InvalidArgumentError naming `what` when
/// `object` is not a BufferRef.
[[nodiscard]] PyBufferRef& buffer_arg(const py::handle& object, const char* what);

/// A BufferPool as Python holds it: its own pool, or a ComputeManager's
/// (`manager.pool`). `keep_alive` is the Python object whose device or pool
/// this uses, so that it outlives the pool.
class PyBufferPool {
 public:
  PyBufferPool(std::unique_ptr<BufferPool> owned, py::object keep_alive)
      : keep_alive_(std::move(keep_alive)),
        buffer_type_(buffer_type()),
        owned_(std::move(owned)),
        pool_(owned_.get()),
        zero_on_reuse_(pool_->config().zero_on_reuse) {}
  PyBufferPool(BufferPool& borrowed, py::object keep_alive)
      : keep_alive_(std::move(keep_alive)),
        buffer_type_(buffer_type()),
        pool_(&borrowed),
        zero_on_reuse_(pool_->config().zero_on_reuse) {}

  [[nodiscard]] BufferPool& pool() const noexcept { return *pool_; }
  /// A buffer from the pool as a Python BufferRef. Holds the GIL: a hit
  /// costs less than letting it go would. With zero_on_reuse, zeroing
  /// device-local memory waits for the device, so the GIL is released then.
  [[nodiscard]] py::object get_buffer(std::size_t size_bytes) const {
    if (!zero_on_reuse_)
      return make_buffer(buffer_type_, keep_alive_, pool_->get_buffer(size_bytes));
    BufferRef buffer;
    {
      const py::gil_scoped_release unlocked;
      buffer = pool_->get_buffer(size_bytes);
    }
    return make_buffer(buffer_type_, keep_alive_, std::move(buffer));
  }

 private:
  // Declared first, destroyed last: the pool goes before what it draws on.
  // None for a pool that owns its backend: the C++ pool keeps that alive
  // for its buffers.
  py::object keep_alive_;
  py::object buffer_type_;
  std::unique_ptr<BufferPool> owned_;
  BufferPool* pool_;
  bool zero_on_reuse_;
};

#if BUFFERPOOL_PYTHON_VULKAN
/// A ComputeManager as Python holds it, with the validation messages it got
/// when made with validation=True.
class PyComputeManager {
 public:
  /// Makes the device with the GIL released.
  explicit PyComputeManager(const ManagerOptions& options);

  [[nodiscard]] ComputeManager& manager() const noexcept { return *manager_; }
  [[nodiscard]] const py::object& buffer_type() const noexcept { return buffer_type_; }
  /// Called from any thread the driver chooses, without the GIL.
  void add_validation_message(const std::string& message);
  [[nodiscard]] std::vector<std::string> validation_messages() const;

 private:
  py::object buffer_type_;
  mutable std::mutex messages_mutex_;
  std::vector<std::string> messages_;
  std::unique_ptr<ComputeManager> manager_;
};
#endif

/// The handle inside a Python BufferRef; a released one raises UsageError
/// naming `operation`.
const BufferRef& require_live(const PyBufferRef& buffer, const char* operation);

/// Raises the current C++ exception as the module's Python exception of the
/// same kind (with OutOfMemoryError's figures as attributes). For places
/// pybind11's translation does not reach (the buffer protocol's slots).
void set_python_error(const std::exception_ptr& error) noexcept;

/// Runs `body` for a function called by CPython directly, turning a C++
/// exception into the module's Python exception and returning `failed`.
template <typename Result, typename Body>
Result guarded(Result failed, Body body) noexcept {
  try {
    return body();
  } catch (...) {
    set_python_error(std::current_exception());
    return failed;
  }
}

/// `value` as a Python int when it is an integer: an int or a numpy integer
/// scalar, not a bool (True is not a size) nor an array. None otherwise.
[[nodiscard]] py::object integer_of(const py::handle& value);

/// Applies keyword settings (`max_pool_size=32, ttl=15.0`) to a config.
/// Throws ConfigError for an unknown name or a value of the wrong type.
void apply_pool_settings(PoolConfig& config, const py::dict& settings);
/// A config from None, a PoolConfig or a dict of settings.
PoolConfig pool_config_from(const py::handle& value);
#if BUFFERPOOL_PYTHON_VULKAN
/// Vulkan options from the keyword arguments ComputeManager and
/// vulkan_backend() take: device (None, an index or part of a name),
/// placement ('automatic', 'host_visible', 'device_local') and validation.
VulkanBackendOptions vulkan_options_from(const py::handle& device, const std::string& placement,
                                         bool validation);
#endif
/// A metrics JSON object as a Python dict.
py::dict json_to_dict(const std::string& json);

void bind_errors(py::module_& module);
void bind_config(py::module_& module);
void bind_buffer(py::module_& module);
void bind_pool(py::module_& module);
/// Adds snapshot(), live_buffers(), recording and observers to BufferPool;
/// call after bind_pool().
void bind_observe(py::module_& module);
#if BUFFERPOOL_PYTHON_VULKAN
void bind_manager(py::module_& module);
#endif

}  // namespace bufferpool::python
