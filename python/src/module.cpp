// The `bufferpool` Python module: the C++ library's pool, buffers, scopes
// and ComputeManager, with numpy views of buffer memory.
#include "bindings.hpp"

PYBIND11_MODULE(bufferpool, module) {
  module.doc() =
      "GPU buffer pooling: reference-counted buffers, size classes, auto-release pools, "
      "TTL cleanup, limits and metrics, over Vulkan or host memory. See docs/python.md.";
  module.attr("__version__") = BUFFERPOOL_VERSION;
  bufferpool::python::bind_errors(module);
  bufferpool::python::bind_config(module);
  bufferpool::python::bind_buffer(module);
  bufferpool::python::bind_pool(module);
  bufferpool::python::bind_observe(module);
#if BUFFERPOOL_PYTHON_VULKAN
  bufferpool::python::bind_manager(module);
#endif
  // Whether ComputeManager, vulkan_backend() and list_vulkan_devices() exist:
  // a build without bufferpool::vulkan (BUFFERPOOL_WITH_VULKAN=OFF) has the
  // pool and host memory only.
  module.attr("has_vulkan") = static_cast<bool>(BUFFERPOOL_PYTHON_VULKAN);
}
