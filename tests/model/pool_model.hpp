// PoolModel: a reference model of what a single-threaded user of BufferPool can
// observe. It keeps every buffer in a plain vector with its state, scans
// linearly, and follows the contract step by step in the order the pool
// documents: which buffer a request gets (or that it allocates, and which
// backend handle it gets), which idle buffers a release, a cleanup, a limit or
// an out-of-memory retry frees, and every counter of PoolMetrics.
//
// It also models the backend stack the model tests use:
// CountingBackend(FaultInjectingBackend(SimulatedBackend)).
#pragma once

#include <bufferpool/metrics.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace bufferpool::model {

/// The settings of one pool, as plain numbers.
struct ModelConfig {
  std::vector<std::size_t> size_classes;
  std::size_t max_pool_size = 64;
  std::size_t max_cached_bytes = 0;
  std::size_t memory_limit = 0;
  std::int64_t ttl_ns = 0;
  std::int64_t cleanup_interval_ns = 0;
  bool background_cleanup = false;
  /// Backend settings made at the same time (SimulatedBackend).
  std::size_t device_bytes = 0;
  std::size_t max_allocation_bytes = SIZE_MAX;

  /// Whether PoolConfig::validate() accepts it.
  [[nodiscard]] bool valid() const;
};

enum class BufferState { live, idle, pending, freed };

struct ModelBuffer {
  std::uint64_t handle = 0;  ///< the backend's handle: 1, 2, 3, ... in allocation order
  std::size_t capacity = 0;
  std::size_t size = 0;
  unsigned size_class = 0;  ///< class index; size_classes.size() for oversize
  BufferState state = BufferState::live;
  int pool = 0;                     ///< which pool (generation) it came from
  std::uint64_t release_ns = 0;     ///< while idle: when it was released
  std::uint64_t release_order = 0;  ///< while idle: releases before it, for ties
  std::uint64_t device_use = 0;     ///< while live or pending
  std::uint32_t refs = 0;           ///< handles + increments
  std::uint32_t increments = 0;
  bool host_visible = false;
};

/// What a get() is expected to do.
struct GetOutcome {
  enum class Kind { buffer, invalid_argument, out_of_memory } kind = Kind::buffer;
  std::size_t buffer = 0;  ///< index into buffers(), for Kind::buffer
  // For Kind::out_of_memory: the error's fields.
  std::size_t requested_bytes = 0;
  std::size_t limit_bytes = 0;
  std::size_t in_use_bytes = 0;
};

class PoolModel {
 public:
  /// Starts a new pool (the previous one, if any, is destroyed first: its idle
  /// and pending buffers are freed, its live buffers stay valid).
  void open_pool(const ModelConfig& config);
  void close_pool();

  [[nodiscard]] GetOutcome get(std::size_t size_bytes);
  /// The capacity get() would give, or nullopt when it would throw
  /// InvalidArgumentError.
  [[nodiscard]] std::optional<std::size_t> capacity_for(std::size_t size_bytes) const;

  void add_reference(std::size_t buffer);
  void drop_reference(std::size_t buffer);
  void increment(std::size_t buffer);
  /// Returns true when the handle keeps its reference (an increment was dropped).
  bool decrement(std::size_t buffer);
  void mark_used_until(std::size_t buffer, std::uint64_t value);

  std::size_t cleanup();
  std::size_t clear();
  void reset_peak();
  void advance_clock(std::int64_t ns);
  void complete_device_until(std::uint64_t value);

  // Fault injection (FaultInjectingBackend).
  void fail_nth_allocation(std::uint64_t n) { fault_countdown_ = n; }
  void fail_all(bool on) { fail_all_ = on; }
  void disarm() {
    fault_countdown_ = 0;
    fail_all_ = false;
  }

  [[nodiscard]] PoolMetrics expected_metrics() const;
  [[nodiscard]] const std::vector<ModelBuffer>& buffers() const { return buffers_; }
  [[nodiscard]] const ModelConfig& config() const { return config_; }
  [[nodiscard]] std::int64_t now() const { return now_; }
  [[nodiscard]] std::uint64_t device_completed() const { return device_completed_; }
  [[nodiscard]] std::size_t backend_live_allocations() const { return backend_live_; }
  [[nodiscard]] std::size_t backend_live_bytes() const { return backend_live_bytes_; }
  [[nodiscard]] std::uint64_t faults_injected() const { return faults_injected_; }
  [[nodiscard]] int pool() const { return pool_; }
  [[nodiscard]] std::size_t max_request_bytes() const;

 private:
  struct OutOfMemory {
    std::size_t requested_bytes;
    std::size_t limit_bytes;
    std::size_t in_use_bytes;
  };

  [[nodiscard]] unsigned class_for(std::size_t size_bytes) const;
  [[nodiscard]] std::size_t capacity_of(unsigned size_class, std::size_t size_bytes) const;
  [[nodiscard]] bool caching() const { return config_.max_pool_size > 0; }
  [[nodiscard]] std::optional<std::size_t> take_idle(unsigned size_class, std::size_t size_bytes);
  void hand_out(std::size_t buffer, std::size_t size_bytes, bool hit);
  [[nodiscard]] std::optional<std::size_t> allocate(std::size_t capacity, std::size_t size_bytes,
                                                    OutOfMemory& failure);
  [[nodiscard]] bool reserve_within_limit(std::size_t capacity, OutOfMemory& failure);
  /// The backend stack's allocate: nullopt when it throws OutOfMemoryError.
  [[nodiscard]] std::optional<std::uint64_t> backend_allocate(std::size_t capacity);
  void backend_free(ModelBuffer& buffer);
  void release(std::size_t buffer);
  void push_idle(std::size_t buffer, std::int64_t now);
  void free_pooled(std::size_t buffer);
  [[nodiscard]] std::vector<std::size_t> idle_oldest_first() const;
  [[nodiscard]] std::size_t idle_bytes() const;
  [[nodiscard]] bool over_caps() const;
  void evict_over_caps();
  void maybe_cleanup(std::int64_t now);
  std::size_t expire(std::int64_t now);
  void reclaim_completed();
  [[nodiscard]] bool any_pending() const;

  ModelConfig config_;
  int pool_ = 0;
  bool open_ = false;
  std::vector<ModelBuffer> buffers_;
  std::vector<std::size_t> pending_;  ///< current pool's pending buffers, in release order

  // Time, the device and the backend stack.
  std::int64_t now_ = 0;
  std::uint64_t device_completed_ = 0;
  std::uint64_t next_handle_ = 1;
  std::size_t backend_live_ = 0;
  std::size_t backend_live_bytes_ = 0;
  std::uint64_t fault_countdown_ = 0;
  bool fail_all_ = false;
  std::uint64_t faults_injected_ = 0;

  // The current pool's counters.
  std::uint64_t last_release_ns_ = 0;
  std::uint64_t release_count_ = 0;
  std::int64_t last_cleanup_ = 0;
  std::size_t held_bytes_ = 0;
  std::size_t peak_bytes_ = 0;
  std::uint64_t allocations_ = 0;
  std::uint64_t deallocations_ = 0;
  std::uint64_t evictions_ = 0;
  std::uint64_t expirations_ = 0;
  std::uint64_t failed_allocations_ = 0;
  std::uint64_t bytes_requested_ = 0;
  std::uint64_t bytes_granted_ = 0;
  std::vector<std::uint64_t> class_hits_;
  std::vector<std::uint64_t> class_misses_;
};

}  // namespace bufferpool::model
