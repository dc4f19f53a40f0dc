#include <bufferpool/pool_events.hpp>

namespace bufferpool {

const char* to_string(PoolEventKind kind) noexcept {
  switch (kind) {
    case PoolEventKind::allocate:
      return "allocate";
    case PoolEventKind::allocate_failure:
      return "allocate failure";
    case PoolEventKind::free:
      return "free";
    case PoolEventKind::free_completed:
      return "free completed";
    case PoolEventKind::evict:
      return "evict";
    case PoolEventKind::expire:
      return "expire";
    case PoolEventKind::segment_allocate:
      return "segment allocate";
    case PoolEventKind::segment_free:
      return "segment free";
  }
  return "unknown";
}

}  // namespace bufferpool
