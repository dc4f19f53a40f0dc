#include <bufferpool/autorelease.hpp>
#include <bufferpool/errors.hpp>

#include <cstdio>
#include <exception>

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
  if (std::this_thread::get_id() != owner_) {
    // The owning thread's stack would keep a dangling pointer to this scope:
    // stop here rather than corrupt it later.
    std::fputs(
        "bufferpool: an AutoReleaseScope was destroyed on a thread other than the one that "
        "opened it\n",
        stderr);
    std::terminate();
  }
  // A scope on the stack ends innermost first. One on the heap may end out of
  // order: unlink it from wherever it sits in this thread's chain.
  AutoReleaseScope** link = &innermost_scope;
  while (*link != nullptr && *link != this) link = &(*link)->enclosing_;
  if (*link == this) *link = enclosing_;
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
