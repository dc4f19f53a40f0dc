#include "pool_model.hpp"

#include <algorithm>

namespace bufferpool::model {
namespace {

constexpr std::size_t kMaxTrackedBytes = (std::size_t{1} << 48) - 1;
constexpr std::size_t kOversizeAlignment = 4096;

}  // namespace

bool ModelConfig::valid() const {
  if (size_classes.empty() || size_classes.size() > 1024) return false;
  for (std::size_t index = 0; index < size_classes.size(); ++index) {
    if (size_classes[index] == 0 || size_classes[index] > kMaxTrackedBytes) return false;
    if (index > 0 && size_classes[index] <= size_classes[index - 1]) return false;
  }
  if (ttl_ns < 0 || cleanup_interval_ns < 0) return false;
  if (background_cleanup && cleanup_interval_ns == 0) return false;
  // A class the backend cannot allocate is refused when the pool is made.
  if (size_classes.back() > std::min(max_allocation_bytes, kMaxTrackedBytes)) return false;
  return memory_limit == 0 || memory_limit >= size_classes.front();
}

void PoolModel::open_pool(const ModelConfig& config) {
  close_pool();
  config_ = config;
  ++pool_;
  open_ = true;
  last_release_ns_ = 0;
  release_count_ = 0;
  last_cleanup_ = now_;
  held_bytes_ = peak_bytes_ = 0;
  allocations_ = deallocations_ = evictions_ = expirations_ = failed_allocations_ = 0;
  bytes_requested_ = bytes_granted_ = 0;
  class_hits_.assign(config_.size_classes.size() + 1, 0);
  class_misses_.assign(config_.size_classes.size() + 1, 0);
}

void PoolModel::close_pool() {
  if (!open_) return;
  open_ = false;
  // Idle buffers are freed; pending ones after the device is done with them.
  for (auto& buffer : buffers_) {
    if (buffer.pool == pool_ && buffer.state == BufferState::idle) backend_free(buffer);
  }
  for (const std::size_t index : pending_) {
    complete_device_until(buffers_[index].device_use);
    backend_free(buffers_[index]);
  }
  pending_.clear();
}

std::size_t PoolModel::max_request_bytes() const {
  return std::min(config_.max_allocation_bytes, kMaxTrackedBytes);
}

unsigned PoolModel::class_for(std::size_t size_bytes) const {
  const auto& classes = config_.size_classes;
  return static_cast<unsigned>(std::lower_bound(classes.begin(), classes.end(), size_bytes) -
                               classes.begin());
}

std::size_t PoolModel::capacity_of(unsigned size_class, std::size_t size_bytes) const {
  if (size_class < config_.size_classes.size()) return config_.size_classes[size_class];
  return (size_bytes + kOversizeAlignment - 1) / kOversizeAlignment * kOversizeAlignment;
}

std::optional<std::size_t> PoolModel::capacity_for(std::size_t size_bytes) const {
  if (size_bytes == 0 || size_bytes > max_request_bytes()) return std::nullopt;
  const std::size_t capacity = capacity_of(class_for(size_bytes), size_bytes);
  if (capacity > max_request_bytes()) return std::nullopt;
  return capacity;
}

std::vector<std::size_t> PoolModel::idle_oldest_first() const {
  std::vector<std::size_t> idle;
  for (std::size_t index = 0; index < buffers_.size(); ++index) {
    if (buffers_[index].pool == pool_ && buffers_[index].state == BufferState::idle) {
      idle.push_back(index);
    }
  }
  std::sort(idle.begin(), idle.end(), [this](std::size_t a, std::size_t b) {
    return buffers_[a].release_order < buffers_[b].release_order;
  });
  return idle;
}

std::size_t PoolModel::idle_bytes() const {
  std::size_t bytes = 0;
  for (const auto& buffer : buffers_) {
    if (buffer.pool == pool_ && buffer.state == BufferState::idle) bytes += buffer.capacity;
  }
  return bytes;
}

bool PoolModel::any_pending() const { return !pending_.empty(); }

std::optional<std::size_t> PoolModel::take_idle(unsigned size_class, std::size_t size_bytes) {
  // The newest idle buffer of the class; above the classes, the newest whose
  // capacity fits the request with at most an eighth of it to spare.
  const auto idle = idle_oldest_first();
  for (auto it = idle.rbegin(); it != idle.rend(); ++it) {
    const ModelBuffer& buffer = buffers_[*it];
    if (buffer.size_class != size_class) continue;
    if (size_class == config_.size_classes.size() &&
        !(buffer.capacity >= size_bytes && buffer.capacity - buffer.capacity / 8 <= size_bytes)) {
      continue;
    }
    return *it;
  }
  return std::nullopt;
}

void PoolModel::hand_out(std::size_t index, std::size_t size_bytes, bool hit) {
  ModelBuffer& buffer = buffers_[index];
  buffer.state = BufferState::live;
  buffer.size = size_bytes;
  buffer.refs = 1;
  buffer.increments = 0;
  buffer.device_use = 0;
  ++(hit ? class_hits_ : class_misses_)[buffer.size_class];
  bytes_requested_ += size_bytes;
  bytes_granted_ += buffer.capacity;
}

GetOutcome PoolModel::get(std::size_t size_bytes) {
  GetOutcome outcome;
  if (!capacity_for(size_bytes)) {
    outcome.kind = GetOutcome::Kind::invalid_argument;
    return outcome;
  }
  const unsigned size_class = class_for(size_bytes);
  // 1. A hit needs nothing else.
  if (caching()) {
    if (const auto index = take_idle(size_class, size_bytes)) {
      hand_out(*index, size_bytes, true);
      outcome.buffer = *index;
      return outcome;
    }
  }
  // 2. A miss: lazy cleanup, buffers the device has finished with, look again.
  maybe_cleanup(now_);
  if (any_pending()) reclaim_completed();
  if (caching()) {
    if (const auto index = take_idle(size_class, size_bytes)) {
      hand_out(*index, size_bytes, true);
      outcome.buffer = *index;
      return outcome;
    }
  }
  // 3. A new allocation.
  const std::size_t capacity = capacity_of(size_class, size_bytes);
  OutOfMemory failure{};
  const auto handle = allocate(capacity, size_bytes, failure);
  if (!handle) {
    outcome.kind = GetOutcome::Kind::out_of_memory;
    outcome.requested_bytes = failure.requested_bytes;
    outcome.limit_bytes = failure.limit_bytes;
    outcome.in_use_bytes = failure.in_use_bytes;
    return outcome;
  }
  ModelBuffer buffer;
  buffer.handle = *handle;
  buffer.capacity = capacity;
  buffer.size_class = size_class;
  buffer.pool = pool_;
  buffer.host_visible = capacity <= 64 * 1024;  // SimulatedBackend::kHostVisibleLimit
  buffers_.push_back(buffer);
  outcome.buffer = buffers_.size() - 1;
  hand_out(outcome.buffer, size_bytes, false);
  return outcome;
}

std::optional<std::size_t> PoolModel::allocate(std::size_t capacity, std::size_t size_bytes,
                                               OutOfMemory& failure) {
  (void)size_bytes;
  if (config_.memory_limit != 0) {
    if (!reserve_within_limit(capacity, failure)) return std::nullopt;
  } else {
    held_bytes_ += capacity;
  }
  auto handle = backend_allocate(capacity);
  if (!handle) {
    // The backend is out of memory: free every idle buffer, retry once.
    if (any_pending()) reclaim_completed();
    clear();
    handle = backend_allocate(capacity);
    if (!handle) {
      held_bytes_ -= capacity;
      ++failed_allocations_;
      // Live (and pending) buffers hold what is not idle; nothing is idle now.
      failure = {capacity, 0, held_bytes_ - idle_bytes()};
      return std::nullopt;
    }
  }
  ++allocations_;
  peak_bytes_ = std::max(peak_bytes_, held_bytes_);
  return handle;
}

bool PoolModel::reserve_within_limit(std::size_t capacity, OutOfMemory& failure) {
  const std::size_t limit = config_.memory_limit;
  bool reclaimed = false;
  for (;;) {
    if (capacity <= limit && held_bytes_ <= limit - capacity) {
      held_bytes_ += capacity;
      return true;
    }
    if (!reclaimed && any_pending()) {
      reclaim_completed();
      reclaimed = true;
      continue;
    }
    const auto idle = idle_oldest_first();
    const std::size_t live = held_bytes_ - idle_bytes();
    if (capacity > limit || live > limit - capacity || idle.empty()) {
      // It cannot fit even with no idle buffers: fail now, keep the cache.
      ++failed_allocations_;
      failure = {capacity, limit, live};
      return false;
    }
    free_pooled(idle.front());
    ++evictions_;
  }
}

std::optional<std::uint64_t> PoolModel::backend_allocate(std::size_t capacity) {
  bool fault = fail_all_;
  if (!fault && fault_countdown_ != 0 && --fault_countdown_ == 0) fault = true;
  if (fault) {
    ++faults_injected_;
    return std::nullopt;
  }
  if (config_.device_bytes != 0 &&
      (capacity > config_.device_bytes || backend_live_bytes_ > config_.device_bytes - capacity)) {
    return std::nullopt;
  }
  ++backend_live_;
  backend_live_bytes_ += capacity;
  return next_handle_++;
}

void PoolModel::backend_free(ModelBuffer& buffer) {
  buffer.state = BufferState::freed;
  --backend_live_;
  backend_live_bytes_ -= buffer.capacity;
}

void PoolModel::free_pooled(std::size_t index) {
  ModelBuffer& buffer = buffers_[index];
  held_bytes_ -= buffer.capacity;
  ++deallocations_;
  backend_free(buffer);
}

void PoolModel::add_reference(std::size_t index) { ++buffers_[index].refs; }

void PoolModel::drop_reference(std::size_t index) {
  if (--buffers_[index].refs == 0) release(index);
}

void PoolModel::increment(std::size_t index) {
  ++buffers_[index].refs;
  ++buffers_[index].increments;
}

bool PoolModel::decrement(std::size_t index) {
  ModelBuffer& buffer = buffers_[index];
  if (buffer.increments > 0) {
    --buffer.increments;
    --buffer.refs;
    return true;
  }
  drop_reference(index);
  return false;
}

void PoolModel::mark_used_until(std::size_t index, std::uint64_t value) {
  buffers_[index].device_use = std::max(buffers_[index].device_use, value);
}

void PoolModel::release(std::size_t index) {
  ModelBuffer& buffer = buffers_[index];
  if (!open_ || buffer.pool != pool_) {
    // Its pool is gone: freed now, once the device is done with it.
    complete_device_until(buffer.device_use);
    backend_free(buffer);
    return;
  }
  const bool device_busy = buffer.device_use > device_completed_;
  if (device_busy) {
    buffer.state = BufferState::pending;
    pending_.push_back(index);
  } else if (!caching()) {
    free_pooled(index);
  } else {
    push_idle(index, now_);
    evict_over_caps();
    maybe_cleanup(now_);
  }
}

void PoolModel::push_idle(std::size_t index, std::int64_t now) {
  const auto now_ns = static_cast<std::uint64_t>(std::max<std::int64_t>(now, 0));
  last_release_ns_ = std::max(now_ns, last_release_ns_);
  buffers_[index].state = BufferState::idle;
  buffers_[index].release_ns = last_release_ns_;
  buffers_[index].release_order = ++release_count_;
}

bool PoolModel::over_caps() const {
  std::size_t count = 0;
  std::size_t bytes = 0;
  for (const auto& buffer : buffers_) {
    if (buffer.pool == pool_ && buffer.state == BufferState::idle) {
      ++count;
      bytes += buffer.capacity;
    }
  }
  return count > config_.max_pool_size ||
         (config_.max_cached_bytes != 0 && bytes > config_.max_cached_bytes);
}

void PoolModel::evict_over_caps() {
  while (over_caps()) {
    const auto idle = idle_oldest_first();
    if (idle.empty()) break;
    free_pooled(idle.front());
    ++evictions_;
  }
}

void PoolModel::maybe_cleanup(std::int64_t now) {
  if (config_.background_cleanup) return;
  if (now - last_cleanup_ < config_.cleanup_interval_ns) return;
  last_cleanup_ = now;
  expire(now);
}

std::size_t PoolModel::expire(std::int64_t now) {
  std::size_t expired = 0;
  for (const std::size_t index : idle_oldest_first()) {
    if (now - static_cast<std::int64_t>(buffers_[index].release_ns) >= config_.ttl_ns) {
      free_pooled(index);
      ++expirations_;
      ++expired;
    }
  }
  return expired;
}

void PoolModel::reclaim_completed() {
  std::vector<std::size_t> still_pending;
  for (const std::size_t index : pending_) {
    if (buffers_[index].device_use > device_completed_) {
      still_pending.push_back(index);
    } else if (caching()) {
      push_idle(index, now_);
    } else {
      free_pooled(index);
    }
  }
  pending_ = std::move(still_pending);
  if (caching()) evict_over_caps();
}

std::size_t PoolModel::cleanup() {
  last_cleanup_ = now_;
  if (any_pending()) reclaim_completed();
  return expire(now_);
}

std::size_t PoolModel::clear() {
  const auto idle = idle_oldest_first();
  for (const std::size_t index : idle) free_pooled(index);
  return idle.size();
}

void PoolModel::reset_peak() { peak_bytes_ = held_bytes_; }

void PoolModel::advance_clock(std::int64_t ns) {
  if (ns > 0) now_ += ns;
}

void PoolModel::complete_device_until(std::uint64_t value) {
  device_completed_ = std::max(device_completed_, value);
}

PoolMetrics PoolModel::expected_metrics() const {
  PoolMetrics metrics;
  const std::size_t class_count = config_.size_classes.size();
  metrics.size_classes.resize(class_count + 1);
  for (std::size_t index = 0; index <= class_count; ++index) {
    auto& entry = metrics.size_classes[index];
    entry.oversize = index == class_count;
    entry.capacity_bytes = entry.oversize ? 0 : config_.size_classes[index];
    entry.hits = class_hits_[index];
    entry.misses = class_misses_[index];
    metrics.hits += entry.hits;
    metrics.misses += entry.misses;
  }
  for (const auto& buffer : buffers_) {
    if (buffer.pool != pool_) continue;
    auto& entry = metrics.size_classes[buffer.size_class];
    switch (buffer.state) {
      case BufferState::live:
        ++metrics.buffers_in_use;
        metrics.bytes_in_use += buffer.capacity;
        ++entry.buffers_in_use;
        break;
      case BufferState::idle:
        ++metrics.buffers_cached;
        metrics.bytes_cached += buffer.capacity;
        ++entry.buffers_cached;
        break;
      case BufferState::pending:
        ++metrics.buffers_pending_gpu;
        metrics.bytes_pending_gpu += buffer.capacity;
        break;
      case BufferState::freed:
        break;
    }
  }
  metrics.allocations = allocations_;
  metrics.deallocations = deallocations_;
  metrics.evictions = evictions_;
  metrics.expirations = expirations_;
  metrics.failed_allocations = failed_allocations_;
  metrics.bytes_requested = bytes_requested_;
  metrics.bytes_granted = bytes_granted_;
  metrics.current_bytes_allocated = held_bytes_;
  metrics.peak_bytes_allocated = std::max(peak_bytes_, held_bytes_);
  return metrics;
}

}  // namespace bufferpool::model
