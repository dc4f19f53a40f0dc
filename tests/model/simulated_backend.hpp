// SimulatedBackend: a backend for the model tests whose every decision can be
// predicted. Handles are 1, 2, 3, ... in allocation order; a device of a chosen
// size runs out of memory exactly when live bytes would pass it, and one with
// a bound on live allocations (Vulkan's maxMemoryAllocationCount) when that
// many are live; only small allocations get host memory (large ones are
// device-local, so a test can ask for terabytes without touching them); the
// device timeline moves only when told to, or when the pool waits for it.
// fill_zero zeroes host memory, checks that every range it is given lies
// inside a live allocation, counts what it zeroed, and fails when told to.
#pragma once

#include <bufferpool/backend.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace bufferpool::model {

class SimulatedBackend final : public Backend {
 public:
  /// Allocations of at most this many bytes are host-visible.
  static constexpr std::size_t kHostVisibleLimit = 64 * 1024;
  /// buffer_alignment_bytes(): the pool's granule.
  static constexpr std::size_t kBufferAlignment = 256;

  SimulatedBackend() = default;
  ~SimulatedBackend() override;
  SimulatedBackend(const SimulatedBackend&) = delete;
  SimulatedBackend& operator=(const SimulatedBackend&) = delete;
  SimulatedBackend(SimulatedBackend&&) = delete;
  SimulatedBackend& operator=(SimulatedBackend&&) = delete;

  Allocation allocate(std::size_t size_bytes) override;
  void deallocate(const Allocation& allocation) noexcept override;
  [[nodiscard]] std::uint64_t completed_timeline() const noexcept override;
  /// The device finishes the work: the timeline jumps to `value`.
  void wait_for_timeline(std::uint64_t value) const noexcept override;
  [[nodiscard]] std::size_t max_allocation_bytes() const noexcept override;
  [[nodiscard]] std::size_t buffer_alignment_bytes() const noexcept override {
    return kBufferAlignment;
  }
  [[nodiscard]] std::size_t max_live_allocations() const noexcept override;
  void fill_zero(const Allocation& allocation, std::size_t offset_bytes,
                 std::size_t size_bytes) override;
  [[nodiscard]] std::string name() const override { return "simulated"; }

  /// Bytes the device holds; 0 = unlimited.
  void set_device_bytes(std::size_t bytes);
  void set_max_allocation_bytes(std::size_t bytes);
  /// Most allocations live at once; SIZE_MAX = no bound.
  void set_max_live_allocations(std::size_t count);
  /// Completes device work up to `value` (never moves back).
  void complete_until(std::uint64_t value) noexcept;
  /// The next fill_zero throws BackendError, once.
  void fail_next_fill_zero();
  void disarm_fill_zero_fault();

  [[nodiscard]] std::size_t live_bytes() const;
  [[nodiscard]] std::size_t live_allocations() const;
  /// The size of live allocation `handle`, or 0 when it is not live.
  [[nodiscard]] std::size_t allocation_bytes(std::uint64_t handle) const;
  [[nodiscard]] std::uint64_t zero_fills() const;
  [[nodiscard]] std::uint64_t zero_fill_bytes() const;
  [[nodiscard]] std::uint64_t zero_fill_faults() const;
  /// The first misuse seen (a fill_zero outside a live allocation), or "".
  [[nodiscard]] std::string problem() const;

 private:
  struct Live {
    std::size_t size_bytes = 0;
    std::byte* host_ptr = nullptr;
  };

  mutable std::mutex mutex_;
  std::map<std::uint64_t, Live> live_;
  std::uint64_t next_handle_ = 1;
  std::size_t live_bytes_ = 0;
  std::size_t device_bytes_ = 0;
  std::size_t max_allocation_bytes_ = SIZE_MAX;
  std::size_t max_live_allocations_ = SIZE_MAX;
  mutable std::uint64_t completed_ = 0;
  bool fail_next_fill_ = false;
  std::uint64_t zero_fills_ = 0;
  std::uint64_t zero_fill_bytes_ = 0;
  std::uint64_t zero_fill_faults_ = 0;
  std::string problem_;
};

}  // namespace bufferpool::model
