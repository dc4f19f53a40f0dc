#include <bufferpool/backend.hpp>
#include <bufferpool/errors.hpp>

#include <cstring>

namespace bufferpool {

void Backend::fill_zero(const Allocation& allocation, std::size_t offset_bytes,
                        std::size_t size_bytes) {
  if (allocation.host_ptr == nullptr) {
    throw BackendError("bufferpool: the " + name() +
                       " backend cannot zero memory the host cannot reach (device-local): "
                       "Backend::fill_zero writes through Allocation::host_ptr, so a backend "
                       "with device-local memory must override it");
  }
  std::memset(allocation.host_ptr + offset_bytes, 0, size_bytes);
}

}  // namespace bufferpool
