// LiveTracker: remembers when (and, if asked, from where) each live buffer
// was requested, for BufferPool::live_buffers() and the report of a pool
// destroyed with buffers out. An observer like any other, so that the hit
// path keeps one flag for everything that watches it.
#pragma once

#include <bufferpool/pool_events.hpp>

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace bufferpool::detail {

class LiveTracker final : public PoolObserver {
 public:
  explicit LiveTracker(bool record_call_stacks) noexcept
      : record_call_stacks_(record_call_stacks) {}

  void on_event(const PoolEvent& event) noexcept override;

  struct Record {
    std::uint64_t requested_at_ns = 0;
    /// Return addresses, innermost first; empty unless call stacks are recorded.
    std::vector<void*> frames;
  };
  /// The record of the live buffer at `address`, if it was requested while tracking.
  [[nodiscard]] std::optional<Record> find(std::uint64_t address) const;

  /// Symbolised frames, the pool's own frames left out.
  [[nodiscard]] static std::vector<std::string> symbolise(const std::vector<void*>& frames);

 private:
  bool record_call_stacks_;
  mutable std::mutex mutex_;
  std::unordered_map<std::uint64_t, Record> live_;
};

}  // namespace bufferpool::detail
