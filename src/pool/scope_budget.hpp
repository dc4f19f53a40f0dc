// What the pool and AutoReleaseScope share about scopes: how many scopes with
// a budget are open on this thread (part of the per-thread scope stack), and
// a way to the pool of a handle a scope holds.
#pragma once

#include <bufferpool/buffer.hpp>

namespace bufferpool::detail {

class PoolCore;

/// Open AutoReleaseScopes with a budget on this thread. A request checks
/// budgets only when it is not zero: one thread-local load on the hit path.
inline constinit thread_local unsigned budgeted_scopes_open = 0;

struct BufferAccess {
  [[nodiscard]] static PoolCore* core(const BufferRef& buffer) noexcept { return buffer.core_; }
};

}  // namespace bufferpool::detail
