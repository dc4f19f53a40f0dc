// Fault injection: the benchmark issue's three workloads, replayed through
// CountingBackend(FaultInjectingBackend(host)) with allocations failing at
// chosen points, at random, and all at once. Each run shows that every failure
// is the documented OutOfMemoryError, that no holder ever sees another's bytes,
// that nothing leaks (the backend's live count is back to zero after clear()
// and after the pool is gone), and that the pool serves again once the faults
// stop.
#include "workloads.hpp"  // bench/: the benchmark's workloads

#include <bufferpool/bufferpool.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <iostream>
#include <string>
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

struct Totals {
  std::uint64_t runs = 0;
  std::uint64_t requests = 0;
  std::uint64_t faults_injected = 0;
  std::uint64_t out_of_memory_errors = 0;
  ~Totals() {
    std::cout << "fault injection: " << runs << " runs, " << requests << " requests, "
              << faults_injected << " faults injected, " << out_of_memory_errors
              << " OutOfMemoryError surfaced, 0 leaks\n";
  }
};
Totals totals;

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

void run_case(const Case& test) {
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
      ASSERT_EQ(metrics.failed_allocations, out_of_memory);
      ASSERT_EQ(metrics.buffers_in_use,
                static_cast<std::size_t>(std::count_if(
                    slots.begin(), slots.end(), [](const BufferRef& b) { return bool(b); })));
    }
    for (std::size_t index = 0; index < slots.size(); ++index) {
      if (slots[index]) {
        EXPECT_TRUE(still_holds(slots[index], patterns[index]));
      }
      slots[index].reset();
    }
    pool.clear();
    EXPECT_EQ(counting->live_allocations(), 0U) << "leaked after the workload and clear()";
    EXPECT_EQ(pool.metrics().current_bytes_allocated, 0U);

    // The faults stop: the pool serves every size again.
    faults->disarm();
    for (const std::size_t size : {std::size_t{100}, std::size_t{5000}, std::size_t{300000},
                                   std::size_t{20} * kWorkloadMiB}) {
      BufferRef buffer = pool.get_buffer(size);
      stamp(buffer, 0x5A);
      EXPECT_TRUE(still_holds(buffer, 0x5A));
    }
    if (test.mode == FaultMode::every_nth || test.mode == FaultMode::device_full) {
      EXPECT_GT(faults->faults_injected(), 0U) << "this mode always injects";
    }
    totals.faults_injected += faults->faults_injected();
  }
  EXPECT_EQ(counting->live_allocations(), 0U) << "leaked after the pool was destroyed";
  EXPECT_EQ(counting->total_allocations(), counting->total_frees());
  ++totals.runs;
  totals.requests += requests;
  totals.out_of_memory_errors += out_of_memory;
}

std::vector<std::pair<std::string, PoolConfig>> configs() {
  PoolConfig limited;
  limited.memory_limit = 96 * kWorkloadMiB;  // the random workload runs into it
  return {{"default", PoolConfig{}},
          {"memory_constrained", PoolConfig::memory_constrained()},
          {"performance_critical", PoolConfig::performance_critical()},
          {"memory_limit_96MiB", limited}};
}

void run_workload(const Workload& workload) {
  for (const auto& [config_name, config] : configs()) {
    for (const FaultMode mode : {FaultMode::every_nth, FaultMode::fraction_5,
                                 FaultMode::fraction_50, FaultMode::device_full}) {
      run_case({workload, config, config_name, mode});
    }
  }
}

TEST(FaultInjection, SequentialWorkloadSurvivesEveryFaultMode) {
  run_workload(sequential_workload(kRequests, kSeed));
}

TEST(FaultInjection, InterleavedWorkloadSurvivesEveryFaultMode) {
  run_workload(interleaved_workload(kRequests, kSeed));
}

TEST(FaultInjection, RandomWorkloadSurvivesEveryFaultMode) {
  run_workload(random_workload(kRequests / 2, kSeed));
}

// The pool's own retry: one fault is absorbed (the cache is freed and the
// allocation retried), two in a row surface as OutOfMemoryError.
TEST(FaultInjection, OneFaultIsAbsorbedByTheRetryAndTwoSurface) {
  auto faults = std::make_shared<FaultInjectingBackend>(make_host_backend());
  auto counting = std::make_shared<CountingBackend>(faults);
  {
    BufferPool pool(counting);
    pool.get_buffer(4096).reset();
    faults->fail_nth_allocation(1);
    const BufferRef big = pool.get_buffer(100000);
    EXPECT_TRUE(big);
    EXPECT_EQ(pool.metrics().buffers_cached, 0U) << "the retry freed the cache first";
    faults->fail_fraction(1.0, kSeed);
    EXPECT_THROW((void)pool.get_buffer(100000), OutOfMemoryError);
    EXPECT_EQ(faults->faults_injected(), 3U);
    faults->disarm();
    EXPECT_TRUE(pool.get_buffer(100000));
  }
  EXPECT_EQ(counting->live_allocations(), 0U);
}

}  // namespace
}  // namespace bufferpool::model
