// BufferRef in Python: the design's counted handle, and the buffer protocol,
// so that numpy.frombuffer(buffer, numpy.float32) and memoryview(buffer) see
// a host-visible buffer's bytes in place, writable.
//
// A view holds a reference of its own to the buffer (a C++ handle inside the
// Py_buffer), so the memory stays the buffer's for as long as any view is
// open, even when the Python BufferRef has been released: the view keeps the
// buffer alive, and the released BufferRef raises on use.
//
// The type is written against CPython's API (PyType_FromSpec) rather than as
// a pybind11 class, because get_buffer() makes one per request: a pybind11
// instance costs a second allocation and an entry in pybind11's registry of
// instances, several times what the pool's own hit costs.
#include "bindings.hpp"

#include <bufferpool/errors.hpp>

#include <Python.h>

#include <array>
#include <memory>
#include <new>
#include <string>

namespace bufferpool::python {
namespace {

struct BufferObject {
  PyObject_HEAD PyBufferRef buffer;
};

BufferObject* as_object(PyObject* self) noexcept { return reinterpret_cast<BufferObject*>(self); }

/// What one open view holds: its reference, and the shape and strides
/// arrays the Py_buffer points into.
struct ViewState {
  BufferRef ref;
  Py_ssize_t shape = 0;
  Py_ssize_t stride = 1;
};

void dealloc_buffer(PyObject* self) {
  PyTypeObject* type = Py_TYPE(self);
  std::destroy_at(&as_object(self)->buffer);
  type->tp_free(self);
  Py_DECREF(type);  // instances of a heap type hold a reference to it
}

PyObject* increment(PyObject* self, PyObject* /*unused*/) {
  return guarded<PyObject*>(nullptr, [self] {
    PyBufferRef& buffer = as_object(self)->buffer;
    require_live(buffer, "increment()");
    buffer.ref.increment();
    Py_RETURN_NONE;
  });
}

PyObject* decrement(PyObject* self, PyObject* /*unused*/) {
  return guarded<PyObject*>(nullptr, [self] {
    PyBufferRef& buffer = as_object(self)->buffer;
    require_live(buffer, "decrement()");
    buffer.ref.decrement();
    Py_RETURN_NONE;
  });
}

PyObject* release(PyObject* self, PyObject* /*unused*/) {
  as_object(self)->buffer.ref.reset();
  Py_RETURN_NONE;
}

PyObject* get_ref_count(PyObject* self, void* /*unused*/) {
  return PyLong_FromUnsignedLong(as_object(self)->buffer.ref.ref_count());
}

PyObject* get_size(PyObject* self, void* /*unused*/) {
  return guarded<PyObject*>(nullptr, [self] {
    return PyLong_FromSize_t(require_live(as_object(self)->buffer, "size").size());
  });
}

PyObject* get_capacity(PyObject* self, void* /*unused*/) {
  return guarded<PyObject*>(nullptr, [self] {
    return PyLong_FromSize_t(require_live(as_object(self)->buffer, "capacity").capacity());
  });
}

PyObject* get_host_visible(PyObject* self, void* /*unused*/) {
  return guarded<PyObject*>(nullptr, [self] {
    return PyBool_FromLong(
        require_live(as_object(self)->buffer, "host_visible").host_visible() ? 1 : 0);
  });
}

PyObject* get_released(PyObject* self, void* /*unused*/) {
  return PyBool_FromLong(as_object(self)->buffer.ref ? 0 : 1);
}

PyObject* get_offset_bytes(PyObject* self, void* /*unused*/) {
  return guarded<PyObject*>(nullptr, [self] {
    return PyLong_FromSize_t(require_live(as_object(self)->buffer, "offset_bytes").offset_bytes());
  });
}

Py_ssize_t length(PyObject* self) {
  return guarded<Py_ssize_t>(-1, [self] {
    return static_cast<Py_ssize_t>(require_live(as_object(self)->buffer, "len()").size());
  });
}

int is_live(PyObject* self) { return as_object(self)->buffer.ref ? 1 : 0; }

PyObject* describe(PyObject* self) {
  const BufferRef& ref = as_object(self)->buffer.ref;
  if (!ref) return PyUnicode_FromString("<bufferpool.BufferRef released>");
  const std::string text = "<bufferpool.BufferRef size=" + std::to_string(ref.size()) +
                           " capacity=" + std::to_string(ref.capacity()) +
                           " ref_count=" + std::to_string(ref.ref_count()) + ">";
  return PyUnicode_FromStringAndSize(text.data(), static_cast<Py_ssize_t>(text.size()));
}

int get_view(PyObject* exporter, Py_buffer* view, int flags) {
  view->obj = nullptr;
  return guarded<int>(-1, [exporter, view, flags] {
    const BufferRef& ref =
        require_live(as_object(exporter)->buffer, "the buffer protocol (memoryview, numpy)");
    if (!ref.host_visible()) {
      throw UsageError(
          "bufferpool: the buffer protocol needs host-visible memory, and this buffer is "
          "device-local (Vulkan, placement 'device_local' or a GPU without host-visible "
          "device memory); read it with ComputeManager.get_buffer_data() and write it with "
          "ComputeManager.upload()");
    }
    auto state = std::make_unique<ViewState>();
    state->ref = ref;
    state->shape = static_cast<Py_ssize_t>(ref.size());
    view->buf = ref.data();
    view->obj = Py_NewRef(exporter);
    view->len = state->shape;
    view->readonly = 0;
    view->itemsize = 1;
    // Unsigned bytes; numpy.frombuffer and memoryview.cast reinterpret them.
    view->format = (flags & PyBUF_FORMAT) == PyBUF_FORMAT ? const_cast<char*>("B") : nullptr;
    view->ndim = 1;
    view->shape = (flags & PyBUF_ND) == PyBUF_ND ? &state->shape : nullptr;
    view->strides = (flags & PyBUF_STRIDES) == PyBUF_STRIDES ? &state->stride : nullptr;
    view->suboffsets = nullptr;
    view->internal = state.release();
    return 0;
  });
}

void release_view(PyObject* /*exporter*/, Py_buffer* view) {
  // Dropping the view's reference may hand the buffer back to its pool.
  const std::unique_ptr<ViewState> state(static_cast<ViewState*>(view->internal));
  view->internal = nullptr;
}

constexpr const char* kBufferDoc =
    "A counted handle to a pooled buffer, from BufferPool.get_buffer() or "
    "ComputeManager.create_buffer(). The count is the buffer's: this handle's reference, "
    "plus each increment() not yet matched by a decrement(), plus one per open memoryview "
    "or numpy array over it. The buffer goes back to its pool when the count reaches zero.\n\n"
    "    buffer = pool.get_buffer(1024)  # ref_count == 1\n"
    "    buffer.increment()              # 2\n"
    "    buffer.decrement()              # 1\n"
    "    buffer.decrement()              # 0: back in the pool, handle released\n\n"
    "Host-visible buffers support the buffer protocol: numpy.frombuffer(buffer, "
    "numpy.float32) is a writable view of its bytes, no copy. A released handle raises "
    "UsageError on use; views already open keep the buffer alive.";

}  // namespace

const BufferRef& require_live(const PyBufferRef& buffer, const char* operation) {
  if (!buffer.ref) {
    throw UsageError(std::string("bufferpool: ") + operation +
                     " on a released BufferRef (its last reference was dropped, by "
                     "decrement(), release() or the end of an autoreleasepool); keep a "
                     "reference with increment() while you still use it");
  }
  return buffer.ref;
}

py::object buffer_type() { return py::module_::import("bufferpool").attr("BufferRef"); }

py::object make_buffer(const py::object& type, py::object owner, BufferRef ref) {
  auto* type_object = reinterpret_cast<PyTypeObject*>(type.ptr());
  PyObject* self = type_object->tp_alloc(type_object, 0);
  if (self == nullptr) throw py::error_already_set();  // the reference goes back with `ref`
  new (&as_object(self)->buffer) PyBufferRef{std::move(owner), std::move(ref)};
  return py::reinterpret_steal<py::object>(self);
}

PyBufferRef* buffer_of(const py::handle& object) noexcept {
  // The type is final, so its deallocator tells its instances apart.
  if (!object || Py_TYPE(object.ptr())->tp_dealloc != &dealloc_buffer) return nullptr;
  return &as_object(object.ptr())->buffer;
}

PyBufferRef& buffer_arg(const py::handle& object, const char* what) {
  PyBufferRef* buffer = buffer_of(object);
  if (buffer == nullptr) {
    throw InvalidArgumentError(std::string("bufferpool: ") + what + " takes a BufferRef, got " +
                               py::repr(object).cast<std::string>());
  }
  return *buffer;
}

void bind_buffer(py::module_& module) {
  // CPython keeps pointers into the method and property tables for the
  // type's lifetime, which is the process's (an extension module is never
  // unloaded); it copies the slots.
  static std::array<PyMethodDef, 4> methods{{
      {"increment", &increment, METH_NOARGS,
       "Adds an explicit reference. Raises UsageError on a released handle."},
      {"decrement", &decrement, METH_NOARGS,
       "Drops an explicit reference if there is one, else this handle's own, which releases "
       "the handle. The buffer goes back to the pool at zero. Raises UsageError on a released "
       "handle (a decrement past zero)."},
      {"release", &release, METH_NOARGS,
       "Drops this handle's own reference now (explicit increments stay); the handle is "
       "released. Does nothing on a released handle."},
      {nullptr, nullptr, 0, nullptr},
  }};
  static std::array<PyGetSetDef, 7> properties{{
      {"ref_count", &get_ref_count, nullptr,
       "References to the buffer; 0 once this handle is released.", nullptr},
      {"size", &get_size, nullptr, "Bytes asked for.", nullptr},
      {"capacity", &get_capacity, nullptr,
       "Bytes usable: at least size, rounded up to the backend's alignment.", nullptr},
      {"host_visible", &get_host_visible, nullptr,
       "Whether the buffer protocol works (the memory is mapped).", nullptr},
      {"released", &get_released, nullptr, "Whether this handle's reference is gone.", nullptr},
      {"offset_bytes", &get_offset_bytes, nullptr, "Where the buffer starts in its segment.",
       nullptr},
      {nullptr, nullptr, nullptr, nullptr, nullptr},
  }};
  std::array<PyType_Slot, 10> slots{{
      {Py_tp_dealloc, reinterpret_cast<void*>(&dealloc_buffer)},
      {Py_tp_methods, methods.data()},
      {Py_tp_getset, properties.data()},
      {Py_tp_repr, reinterpret_cast<void*>(&describe)},
      {Py_tp_doc, const_cast<char*>(kBufferDoc)},
      {Py_nb_bool, reinterpret_cast<void*>(&is_live)},
      {Py_sq_length, reinterpret_cast<void*>(&length)},
      {Py_bf_getbuffer, reinterpret_cast<void*>(&get_view)},
      {Py_bf_releasebuffer, reinterpret_cast<void*>(&release_view)},
      {0, nullptr},
  }};
  PyType_Spec spec{"bufferpool.BufferRef", static_cast<int>(sizeof(BufferObject)), 0,
                   Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, slots.data()};
  PyObject* type = PyType_FromSpec(&spec);
  if (type == nullptr) throw py::error_already_set();
  module.add_object("BufferRef", py::reinterpret_steal<py::object>(type));
}

}  // namespace bufferpool::python
