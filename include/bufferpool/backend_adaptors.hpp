// Backends that wrap another backend and add one concern each, the way RMM's
// resource adaptors do: counting what is live, and injecting faults.
//
// Each is a ForwardingBackend (forwarding_backend.hpp) that overrides only
// the calls its concern touches, so it is as thread-safe as its upstream,
// blocks where its upstream blocks, adds only the cost its own concern says,
// and names its upstream in wrapped_backend(), so that
// vulkan_buffer_range() finds the VkBuffer of a buffer from a pool on an
// adaptor over a Vulkan backend.
#pragma once

#include <bufferpool/forwarding_backend.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>

namespace bufferpool {

/// Forwards every call and counts what goes through: allocations live now, at
/// peak, and in total. A test that sees live_allocations() back at zero after
/// the pool is gone knows nothing leaked.
///
/// Cost: a few atomic read-modify-writes per allocate() and deallocate().
/// The counters may be read on any thread at any time; each is exact, but
/// two read one after the other may straddle another thread's allocation.
class CountingBackend final : public ForwardingBackend {
 public:
  /// Throws ConfigError for a null upstream.
  explicit CountingBackend(std::shared_ptr<Backend> upstream);

  Allocation allocate(std::size_t size_bytes) override;
  void deallocate(const Allocation& allocation) noexcept override;

  [[nodiscard]] std::size_t live_allocations() const noexcept { return live_allocations_.load(); }
  [[nodiscard]] std::size_t live_bytes() const noexcept { return live_bytes_.load(); }
  [[nodiscard]] std::size_t peak_live_bytes() const noexcept { return peak_live_bytes_.load(); }
  [[nodiscard]] std::uint64_t total_allocations() const noexcept {
    return total_allocations_.load();
  }
  [[nodiscard]] std::uint64_t total_frees() const noexcept { return total_frees_.load(); }

 private:
  std::atomic<std::size_t> live_allocations_{0};
  std::atomic<std::size_t> live_bytes_{0};
  std::atomic<std::size_t> peak_live_bytes_{0};
  std::atomic<std::uint64_t> total_allocations_{0};
  std::atomic<std::uint64_t> total_frees_{0};
};

/// Fails chosen allocations with OutOfMemoryError, as a backend out of memory
/// would, and forwards everything else.
///
/// Threads: every call, the arming calls included, may run on any thread at
/// once; the arming calls and the decision in allocate() share one mutex,
/// held for a few instructions (and a draw of the generator), so with
/// several threads allocating, which of them gets the n-th fault depends on
/// their order.
class FaultInjectingBackend final : public ForwardingBackend {
 public:
  /// Throws ConfigError for a null upstream.
  explicit FaultInjectingBackend(std::shared_ptr<Backend> upstream);

  /// Fails the n-th allocation from now (1 = the next one), once; replaces
  /// an n-th fault armed before. Throws ConfigError for n == 0.
  void fail_nth_allocation(std::uint64_t n);
  /// Fails each allocation with this probability, drawn from a generator
  /// seeded with `seed` so that a run can be replayed. Throws ConfigError
  /// for a probability outside [0, 1].
  void fail_fraction(double probability, std::uint64_t seed);
  /// Fails every allocation until told otherwise (a device that is full).
  /// One atomic store.
  void fail_all(bool on) noexcept { fail_all_.store(on); }
  /// Stops injecting faults of every kind.
  void disarm();

  /// Allocations failed so far. One atomic load.
  [[nodiscard]] std::uint64_t faults_injected() const noexcept { return faults_injected_.load(); }

  Allocation allocate(std::size_t size_bytes) override;

 private:
  bool should_fail();

  std::mutex mutex_;
  std::uint64_t countdown_ = 0;  // 0: no n-th failure armed
  double probability_ = 0.0;
  std::mt19937_64 random_;
  std::atomic<bool> fail_all_{false};
  std::atomic<std::uint64_t> faults_injected_{0};
};

}  // namespace bufferpool
