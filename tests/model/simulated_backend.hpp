// SimulatedBackend: a backend for the model tests whose every decision can be
// predicted. Handles are 1, 2, 3, ... in allocation order; a device of a chosen
// size runs out of memory exactly when live bytes would pass it; only small
// allocations get host memory (large ones are device-local, so a test can ask
// for terabytes without touching them); the device timeline moves only when
// told to, or when the pool waits for it.
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
  [[nodiscard]] std::size_t buffer_alignment_bytes() const noexcept override { return 256; }
  [[nodiscard]] std::string name() const override { return "simulated"; }

  /// Bytes the device holds; 0 = unlimited.
  void set_device_bytes(std::size_t bytes);
  void set_max_allocation_bytes(std::size_t bytes);
  /// Completes device work up to `value` (never moves back).
  void complete_until(std::uint64_t value) noexcept;

  [[nodiscard]] std::size_t live_bytes() const;
  [[nodiscard]] std::size_t live_allocations() const;

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
  mutable std::uint64_t completed_ = 0;
};

}  // namespace bufferpool::model
