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
#include <tuple>
#include <vector>

namespace bufferpool::model {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kSlots = 12;
/// Stream ids the runner remembers (what open_stream() returned, of any pool).
constexpr std::size_t kStreamSlots = 4;
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
  /// Opcode 8 was a second reset: it became the stream operations, chosen by
  /// the opcode byte's high part (byte / 24 % 4), so that inputs written
  /// before streams existed decode as before everywhere else. Its release
  /// mostly names a stream slot, which those inputs never fill: StreamId::none,
  /// the reset they had (see stream_operation()).
  stream,
  increment,
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
  return static_cast<Opcode>(value);
}

using ConfigBytes = std::array<std::uint8_t, 8>;

/// A config (pool and simulated backend) from eight bytes. Some choices make
/// no sense on purpose: the pool must reject them with ConfigError.
///   byte 0: size classes (% 10)
///   byte 1: max_pool_size (% 8), max_cached_bytes (/ 8 % 8)
///   byte 2: memory_limit (% 8), ttl (/ 8 % 8), background cleanup (>= 0xF0)
///   byte 3: cleanup_interval (% 8), device bytes (/ 8 % 4), max allocation (/ 32 % 4)
///   byte 4: segment sizes (% 8; 7 makes no sense, / 8 % 5 says how)
///   byte 5: zero_on_reuse (bit 0), size_aware eviction (bit 1),
///           the backend's bound on live allocations (/ 4 % 4)
///   bytes 6, 7: unused
struct DecodedConfig {
  PoolConfig pool;
  ModelConfig model;
};

SegmentConfig decode_segments(std::uint8_t byte) {
  SegmentConfig s;  // 0: the defaults, 1 MiB / 2 MiB / 10 MiB / 20 MiB / 2 MiB
  const auto set = [&s](std::size_t small_max, std::size_t small_segment, std::size_t large_max,
                        std::size_t large_segment, std::size_t rounding) {
    s = {small_max, small_segment, large_max, large_segment, rounding};
  };
  switch (byte % 8) {
    case 1:  // tiny segments: they fill, split and empty all the time
      set(1 * KiB, 4 * KiB, 8 * KiB, 16 * KiB, 4 * KiB);
      break;
    case 2:
      set(4 * KiB, 16 * KiB, 16 * KiB, 64 * KiB, 16 * KiB);
      break;
    case 3:
      set(16 * KiB, 64 * KiB, 32 * KiB, 64 * KiB, 8 * KiB);
      break;
    case 4:  // a small segment holds exactly one largest small request
      set(4 * KiB, 4 * KiB, 32 * KiB, 32 * KiB, 256);
      break;
    case 5:  // sizes that are no multiple of the granule
      set(1000, 3000, 5000, 9999, 3333);
      break;
    case 6:  // no medium range: every request above 64 KiB has its own segment
      set(64 * KiB, 64 * KiB, 64 * KiB, 64 * KiB, 64 * KiB);
      break;
    case 7:  // no sense
      switch ((byte / 8) % 5) {
        case 0:
          s.small_segment_bytes = 0;
          break;
        case 1:
          set(8 * KiB, 4 * KiB, 16 * KiB, 16 * KiB, 4 * KiB);
          break;
        case 2:
          set(8 * KiB, 16 * KiB, 4 * KiB, 16 * KiB, 4 * KiB);
          break;
        case 3:
          set(1 * KiB, 4 * KiB, 16 * KiB, 8 * KiB, 4 * KiB);
          break;
        default:
          s.dedicated_rounding_bytes = 0;
          break;
      }
      break;
    default:
      break;
  }
  return s;
}

DecodedConfig decode_config(const ConfigBytes& bytes, const std::shared_ptr<ManualClock>& clock) {
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
  static constexpr std::array<std::size_t, 8> kMemoryLimits{0,         0,       24 * KiB, 64 * KiB,
                                                            256 * KiB, 1 * MiB, 16 * MiB, 100};
  static constexpr std::array<std::chrono::nanoseconds, 8> kTtls{60s, 0s,  1ms, 10s,
                                                                 1s,  1ns, 10s, -1ns};
  static constexpr std::array<std::chrono::nanoseconds, 8> kIntervals{60s, 0s,  1ms, 10s,
                                                                      1h,  30s, 1ns, -1s};
  static constexpr std::array<std::size_t, 4> kDeviceBytes{0, 128 * KiB, 1 * MiB, 64 * MiB};
  static constexpr std::array<std::size_t, 4> kMaxAllocation{SIZE_MAX, 1 * MiB, 64 * MiB + 4 * KiB,
                                                             std::size_t{1} << 40};
  static constexpr std::array<std::size_t, 4> kMaxLive{SIZE_MAX, SIZE_MAX, 3, 8};
  config.max_pool_size = kPoolSizes[bytes[1] % 8];
  config.max_cached_bytes = kCachedBytes[(bytes[1] / 8) % 8];
  config.memory_limit = kMemoryLimits[bytes[2] % 8];
  config.ttl = kTtls[(bytes[2] / 8) % 8];
  config.cleanup_interval = kIntervals[bytes[3] % 8];
  // Background cleanup would make the run depend on the scheduler; it is
  // turned on only with an interval of 0, which the pool must reject.
  config.background_cleanup = bytes[2] >= 0xF0 && config.cleanup_interval == 0s;
  config.segments = decode_segments(bytes[4]);
  config.zero_on_reuse = (bytes[5] & 1U) != 0;
  config.eviction =
      (bytes[5] & 2U) != 0 ? EvictionPolicy::size_aware : EvictionPolicy::oldest_first;

  ModelConfig& model = decoded.model;
  model.size_classes = config.size_classes;
  model.max_pool_size = config.max_pool_size;
  model.max_cached_bytes = config.max_cached_bytes;
  model.memory_limit = config.memory_limit;
  model.ttl_ns = config.ttl.count();
  model.cleanup_interval_ns = config.cleanup_interval.count();
  model.background_cleanup = config.background_cleanup;
  model.size_aware = config.eviction == EvictionPolicy::size_aware;
  model.zero_on_reuse = config.zero_on_reuse;
  model.segments = {config.segments.small_request_max_bytes, config.segments.small_segment_bytes,
                    config.segments.large_request_max_bytes, config.segments.large_segment_bytes,
                    config.segments.dedicated_rounding_bytes};
  model.device_bytes = kDeviceBytes[(bytes[3] / 8) % 4];
  model.max_allocation_bytes = kMaxAllocation[(bytes[3] / 32) % 4];
  model.max_live_allocations = kMaxLive[(bytes[5] / 4) % 4];
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
  field("hits_reused", expected.hits_reused, actual.hits_reused);
  field("hits_carved", expected.hits_carved, actual.hits_carved);
  field("misses", expected.misses, actual.misses);
  field("allocations", expected.allocations, actual.allocations);
  field("deallocations", expected.deallocations, actual.deallocations);
  field("evictions", expected.evictions, actual.evictions);
  field("expirations", expected.expirations, actual.expirations);
  field("failed_allocations", expected.failed_allocations, actual.failed_allocations);
  field("bytes_requested", expected.bytes_requested, actual.bytes_requested);
  field("bytes_granted", expected.bytes_granted, actual.bytes_granted);
  field("stream_reuses", expected.stream_reuses, actual.stream_reuses);
  field("current_bytes_allocated", expected.current_bytes_allocated,
        actual.current_bytes_allocated);
  field("peak_bytes_allocated", expected.peak_bytes_allocated, actual.peak_bytes_allocated);
  field("bytes_in_use", expected.bytes_in_use, actual.bytes_in_use);
  field("buffers_in_use", expected.buffers_in_use, actual.buffers_in_use);
  field("bytes_cached", expected.bytes_cached, actual.bytes_cached);
  field("buffers_cached", expected.buffers_cached, actual.buffers_cached);
  field("bytes_pending_gpu", expected.bytes_pending_gpu, actual.bytes_pending_gpu);
  field("buffers_pending_gpu", expected.buffers_pending_gpu, actual.buffers_pending_gpu);
  field("bytes_kept_for_streams", expected.bytes_kept_for_streams, actual.bytes_kept_for_streams);
  field("buffers_kept_for_streams", expected.buffers_kept_for_streams,
        actual.buffers_kept_for_streams);
  field("open_streams", expected.open_streams, actual.open_streams);
  field("segments", expected.segments, actual.segments);
  field("empty_segments", expected.empty_segments, actual.empty_segments);
  field("bytes_free_in_segments", expected.bytes_free_in_segments, actual.bytes_free_in_segments);
  field("largest_free_block_bytes", expected.largest_free_block_bytes,
        actual.largest_free_block_bytes);
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

/// The identities PoolMetrics documents, on the pool's own figures: "" or
/// the first that fails.
std::string metrics_identity_problem(const PoolMetrics& m) {
  if (m.hits != m.hits_reused + m.hits_carved) return "hits != hits_reused + hits_carved";
  if (m.current_bytes_allocated != m.bytes_in_use + m.bytes_pending_gpu + m.bytes_kept_for_streams +
                                       m.bytes_cached + m.bytes_free_in_segments) {
    return "current_bytes_allocated != in use + pending + kept for streams + cached + free in "
           "segments";
  }
  if (m.stream_reuses > m.hits_reused) return "more stream reuses than hits reused";
  if (m.empty_segments > m.segments) return "more empty segments than segments";
  if (m.largest_free_block_bytes > m.bytes_free_in_segments) {
    return "the largest free block is larger than all free bytes";
  }
  if (m.peak_bytes_allocated < m.current_bytes_allocated) return "peak below current";
  return "";
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
    ConfigBytes header{};
    for (std::size_t index = 0; index < header.size(); ++index) header[index] = byte_at(index);
    open_pool(header, true);
    check("start");
    for (std::size_t offset = header.size(); offset < input.size() && !failure_; offset += 4) {
      const std::array<std::uint8_t, 4> op{byte_at(offset), byte_at(offset + 1),
                                           byte_at(offset + 2), byte_at(offset + 3)};
      if (opcode_of(op[0]) == Opcode::new_pool) {
        // Takes the next 4 bytes too: eight config bytes.
        offset += 4;
        new_pool({op[1], op[2], op[3], static_cast<std::uint8_t>(op[1] ^ op[3]), byte_at(offset),
                  byte_at(offset + 1), byte_at(offset + 2), byte_at(offset + 3)});
      } else {
        execute(op);
      }
      ++stats.operations;
      if (!failure_) check(last_operation_);
    }
    if (!failure_) teardown();
    ++stats.inputs;
    stats.faults_injected += faults_->faults_injected();
    stats.coverage += model_.coverage();
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
        const std::size_t target = (op[0] / 24U * 5U + op[0] % 24U) % kSlots;
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
      case Opcode::stream:
        stream_operation(op);
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
      case Opcode::count:
        break;
    }
  }

  void new_pool(const ConfigBytes& bytes) {
    std::ostringstream name;
    name << "replace the pool (config bytes";
    for (const auto byte : bytes) name << " " << static_cast<unsigned>(byte);
    name << ")";
    note(name.str());
    open_pool(bytes, false);
  }

  /// `stream`: get_buffer(size, stream) (0 is StreamId::none), else get_buffer(size).
  void get(std::size_t target, std::size_t size, unsigned char pattern,
           std::optional<std::uint64_t> stream = std::nullopt) {
    ++stats_->requests;
    const GetOutcome expected = stream ? model_.get_for_stream(size, *stream) : model_.get(size);
    try {
      BufferRef got = stream ? pool_->get_buffer(size, StreamId{*stream}) : pool_->get_buffer(size);
      if (expected.kind != GetOutcome::Kind::buffer) {
        fail(std::string("expected ") + expected_error_name(expected) + ", got a buffer");
        return;
      }
      const ModelBuffer& want = model_.buffers()[expected.buffer];
      if (got.native_handle() != want.handle || got.offset_bytes() != want.offset) {
        fail("got bytes at offset " + std::to_string(got.offset_bytes()) + " of segment " +
             std::to_string(got.native_handle()) + ", expected offset " +
             std::to_string(want.offset) + " of segment " + std::to_string(want.handle) + " (" +
             source_name(expected.source) + ")");
        return;
      }
      if (got.ref_count() != 1 || got.size() != size || got.capacity() != want.capacity) {
        fail("a new buffer has ref_count " + std::to_string(got.ref_count()) + ", size " +
             std::to_string(got.size()) + ", capacity " + std::to_string(got.capacity()) +
             "; expected 1, " + std::to_string(size) + ", " + std::to_string(want.capacity));
        return;
      }
      if (model_.config().zero_on_reuse && got.host_visible()) {
        // Every byte it may use is zero, whoever had them before.
        ++stats_->zeroed_checks;
        const std::byte* bytes = got.data();
        if (!std::all_of(bytes, bytes + got.capacity(),
                         [](std::byte b) { return b == std::byte{0}; })) {
          fail("zero_on_reuse: the buffer handed out is not all zero");
          return;
        }
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
    } catch (const BackendError& error) {
      ++stats_->backend_errors;
      if (expected.kind != GetOutcome::Kind::backend_error) {
        fail(std::string("unexpected BackendError: ") + error.what());
      }
    } catch (const UsageError& error) {
      ++stats_->usage_errors;
      if (expected.kind != GetOutcome::Kind::usage_error) {
        fail(std::string("unexpected UsageError: ") + error.what());
      }
    } catch (const std::exception& error) {
      fail(std::string("unexpected exception: ") + error.what());
    }
  }

  static const char* expected_error_name(const GetOutcome& outcome) {
    switch (outcome.kind) {
      case GetOutcome::Kind::invalid_argument:
        return "InvalidArgumentError";
      case GetOutcome::Kind::out_of_memory:
        return "OutOfMemoryError";
      case GetOutcome::Kind::backend_error:
        return "BackendError (fill_zero)";
      case GetOutcome::Kind::usage_error:
        return "UsageError (a stream not open)";
      default:
        return "a buffer";
    }
  }

  static const char* source_name(GetOutcome::Source source) {
    switch (source) {
      case GetOutcome::Source::reused:
        return "the model reuses an idle buffer";
      case GetOutcome::Source::carved:
        return "the model carves free segment space";
      case GetOutcome::Source::allocated:
        return "the model allocates a new segment";
      default:
        return "?";
    }
  }

  // ---- streams --------------------------------------------------------------

  /// Opcode 8: byte / 24 % 4 picks the operation (0: release to a stream, so
  /// that a byte of 8 stays a release; 1: get for a stream; 2: open; 3: close).
  void stream_operation(const std::array<std::uint8_t, 4>& op) {
    switch ((op[0] / 24U) % 4U) {
      case 0: {
        const std::size_t slot = op[1] % kSlots;
        const std::uint64_t stream = decode_stream(op[2]);
        note("release_to_stream(slot" + std::to_string(slot) + ", " + stream_name(stream) + ")");
        release_to_stream(slot, stream);
        break;
      }
      case 1: {
        const std::size_t target = op[1] % kSlots;
        const std::uint64_t stream = decode_stream(static_cast<std::uint8_t>(op[1] / kSlots));
        const std::size_t size =
            decode_stream_size(stream, op[2] % 8, op[3], static_cast<std::uint8_t>(op[2] / 8));
        note("slot" + std::to_string(target) + " = get_buffer(" + std::to_string(size) + ", " +
             stream_name(stream) + ")");
        get(target, size, static_cast<unsigned char>(op[3] | 1U), stream);
        break;
      }
      case 2: {
        const std::size_t stream_slot = op[1] % kStreamSlots;
        const std::uint64_t expected = model_.open_stream();
        const auto opened = static_cast<std::uint64_t>(pool_->open_stream());
        note("stream slot " + std::to_string(stream_slot) + " = open_stream() (" +
             stream_name(opened) + ")");
        expect_equal("open_stream()", expected, opened);
        stream_slots_[stream_slot] = opened;
        break;
      }
      default: {
        const std::uint64_t stream = decode_stream(op[1]);
        // Used until: nothing, work already done, or work still to come.
        const std::uint64_t completed = model_.device_completed();
        const std::array<std::uint64_t, 4> values{0, completed, completed + 1, completed + 2};
        const std::uint64_t used_until = values[op[2] % values.size()];
        note("close_stream(" + stream_name(stream) + ", used until " + std::to_string(used_until) +
             ")");
        model_.close_stream(stream, used_until);
        pool_->close_stream(StreamId{stream}, used_until);
        break;
      }
    }
  }

  static std::string stream_name(std::uint64_t stream) {
    return stream == 0 ? std::string("StreamId::none") : "stream " + std::to_string(stream);
  }

  /// A stream id from a byte: % 6 is 0-3 a stream slot (StreamId::none while
  /// nothing was opened into it; an id of an earlier pool stays), 4 a raw id
  /// 1-4 (open, closed or never opened), 5 StreamId::none.
  [[nodiscard]] std::uint64_t decode_stream(std::uint8_t byte) const {
    switch (byte % 6) {
      case 4:
        return 1 + (byte / 6) % 4;
      case 5:
        return 0;
      default:
        return stream_slots_[byte % 6];
    }
  }

  /// The size of a request for `stream` (op[2] % 8 the kind, op[3] then
  /// op[2] / 8 its arguments): decode_size(), except that kind 7
  /// (a size near a held buffer's) becomes a size at the edges of the reuse
  /// rule for one of the stream's kept buffers, when it has any: `a` % 16 is
  /// its place from the newest (past the 8 looked at, too), `a` / 16 the edge.
  [[nodiscard]] std::size_t decode_stream_size(std::uint64_t stream, std::uint8_t kind,
                                               std::uint8_t a, std::uint8_t b) const {
    const auto kept = model_.kept_for(stream);
    if (kind % 8 != 7 || kept.empty()) return decode_size(kind, a, b);
    const std::size_t from_newest = std::min<std::size_t>(a % 16, kept.size() - 1);
    const std::size_t capacity = model_.buffers()[kept[kept.size() - 1 - from_newest]].capacity;
    // The smallest request the capacity still serves, size + size / 8 +
    // granule - 1 >= capacity, by bisection (the left side grows with size).
    std::size_t too_small = 0;  // serves nothing of this size or less
    std::size_t smallest = capacity;
    while (smallest - too_small > 1) {
      const std::size_t middle = too_small + (smallest - too_small) / 2;
      (middle + middle / 8 + PoolModel::kGranule - 1 >= capacity ? smallest : too_small) = middle;
    }
    const std::size_t edge = a / 16;
    if (edge < 8) return capacity - std::min(edge, capacity - 1);   // fits
    if (edge == 8) return capacity + 1;                             // too large
    if (edge == 9) return smallest;                                 // just fits
    if (edge == 10) return smallest > 1 ? smallest - 1 : smallest;  // too small
    return smallest + (capacity - smallest) / 2;                    // fits
  }

  void release_to_stream(std::size_t slot, std::uint64_t stream) {
    const StreamRelease expected = model_.release_to_stream(model_slots_[slot], stream);
    try {
      pool_->release_to_stream(slots_[slot], StreamId{stream});
      if (expected == StreamRelease::usage_error) {
        fail("release_to_stream: expected UsageError, nothing was thrown");
        return;
      }
    } catch (const UsageError& error) {
      ++stats_->usage_errors;
      if (expected != StreamRelease::usage_error) {
        fail(std::string("release_to_stream: unexpected UsageError: ") + error.what());
      }
      return;  // the handle stays as it was (check_slot() looks)
    } catch (const std::exception& error) {
      fail(std::string("release_to_stream: unexpected exception: ") + error.what());
      return;
    }
    model_slots_[slot].reset();
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
    switch (kind % 5) {
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
      case 3:
        note("faults.disarm()");
        faults_->disarm();
        model_.disarm();
        break;
      default:
        note("simulated.fail_next_fill_zero()");
        simulated_->fail_next_fill_zero();
        model_.fail_next_fill_zero();
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

  void open_pool(const ConfigBytes& bytes, bool first) {
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
      } catch (const std::exception& error) {
        fail(std::string("a config that makes no sense threw something else than ConfigError: ") +
             error.what());
      }
      simulated_->set_max_allocation_bytes(current_max);
      if (!first) return;
      // The first pool must exist: fall back to the defaults.
      decoded = decode_config({}, clock_);
    }
    pool_.reset();
    model_.close_pool();
    simulated_->set_device_bytes(decoded.model.device_bytes);
    simulated_->set_max_allocation_bytes(decoded.model.max_allocation_bytes);
    simulated_->set_max_live_allocations(decoded.model.max_live_allocations);
    try {
      pool_ = std::make_unique<BufferPool>(counting_, decoded.pool);
    } catch (const std::exception& error) {
      fail(std::string("a config the model accepts was refused: ") + error.what());
      pool_ = std::make_unique<BufferPool>(counting_, decode_config({}, clock_).pool);
      return;
    }
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
    check("dropping every handle");
    if (failure_) return;
    pool_.reset();
    model_.close_pool();
    if (model_.backend_live_allocations() != 0) fail("the model leaks");
    expect_equal("live allocations after teardown", std::size_t{0}, counting_->live_allocations());
    expect_equal("simulated live allocations after teardown", std::size_t{0},
                 simulated_->live_allocations());
    expect_equal("device timeline after teardown", model_.device_completed(),
                 simulated_->completed_timeline());
  }

  // ---- checks ---------------------------------------------------------------

  void check(const std::string& after) {
    if (failure_) return;
    const PoolMetrics actual = pool_->metrics();
    const std::string difference = describe_metrics_difference(model_.expected_metrics(), actual);
    if (!difference.empty()) {
      fail("metrics differ after " + after + ":" + difference);
      return;
    }
    if (const std::string problem = metrics_identity_problem(actual); !problem.empty()) {
      fail("the pool's metrics break an identity after " + after + ": " + problem);
      return;
    }
    if (const std::string problem = pool_->check_segments(); !problem.empty()) {
      fail("check_segments() after " + after + ": " + problem);
      return;
    }
    if (const std::string problem = simulated_->problem(); !problem.empty()) {
      fail("the simulated backend saw a misuse: " + problem);
      return;
    }
    expect_equal("backend live allocations", model_.backend_live_allocations(),
                 counting_->live_allocations());
    expect_equal("backend live bytes", model_.backend_live_bytes(), counting_->live_bytes());
    expect_equal("faults injected", model_.faults_injected(), faults_->faults_injected());
    expect_equal("device timeline", model_.device_completed(), simulated_->completed_timeline());
    expect_equal("fill_zero calls", model_.zero_fills(), simulated_->zero_fills());
    expect_equal("fill_zero bytes", model_.zero_fill_bytes(), simulated_->zero_fill_bytes());
    expect_equal("fill_zero faults", model_.zero_fill_faults(), simulated_->zero_fill_faults());
    for (std::size_t slot = 0; slot < kSlots && !failure_; ++slot) check_slot(slot);
    if (!failure_) check_layout(after);
  }

  /// Every buffer not given back (live, idle, pending; of any pool) lies
  /// inside a live backend allocation of the size its segment has, no two
  /// overlap, and in the model each segment is tiled by its buffers and free
  /// blocks.
  void check_layout(const std::string& after) {
    const auto& segments = model_.segments();
    for (const ModelSegment& segment : segments) {
      if (segment.freed) continue;
      if (simulated_->allocation_bytes(segment.handle) != segment.size) {
        fail("after " + after + ": segment " + std::to_string(segment.handle) + " of " +
             std::to_string(segment.size) + " bytes is not live in the backend at that size");
        return;
      }
    }
    // (segment, offset, end, what) for every range of a segment not freed.
    std::vector<std::tuple<std::size_t, std::size_t, std::size_t, std::string>> ranges;
    const auto& buffers = model_.buffers();
    for (std::size_t index = 0; index < buffers.size(); ++index) {
      const ModelBuffer& buffer = buffers[index];
      if (buffer.state == BufferState::returned) continue;
      const ModelSegment& segment = segments[buffer.segment];
      if (segment.freed || buffer.offset + buffer.capacity > segment.size ||
          buffer.offset % PoolModel::kGranule != 0) {
        fail("after " + after + ": buffer #" + std::to_string(index) + " at [" +
             std::to_string(buffer.offset) + ", +" + std::to_string(buffer.capacity) +
             ") does not lie inside its segment " + std::to_string(segment.handle));
        return;
      }
      ranges.emplace_back(buffer.segment, buffer.offset, buffer.offset + buffer.capacity,
                          "buffer #" + std::to_string(index));
    }
    for (const FreeBlock& block : model_.free_blocks()) {
      if (segments[block.segment].freed) continue;
      ranges.emplace_back(block.segment, block.offset, block.offset + block.size, "free block");
    }
    std::sort(ranges.begin(), ranges.end());
    for (std::size_t index = 0; index < ranges.size(); ++index) {
      const auto& [segment, offset, end, what] = ranges[index];
      const bool first = index == 0 || std::get<0>(ranges[index - 1]) != segment;
      const std::size_t expected_offset = first ? 0 : std::get<2>(ranges[index - 1]);
      if (offset < expected_offset) {
        fail("after " + after + ": " + std::get<3>(ranges[index - 1]) + " and " + what +
             " overlap in segment " + std::to_string(segments[segment].handle));
        return;
      }
      if (offset != expected_offset) {
        fail("after " + after + ": the model leaves a gap before " + what + " in segment " +
             std::to_string(segments[segment].handle));
        return;
      }
      const bool last = index + 1 == ranges.size() || std::get<0>(ranges[index + 1]) != segment;
      if (last && end != segments[segment].size) {
        fail("after " + after + ": the model does not tile segment " +
             std::to_string(segments[segment].handle));
        return;
      }
    }
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
    expect_equal(name + " offset_bytes", want.offset, buffer.offset_bytes());
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
      case 5: {
        if (a % 2 == 0) return largest + 1 + std::size_t{a} * 512 + b;
        // The edges of the segment settings: where a request changes kind or
        // gets a segment of its own, and the segments' own sizes.
        const ModelSegments& s = model_.config().segments;
        const std::array<std::size_t, 12> edges{
            s.small_request_max_bytes,     s.small_request_max_bytes + 1,
            s.small_segment_bytes,         s.small_segment_bytes + 1,
            s.large_request_max_bytes - 1, s.large_request_max_bytes,
            s.large_segment_bytes,         s.large_segment_bytes + 1,
            s.dedicated_rounding_bytes,    s.dedicated_rounding_bytes + 1,
            PoolModel::kGranule,           2 * PoolModel::kGranule + 1};
        const std::size_t edge = edges[b % edges.size()];
        switch ((a / 2) % 4) {
          case 0:
            return edge;
          case 1:
            return edge > 1 ? edge - 1 : edge;
          case 2:
            return edge / 2 + 1;
          default:
            return edge / 3 + 1;
        }
      }
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
  /// Ids open_stream() returned; kept across pools, to name closed streams.
  std::array<std::uint64_t, kStreamSlots> stream_slots_{};
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
  inputs += other.inputs;
  operations += other.operations;
  requests += other.requests;
  out_of_memory_errors += other.out_of_memory_errors;
  backend_errors += other.backend_errors;
  usage_errors += other.usage_errors;
  pools_created += other.pools_created;
  zeroed_checks += other.zeroed_checks;
  faults_injected += other.faults_injected;
  coverage += other.coverage;
  return *this;
}

std::string describe(const RunStats& stats) {
  std::ostringstream out;
  out << stats.inputs << " inputs, " << stats.operations << " operations, " << stats.requests
      << " requests, " << stats.pools_created << " pools, " << stats.faults_injected
      << " faults injected, " << stats.out_of_memory_errors << " OutOfMemoryError, "
      << stats.backend_errors << " BackendError, " << stats.usage_errors << " usage errors, "
      << stats.zeroed_checks << " zeroed buffers checked; model paths:";
  for (const auto& [name, count] : stats.coverage.fields()) out << " " << name << "=" << count;
  return out.str();
}

std::optional<std::string> run_against_model(std::span<const std::uint8_t> input, RunStats* stats) {
  RunStats local;
  Runner runner;
  auto failure = runner.run(input, stats != nullptr ? *stats : local);
  return failure;
}

std::string describe_format() {
  return "header: 8 config bytes (0 classes, 1 idle caps, 2 memory limit and ttl, 3 cleanup "
         "interval, device size and max allocation, 4 segment sizes, 5 zero_on_reuse, "
         "size-aware eviction and the bound on live allocations); then 4 bytes per operation: "
         "opcode % 24 -> 0-4 get(slot from the opcode, size from the 3 arguments), 5 copy, "
         "6 move, 7 reset, 8 stream (opcode / 24 % 4: 0 release_to_stream, 1 get_buffer for a "
         "stream, 2 open_stream, 3 close_stream with a used-until value), 9 increment, 10 "
         "decrement, 11 check and write the pattern, 12 open "
         "scope, 13 add to scope, 14 close scope, 15 drain scope, 16 advance clock, 17 cleanup, "
         "18 clear, 19 mark_used_until, 20 complete device work, 21 fault injection (allocation "
         "or fill_zero), 22 reset_peak or capacity_for, 23 replace the pool with a new config "
         "(3 argument bytes and the next 4 bytes)";
}

}  // namespace bufferpool::model
