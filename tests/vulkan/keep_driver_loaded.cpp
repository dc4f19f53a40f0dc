// Keeps the Vulkan driver and validation layer loaded for the whole process:
// the loader unloads them with each instance, and LeakSanitizer then cannot
// name the library behind the driver's one-time allocations, so lsan.supp
// could not suppress them by library name.
#include <dlfcn.h>

#include <initializer_list>

namespace {

[[maybe_unused]] const bool kept_loaded = [] {
  for (const char* library : {"libvulkan_lvp.so", "libVkLayer_khronos_validation.so"}) {
    (void)dlopen(library, RTLD_NOW | RTLD_NODELETE);  // absent on other drivers: fine
  }
  return true;
}();

}  // namespace
