// ObserverSet: the observers of one pool, and the one flag the hit path reads
// to learn that nobody is watching.
#pragma once

#include <bufferpool/pool_events.hpp>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

namespace bufferpool::detail {

class ObserverSet {
 public:
  /// One relaxed load: the whole cost of observing when nobody observes.
  [[nodiscard]] bool active() const noexcept { return active_.load(std::memory_order_relaxed); }

  void add(std::shared_ptr<PoolObserver> observer) {
    const std::lock_guard lock(mutex_);
    observers_.push_back(std::move(observer));
    active_.store(true, std::memory_order_relaxed);
  }

  /// Once this returns, no call of the observer runs or will start: calls
  /// happen under the same lock.
  std::shared_ptr<PoolObserver> remove(const PoolObserver& observer) noexcept {
    const std::lock_guard lock(mutex_);
    const auto found = std::find_if(observers_.begin(), observers_.end(),
                                    [&](const auto& entry) { return entry.get() == &observer; });
    if (found == observers_.end()) return nullptr;
    auto removed = std::move(*found);
    observers_.erase(found);
    active_.store(!observers_.empty(), std::memory_order_relaxed);
    return removed;
  }

  /// Calls every observer in turn. One lock for all of them keeps every
  /// observer's view of the pool in one order, the order the events happened
  /// in as far as the pool's locks order them.
  void emit(const PoolEvent& event) const noexcept {
    const std::lock_guard lock(mutex_);
    for (const auto& observer : observers_) observer->on_event(event);
  }

 private:
  std::atomic<bool> active_{false};
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<PoolObserver>> observers_;
};

}  // namespace bufferpool::detail
