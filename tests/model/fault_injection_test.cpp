// Fault injection: the benchmark issue's three workloads, replayed through
// CountingBackend(FaultInjectingBackend(host)) with segment allocations
// failing at chosen points, at random, and all at once. Each run shows that
// every failure is the documented OutOfMemoryError, that no holder ever sees
// another's bytes and no two held buffers share a byte of a segment, that the
// segments stay tiled (check_segments()), that nothing leaks (the backend's
// live count is back to zero after clear() and after the pool is gone: the
// leaks counted are printed and must be 0), and that the pool serves again
// once the faults stop.
#include "workloads.hpp"  // tests/workloads/: shared with the benchmarks

#include <bufferpool/bufferpool.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <iostream>
#include <string>
#include <tuple>
#include <vector>

namespace bufferpool::model {
namespace {

using namespace bufferpool::workloads;  // NOLINT(google-build-using-namespace)

constexpr std::uint64_t kSeed = 20240601;
constexpr std::size_t kRequests = 1500;

/// How faults are injected during a run.
enum class FaultMode {
  every_nth,    ///< fail_nth_allocation re-armed after each fault (1..4 ahead)
  fraction_5,   ///< fail_fraction(0.05)
  fraction_50,  ///< fail_fraction(0.5): the retry often fails too
  device_full,  ///< fail_all for stretches of 25 requests in every 100
};

const char* name_of(FaultMode mode) {
  switch (mode) {
    case FaultMode::every_nth:
      return "every_nth";
    case FaultMode::fraction_5:
      return "fraction_5";
    case FaultMode::fraction_50:
      return "fraction_50";
    case FaultMode::device_full:
      return "device_full";
  }
  return "?";
}

/// What the runs of one test did, and the leaks they measured.
struct Totals {
  std::uint64_t runs = 0;
  std::uint64_t requests = 0;
  std::uint64_t faults_injected = 0;
  std::uint64_t out_of_memory_errors = 0;
  std::uint64_t segments_allocated = 0;
  /// Backend allocations still live after clear() with nothing held, or
  /// after the pool was gone, and allocations never freed: each is a leak.
  std::uint64_t leaked_after_clear = 0;
  std::uint64_t leaked_after_destroy = 0;
  std::uint64_t allocations_never_freed = 0;

  [[nodiscard]] std::uint64_t leaks() const {
    return leaked_after_clear + leaked_after_destroy + allocations_never_freed;
  }
  void print(const std::string& test) const {
    std::cout << "fault injection, " << test << ": " << runs << " runs, " << requests
              << " requests, " << segments_allocated << " segments allocated, " << faults_injected
              << " faults injected, " << out_of_memory_errors << " OutOfMemoryError surfaced, "
              << leaks() << " leaks (" << leaked_after_clear << " after clear(), "
              << leaked_after_destroy << " after the pool was gone, " << allocations_never_freed
              << " allocations never freed)\n";
  }
};

unsigned char pattern_of(std::uint64_t serial) {
  return static_cast<unsigned char>(serial % 251 + 1);
}

void stamp(const BufferRef& buffer, unsigned char pattern) {
  const auto bytes = buffer.bytes();
  const std::size_t head = std::min<std::size_t>(bytes.size(), 512);
  std::memset(bytes.data(), pattern, head);
  std::memset(bytes.data() + bytes.size() - std::min<std::size_t>(bytes.size(), 64), pattern,
              std::min<std::size_t>(bytes.size(), 64));
}

bool still_holds(const BufferRef& buffer, unsigned char pattern) {
  const auto bytes = buffer.bytes();
  const auto is_pattern = [pattern](std::byte b) { return b == std::byte{pattern}; };
  const std::size_t head = std::min<std::size_t>(bytes.size(), 512);
  const std::size_t tail = std::min<std::size_t>(bytes.size(), 64);
  return std::all_of(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(head),
                     is_pattern) &&
         std::all_of(bytes.end() - static_cast<std::ptrdiff_t>(tail), bytes.end(), is_pattern);
}

struct Case {
  Workload workload;
  PoolConfig config;
  std::string config_name;
  FaultMode mode;
};

/// "" when no two held buffers share a byte of a segment; else the first pair.
std::string overlap_among(const std::vector<BufferRef>& slots) {
  std::vector<std::tuple<std::uint64_t, std::size_t, std::size_t>> ranges;
  for (const BufferRef& buffer : slots) {
    if (buffer) {
      ranges.emplace_back(buffer.native_handle(), buffer.offset_bytes(),
                          buffer.offset_bytes() + buffer.capacity());
    }
  }
  std::sort(ranges.begin(), ranges.end());
  for (std::size_t index = 1; index < ranges.size(); ++index) {
    const auto& [handle, offset, end] = ranges[index];
    const auto& [previous_handle, previous_offset, previous_end] = ranges[index - 1];
    if (handle == previous_handle && offset < previous_end) {
      return "buffers [" + std::to_string(previous_offset) + ", " + std::to_string(previous_end) +
             ") and [" + std::to_string(offset) + ", " + std::to_string(end) + ") of segment " +
             std::to_string(handle) + " overlap";
    }
  }
  return "";
}

void run_case(const Case& test, Totals& totals) {
  SCOPED_TRACE(test.workload.name + " / " + test.config_name + " / " + name_of(test.mode));
  auto faults = std::make_shared<FaultInjectingBackend>(make_host_backend());
  auto counting = std::make_shared<CountingBackend>(faults);
  auto clock = std::make_shared<ManualClock>();
  PoolConfig config = test.config;
  config.clock = clock;
  std::uint64_t out_of_memory = 0;
  std::uint64_t requests = 0;
  {
    BufferPool pool(counting, config);
    SplitMix64 random(kSeed);
    if (test.mode == FaultMode::fraction_5) faults->fail_fraction(0.05, kSeed);
    if (test.mode == FaultMode::fraction_50) faults->fail_fraction(0.5, kSeed);
    std::vector<BufferRef> slots(test.workload.slots);
    std::vector<unsigned char> patterns(test.workload.slots);
    std::uint64_t armed_faults = 0;
    for (const WorkloadEvent& event : test.workload.events) {
      clock->advance(std::chrono::milliseconds{1});
      if (event.kind == WorkloadEvent::Kind::release) {
        BufferRef& slot = slots[event.slot];
        if (slot) {
          ASSERT_TRUE(still_holds(slot, patterns[event.slot])) << "a holder's bytes changed";
        }
        slot.reset();
        continue;
      }
      ++requests;
      // Clearing now and then makes even a workload of hits allocate, so the
      // faults have allocations to hit; it is also a clear() among live buffers.
      if (requests % 50 == 0) pool.clear();
      if (test.mode == FaultMode::every_nth && faults->faults_injected() >= armed_faults) {
        faults->fail_nth_allocation(1 + random.below(4));
        armed_faults = faults->faults_injected() + 1;
      }
      if (test.mode == FaultMode::device_full) faults->fail_all(requests % 100 < 25);
      const std::size_t capacity = pool.capacity_for(event.size_bytes);
      try {
        BufferRef buffer = pool.get_buffer(event.size_bytes);
        ASSERT_GE(buffer.capacity(), event.size_bytes);
        if (config.zero_on_reuse) {
          const std::byte* bytes = buffer.data();
          ASSERT_TRUE(std::all_of(bytes, bytes + buffer.capacity(), [](std::byte b) {
            return b == std::byte{0};
          })) << "zero_on_reuse handed out a buffer that is not all zero";
        }
        patterns[event.slot] = pattern_of(requests);
        stamp(buffer, patterns[event.slot]);
        slots[event.slot] = std::move(buffer);
      } catch (const OutOfMemoryError& error) {
        ++out_of_memory;
        EXPECT_EQ(error.requested_bytes(), capacity);
        // 0: the backend ran out; otherwise the pool's memory_limit.
        EXPECT_TRUE(error.limit_bytes() == 0 || error.limit_bytes() == config.memory_limit);
        EXPECT_NE(std::string(error.what()).find("cannot allocate"), std::string::npos)
            << error.what();
      }
      // Nothing else may escape: any other exception fails the test here.
      const PoolMetrics metrics = pool.metrics();
      ASSERT_EQ(metrics.current_bytes_allocated, counting->live_bytes());
      ASSERT_EQ(metrics.segments, counting->live_allocations());
      ASSERT_EQ(metrics.failed_allocations, out_of_memory);
      ASSERT_EQ(metrics.buffers_in_use,
                static_cast<std::size_t>(std::count_if(
                    slots.begin(), slots.end(), [](const BufferRef& b) { return bool(b); })));
      ASSERT_EQ(pool.check_segments(), "") << "after request " << requests;
      ASSERT_EQ(overlap_among(slots), "") << "after request " << requests;
    }
    for (std::size_t index = 0; index < slots.size(); ++index) {
      if (slots[index]) {
        EXPECT_TRUE(still_holds(slots[index], patterns[index]));
      }
      slots[index].reset();
    }
    pool.clear();
    totals.leaked_after_clear += counting->live_allocations();
    EXPECT_EQ(counting->live_allocations(), 0U) << "leaked after the workload and clear()";
    EXPECT_EQ(pool.metrics().current_bytes_allocated, 0U);
    EXPECT_EQ(pool.metrics().segments, 0U);

    // The faults stop: the pool serves every size again.
    faults->disarm();
    std::vector<BufferRef> again;
    for (const std::size_t size : {std::size_t{100}, std::size_t{5000}, std::size_t{300000},
                                   std::size_t{20} * kWorkloadMiB}) {
      BufferRef buffer = pool.get_buffer(size);
      stamp(buffer, 0x5A);
      again.push_back(std::move(buffer));
    }
    for (const BufferRef& buffer : again) EXPECT_TRUE(still_holds(buffer, 0x5A));
    EXPECT_EQ(overlap_among(again), "");
    if (test.mode == FaultMode::every_nth || test.mode == FaultMode::device_full) {
      EXPECT_GT(faults->faults_injected(), 0U) << "this mode always injects";
    }
    totals.faults_injected += faults->faults_injected();
  }
  totals.leaked_after_destroy += counting->live_allocations();
  totals.allocations_never_freed += counting->total_allocations() - counting->total_frees();
  totals.segments_allocated += counting->total_allocations();
  EXPECT_EQ(counting->live_allocations(), 0U) << "leaked after the pool was destroyed";
  EXPECT_EQ(counting->total_allocations(), counting->total_frees());
  ++totals.runs;
  totals.requests += requests;
  totals.out_of_memory_errors += out_of_memory;
}

std::vector<std::pair<std::string, PoolConfig>> configs() {
  PoolConfig limited;
  limited.memory_limit = 96 * kWorkloadMiB;  // the random workload runs into it
  PoolConfig small_segments;                 // segments fill, split and coalesce often
  small_segments.segments = {16 * kWorkloadKiB, 64 * kWorkloadKiB, 256 * kWorkloadKiB, kWorkloadMiB,
                             64 * kWorkloadKiB};
  small_segments.memory_limit = 48 * kWorkloadMiB;
  PoolConfig zeroed;
  zeroed.zero_on_reuse = true;
  return {{"default", PoolConfig{}},
          {"memory_constrained", PoolConfig::memory_constrained()},
          {"performance_critical", PoolConfig::performance_critical()},
          {"memory_limit_96MiB", limited},
          {"small_segments_limit_48MiB", small_segments},
          {"zero_on_reuse", zeroed}};
}

/// Runs the workload under every config and fault mode; prints what it
/// measured and fails on any leak.
void run_workload(const Workload& workload, const std::string& test) {
  Totals totals;
  for (const auto& [config_name, config] : configs()) {
    for (const FaultMode mode : {FaultMode::every_nth, FaultMode::fraction_5,
                                 FaultMode::fraction_50, FaultMode::device_full}) {
      run_case({workload, config, config_name, mode}, totals);
    }
  }
  totals.print(test);
  EXPECT_EQ(totals.runs, configs().size() * 4);
  EXPECT_GT(totals.faults_injected, 0U);
  EXPECT_GT(totals.out_of_memory_errors, 0U) << "no fault ever surfaced: the retry is not tested";
  ASSERT_EQ(totals.leaks(), 0U);
}

TEST(FaultInjection, SequentialWorkloadSurvivesEveryFaultMode) {
  run_workload(sequential_workload(kRequests, kSeed), "sequential");
}

TEST(FaultInjection, InterleavedWorkloadSurvivesEveryFaultMode) {
  run_workload(interleaved_workload(kRequests, kSeed), "interleaved");
}

TEST(FaultInjection, RandomWorkloadSurvivesEveryFaultMode) {
  run_workload(random_workload(kRequests / 2, kSeed), "random");
}

// The pool's own retry: one fault is absorbed (the cache and the empty
// segments are freed and the allocation retried at the request's own size),
// two in a row surface as OutOfMemoryError.
TEST(FaultInjection, OneFaultIsAbsorbedByTheRetryAndTwoSurface) {
  auto faults = std::make_shared<FaultInjectingBackend>(make_host_backend());
  auto counting = std::make_shared<CountingBackend>(faults);
  constexpr std::size_t kLarge = 3 * kWorkloadMiB;  // a large request: a 20 MiB segment
  {
    BufferPool pool(counting);
    pool.get_buffer(4096).reset();  // idle, in a 2 MiB small segment
    ASSERT_EQ(counting->live_allocations(), 1U);
    faults->fail_nth_allocation(1);
    const BufferRef big = pool.get_buffer(kLarge);
    EXPECT_TRUE(big);
    const PoolMetrics metrics = pool.metrics();
    EXPECT_EQ(metrics.buffers_cached, 0U) << "the retry freed the cache first";
    EXPECT_EQ(metrics.segments, 1U) << "and the small segment it left empty";
    EXPECT_EQ(metrics.current_bytes_allocated, kLarge) << "the retry asks for the request's size";
    EXPECT_EQ(metrics.failed_allocations, 0U);
    EXPECT_EQ(faults->faults_injected(), 1U);
    faults->fail_fraction(1.0, kSeed);
    EXPECT_THROW((void)pool.get_buffer(kLarge), OutOfMemoryError);
    EXPECT_EQ(faults->faults_injected(), 3U) << "the first try and the retry";
    EXPECT_EQ(pool.metrics().failed_allocations, 1U);
    faults->disarm();
    EXPECT_TRUE(pool.get_buffer(kLarge));
  }
  EXPECT_EQ(counting->live_allocations(), 0U);
  EXPECT_EQ(counting->total_allocations(), counting->total_frees());
}

}  // namespace
}  // namespace bufferpool::model
