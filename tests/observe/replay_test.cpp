// replay(): a trace through a real pool over the simulated backend, figures
// worked out by hand, time that follows the trace, observers that see the
// replay, and a recorded run reproduced exactly by replaying its recording.
#include <bufferpool/buffer.hpp>
#include <bufferpool/clock.hpp>
#include <bufferpool/errors.hpp>
#include <bufferpool/host_backend.hpp>
#include <bufferpool/memory_snapshot.hpp>
#include <bufferpool/pool.hpp>
#include <bufferpool/replay.hpp>
#include <bufferpool/simulated_backend.hpp>
#include <bufferpool/trace.hpp>

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace bufferpool {
namespace {

constexpr std::size_t kKiB = 1024;
constexpr std::size_t kMiB = 1024 * kKiB;

Trace parse(const std::string& text) {
  std::istringstream input(text);
  return parse_trace(input, "test.csv", "test");
}

const std::string kHeader = "Thread,Time,Action,Pointer,Size,Stream\n";

std::string line(std::uint64_t time_ns, const char* action, std::uint64_t pointer,
                 std::size_t size_bytes) {
  std::ostringstream text;
  text << "1," << time_ns << "," << action << ",0x" << std::hex << pointer << std::dec << ","
       << size_bytes << ",0x0\n";
  return text.str();
}

TEST(Replay, FiguresOfASmallTraceWorkedOutByHand) {
  // 1000 B: a new 2 MiB small segment (a miss), 1024 B carved. 5000 B:
  // carved from the same segment (a hit). The first freed, 900 B reuses it
  // (a hit, reused).
  const Trace trace =
      parse(kHeader + line(0, "allocate", 0x1000, 1000) + line(10, "allocate", 0x2000, 5000) +
            line(20, "free", 0x1000, 1000) + line(30, "allocate", 0x3000, 900) +
            line(40, "free", 0x2000, 5000) + line(50, "free", 0x3000, 900));
  const ReplayResult result = replay(trace, PoolConfig{});
  EXPECT_EQ(result.trace, "test");
  EXPECT_EQ(result.requests, 3U);
  EXPECT_EQ(result.hits, 2U);
  EXPECT_DOUBLE_EQ(result.hit_rate, 2.0 / 3.0);
  EXPECT_EQ(result.failed_requests, 0U);
  EXPECT_EQ(result.device_allocations, 1U);
  EXPECT_EQ(result.peak_live_device_allocations, 1U);
  EXPECT_EQ(result.peak_bytes_held, 2 * kMiB);
  EXPECT_EQ(result.peak_bytes_live, 6000U);
  EXPECT_DOUBLE_EQ(result.overhead, static_cast<double>(2 * kMiB) / 6000.0);
  EXPECT_EQ(result.metrics.misses, 1U);
  EXPECT_EQ(result.metrics.hits_carved, 1U);
  EXPECT_EQ(result.metrics.hits_reused, 1U);
  EXPECT_EQ(result.metrics.bytes_requested, 6900U);
  EXPECT_EQ(result.metrics.bytes_in_use, 0U);

  // The peak was first reached by the first request: one live block of
  // 1024 B (1000 rounded to the simulated device's 256 B) and free space.
  EXPECT_EQ(result.peak_time_ns, 0U);
  ASSERT_EQ(result.segments_at_peak.size(), 1U);
  const SegmentFigures& segment = result.segments_at_peak[0];
  EXPECT_EQ(segment.size_bytes, 2 * kMiB);
  EXPECT_FALSE(segment.large);
  EXPECT_EQ(segment.live_blocks, 1U);
  EXPECT_EQ(segment.live_bytes, 1024U);
  EXPECT_EQ(segment.requested_bytes, 1000U);
  EXPECT_EQ(segment.idle_bytes, 0U);
  EXPECT_EQ(segment.free_blocks, 1U);
  EXPECT_EQ(segment.free_bytes, 2 * kMiB - 1024);
  EXPECT_EQ(segment.largest_free_block_bytes, 2 * kMiB - 1024);
}

TEST(Replay, PerClassFiguresComeFromThePool) {
  const Trace trace =
      parse(kHeader + line(0, "allocate", 0x1000, 100) + line(1, "free", 0x1000, 100) +
            line(2, "allocate", 0x1000, 100) + line(3, "allocate", 0x2000, 3000));
  const ReplayResult result = replay(trace, PoolConfig{});
  // Default classes: 256 B, 1 KiB, 4 KiB, ...; the last entry is oversize.
  ASSERT_EQ(result.metrics.size_classes.size(), default_size_classes().size() + 1);
  EXPECT_EQ(result.metrics.size_classes[0].capacity_bytes, 256U);
  EXPECT_EQ(result.metrics.size_classes[0].hits + result.metrics.size_classes[0].misses, 2U);
  EXPECT_EQ(result.metrics.size_classes[2].hits + result.metrics.size_classes[2].misses, 1U);
  // Never freed: still live after the last event.
  EXPECT_EQ(result.metrics.buffers_in_use, 2U);
}

TEST(Replay, PoolTimeFollowsTheTrace) {
  // A buffer idle for 10 minutes is past the default TTL (60 s) when the
  // next miss runs cleanup; idle for 1 ms, it is not.
  const auto trace_with_gap = [](std::uint64_t gap_ns) {
    return parse(kHeader + line(0, "allocate", 0x1000, 4096) + line(100, "free", 0x1000, 4096) +
                 line(gap_ns, "allocate", 0x2000, kMiB) + line(gap_ns, "free", 0x2000, kMiB));
  };
  const ReplayResult late = replay(trace_with_gap(600'000'000'000), PoolConfig{});
  EXPECT_GE(late.metrics.expirations, 1U);
  const ReplayResult soon = replay(trace_with_gap(1'000'000), PoolConfig{});
  EXPECT_EQ(soon.metrics.expirations, 0U);
}

/// A synthetic trace of `events` lines: random sizes, random frees.
Trace random_trace(std::size_t events, std::uint64_t seed) {
  std::mt19937_64 random(seed);
  std::string text = kHeader;
  std::vector<std::pair<std::uint64_t, std::size_t>> live;
  std::uint64_t next_pointer = 0x10000;
  for (std::size_t index = 0; index < events; ++index) {
    const std::uint64_t time_ns = index * 1000;
    if (live.empty() || random() % 2 == 0) {
      const auto size_bytes =
          static_cast<std::size_t>(std::exp2(6.0 + static_cast<double>(random() % 1500) / 100.0));
      text += line(time_ns, "allocate", next_pointer, size_bytes);
      live.emplace_back(next_pointer, size_bytes);
      next_pointer += 0x1000000;
    } else {
      const std::size_t victim = random() % live.size();
      text += line(time_ns, "free", live[victim].first, live[victim].second);
      live[victim] = live.back();
      live.pop_back();
    }
  }
  return parse(text);
}

TEST(Replay, FragmentationSeriesIsBoundedAndAddsUp) {
  const Trace trace = random_trace(1000, 1);
  ReplayOptions options;
  options.max_fragmentation_samples = 7;
  const ReplayResult result = replay(trace, PoolConfig{}, options);
  ASSERT_FALSE(result.fragmentation.empty());
  EXPECT_LE(result.fragmentation.size(), 7U);
  EXPECT_EQ(result.fragmentation.back().events_replayed, 1000U);
  EXPECT_EQ(result.fragmentation.back().time_ns, trace.duration_ns());
  std::size_t previous_events = 0;
  for (const FragmentationSample& sample : result.fragmentation) {
    EXPECT_GT(sample.events_replayed, previous_events);
    previous_events = sample.events_replayed;
    // Nothing pends on a simulated device: held is live + idle + free.
    EXPECT_EQ(sample.bytes_held,
              sample.bytes_live + sample.bytes_idle + sample.bytes_free_in_segments);
    EXPECT_LE(sample.largest_free_block_bytes, sample.bytes_free_in_segments);
    EXPECT_LE(sample.bytes_held, result.peak_bytes_held);
  }
  EXPECT_EQ(result.fragmentation.back().bytes_held, result.metrics.current_bytes_allocated);

  options.max_fragmentation_samples = 0;
  options.snapshot_at_peak = false;
  const ReplayResult bare = replay(trace, PoolConfig{}, options);
  EXPECT_TRUE(bare.fragmentation.empty());
  EXPECT_TRUE(bare.segments_at_peak.empty());
  // Sampling only looks: the figures are the same.
  EXPECT_EQ(bare.metrics.to_json(), result.metrics.to_json());
  EXPECT_EQ(bare.peak_bytes_held, result.peak_bytes_held);
}

TEST(Replay, SegmentsAtThePeakTileThePeak) {
  const Trace trace = random_trace(2000, 2);
  const ReplayResult result = replay(trace, PoolConfig{});
  ASSERT_FALSE(result.segments_at_peak.empty());
  std::size_t held_bytes = 0;
  for (const SegmentFigures& segment : result.segments_at_peak) {
    EXPECT_EQ(segment.live_bytes + segment.idle_bytes + segment.pending_bytes + segment.free_bytes,
              segment.size_bytes);
    EXPECT_LE(segment.requested_bytes, segment.live_bytes);
    held_bytes += segment.size_bytes;
  }
  EXPECT_EQ(held_bytes, result.peak_bytes_held);
}

TEST(Replay, RefusedRequestsAreCountedAndReplayed) {
  // memory_limit 1 MiB: the 2 MiB request cannot be served.
  PoolConfig config;
  config.memory_limit = kMiB;
  config.segments.small_segment_bytes = kMiB;
  const Trace trace =
      parse(kHeader + line(0, "allocate", 0x1000, 1000) + line(5, "allocate", 0x2000, 2 * kMiB) +
            line(6, "allocate failure", 0, 3 * kMiB));
  const ReplayResult result = replay(trace, config);
  EXPECT_EQ(result.requests, 3U);
  EXPECT_EQ(result.failed_requests, 2U);
  EXPECT_EQ(result.metrics.failed_allocations, 2U);
  // Without the limit the recorded failure is served, and let go at once.
  const ReplayResult unlimited = replay(trace, PoolConfig{});
  EXPECT_EQ(unlimited.failed_requests, 0U);
  EXPECT_EQ(unlimited.metrics.buffers_in_use, 2U);
}

/// Counts what the pool tells its observers.
class CountingObserver final : public PoolObserver {
 public:
  void on_event(const PoolEvent& event) noexcept override {
    const std::lock_guard lock(mutex_);
    ++counts_[event.kind];
    times_ns_.push_back(event.time_ns);
  }
  std::size_t count(PoolEventKind kind) const {
    const std::lock_guard lock(mutex_);
    const auto found = counts_.find(kind);
    return found == counts_.end() ? 0 : found->second;
  }
  std::vector<std::uint64_t> times_ns() const {
    const std::lock_guard lock(mutex_);
    return times_ns_;
  }

 private:
  mutable std::mutex mutex_;
  std::map<PoolEventKind, std::size_t> counts_;
  std::vector<std::uint64_t> times_ns_;
};

TEST(Replay, ObserversSeeEveryEventOfTheReplay) {
  const Trace trace = random_trace(500, 3);
  std::size_t frees = 0;
  for (const TraceEvent& event : trace.events) frees += event.kind == TraceEvent::Kind::free;
  auto first = std::make_shared<CountingObserver>();
  auto second = std::make_shared<CountingObserver>();
  ReplayOptions options;
  options.observers = {first, second};
  const ReplayResult result = replay(trace, PoolConfig{}, options);
  for (const auto* observer : {first.get(), second.get()}) {
    EXPECT_EQ(observer->count(PoolEventKind::allocate), result.requests);
    // Buffers the trace leaves live are released after the observers go.
    EXPECT_EQ(observer->count(PoolEventKind::free), frees);
    EXPECT_EQ(observer->count(PoolEventKind::segment_allocate), result.device_allocations);
    const std::vector<std::uint64_t> times = observer->times_ns();
    ASSERT_FALSE(times.empty());
    EXPECT_LE(times.back(), trace.duration_ns());
  }
  EXPECT_GT(trace.live_at_end, 0U);

  options.observers = {nullptr};
  EXPECT_THROW((void)replay(trace, PoolConfig{}, options), ConfigError);
}

TEST(Replay, FinalSnapshotHoldsWhatTheTraceLeftLive) {
  const Trace trace = random_trace(400, 6);
  ASSERT_GT(trace.live_at_end, 0U);
  ReplayOptions options;
  options.snapshot_at_end = true;
  const ReplayResult result = replay(trace, PoolConfig{}, options);
  std::size_t live_blocks = 0;
  std::size_t held_bytes = 0;
  for (const SnapshotSegment& segment : result.final_snapshot.segments) {
    held_bytes += segment.size_bytes;
    for (const SnapshotBlock& block : segment.blocks) {
      live_blocks += block.state == BlockState::live ? 1 : 0;
    }
  }
  EXPECT_EQ(live_blocks, trace.live_at_end);
  EXPECT_EQ(held_bytes, result.metrics.current_bytes_allocated);
  EXPECT_EQ(result.final_snapshot.time.count(), static_cast<std::int64_t>(trace.duration_ns()));
  EXPECT_TRUE(replay(trace, PoolConfig{}).final_snapshot.segments.empty());
}

TEST(Replay, ReportsProgress) {
  const Trace trace = random_trace(1000, 4);
  std::vector<std::size_t> done;
  ReplayOptions options;
  options.progress = [&done](std::size_t events_done, std::size_t events_total) {
    EXPECT_EQ(events_total, 1000U);
    done.push_back(events_done);
  };
  (void)replay(trace, PoolConfig{}, options);
  ASSERT_GE(done.size(), 10U);
  EXPECT_EQ(done.back(), 1000U);
}

TEST(Replay, JsonCarriesTheFigures) {
  const Trace trace = random_trace(300, 5);
  const ReplayResult result = replay(trace, PoolConfig{});
  const nlohmann::json json = nlohmann::json::parse(result.to_json());
  EXPECT_EQ(json.at("trace").get<std::string>(), "test");
  EXPECT_EQ(json.at("requests").get<std::uint64_t>(), result.requests);
  EXPECT_EQ(json.at("hits").get<std::uint64_t>(), result.hits);
  EXPECT_DOUBLE_EQ(json.at("hit_rate").get<double>(), result.hit_rate);
  EXPECT_EQ(json.at("peak_bytes_held").get<std::size_t>(), result.peak_bytes_held);
  EXPECT_EQ(json.at("peak_bytes_live").get<std::size_t>(), result.peak_bytes_live);
  EXPECT_DOUBLE_EQ(json.at("overhead").get<double>(), result.overhead);
  EXPECT_EQ(json.at("device_allocations").get<std::uint64_t>(), result.device_allocations);
  EXPECT_EQ(json.at("metrics").at("misses").get<std::uint64_t>(), result.metrics.misses);
  EXPECT_EQ(json.at("segments_at_peak").size(), result.segments_at_peak.size());
  EXPECT_EQ(json.at("segments_at_peak").at(0).at("size_bytes").get<std::size_t>(),
            result.segments_at_peak.at(0).size_bytes);
  ASSERT_EQ(json.at("fragmentation").size(), result.fragmentation.size());
  EXPECT_EQ(json.at("fragmentation").back().at("bytes_held").get<std::size_t>(),
            result.fragmentation.back().bytes_held);
}

// ---- a recorded run, replayed ----

struct RecordedRun {
  PoolMetrics metrics;
  std::filesystem::path trace_path;
};

/// A single-threaded run under a ManualClock, with limits tight enough that
/// every path acts: carving, reuse, count and byte caps, TTL expiry, empty
/// segments given back, the memory limit refusing requests. The first
/// request comes at the pool's first moment, as replay() assumes.
RecordedRun record_run(const std::shared_ptr<Backend>& backend, PoolConfig config,
                       const std::string& name) {
  RecordedRun run;
  run.trace_path = std::filesystem::temp_directory_path() / (name + ".csv");
  auto clock = std::make_shared<ManualClock>();
  config.clock = clock;
  config.trace_path = run.trace_path.string();
  BufferPool pool(backend, config);
  std::mt19937_64 random(11);
  std::vector<BufferRef> live;
  for (int step = 0; step < 6000; ++step) {
    if (live.empty() || random() % 100 < 52) {
      const auto size_bytes =
          static_cast<std::size_t>(std::exp2(6.0 + static_cast<double>(random() % 1500) / 100.0));
      try {
        live.push_back(pool.get_buffer(size_bytes));
      } catch (const OutOfMemoryError&) {
        // Refused by memory_limit: recorded as "allocate failure".
      }
    } else {
      const std::size_t victim = random() % live.size();
      live[victim] = std::move(live.back());
      live.pop_back();
    }
    // Whole microseconds, as the recording's clock column has them; now
    // and then a pause longer than the TTL.
    clock->advance(std::chrono::microseconds{step % 1000 == 999 ? 50'000 : random() % 200});
  }
  live.clear();
  run.metrics = pool.metrics();
  pool.stop_recording();
  return run;
}

void expect_same_metrics(const PoolMetrics& replayed, const PoolMetrics& recorded) {
  EXPECT_EQ(replayed.hits, recorded.hits);
  EXPECT_EQ(replayed.hits_reused, recorded.hits_reused);
  EXPECT_EQ(replayed.hits_carved, recorded.hits_carved);
  EXPECT_EQ(replayed.misses, recorded.misses);
  EXPECT_EQ(replayed.allocations, recorded.allocations);
  EXPECT_EQ(replayed.deallocations, recorded.deallocations);
  EXPECT_EQ(replayed.evictions, recorded.evictions);
  EXPECT_EQ(replayed.expirations, recorded.expirations);
  EXPECT_EQ(replayed.failed_allocations, recorded.failed_allocations);
  EXPECT_EQ(replayed.bytes_requested, recorded.bytes_requested);
  EXPECT_EQ(replayed.bytes_granted, recorded.bytes_granted);
  EXPECT_EQ(replayed.current_bytes_allocated, recorded.current_bytes_allocated);
  EXPECT_EQ(replayed.peak_bytes_allocated, recorded.peak_bytes_allocated);
  EXPECT_EQ(replayed.bytes_in_use, recorded.bytes_in_use);
  EXPECT_EQ(replayed.buffers_in_use, recorded.buffers_in_use);
  EXPECT_EQ(replayed.bytes_cached, recorded.bytes_cached);
  EXPECT_EQ(replayed.buffers_cached, recorded.buffers_cached);
  EXPECT_EQ(replayed.segments, recorded.segments);
  EXPECT_EQ(replayed.empty_segments, recorded.empty_segments);
  EXPECT_EQ(replayed.bytes_free_in_segments, recorded.bytes_free_in_segments);
  EXPECT_EQ(replayed.largest_free_block_bytes, recorded.largest_free_block_bytes);
  ASSERT_EQ(replayed.size_classes.size(), recorded.size_classes.size());
  for (std::size_t index = 0; index < recorded.size_classes.size(); ++index) {
    SCOPED_TRACE("size class " + std::to_string(index));
    EXPECT_EQ(replayed.size_classes[index].hits, recorded.size_classes[index].hits);
    EXPECT_EQ(replayed.size_classes[index].misses, recorded.size_classes[index].misses);
    EXPECT_EQ(replayed.size_classes[index].buffers_cached,
              recorded.size_classes[index].buffers_cached);
  }
}

PoolConfig tight_config() {
  PoolConfig config;
  config.max_pool_size = 24;
  config.max_cached_bytes = 6 * kMiB;
  config.memory_limit = 24 * kMiB;
  config.ttl = std::chrono::milliseconds{20};
  config.cleanup_interval = std::chrono::milliseconds{5};
  return config;
}

TEST(RecordAndReplay, ReplayingARecordingReproducesTheRunsMetrics) {
  const PoolConfig config = tight_config();
  const RecordedRun run =
      record_run(std::make_shared<SimulatedBackend>(), config, "bufferpool_record_replay_sim");
  // Every path took part, or the comparison below proves little.
  ASSERT_GT(run.metrics.hits_reused, 0U);
  ASSERT_GT(run.metrics.hits_carved, 0U);
  ASSERT_GT(run.metrics.evictions, 0U);
  ASSERT_GT(run.metrics.expirations, 0U);
  ASSERT_GT(run.metrics.failed_allocations, 0U);
  ASSERT_GT(run.metrics.deallocations, 0U);

  const Trace trace = read_trace(run.trace_path);
  std::filesystem::remove(run.trace_path);
  EXPECT_EQ(trace.allocate_failures, run.metrics.failed_allocations);
  EXPECT_EQ(trace.live_at_end, 0U);
  const ReplayResult replayed = replay(trace, config);
  expect_same_metrics(replayed.metrics, run.metrics);
  EXPECT_EQ(replayed.failed_requests, run.metrics.failed_allocations);
}

TEST(RecordAndReplay, AHostMemoryRunReplaysWithItsAlignment) {
  // Real memory, 64-byte alignment: the simulated device told the same
  // alignment gives the same capacities, so the same figures.
  const PoolConfig config = tight_config();
  const RecordedRun run = record_run(make_host_backend(), config, "bufferpool_record_replay_host");
  const Trace trace = read_trace(run.trace_path);
  std::filesystem::remove(run.trace_path);
  ReplayOptions options;
  options.backend.buffer_alignment_bytes = 64;
  const ReplayResult replayed = replay(trace, config, options);
  expect_same_metrics(replayed.metrics, run.metrics);
}

}  // namespace
}  // namespace bufferpool
