#include <bufferpool/autorelease.hpp>
#include <bufferpool/errors.hpp>

namespace bufferpool {
namespace {

// The one piece of global mutable state in the library: each thread's stack
// of open scopes, linked through AutoReleaseScope::enclosing_.
thread_local AutoReleaseScope* innermost_scope = nullptr;

}  // namespace

AutoReleaseScope::AutoReleaseScope()
    : enclosing_(innermost_scope), owner_(std::this_thread::get_id()) {
  innermost_scope = this;
}

AutoReleaseScope::~AutoReleaseScope() {
  drain();
  // Scopes are neither copyable nor movable, so they end in reverse order of
  // construction on their own thread: this is the innermost one.
  innermost_scope = enclosing_;
}

void AutoReleaseScope::add(BufferRef buffer) {
  if (std::this_thread::get_id() != owner_) {
    throw UsageError(
        "bufferpool: AutoReleaseScope::add() from a thread other than the one that opened the "
        "scope; open a scope on each thread that hands buffers to one");
  }
  if (!buffer) {
    throw UsageError("bufferpool: AutoReleaseScope::add() of an empty BufferRef");
  }
  held_.push_back(std::move(buffer));
}

void AutoReleaseScope::drain() noexcept {
  // Drop newest first, mirroring the order in which they were taken.
  while (!held_.empty()) held_.pop_back();
}

AutoReleaseScope* AutoReleaseScope::innermost() noexcept { return innermost_scope; }

BufferRef autorelease(BufferRef buffer) {
  AutoReleaseScope* scope = innermost_scope;
  if (scope == nullptr) {
    throw UsageError(
        "bufferpool: autorelease() with no AutoReleaseScope open on this thread; open one "
        "(bufferpool::AutoReleaseScope scope;) around the code that creates the buffers");
  }
  scope->add(buffer);
  return buffer;
}

}  // namespace bufferpool
