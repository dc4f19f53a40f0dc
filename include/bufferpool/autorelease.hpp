// AutoReleaseScope: the design's auto-release pool, as an RAII object.
#pragma once

#include <bufferpool/buffer.hpp>

#include <cstddef>
#include <string>
#include <thread>
#include <vector>

namespace bufferpool {

/// Owns references and drops them when it ends, also when it ends by an
/// exception. Scopes nest: each thread has its own stack of them, and
/// autorelease() adds to the innermost one.
///
///     {
///       AutoReleaseScope scope;
///       auto input = manager.create_buffer(data);
///       scope.add(input);                        // or autorelease(input)
///       ...
///     }  // the scope's references are dropped here
///
/// A scope belongs to the thread that made it: it can be neither copied nor
/// moved, and add() from another thread throws UsageError.
class AutoReleaseScope {
 public:
  AutoReleaseScope();
  /// A named scope, optionally with a budget. The bytes it holds (the
  /// capacities of the buffers added to it) are reported per name in
  /// PoolMetrics::scopes of each buffer's pool. With budget_bytes > 0, a
  /// request made on this thread while the scope is open, whose capacity
  /// would take the scope past its budget, fails with an OutOfMemoryError
  /// naming the scope (before the pool allocates anything), and so does
  /// add() of a buffer that would. Enclosing scopes' budgets hold too.
  explicit AutoReleaseScope(std::string name, std::size_t budget_bytes = 0);
  ~AutoReleaseScope();
  AutoReleaseScope(const AutoReleaseScope&) = delete;
  AutoReleaseScope& operator=(const AutoReleaseScope&) = delete;
  AutoReleaseScope(AutoReleaseScope&&) = delete;
  AutoReleaseScope& operator=(AutoReleaseScope&&) = delete;

  /// Hands the scope a reference, dropped when the scope ends. An empty
  /// handle throws UsageError; so does a call from another thread.
  void add(BufferRef buffer);

  /// References the scope holds.
  [[nodiscard]] std::size_t size() const noexcept { return held_.size(); }
  /// The capacities of the references it holds, and of those its open nested
  /// scopes hold.
  [[nodiscard]] std::size_t held_bytes() const noexcept { return held_bytes_; }
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] std::size_t budget_bytes() const noexcept { return budget_bytes_; }

  /// Drops the held references now; the scope stays open.
  void drain() noexcept;

  /// The scope this one is nested in on its thread, or nullptr.
  [[nodiscard]] AutoReleaseScope* enclosing() const noexcept { return enclosing_; }
  /// The calling thread's innermost open scope, or nullptr.
  [[nodiscard]] static AutoReleaseScope* innermost() noexcept;

 private:
  std::vector<BufferRef> held_;
  std::string name_;
  std::size_t budget_bytes_ = 0;
  std::size_t held_bytes_ = 0;
  AutoReleaseScope* enclosing_;
  std::thread::id owner_;
};

/// Adds a reference to the calling thread's innermost AutoReleaseScope and
/// returns the handle, so that `auto b = autorelease(pool.get_buffer(n));`
/// reads naturally (the buffer goes back when both the scope and `b` are
/// gone). Throws UsageError when the thread has no open scope.
BufferRef autorelease(BufferRef buffer);

}  // namespace bufferpool
