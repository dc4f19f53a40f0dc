#include "pool/pool_core.hpp"
#include "pool/scope_budget.hpp"

#include <bufferpool/autorelease.hpp>
#include <bufferpool/errors.hpp>

#include <cstdio>
#include <exception>

namespace bufferpool {
namespace {

// The one piece of global mutable state in the library: each thread's stack
// of open scopes, linked through AutoReleaseScope::enclosing_ (with
// detail::budgeted_scopes_open, how many of them have a budget).
thread_local AutoReleaseScope* innermost_scope = nullptr;

}  // namespace

AutoReleaseScope::AutoReleaseScope()
    : enclosing_(innermost_scope), owner_(std::this_thread::get_id()) {
  innermost_scope = this;
}

AutoReleaseScope::AutoReleaseScope(std::string name, std::size_t budget_bytes)
    : name_(std::move(name)),
      budget_bytes_(budget_bytes),
      enclosing_(innermost_scope),
      owner_(std::this_thread::get_id()) {
  if (name_.empty()) {
    throw ConfigError(
        "bufferpool: AutoReleaseScope(name, budget) with an empty name; name the scope (its "
        "bytes are reported under that name) or use AutoReleaseScope()");
  }
  innermost_scope = this;
  if (budget_bytes_ != 0) ++detail::budgeted_scopes_open;
}

AutoReleaseScope::~AutoReleaseScope() {
  drain();
  if (budget_bytes_ != 0 && std::this_thread::get_id() == owner_) --detail::budgeted_scopes_open;
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
  const std::size_t capacity_bytes = buffer.capacity();
  detail::PoolCore* core = detail::BufferAccess::core(buffer);
  for (const AutoReleaseScope* scope = this; scope != nullptr; scope = scope->enclosing_) {
    const std::size_t budget = scope->budget_bytes_;
    if (budget != 0 && capacity_bytes > budget - std::min(budget, scope->held_bytes_)) {
      core->throw_scope_budget(scope->name_, budget, scope->held_bytes_, capacity_bytes,
                               buffer.size());
    }
  }
  held_.push_back(std::move(buffer));
  // Enclosing scopes count what nested ones hold: their budgets bound them.
  for (AutoReleaseScope* scope = this; scope != nullptr; scope = scope->enclosing_) {
    scope->held_bytes_ += capacity_bytes;
    if (!scope->name_.empty()) {
      core->note_scope_bytes(scope->name_, scope->budget_bytes_, capacity_bytes, 0);
    }
  }
}

void AutoReleaseScope::drain() noexcept {
  // Drop newest first, mirroring the order in which they were taken.
  while (!held_.empty()) {
    const BufferRef& buffer = held_.back();
    const std::size_t capacity_bytes = buffer.capacity();
    detail::PoolCore* core = detail::BufferAccess::core(buffer);
    for (AutoReleaseScope* scope = this; scope != nullptr; scope = scope->enclosing_) {
      scope->held_bytes_ -= std::min(scope->held_bytes_, capacity_bytes);
      if (!scope->name_.empty()) {
        core->note_scope_bytes(scope->name_, scope->budget_bytes_, 0, capacity_bytes);
      }
    }
    held_.pop_back();
  }
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
