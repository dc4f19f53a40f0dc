// Concurrency stress: 8 threads run a random mix of operations on one pool for
// a bounded number of operations, with the background cleanup thread running,
// a short TTL, count and byte caps, a memory limit and injected backend faults,
// so that every slow path (carving, splitting and coalescing segments,
// eviction, expiry, limit, out-of-memory retry, stealing from other threads'
// shards) runs concurrently with the hit path. Buffers are handed between
// threads, so many are released on a thread other than the one that got
// them; the test counts those and requires them. Each holder writes a pattern
// unique to it (thread and serial number) into its buffer and checks it
// before every release, so any buffer handed to two holders at once fails the
// test. The run is cut into phases; between phases, with every thread parked
// at a barrier, it checks that the segments are tiled (check_segments()) and
// that no two held buffers share a byte of a segment. CI runs it under
// ThreadSanitizer (ctest -L concurrency); the barrier orders the phases only,
// each phase runs unsynchronized.
#include "gated_backend.hpp"
#include "workloads.hpp"  // tests/workloads/: shared with the benchmarks

#include <bufferpool/bufferpool.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstring>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace bufferpool::model {
namespace {

using namespace bufferpool::workloads;  // NOLINT(google-build-using-namespace)

constexpr unsigned kThreads = 8;
constexpr std::size_t kOperationsPerThread = 40000;
constexpr std::size_t kPhases = 8;
constexpr std::size_t kSlotsPerThread = 4;
constexpr std::size_t kPatternWords = 8;  // 64 bytes at each end of a buffer

/// A pattern no other holder writes: thread, serial number and a marker.
std::uint64_t unique_pattern(unsigned thread, std::uint64_t serial) {
  return (std::uint64_t{0xB0} << 56) | (std::uint64_t{thread} << 48) | serial;
}

/// Where the pattern goes: up to kPatternWords words at the start and, in a
/// buffer long enough that the two never overlap, as many at the end.
std::vector<std::size_t> pattern_offsets(std::size_t size_bytes) {
  constexpr std::size_t kWord = sizeof(std::uint64_t);
  std::vector<std::size_t> offsets;
  const std::size_t words = std::min(kPatternWords, size_bytes / kWord);
  for (std::size_t word = 0; word < words; ++word) offsets.push_back(word * kWord);
  if (size_bytes >= 2 * kPatternWords * kWord) {
    for (std::size_t word = 1; word <= kPatternWords; ++word) {
      offsets.push_back(size_bytes - word * kWord);
    }
  }
  return offsets;
}

void write_pattern(const BufferRef& buffer, std::uint64_t pattern) {
  const auto bytes = buffer.bytes();
  for (const std::size_t offset : pattern_offsets(bytes.size())) {
    std::memcpy(bytes.data() + offset, &pattern, sizeof pattern);
  }
}

bool holds_pattern(const BufferRef& buffer, std::uint64_t pattern) {
  const auto bytes = buffer.bytes();
  for (const std::size_t offset : pattern_offsets(bytes.size())) {
    std::uint64_t found = 0;
    std::memcpy(&found, bytes.data() + offset, sizeof found);
    if (found != pattern) return false;
  }
  return true;
}

struct Held {
  BufferRef buffer;
  std::uint64_t pattern = 0;
  unsigned owner = 0;  ///< the thread that got it
};

/// (segment, offset, end) of a held buffer.
using Range = std::tuple<std::uint64_t, std::size_t, std::size_t>;

Range range_of(const BufferRef& buffer) {
  return {buffer.native_handle(), buffer.offset_bytes(), buffer.offset_bytes() + buffer.capacity()};
}

/// "" when no two ranges share a byte; else the first pair that does.
std::string first_overlap(std::vector<Range> ranges) {
  std::sort(ranges.begin(), ranges.end());
  for (std::size_t index = 1; index < ranges.size(); ++index) {
    const auto& [handle, offset, end] = ranges[index];
    if (handle == std::get<0>(ranges[index - 1]) && offset < std::get<2>(ranges[index - 1])) {
      return "buffers at offsets " + std::to_string(std::get<1>(ranges[index - 1])) + " and " +
             std::to_string(offset) + " of segment " + std::to_string(handle) + " overlap";
    }
  }
  return "";
}

/// Buffers handed from one thread to another, with the pattern they hold.
class Exchange {
 public:
  void put(Held held) {
    const std::lock_guard lock(mutex_);
    if (parked_.size() < 16) parked_.push_back(std::move(held));
  }
  std::optional<Held> take() {
    const std::lock_guard lock(mutex_);
    if (parked_.empty()) return std::nullopt;
    Held held = std::move(parked_.back());
    parked_.pop_back();
    return held;
  }
  /// Drops every parked buffer here; returns how many.
  std::size_t drain() {
    const std::lock_guard lock(mutex_);
    const std::size_t count = parked_.size();
    parked_.clear();
    return count;
  }
  void add_ranges(std::vector<Range>& ranges) {
    const std::lock_guard lock(mutex_);
    for (const Held& held : parked_) ranges.push_back(range_of(held.buffer));
  }

 private:
  std::mutex mutex_;
  std::vector<Held> parked_;
};

struct Counts {
  std::atomic<std::uint64_t> operations{0};
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> out_of_memory{0};
  std::atomic<std::uint64_t> handed_over{0};
  std::atomic<std::uint64_t> released_elsewhere{0};  ///< released by a thread that did not get it
  std::atomic<std::uint64_t> corrupted{0};
  std::atomic<std::uint64_t> unexpected_errors{0};
};

std::size_t random_size(SplitMix64& random) {
  static constexpr std::array<std::size_t, 8> kSizes{100,  256,   1000,  4096,
                                                     5000, 16384, 70000, 300000};
  const std::size_t base = kSizes[random.below(kSizes.size())];
  return base - random.below(base / 4 + 1) + (random.below(8) == 0 ? 300000 : 0);
}

/// Each thread's held buffers, published at the phase barrier.
using Published = std::array<std::vector<Range>, kThreads>;

template <typename Barrier>
void run_thread(BufferPool& pool, Exchange& exchange, Counts& counts, Barrier& phase_end,
                Published& published, unsigned thread) {
  SplitMix64 random(0x5EED0000 + thread);
  std::array<Held, kSlotsPerThread> slots;
  std::uint64_t serial = 0;
  const auto release = [&counts, thread](Held& held) {
    if (held.buffer && !holds_pattern(held.buffer, held.pattern)) ++counts.corrupted;
    if (held.buffer && held.owner != thread) ++counts.released_elsewhere;
    held.buffer.reset();
  };
  const auto acquire = [&](Held& held) -> bool {
    ++counts.requests;
    try {
      BufferRef buffer = pool.get_buffer(random_size(random));
      const std::uint64_t pattern = unique_pattern(thread, ++serial);
      write_pattern(buffer, pattern);
      release(held);  // checks the old buffer against its own pattern
      held.buffer = std::move(buffer);
      held.pattern = pattern;
      held.owner = thread;
      return true;
    } catch (const OutOfMemoryError&) {
      ++counts.out_of_memory;  // injected faults: documented, and survivable
    } catch (...) {
      ++counts.unexpected_errors;
    }
    return false;
  };
  for (std::size_t operation = 0; operation < kOperationsPerThread; ++operation) {
    Held& slot = slots[random.below(kSlotsPerThread)];
    switch (random.below(16)) {
      case 0:
      case 1:
      case 2:
      case 3:
      case 4:
        acquire(slot);
        break;
      case 5:
      case 6:
      case 7:
        release(slot);
        break;
      case 8:  // the hit path: get and release at once
        if (acquire(slot)) release(slot);
        break;
      case 9:  // hand a buffer to whichever thread takes it next
        if (slot.buffer) {
          exchange.put(std::move(slot));
          slot = Held{};
          ++counts.handed_over;
        }
        break;
      case 10:  // take one another thread handed over: it must hold that thread's bytes
        if (auto taken = exchange.take()) {
          release(slot);
          if (!holds_pattern(taken->buffer, taken->pattern)) ++counts.corrupted;
          slot = std::move(*taken);
        }
        break;
      case 11:  // explicit counting, as the design writes it
        if (slot.buffer) {
          slot.buffer.increment();
          const BufferRef copy = slot.buffer;
          slot.buffer.decrement();
          if (copy.ref_count() < 2) ++counts.unexpected_errors;
        }
        break;
      case 12: {  // an auto-release scope around a few short-lived buffers
        AutoReleaseScope scope;
        for (int i = 0; i < 3; ++i) {
          Held temporary;
          if (acquire(temporary)) {
            scope.add(temporary.buffer);
            if (!holds_pattern(temporary.buffer, temporary.pattern)) ++counts.corrupted;
          }
        }
        break;
      }
      case 13:
        (void)pool.metrics();
        break;
      case 14:
        if (random.below(8) == 0) pool.cleanup();
        break;
      default:
        if (random.below(32) == 0) pool.clear();  // must never touch live buffers
        break;
    }
    if (slot.buffer && !holds_pattern(slot.buffer, slot.pattern)) ++counts.corrupted;
    ++counts.operations;
    if ((operation + 1) % (kOperationsPerThread / kPhases) == 0) {
      published[thread].clear();
      for (const Held& held : slots) {
        if (held.buffer) published[thread].push_back(range_of(held.buffer));
      }
      phase_end.arrive_and_wait();  // the checks run while every thread waits here
    }
  }
  for (Held& held : slots) release(held);
}

/// The pool's metrics and the backend's figures, read while the background
/// cleanup called the backend for nothing.
struct Settled {
  PoolMetrics metrics;
  std::size_t live_allocations = 0;
  std::size_t live_bytes = 0;
  std::uint64_t total_allocations = 0;
};

/// Reads the pool's metrics once the background cleanup has settled: the
/// figures the pool reports and the backend's agree whenever the pool is quiet.
/// The cleanup thread keeps expiring (every millisecond here), so a reading
/// counts only when no backend call happened during it, and settled also
/// means no expiry in flight: the batch the cleanup thread holds is in neither
/// the ready cache nor the segments' free space until it is given back.
Settled settled_metrics(const BufferPool& pool, const CountingBackend& counting) {
  Settled settled;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const std::uint64_t calls_before = counting.total_allocations() + counting.total_frees();
    settled.metrics = pool.metrics();
    settled.live_allocations = counting.live_allocations();
    settled.live_bytes = counting.live_bytes();
    settled.total_allocations = counting.total_allocations();
    const std::uint64_t calls_after = counting.total_allocations() + counting.total_frees();
    const PoolMetrics& metrics = settled.metrics;
    if (calls_before == calls_after && metrics.segments == settled.live_allocations &&
        metrics.current_bytes_allocated == settled.live_bytes &&
        metrics.current_bytes_allocated ==
            metrics.bytes_cached + metrics.bytes_pending_gpu + metrics.bytes_free_in_segments) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  }
  return settled;
}

void run_stress(const PoolConfig& base, const std::string& name) {
  auto faults = std::make_shared<FaultInjectingBackend>(make_host_backend());
  faults->fail_fraction(0.02, 7);
  auto counting = std::make_shared<CountingBackend>(faults);
  Counts counts;
  PoolMetrics final_metrics;
  std::size_t phase_checks = 0;
  std::size_t held_checked = 0;
  std::vector<std::string> phase_problems;
  std::size_t drained = 0;
  {
    PoolConfig config = base;
    config.max_pool_size = 24;
    config.max_cached_bytes = 2 << 20;
    config.memory_limit = 64 << 20;
    config.ttl = std::chrono::milliseconds{2};
    config.cleanup_interval = std::chrono::milliseconds{1};
    config.background_cleanup = true;
    BufferPool pool(counting, config);
    Exchange exchange;
    Published published;
    const auto check_phase = [&]() noexcept {
      // Every thread is parked at the barrier: what they hold is published.
      try {
        ++phase_checks;
        std::vector<Range> ranges;
        for (const auto& thread_ranges : published) {
          ranges.insert(ranges.end(), thread_ranges.begin(), thread_ranges.end());
        }
        exchange.add_ranges(ranges);
        held_checked += ranges.size();
        if (std::string problem = pool.check_segments(); !problem.empty()) {
          phase_problems.push_back("check_segments(): " + problem);
        }
        if (std::string problem = first_overlap(ranges); !problem.empty()) {
          phase_problems.push_back(problem);
        }
      } catch (...) {
        phase_problems.push_back("the phase check threw");
      }
    };
    std::barrier phase_end(kThreads, check_phase);
    std::vector<std::thread> threads;
    for (unsigned thread = 0; thread < kThreads; ++thread) {
      threads.emplace_back(
          [&, thread] { run_thread(pool, exchange, counts, phase_end, published, thread); });
    }
    for (auto& thread : threads) thread.join();
    drained = exchange.drain();  // released here, on a thread that got none of them
    const Settled settled = settled_metrics(pool, *counting);
    final_metrics = settled.metrics;
    EXPECT_EQ(pool.check_segments(), "");
    EXPECT_EQ(final_metrics.buffers_in_use, 0U);
    EXPECT_EQ(final_metrics.bytes_in_use, 0U);
    EXPECT_EQ(final_metrics.current_bytes_allocated, settled.live_bytes);
    EXPECT_EQ(final_metrics.segments, settled.live_allocations);
    EXPECT_EQ(final_metrics.current_bytes_allocated, final_metrics.bytes_cached +
                                                         final_metrics.bytes_pending_gpu +
                                                         final_metrics.bytes_free_in_segments)
        << "nothing is in use: the segments hold idle buffers and free space only";
    EXPECT_LE(final_metrics.buffers_cached, config.max_pool_size);
    EXPECT_EQ(final_metrics.failed_allocations, counts.out_of_memory.load());
    EXPECT_EQ(final_metrics.allocations, settled.total_allocations);
    EXPECT_EQ(final_metrics.hits, final_metrics.hits_reused + final_metrics.hits_carved);
    EXPECT_GT(final_metrics.hits_carved, 0U);
    EXPECT_GT(final_metrics.hits_reused, 0U);
    pool.clear();
    // An expiry that began before clear() holds its batch until it has given
    // it back; the segments it empties go at the next clear().
    for (int attempt = 0; attempt < 1000 && counting->live_allocations() != 0; ++attempt) {
      std::this_thread::sleep_for(std::chrono::milliseconds{1});
      pool.clear();
    }
    EXPECT_EQ(pool.check_segments(), "");
    EXPECT_EQ(counting->live_allocations(), 0U) << "nothing is held: every segment goes";
    EXPECT_TRUE(pool.get_buffer(1000)) << "the pool still serves";
  }
  EXPECT_EQ(phase_checks, kPhases);
  EXPECT_TRUE(phase_problems.empty()) << phase_problems.front();
  EXPECT_EQ(counts.corrupted.load(), 0U) << "a buffer was shared by two holders";
  EXPECT_EQ(counts.unexpected_errors.load(), 0U);
  EXPECT_GT(counts.released_elsewhere.load(), 0U) << "no buffer was released on another thread";
  EXPECT_EQ(counting->live_allocations(), 0U) << "leaked after the pool was destroyed";
  EXPECT_EQ(counting->total_allocations(), counting->total_frees());
  EXPECT_EQ(counts.operations.load(), std::uint64_t{kThreads} * kOperationsPerThread);
  std::cout << "stress (" << name << "): " << kThreads << " threads, " << counts.operations.load()
            << " operations, " << counts.requests.load() << " requests (hit rate "
            << final_metrics.hit_rate() << ", " << final_metrics.hits_carved << " carved), "
            << counts.handed_over.load() << " buffers handed between threads, "
            << counts.released_elsewhere.load() + drained
            << " released on a thread that did not get them, " << counting->total_allocations()
            << " segments allocated, " << faults->faults_injected() << " faults injected, "
            << counts.out_of_memory.load() << " OutOfMemoryError, " << final_metrics.evictions
            << " evictions, " << final_metrics.expirations << " expirations, " << phase_checks
            << " phase checks of " << held_checked << " held buffers, " << counts.corrupted.load()
            << " shared, " << counting->live_allocations() << " leaked\n";
}

TEST(Stress, EightThreadsNeverShareABufferAndNothingLeaks) {
  run_stress(PoolConfig{}, "default segments");
}

// Small segments: most requests split a segment or coalesce on release, many
// get a segment of their own, and segments empty and go all the time.
TEST(Stress, EightThreadsOnSmallSegments) {
  PoolConfig config;
  config.segments = {16 << 10, 64 << 10, 256 << 10, 1 << 20, 64 << 10};
  run_stress(config, "small segments");
}

// The contract: destroying a pool while buffers are still referenced is safe,
// and references may live on any thread. So a thread may drop its last
// reference while another destroys the pool. (Found by this test: see the
// report on PoolCore::release, which touches the core after its shard lock
// without holding a close token.)
TEST(Stress, ReleasingOnAnotherThreadWhileThePoolIsDestroyedIsSafe) {
  auto counting = std::make_shared<CountingBackend>(make_host_backend());
  for (int round = 0; round < 300; ++round) {
    PoolConfig config;
    config.max_pool_size = 2;  // releases evict: more work after the shard lock
    auto pool = std::make_unique<BufferPool>(counting, config);
    std::vector<BufferRef> buffers;
    for (int i = 0; i < 8; ++i) buffers.push_back(pool->get_buffer(1000));
    std::atomic<bool> go{false};
    std::thread releaser([&] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      for (auto& buffer : buffers) buffer.reset();
    });
    go.store(true, std::memory_order_release);
    pool.reset();
    releaser.join();
    ASSERT_EQ(counting->live_allocations(), 0U) << "round " << round;
    // The pool's bookkeeping holds the backend until the last buffer is back:
    // it must be gone now, or it leaked.
    ASSERT_EQ(counting.use_count(), 1) << "round " << round << ": the pool's core leaked";
  }
}

// The same race, made likely: a release on another thread frees its buffer's
// segment (caching off: every buffer has a segment of its own, freed on
// release), and is held inside the backend's deallocate() while the pool's
// destruction begins. The destruction waits for that release to finish its
// work on the pool (before the fix, the release went on inside a freed core: a
// heap-use-after-free under ASan and TSan). (With segments an eviction only
// gives its block back to the segment and calls no backend, so the release
// that is held is one that frees a segment.)
TEST(Stress, AReleaseStillRunningWhenThePoolIsDestroyedDoesNotTouchIt) {
  auto counting = std::make_shared<CountingBackend>(make_host_backend());
  auto gate = std::make_shared<testing::GatedBackend>(counting);
  PoolConfig config;
  config.max_pool_size = 0;
  auto pool = std::make_unique<BufferPool>(gate, config);
  BufferRef older = pool->get_buffer(1000);
  BufferRef newer = pool->get_buffer(1000);
  ASSERT_NE(older.native_handle(), newer.native_handle()) << "caching off: segments of their own";
  older.reset();  // its segment goes at once
  ASSERT_EQ(counting->live_allocations(), 1U);
  gate->hold_next_deallocate();
  std::thread releaser([&newer] { newer.reset(); });  // frees its segment: held
  gate->wait_until_held();
  std::thread destroyer([&pool] { pool.reset(); });  // waits for the release in flight
  gate->go_on();
  releaser.join();
  destroyer.join();
  EXPECT_EQ(counting->live_allocations(), 0U);
  EXPECT_EQ(gate.use_count(), 1) << "the pool's core was not freed";
}

}  // namespace
}  // namespace bufferpool::model
