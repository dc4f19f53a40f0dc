#include "model_runner.hpp"

#include "pool_model.hpp"
#include "simulated_backend.hpp"

#include <bufferpool/bufferpool.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <map>
#include <memory>
#include <sstream>
#include <vector>

namespace bufferpool::model {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kSlots = 8;
constexpr std::size_t kMaxScopes = 4;
constexpr std::size_t kPatternHead = 256;
constexpr std::size_t kPatternTail = 64;
constexpr std::size_t KiB = 1024;
constexpr std::size_t MiB = 1024 * KiB;

enum class Opcode : std::uint8_t {
  get,
  copy = 5,
  move,
  reset,
  increment = 9,
  decrement,
  write,
  scope_push,
  scope_add,
  scope_pop,
  scope_drain,
  advance_clock,
  cleanup,
  clear,
  mark_used,
  complete_device,
  fault,
  peak_or_capacity,
  new_pool,
  count
};

Opcode opcode_of(std::uint8_t byte) {
  const auto value = static_cast<std::uint8_t>(byte % static_cast<std::uint8_t>(Opcode::count));
  if (value < static_cast<std::uint8_t>(Opcode::copy)) return Opcode::get;
  if (value == static_cast<std::uint8_t>(Opcode::reset) + 1) return Opcode::reset;
  return static_cast<Opcode>(value);
}

/// A config (pool and simulated backend) from four bytes. Some choices make
/// no sense on purpose: the pool must reject them with ConfigError.
struct DecodedConfig {
  PoolConfig pool;
  ModelConfig model;
};

DecodedConfig decode_config(std::array<std::uint8_t, 4> bytes,
                            const std::shared_ptr<ManualClock>& clock) {
  DecodedConfig decoded;
  PoolConfig& config = decoded.pool;
  config.clock = clock;
  switch (bytes[0] % 10) {
    case 0:
      config.size_classes = default_size_classes();
      break;
    case 1:
      config.size_classes = {16 * KiB, 32 * KiB};
      break;
    case 2:
      config.size_classes = {256, KiB, 4 * KiB};
      break;
    case 3:
      config.size_classes = geometric_size_classes(256, MiB, 4);
      break;
    case 4:
      config.size_classes = geometric_size_classes(KiB, 64 * KiB, 2);
      break;
    case 5:
      config.size_classes = {4 * KiB};
      break;
    case 6:
      config.size_classes = {1, 2, 3, 100};
      break;
    case 7:
      config.size_classes = {};
      break;  // no sense: empty
    case 8:
      config.size_classes = {KiB, KiB};
      break;  // no sense: not increasing
    default:
      config.size_classes = {0, 256};
      break;  // no sense: a class of 0
  }
  static constexpr std::array<std::size_t, 8> kPoolSizes{64, 0, 1, 2, 3, 4, 8, 16};
  static constexpr std::array<std::size_t, 8> kCachedBytes{0,        0,        256,     4 * KiB,
                                                           20 * KiB, 64 * KiB, 1 * MiB, 16 * MiB};
  static constexpr std::array<std::size_t, 8> kMemoryLimits{0,         0,       0,        64 * KiB,
                                                            256 * KiB, 1 * MiB, 16 * MiB, 100};
  static constexpr std::array<std::chrono::nanoseconds, 8> kTtls{60s, 0s,  1ms, 10s,
                                                                 1s,  1ns, 10s, -1ns};
  static constexpr std::array<std::chrono::nanoseconds, 8> kIntervals{60s, 0s,  1ms, 10s,
                                                                      1h,  30s, 1ns, -1s};
  static constexpr std::array<std::size_t, 4> kDeviceBytes{0, 128 * KiB, 1 * MiB, 64 * MiB};
  static constexpr std::array<std::size_t, 4> kMaxAllocation{SIZE_MAX, 1 * MiB, 64 * MiB + 4 * KiB,
                                                             std::size_t{1} << 40};
  config.max_pool_size = kPoolSizes[bytes[1] % 8];
  config.max_cached_bytes = kCachedBytes[(bytes[1] / 8) % 8];
  config.memory_limit = kMemoryLimits[bytes[2] % 8];
  config.ttl = kTtls[(bytes[2] / 8) % 8];
  config.cleanup_interval = kIntervals[bytes[3] % 8];
  // Background cleanup would make the run depend on the scheduler; it is
  // turned on only with an interval of 0, which the pool must reject.
  config.background_cleanup = bytes[2] >= 0xF0 && config.cleanup_interval == 0s;

  ModelConfig& model = decoded.model;
  model.size_classes = config.size_classes;
  model.max_pool_size = config.max_pool_size;
  model.max_cached_bytes = config.max_cached_bytes;
  model.memory_limit = config.memory_limit;
  model.ttl_ns = config.ttl.count();
  model.cleanup_interval_ns = config.cleanup_interval.count();
  model.background_cleanup = config.background_cleanup;
  model.device_bytes = kDeviceBytes[(bytes[3] / 8) % 4];
  model.max_allocation_bytes = kMaxAllocation[(bytes[3] / 32) % 4];
  return decoded;
}

/// "" when they agree; otherwise every field that differs. Builds no string
/// unless something differs (it runs after every operation).
std::string describe_metrics_difference(const PoolMetrics& expected, const PoolMetrics& actual,
                                        bool describe = false) {
  std::ostringstream out;
  bool differ = false;
  const auto field = [&out, &differ, describe](const auto& name, auto want, auto got) {
    if (want == got) return;
    differ = true;
    if (describe) out << " " << name << ": expected " << want << ", got " << got << ";";
  };
  field("hits", expected.hits, actual.hits);
  field("misses", expected.misses, actual.misses);
  field("allocations", expected.allocations, actual.allocations);
  field("deallocations", expected.deallocations, actual.deallocations);
  field("evictions", expected.evictions, actual.evictions);
  field("expirations", expected.expirations, actual.expirations);
  field("failed_allocations", expected.failed_allocations, actual.failed_allocations);
  field("bytes_requested", expected.bytes_requested, actual.bytes_requested);
  field("bytes_granted", expected.bytes_granted, actual.bytes_granted);
  field("current_bytes_allocated", expected.current_bytes_allocated,
        actual.current_bytes_allocated);
  field("peak_bytes_allocated", expected.peak_bytes_allocated, actual.peak_bytes_allocated);
  field("bytes_in_use", expected.bytes_in_use, actual.bytes_in_use);
  field("buffers_in_use", expected.buffers_in_use, actual.buffers_in_use);
  field("bytes_cached", expected.bytes_cached, actual.bytes_cached);
  field("buffers_cached", expected.buffers_cached, actual.buffers_cached);
  field("bytes_pending_gpu", expected.bytes_pending_gpu, actual.bytes_pending_gpu);
  field("buffers_pending_gpu", expected.buffers_pending_gpu, actual.buffers_pending_gpu);
  if (expected.size_classes.size() != actual.size_classes.size()) {
    out << " size_classes.size(): expected " << expected.size_classes.size() << ", got "
        << actual.size_classes.size() << ";";
    return out.str();
  }
  for (std::size_t index = 0; index < expected.size_classes.size(); ++index) {
    const auto& want = expected.size_classes[index];
    const auto& got = actual.size_classes[index];
    const auto name = [index](const char* member) {
      return "size_classes[" + std::to_string(index) + "]." + member;
    };
    if (want.capacity_bytes != got.capacity_bytes || want.oversize != got.oversize ||
        want.hits != got.hits || want.misses != got.misses ||
        want.buffers_cached != got.buffers_cached || want.buffers_in_use != got.buffers_in_use) {
      field(name("capacity_bytes"), want.capacity_bytes, got.capacity_bytes);
      field(name("oversize"), want.oversize, got.oversize);
      field(name("hits"), want.hits, got.hits);
      field(name("misses"), want.misses, got.misses);
      field(name("buffers_cached"), want.buffers_cached, got.buffers_cached);
      field(name("buffers_in_use"), want.buffers_in_use, got.buffers_in_use);
    }
  }
  if (differ && !describe) return describe_metrics_difference(expected, actual, true);
  return out.str();
}

class Runner {
 public:
  Runner() {
    faults_ = std::make_shared<FaultInjectingBackend>(simulated_);
    counting_ = std::make_shared<CountingBackend>(faults_);
  }
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;
  Runner(Runner&&) = delete;
  Runner& operator=(Runner&&) = delete;
  ~Runner() {
    // Scopes must end innermost first, as they would on the stack.
    while (!scopes_.empty()) scopes_.pop_back();
  }

  std::optional<std::string> run(std::span<const std::uint8_t> input, RunStats& stats) {
    stats_ = &stats;
    const auto byte_at = [&input](std::size_t index) -> std::uint8_t {
      return index < input.size() ? input[index] : std::uint8_t{0};
    };
    open_pool({byte_at(0), byte_at(1), byte_at(2), byte_at(3)}, true);
    check("start");
    for (std::size_t offset = 4; offset < input.size() && !failure_; offset += 4) {
      const std::array<std::uint8_t, 4> op{byte_at(offset), byte_at(offset + 1),
                                           byte_at(offset + 2), byte_at(offset + 3)};
      execute(op);
      ++stats.operations;
      if (!failure_) check(last_operation_);
    }
    if (!failure_) teardown();
    stats.faults_injected += faults_->faults_injected();
    return failure_;
  }

 private:
  // ---- the operations -------------------------------------------------------

  void execute(const std::array<std::uint8_t, 4>& op) {
    const std::size_t slot = op[1] % kSlots;
    const std::size_t other = op[2] % kSlots;
    std::ostringstream name;
    switch (opcode_of(op[0])) {
      case Opcode::get: {
        const std::size_t size = decode_size(op[1], op[2], op[3]);
        const std::size_t target = op[0] % kSlots;
        name << "slot" << target << " = get_buffer(" << size << ")";
        note(name.str());
        get(target, size, static_cast<unsigned char>(op[3] | 1U));
        break;
      }
      case Opcode::copy:
        note("slot" + std::to_string(other) + " = slot" + std::to_string(slot));
        copy(slot, other);
        break;
      case Opcode::move:
        note("slot" + std::to_string(other) + " = std::move(slot" + std::to_string(slot) + ")");
        move(slot, other);
        break;
      case Opcode::reset:
        note("slot" + std::to_string(slot) + ".reset()");
        slots_[slot].reset();
        if (const auto held = std::exchange(model_slots_[slot], std::nullopt)) {
          model_.drop_reference(*held);
        }
        break;
      case Opcode::increment:
        note("slot" + std::to_string(slot) + ".increment()");
        if (!model_slots_[slot]) {
          expect_usage_error([&] { slots_[slot].increment(); });
        } else {
          // An increment outlives the handles that made it; a keeper handle
          // keeps the buffer reachable so that the run can give it back.
          const std::size_t buffer = *model_slots_[slot];
          if (keepers_.count(buffer) == 0) {
            keepers_[buffer] = slots_[slot];
            model_.add_reference(buffer);
          }
          slots_[slot].increment();
          model_.increment(buffer);
        }
        break;
      case Opcode::decrement:
        note("slot" + std::to_string(slot) + ".decrement()");
        if (!model_slots_[slot]) {
          expect_usage_error([&] { slots_[slot].decrement(); });
        } else {
          const std::size_t buffer = *model_slots_[slot];
          slots_[slot].decrement();
          if (!model_.decrement(buffer)) model_slots_[slot].reset();
          drop_keeper_if_done(buffer);
        }
        break;
      case Opcode::write:
        note("write slot" + std::to_string(slot));
        write(slot, static_cast<unsigned char>(op[2] | 1U));
        break;
      case Opcode::scope_push:
        note("open AutoReleaseScope");
        if (scopes_.size() < kMaxScopes) {
          scopes_.push_back(std::make_unique<AutoReleaseScope>());
          model_scopes_.emplace_back();
        }
        break;
      case Opcode::scope_add:
        note("add slot" + std::to_string(slot) + " to the innermost scope");
        scope_add(slot, op[2] % 2 == 0);
        break;
      case Opcode::scope_pop:
        note("close the innermost scope");
        if (!scopes_.empty()) {
          scopes_.pop_back();
          drop_all(model_scopes_.back());
          model_scopes_.pop_back();
        }
        break;
      case Opcode::scope_drain:
        note("drain the innermost scope");
        if (!scopes_.empty()) {
          scopes_.back()->drain();
          drop_all(model_scopes_.back());
          model_scopes_.back().clear();
        }
        break;
      case Opcode::advance_clock: {
        const std::int64_t ns = decode_duration(op[1], op[2]);
        note("clock.advance(" + std::to_string(ns) + " ns)");
        clock_->advance(std::chrono::nanoseconds{ns});
        model_.advance_clock(ns);
        break;
      }
      case Opcode::cleanup: {
        note("cleanup()");
        const std::size_t expected = model_.cleanup();
        expect_equal("cleanup() result", expected, pool_->cleanup());
        break;
      }
      case Opcode::clear: {
        note("clear()");
        const std::size_t expected = model_.clear();
        expect_equal("clear() result", expected, pool_->clear());
        break;
      }
      case Opcode::mark_used: {
        const std::uint64_t value = model_.device_completed() + 1 + op[2] % 3;
        note("slot" + std::to_string(slot) + ".mark_used_until(" + std::to_string(value) + ")");
        if (!model_slots_[slot]) {
          expect_usage_error([&] { slots_[slot].mark_used_until(value); });
        } else {
          slots_[slot].mark_used_until(value);
          model_.mark_used_until(*model_slots_[slot], value);
        }
        break;
      }
      case Opcode::complete_device: {
        const std::uint64_t value = model_.device_completed() + 1 + op[1] % 3;
        note("device completes work up to " + std::to_string(value));
        simulated_->complete_until(value);
        model_.complete_device_until(value);
        break;
      }
      case Opcode::fault:
        fault(op[1], op[2]);
        break;
      case Opcode::peak_or_capacity:
        if (op[1] % 2 == 0) {
          note("reset_peak()");
          pool_->reset_peak();
          model_.reset_peak();
        } else {
          const std::size_t size = decode_size(op[2], op[3], op[1]);
          note("capacity_for(" + std::to_string(size) + ")");
          capacity_for(size);
        }
        break;
      case Opcode::new_pool:
        note("replace the pool (config bytes " + std::to_string(op[1]) + " " +
             std::to_string(op[2]) + " " + std::to_string(op[3]) + ")");
        open_pool({op[1], op[2], op[3], static_cast<std::uint8_t>(op[1] ^ op[3])}, false);
        break;
      case Opcode::count:
        break;
    }
  }

  void get(std::size_t target, std::size_t size, unsigned char pattern) {
    ++stats_->requests;
    const GetOutcome expected = model_.get(size);
    try {
      BufferRef got = pool_->get_buffer(size);
      if (expected.kind != GetOutcome::Kind::buffer) {
        fail(expected.kind == GetOutcome::Kind::invalid_argument
                 ? "expected InvalidArgumentError, got a buffer"
                 : "expected OutOfMemoryError, got a buffer");
        return;
      }
      const ModelBuffer& want = model_.buffers()[expected.buffer];
      if (got.native_handle() != want.handle) {
        fail("got backend allocation " + std::to_string(got.native_handle()) + ", expected " +
             std::to_string(want.handle));
        return;
      }
      if (got.ref_count() != 1 || got.size() != size || got.capacity() != want.capacity) {
        fail("a new buffer has ref_count " + std::to_string(got.ref_count()) + ", size " +
             std::to_string(got.size()) + ", capacity " + std::to_string(got.capacity()) +
             "; expected 1, " + std::to_string(size) + ", " + std::to_string(want.capacity));
        return;
      }
      patterns_.resize(model_.buffers().size());
      patterns_[expected.buffer] = pattern;
      fill(got, pattern);
      slots_[target] = std::move(got);
      if (const auto old = std::exchange(model_slots_[target], expected.buffer)) {
        model_.drop_reference(*old);
      }
    } catch (const InvalidArgumentError& error) {
      ++stats_->usage_errors;
      if (expected.kind != GetOutcome::Kind::invalid_argument) {
        fail(std::string("unexpected InvalidArgumentError: ") + error.what());
      }
    } catch (const OutOfMemoryError& error) {
      ++stats_->out_of_memory_errors;
      if (expected.kind != GetOutcome::Kind::out_of_memory) {
        fail(std::string("unexpected OutOfMemoryError: ") + error.what());
      } else if (error.requested_bytes() != expected.requested_bytes ||
                 error.limit_bytes() != expected.limit_bytes ||
                 error.in_use_bytes() != expected.in_use_bytes) {
        fail("OutOfMemoryError(requested " + std::to_string(error.requested_bytes()) + ", limit " +
             std::to_string(error.limit_bytes()) + ", in use " +
             std::to_string(error.in_use_bytes()) + "), expected (" +
             std::to_string(expected.requested_bytes) + ", " +
             std::to_string(expected.limit_bytes) + ", " + std::to_string(expected.in_use_bytes) +
             "): " + error.what());
      }
    } catch (const std::exception& error) {
      fail(std::string("unexpected exception: ") + error.what());
    }
  }

  void copy(std::size_t from, std::size_t to) {
    slots_[to] = slots_[from];
    if (from == to) return;
    const auto added = model_slots_[from];
    if (added) model_.add_reference(*added);
    if (const auto old = std::exchange(model_slots_[to], added)) model_.drop_reference(*old);
  }

  void move(std::size_t from, std::size_t to) {
    if (from == to) return;  // a self-move leaves the handle as it was
    slots_[to] = std::move(slots_[from]);
    const auto old =
        std::exchange(model_slots_[to], std::exchange(model_slots_[from], std::nullopt));
    if (old) model_.drop_reference(*old);
  }

  void write(std::size_t slot, unsigned char pattern) {
    const BufferRef& buffer = slots_[slot];
    if (!model_slots_[slot] || !model_.buffers()[*model_slots_[slot]].host_visible) {
      expect_usage_error([&] { (void)buffer.data(); });
      return;
    }
    if (!holds(buffer, patterns_[*model_slots_[slot]])) {
      fail("slot" + std::to_string(slot) + " lost the bytes its holder wrote");
      return;
    }
    patterns_[*model_slots_[slot]] = pattern;
    fill(buffer, pattern);
  }

  void scope_add(std::size_t slot, bool through_autorelease) {
    if (scopes_.empty()) {
      expect_usage_error([&] { (void)autorelease(slots_[slot]); });
      return;
    }
    if (AutoReleaseScope::innermost() != scopes_.back().get()) {
      fail("AutoReleaseScope::innermost() is not the scope opened last");
      return;
    }
    if (!model_slots_[slot]) {
      expect_usage_error([&] { scopes_.back()->add(slots_[slot]); });
      return;
    }
    if (through_autorelease) {
      (void)autorelease(slots_[slot]);
    } else {
      scopes_.back()->add(slots_[slot]);
    }
    model_.add_reference(*model_slots_[slot]);
    model_scopes_.back().push_back(*model_slots_[slot]);
    if (scopes_.back()->size() != model_scopes_.back().size()) fail("scope size differs");
  }

  void drop_keeper_if_done(std::size_t buffer) {
    const auto keeper = keepers_.find(buffer);
    if (keeper == keepers_.end() || model_.buffers()[buffer].increments > 0) return;
    keeper->second.reset();
    keepers_.erase(keeper);
    model_.drop_reference(buffer);
  }

  void drop_all(const std::vector<std::size_t>& held) {
    // A scope drops its references newest first.
    for (auto it = held.rbegin(); it != held.rend(); ++it) model_.drop_reference(*it);
  }

  void fault(std::uint8_t kind, std::uint8_t argument) {
    switch (kind % 4) {
      case 0: {
        const std::uint64_t n = 1 + argument % 3;
        note("faults.fail_nth_allocation(" + std::to_string(n) + ")");
        faults_->fail_nth_allocation(n);
        model_.fail_nth_allocation(n);
        break;
      }
      case 1:
        note("faults.fail_all(true)");
        faults_->fail_all(true);
        model_.fail_all(true);
        break;
      case 2:
        note("faults.fail_all(false)");
        faults_->fail_all(false);
        model_.fail_all(false);
        break;
      default:
        note("faults.disarm()");
        faults_->disarm();
        model_.disarm();
        break;
    }
  }

  void capacity_for(std::size_t size) {
    const auto expected = model_.capacity_for(size);
    try {
      const std::size_t capacity = pool_->capacity_for(size);
      if (!expected) {
        fail("capacity_for accepted a size the model rejects");
      } else {
        expect_equal("capacity_for", *expected, capacity);
      }
    } catch (const InvalidArgumentError&) {
      ++stats_->usage_errors;
      if (expected) fail("capacity_for threw InvalidArgumentError");
    }
  }

  void open_pool(std::array<std::uint8_t, 4> bytes, bool first) {
    DecodedConfig decoded = decode_config(bytes, clock_);
    if (!decoded.model.valid()) {
      // The backend's limit is part of what the pool checks; the current pool
      // read its own limit when it was made, so changing it briefly is safe.
      const std::size_t current_max = simulated_->max_allocation_bytes();
      simulated_->set_max_allocation_bytes(decoded.model.max_allocation_bytes);
      try {
        BufferPool rejected(counting_, decoded.pool);
        fail("a config that makes no sense was accepted");
      } catch (const ConfigError&) {
        ++stats_->usage_errors;
      }
      simulated_->set_max_allocation_bytes(current_max);
      if (!first) return;
      // The first pool must exist: fall back to the defaults.
      decoded = decode_config({0, 0, 0, 0}, clock_);
    }
    pool_.reset();
    simulated_->set_device_bytes(decoded.model.device_bytes);
    simulated_->set_max_allocation_bytes(decoded.model.max_allocation_bytes);
    pool_ = std::make_unique<BufferPool>(counting_, decoded.pool);
    model_.open_pool(decoded.model);
    ++stats_->pools_created;
  }

  void teardown() {
    note("teardown: close scopes, drop handles, destroy the pool");
    while (!scopes_.empty()) {
      scopes_.pop_back();
      drop_all(model_scopes_.back());
      model_scopes_.pop_back();
    }
    for (std::size_t slot = 0; slot < kSlots; ++slot) {
      slots_[slot].reset();
      if (const auto held = std::exchange(model_slots_[slot], std::nullopt)) {
        model_.drop_reference(*held);
      }
    }
    for (auto& [buffer, keeper] : keepers_) {
      while (model_.buffers()[buffer].increments > 0) {
        keeper.decrement();
        model_.decrement(buffer);
      }
      keeper.reset();
      model_.drop_reference(buffer);
    }
    keepers_.clear();
    pool_.reset();
    model_.close_pool();
    if (model_.backend_live_allocations() != 0) fail("the model leaks");
    expect_equal("live allocations after teardown", std::size_t{0}, counting_->live_allocations());
    expect_equal("simulated live allocations after teardown", std::size_t{0},
                 simulated_->live_allocations());
  }

  // ---- checks ---------------------------------------------------------------

  void check(const std::string& after) {
    if (failure_) return;
    const std::string difference =
        describe_metrics_difference(model_.expected_metrics(), pool_->metrics());
    if (!difference.empty()) {
      fail("metrics differ after " + after + ":" + difference);
      return;
    }
    expect_equal("backend live allocations", model_.backend_live_allocations(),
                 counting_->live_allocations());
    expect_equal("backend live bytes", model_.backend_live_bytes(), counting_->live_bytes());
    expect_equal("faults injected", model_.faults_injected(), faults_->faults_injected());
    expect_equal("device timeline", model_.device_completed(), simulated_->completed_timeline());
    for (std::size_t slot = 0; slot < kSlots && !failure_; ++slot) check_slot(slot);
  }

  void check_slot(std::size_t slot) {
    const BufferRef& buffer = slots_[slot];
    const std::string name = "slot" + std::to_string(slot);
    if (!model_slots_[slot]) {
      if (buffer) fail(name + " should be empty");
      expect_equal(name + " ref_count", std::uint32_t{0}, buffer.ref_count());
      return;
    }
    const ModelBuffer& want = model_.buffers()[*model_slots_[slot]];
    if (!buffer) {
      fail(name + " should hold a buffer");
      return;
    }
    expect_equal(name + " native_handle", want.handle, buffer.native_handle());
    expect_equal(name + " ref_count", want.refs, buffer.ref_count());
    expect_equal(name + " size", want.size, buffer.size());
    expect_equal(name + " capacity", want.capacity, buffer.capacity());
    expect_equal(name + " host_visible", want.host_visible, buffer.host_visible());
    if (want.host_visible && !holds(buffer, patterns_[*model_slots_[slot]])) {
      fail(name + " lost the bytes its holder wrote: another holder shares the buffer");
    }
  }

  template <typename T>
  void expect_equal(const std::string& what, T expected, T actual) {
    if (!failure_ && expected != actual) {
      std::ostringstream out;
      out << what << ": expected " << expected << ", got " << actual;
      fail(out.str());
    }
  }

  template <typename Call>
  void expect_usage_error(Call&& call) {
    try {
      call();
      fail("expected UsageError, nothing was thrown");
    } catch (const UsageError&) {
      ++stats_->usage_errors;
    } catch (const std::exception& error) {
      fail(std::string("expected UsageError, got: ") + error.what());
    }
  }

  static void fill(const BufferRef& buffer, unsigned char pattern) {
    if (!buffer.host_visible()) return;
    const auto bytes = buffer.bytes();
    const std::size_t head = std::min(bytes.size(), kPatternHead);
    std::fill_n(bytes.begin(), head, std::byte{pattern});
    const std::size_t tail = std::min(bytes.size(), kPatternTail);
    std::fill_n(bytes.end() - static_cast<std::ptrdiff_t>(tail), tail, std::byte{pattern});
  }

  static bool holds(const BufferRef& buffer, unsigned char pattern) {
    if (!buffer.host_visible()) return true;
    const auto bytes = buffer.bytes();
    const auto is_pattern = [pattern](std::byte b) { return b == std::byte{pattern}; };
    const std::size_t head = std::min(bytes.size(), kPatternHead);
    const std::size_t tail = std::min(bytes.size(), kPatternTail);
    return std::all_of(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(head),
                       is_pattern) &&
           std::all_of(bytes.end() - static_cast<std::ptrdiff_t>(tail), bytes.end(), is_pattern);
  }

  // ---- decoding -------------------------------------------------------------

  std::size_t decode_size(std::uint8_t kind, std::uint8_t a, std::uint8_t b) const {
    const auto& classes = model_.config().size_classes;
    const std::size_t largest = classes.back();
    const std::size_t max_request = model_.max_request_bytes();
    switch (kind % 8) {
      case 0:
        return a % 4 == 0 ? 0 : std::size_t{1} + b;
      case 1:
        return std::size_t{1} + a + 256 * std::size_t{b % 4U};
      case 2:
        return classes[a % classes.size()] + (b % 3) - 1;
      case 3:
        return std::size_t{1} + ((std::size_t{a} << 8) | b);
      case 4: {
        const std::size_t power = std::size_t{1} << (8 + a % 17);  // 256 B .. 16 MiB
        return power + power / 256 * b;
      }
      case 5:
        return largest + 1 + std::size_t{a} * 512 + b;
      case 6: {
        const std::array<std::size_t, 8> huge{
            max_request, max_request + 1, (std::size_t{1} << 48) - 1, (std::size_t{1} << 48) - 4096,
            SIZE_MAX,    SIZE_MAX - 4095, max_request - 4095,         std::size_t{1} << 40};
        return huge[a % huge.size()];
      }
      default: {
        const auto& held = model_slots_[a % kSlots];
        if (!held) return std::size_t{1} + b;
        const std::size_t size = model_.buffers()[*held].size;
        const std::size_t delta = b % 16;
        return delta < 8 ? size + delta : (size > delta - 8 ? size - (delta - 8) : size);
      }
    }
  }

  std::int64_t decode_duration(std::uint8_t kind, std::uint8_t amount) const {
    const ModelConfig& config = model_.config();
    switch (kind % 8) {
      case 0:
        return 1 + amount;
      case 1:
        return std::int64_t{1'000'000} * (1 + amount);  // milliseconds
      case 2:
        return std::int64_t{1'000'000'000} * (1 + amount % 16);
      case 3:
        return config.ttl_ns;
      case 4:
        return config.ttl_ns - 1;
      case 5:
        return config.cleanup_interval_ns;
      case 6:
        return config.cleanup_interval_ns - 1;
      default:
        return std::int64_t{3'600'000'000'000};
    }
  }

  void note(std::string operation) {
    last_operation_ = std::move(operation);
    history_.push_back(last_operation_);
  }

  void fail(const std::string& message) {
    if (failure_) return;
    std::ostringstream out;
    out << message << "\n  after " << history_.size() << " operations; the last ones:\n";
    const std::size_t first = history_.size() > 25 ? history_.size() - 25 : 0;
    for (std::size_t index = first; index < history_.size(); ++index) {
      out << "    " << index << ": " << history_[index] << "\n";
    }
    failure_ = out.str();
  }

  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>();
  std::shared_ptr<SimulatedBackend> simulated_ = std::make_shared<SimulatedBackend>();
  std::shared_ptr<FaultInjectingBackend> faults_;
  std::shared_ptr<CountingBackend> counting_;
  std::unique_ptr<BufferPool> pool_;
  PoolModel model_;
  std::array<BufferRef, kSlots> slots_;
  std::array<std::optional<std::size_t>, kSlots> model_slots_;
  std::vector<std::unique_ptr<AutoReleaseScope>> scopes_;
  std::vector<std::vector<std::size_t>> model_scopes_;
  std::map<std::size_t, BufferRef> keepers_;  ///< one per buffer with increments out
  std::vector<unsigned char> patterns_;
  std::vector<std::string> history_;
  std::string last_operation_;
  std::optional<std::string> failure_;
  RunStats* stats_ = nullptr;
};

}  // namespace

RunStats& RunStats::operator+=(const RunStats& other) {
  operations += other.operations;
  requests += other.requests;
  out_of_memory_errors += other.out_of_memory_errors;
  usage_errors += other.usage_errors;
  pools_created += other.pools_created;
  faults_injected += other.faults_injected;
  return *this;
}

std::optional<std::string> run_against_model(std::span<const std::uint8_t> input, RunStats* stats) {
  RunStats local;
  Runner runner;
  auto failure = runner.run(input, stats != nullptr ? *stats : local);
  return failure;
}

std::string describe_format() {
  return "header: 4 config bytes; then 4 bytes per operation: opcode % 24 -> "
         "0-4 get(slot = opcode % 8, size from the 3 arguments), 5 copy, 6 move, 7-8 reset, "
         "9 increment, 10 decrement, 11 check and write the pattern, 12 open scope, 13 add to "
         "scope, 14 close scope, 15 drain scope, 16 advance clock, 17 cleanup, 18 clear, "
         "19 mark_used_until, 20 complete device work, 21 fault injection, 22 reset_peak or "
         "capacity_for, 23 replace the pool with a new config";
}

}  // namespace bufferpool::model
