// PerfettoTimeline: the JSON is parsed and its counters checked against a
// hand-written event sequence and against a pool's own metrics; the PNG
// script is run on it.
#include <bufferpool/backend.hpp>
#include <bufferpool/clock.hpp>
#include <bufferpool/errors.hpp>
#include <bufferpool/host_backend.hpp>
#include <bufferpool/memory_snapshot.hpp>
#include <bufferpool/pool.hpp>
#include <bufferpool/timeline.hpp>

#include "manual_timeline_backend.hpp"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

namespace bufferpool {
namespace {

using nlohmann::json;

constexpr std::size_t kKiB = 1024;
constexpr std::size_t kMiB = 1024 * kKiB;

/// One sample of a counter track: when, and its args.
struct Sample {
  double ts = 0;
  json args;
};

/// The parts of a timeline file the tests look at.
struct ParsedTimeline {
  std::map<std::string, std::vector<Sample>> counters;
  std::vector<json> instants;
  std::map<std::int64_t, std::string> thread_names;
};

ParsedTimeline parse(const std::string& text) {
  const json document = json::parse(text);
  EXPECT_EQ(document.at("displayTimeUnit"), "ns");
  ParsedTimeline parsed;
  for (const json& event : document.at("traceEvents")) {
    EXPECT_EQ(event.at("pid"), 1);
    const std::string phase = event.at("ph");
    if (phase == "C") {
      EXPECT_TRUE(event.at("ts").is_number());
      parsed.counters[event.at("name")].push_back({event.at("ts").get<double>(), event.at("args")});
    } else if (phase == "i") {
      parsed.instants.push_back(event);
    } else if (phase == "M" && event.at("name") == "thread_name") {
      parsed.thread_names[event.at("tid").get<std::int64_t>()] = event.at("args").at("name");
    } else {
      EXPECT_EQ(phase, "M") << event.dump();
    }
  }
  return parsed;
}

/// in_use, idle, pending of a class or "all classes" sample.
std::array<std::int64_t, 3> bytes_of(const Sample& sample) {
  return {sample.args.at("in_use_bytes").get<std::int64_t>(),
          sample.args.at("idle_bytes").get<std::int64_t>(),
          sample.args.at("pending_bytes").get<std::int64_t>()};
}

using Expected = std::vector<std::tuple<double, std::int64_t, std::int64_t, std::int64_t>>;

void expect_series(const ParsedTimeline& timeline, const std::string& name,
                   const Expected& expected) {
  ASSERT_TRUE(timeline.counters.contains(name)) << name;
  const auto& samples = timeline.counters.at(name);
  ASSERT_EQ(samples.size(), expected.size()) << name;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const auto& [ts, in_use, idle, pending] = expected[i];
    EXPECT_DOUBLE_EQ(samples[i].ts, ts) << name << " sample " << i;
    EXPECT_EQ(bytes_of(samples[i]), (std::array<std::int64_t, 3>{in_use, idle, pending}))
        << name << " sample " << i;
  }
}

std::int64_t last_held(const ParsedTimeline& timeline) {
  return timeline.counters.at("held").back().args.at("bytes").get<std::int64_t>();
}

const std::vector<std::size_t> kClasses = {256, 1024, 4096};

PoolEvent make_event(PoolEventKind kind, std::uint64_t time_ns, std::uint16_t class_index,
                     std::uint64_t address, std::size_t size_bytes, std::size_t capacity_bytes) {
  PoolEvent event;
  event.kind = kind;
  event.time_ns = time_ns;
  event.class_index = class_index;
  event.address = address;
  event.segment_address = 0x10000;
  event.size_bytes = size_bytes;
  event.capacity_bytes = capacity_bytes;
  return event;
}

/// A run through every kind of event: two segments, buffers carved, reused,
/// pending, evicted, expired, an out-of-memory. Times start at 5 us.
std::vector<PoolEvent> hand_written_events() {
  using enum PoolEventKind;
  std::vector<PoolEvent> events;
  events.push_back(make_event(segment_allocate, 5000, 0, 0x10000, 0, 2 * kMiB));
  events.push_back(make_event(allocate, 6000, 1, 0x10000, 1000, 1024));  // the miss
  events.back().hit = false;
  events.push_back(make_event(allocate, 7000, 0, 0x10400, 200, 256));  // carved
  events.back().hit = true;
  events.back().thread = 3;
  events.push_back(make_event(free, 8000, 1, 0x10000, 1000, 1024));
  events.push_back(make_event(allocate, 9000, 1, 0x10000, 900, 1024));  // reused
  events.back().hit = true;
  events.back().reused = true;
  events.push_back(make_event(free, 10000, 0, 0x10400, 200, 256));
  events.back().pending = true;
  events.back().thread = 3;
  events.push_back(make_event(free_completed, 11000, 0, 0x10400, 200, 256));
  events.push_back(make_event(evict, 12000, 0, 0x10400, 200, 256));
  events.push_back(make_event(free, 13000, 1, 0x10000, 900, 1024));
  events.push_back(make_event(expire, 14000, 1, 0x10000, 900, 1024));
  events.push_back(make_event(allocate_failure, 15000, 3, 0, 100 * kMiB, 0));
  events.push_back(make_event(segment_free, 16000, 0, 0x10000, 0, 2 * kMiB));
  events.push_back(make_event(segment_allocate, 16500, 0, 0x800000, 0, 8 * kMiB));
  events.push_back(make_event(allocate, 17000, 3, 0x800000, 8 * kMiB - 100, 8 * kMiB));
  return events;
}

TEST(PerfettoTimeline, CountersFollowAHandWrittenSequence) {
  PerfettoTimeline timeline(kClasses);
  for (const PoolEvent& event : hand_written_events()) timeline.on_event(event);
  EXPECT_EQ(timeline.events_held(), 14U);
  EXPECT_EQ(timeline.events_dropped(), 0U);
  const ParsedTimeline parsed = parse(timeline.to_json());

  // Microseconds from the first event (5 us).
  const auto big = static_cast<std::int64_t>(8 * kMiB);
  expect_series(parsed, "all classes",
                {{0, 0, 0, 0},
                 {1, 1024, 0, 0},
                 {2, 1280, 0, 0},
                 {3, 256, 1024, 0},
                 {4, 1280, 0, 0},
                 {5, 1024, 0, 256},
                 {6, 1024, 256, 0},
                 {7, 1024, 0, 0},
                 {8, 0, 1024, 0},
                 {9, 0, 0, 0},
                 {12, big, 0, 0}});
  expect_series(parsed, "class 256 B",
                {{2, 256, 0, 0}, {5, 0, 0, 256}, {6, 0, 256, 0}, {7, 0, 0, 0}});
  expect_series(parsed, "class 1 KiB",
                {{1, 1024, 0, 0}, {3, 0, 1024, 0}, {4, 1024, 0, 0}, {8, 0, 1024, 0}, {9, 0, 0, 0}});
  expect_series(parsed, "class above 4 KiB", {{12, big, 0, 0}});
  EXPECT_FALSE(parsed.counters.contains("class 4 KiB"));  // never used

  const auto& held = parsed.counters.at("held");
  std::vector<std::pair<double, std::int64_t>> held_values;
  for (const Sample& sample : held) {
    held_values.emplace_back(sample.ts, sample.args.at("bytes").get<std::int64_t>());
  }
  EXPECT_EQ(held_values, (std::vector<std::pair<double, std::int64_t>>{
                             {0, 0}, {0, 2 * kMiB}, {11, 0}, {11.5, big}}));

  std::vector<std::tuple<std::string, double, std::int64_t>> instants;
  for (const json& instant : parsed.instants) {
    instants.emplace_back(instant.at("name"), instant.at("ts"), instant.at("tid"));
    EXPECT_EQ(instant.at("s"), "t");
  }
  EXPECT_EQ(instants, (std::vector<std::tuple<std::string, double, std::int64_t>>{
                          {"segment allocate", 0, 0},
                          {"evict", 7, 0},
                          {"expire", 9, 0},
                          {"out of memory", 10, 0},
                          {"segment free", 11, 0},
                          {"segment allocate", 11.5, 0}}));
  const json& evict = parsed.instants[1];
  EXPECT_EQ(evict.at("args").at("address"), "0x10400");
  EXPECT_EQ(evict.at("args").at("bytes"), 256);
  EXPECT_EQ(evict.at("args").at("class"), "class 256 B");
  const json& oom = parsed.instants[3];
  EXPECT_EQ(oom.at("args").at("requested_bytes"), 100 * kMiB);
  EXPECT_EQ(oom.at("args").at("class"), "class above 4 KiB");
  EXPECT_EQ(parsed.instants[0].at("args").at("bytes"), 2 * kMiB);
  EXPECT_FALSE(parsed.instants[0].at("args").contains("class"));

  EXPECT_EQ(parsed.thread_names,
            (std::map<std::int64_t, std::string>{{0, "pool thread 0"}, {3, "pool thread 3"}}));
}

TEST(PerfettoTimeline, TracksAreNamedByExactCapacity) {
  // 1216 B would print as "1.19 KiB" and could share a name with a neighbour.
  PerfettoTimeline timeline({1024, 1216, 2 * kMiB});
  timeline.on_event(make_event(PoolEventKind::allocate, 0, 1, 0x1000, 1100, 1216));
  timeline.on_event(make_event(PoolEventKind::allocate, 0, 2, 0x2000, 2 * kMiB, 2 * kMiB));
  timeline.on_event(make_event(PoolEventKind::allocate, 0, 3, 0x400000, 3 * kMiB, 3 * kMiB));
  timeline.on_event(make_event(PoolEventKind::allocate, 0, 9, 0x800000, 64, 64));
  const ParsedTimeline parsed = parse(timeline.to_json());
  std::vector<std::string> names;
  for (const auto& [name, samples] : parsed.counters) names.push_back(name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"all classes", "class 1216 B", "class 2 MiB",
                                      "class above 2 MiB", "class index out of range", "held"}));
}

TEST(PerfettoTimeline, DroppingOldEventsKeepsTheirCounts) {
  const std::vector<PoolEvent> events = hand_written_events();
  PerfettoTimeline unbounded(kClasses);
  PerfettoTimeline bounded(kClasses, 5);
  for (const PoolEvent& event : events) {
    unbounded.on_event(event);
    bounded.on_event(event);
  }
  EXPECT_EQ(bounded.events_held(), 5U);
  EXPECT_EQ(bounded.events_dropped(), events.size() - 5);
  const ParsedTimeline all = parse(unbounded.to_json());
  const ParsedTimeline kept = parse(bounded.to_json());

  // The kept events start at the 10th (expire, 14 us): the tracks start from
  // what the nine dropped left (1 KiB idle, 2 MiB held).
  const auto& total = kept.counters.at("all classes");
  EXPECT_DOUBLE_EQ(total.front().ts, 9);
  EXPECT_EQ(bytes_of(total.front()), (std::array<std::int64_t, 3>{0, 1024, 0}));
  EXPECT_EQ(kept.counters.at("held").front().args.at("bytes"), 2 * kMiB);
  EXPECT_EQ(bytes_of(kept.counters.at("class 1 KiB").front()),
            (std::array<std::int64_t, 3>{0, 1024, 0}));
  EXPECT_FALSE(kept.counters.contains("class 256 B"));  // zero when the window starts

  // And they end where the full timeline ends.
  EXPECT_EQ(bytes_of(total.back()), bytes_of(all.counters.at("all classes").back()));
  EXPECT_EQ(last_held(kept), last_held(all));

  ASSERT_FALSE(kept.instants.empty());
  EXPECT_EQ(kept.instants.front().at("name"), "earlier events dropped");
  EXPECT_EQ(kept.instants.front().at("args").at("dropped_events"), events.size() - 5);
  // The marker, then expire, out of memory, segment free, segment allocate.
  EXPECT_EQ(kept.instants.size(), 5U);
}

TEST(PerfettoTimeline, EventsFromManyThreadsAllCount) {
  PerfettoTimeline timeline(kClasses);
  constexpr int kThreads = 4;
  constexpr int kRounds = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&timeline, t] {
      for (int i = 0; i < kRounds; ++i) {
        PoolEvent event = make_event(PoolEventKind::allocate, 1000 + static_cast<std::uint64_t>(i),
                                     0, 0x1000, 200, 256);
        event.thread = static_cast<std::uint32_t>(t);
        timeline.on_event(event);
        event.kind = PoolEventKind::free;
        timeline.on_event(event);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(timeline.events_held(), std::size_t{2 * kThreads * kRounds});
  const ParsedTimeline parsed = parse(timeline.to_json());
  EXPECT_EQ(bytes_of(parsed.counters.at("all classes").back()),
            (std::array<std::int64_t, 3>{0, std::int64_t{kThreads} * kRounds * 256, 0}));
  EXPECT_EQ(parsed.thread_names.size(), std::size_t{kThreads});
}

TEST(PerfettoTimeline, WritesTheFileAndNamesAPathItCannotWrite) {
  PerfettoTimeline timeline(kClasses);
  for (const PoolEvent& event : hand_written_events()) timeline.on_event(event);
  const auto path = std::filesystem::path(::testing::TempDir()) / "timeline_write_test.json";
  timeline.write(path);
  std::ifstream file(path, std::ios::binary);
  const std::string written((std::istreambuf_iterator<char>(file)), {});
  EXPECT_EQ(written, timeline.to_json());

  const auto missing = std::filesystem::path(::testing::TempDir()) / "no such dir" / "t.json";
  try {
    timeline.write(missing);
    FAIL() << "write to a missing directory did not throw";
  } catch (const InvalidArgumentError& error) {
    EXPECT_NE(std::string(error.what()).find(missing.string()), std::string::npos) << error.what();
  }
  EXPECT_THROW(PerfettoTimeline(kClasses, 0), InvalidArgumentError);
}

// ---------------------------------------------------------------------------
// A pool's own run: the counters derived from its events agree with its
// metrics and its snapshot at every step.

using testing::ManualTimelineBackend;

void expect_matches_pool(const PerfettoTimeline& timeline, const BufferPool& pool,
                         const char* step) {
  SCOPED_TRACE(step);
  const ParsedTimeline parsed = parse(timeline.to_json());
  const PoolMetrics metrics = pool.metrics();
  const auto total = bytes_of(parsed.counters.at("all classes").back());
  EXPECT_EQ(total[0], static_cast<std::int64_t>(metrics.bytes_in_use));
  EXPECT_EQ(total[1], static_cast<std::int64_t>(metrics.bytes_cached));
  EXPECT_EQ(total[2], static_cast<std::int64_t>(metrics.bytes_pending_gpu));
  EXPECT_EQ(last_held(parsed), static_cast<std::int64_t>(metrics.current_bytes_allocated));

  // Per class, from the blocks of the pool's snapshot.
  std::map<std::uint16_t, std::array<std::int64_t, 3>> snapshot_bytes;
  for (const SnapshotSegment& segment : pool.snapshot().segments) {
    for (const SnapshotBlock& block : segment.blocks) {
      const auto size = static_cast<std::int64_t>(block.size_bytes);
      if (block.state == BlockState::live) snapshot_bytes[block.class_index][0] += size;
      if (block.state == BlockState::idle) snapshot_bytes[block.class_index][1] += size;
      if (block.state == BlockState::pending) snapshot_bytes[block.class_index][2] += size;
    }
  }
  // The default classes, named as the tracks are.
  const std::vector<std::string> names = {"class 256 B",  "class 1 KiB",       "class 4 KiB",
                                          "class 16 KiB", "class 64 KiB",      "class 256 KiB",
                                          "class 1 MiB",  "class 4 MiB",       "class 16 MiB",
                                          "class 64 MiB", "class above 64 MiB"};
  ASSERT_EQ(pool.config().size_classes, default_size_classes());
  ASSERT_EQ(names.size(), default_size_classes().size() + 1);
  for (std::uint16_t index = 0; index < names.size(); ++index) {
    const std::string& name = names[index];
    const std::array<std::int64_t, 3> from_snapshot = snapshot_bytes.contains(index)
                                                          ? snapshot_bytes.at(index)
                                                          : std::array<std::int64_t, 3>{0, 0, 0};
    const std::array<std::int64_t, 3> from_timeline =
        parsed.counters.contains(name) ? bytes_of(parsed.counters.at(name).back())
                                       : std::array<std::int64_t, 3>{0, 0, 0};
    EXPECT_EQ(from_timeline, from_snapshot) << name;
  }
}

TEST(PerfettoTimeline, CountersAgreeWithAPoolRun) {
  auto clock = std::make_shared<ManualClock>(std::chrono::seconds{1});
  auto backend = std::make_shared<ManualTimelineBackend>();
  PoolConfig config;
  config.clock = clock;
  config.max_pool_size = 4;
  config.ttl = std::chrono::seconds{5};
  config.cleanup_interval = std::chrono::seconds{1};
  BufferPool pool(backend, config);
  auto timeline = std::make_shared<PerfettoTimeline>(pool.config().size_classes);
  pool.add_observer(timeline);

  std::vector<BufferRef> live;
  for (std::size_t size : {1000U, 3000U, 3000U, 70000U, 5U * 1024 * 1024}) {
    live.push_back(pool.get_buffer(size));
    clock->advance(std::chrono::milliseconds{10});
  }
  expect_matches_pool(*timeline, pool, "after five requests");

  live[0].mark_used_until(7);  // device work still uses it: pending on release
  live[0].reset();
  live[1].reset();
  expect_matches_pool(*timeline, pool, "one pending, one idle");

  backend->complete(7);
  live.push_back(pool.get_buffer(3000));  // reuses the idle 4 KiB-class buffer
  clock->advance(std::chrono::milliseconds{10});
  live.push_back(pool.get_buffer(900));  // the pending buffer is reusable now
  expect_matches_pool(*timeline, pool, "after reuse");

  for (BufferRef& buffer : live) buffer.reset();
  expect_matches_pool(*timeline, pool, "all released (past max_pool_size: evictions)");

  clock->advance(std::chrono::seconds{10});
  pool.cleanup();
  expect_matches_pool(*timeline, pool, "after the TTL");

  const ParsedTimeline parsed = parse(timeline->to_json());
  std::map<std::string, int> instant_counts;
  for (const json& instant : parsed.instants) ++instant_counts[instant.at("name")];
  const PoolMetrics metrics = pool.metrics();
  EXPECT_EQ(instant_counts["segment allocate"], static_cast<int>(metrics.allocations));
  EXPECT_EQ(instant_counts["segment free"], static_cast<int>(metrics.deallocations));
  EXPECT_EQ(instant_counts["evict"], static_cast<int>(metrics.evictions));
  EXPECT_EQ(instant_counts["expire"], static_cast<int>(metrics.expirations));
  EXPECT_GT(metrics.evictions, 0U);
  EXPECT_GT(metrics.expirations, 0U);

  live.push_back(pool.get_buffer(100));
  live.back().reset();
  pool.clear();
  expect_matches_pool(*timeline, pool, "after clear");
  pool.remove_observer(*timeline);
}

// ---------------------------------------------------------------------------
// scripts/plot_timeline.py draws the JSON with matplotlib.

std::uint32_t big_endian_u32(const std::string& bytes, std::size_t at) {
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    value = (value << 8) | static_cast<unsigned char>(bytes.at(at + i));
  }
  return value;
}

TEST(PlotTimeline, WritesAPngThatMatplotlibDrew) {
  PerfettoTimeline timeline(kClasses);
  for (const PoolEvent& event : hand_written_events()) timeline.on_event(event);
  const auto directory = std::filesystem::path(::testing::TempDir());
  const auto json_path = directory / "plot_timeline_test.json";
  const auto png_path = directory / "plot_timeline_test.png";
  std::filesystem::remove(png_path);
  timeline.write(json_path);

  // Run as installed: the script, through its shebang.
  const std::string command = std::string("'") + BUFFERPOOL_PLOT_TIMELINE_SCRIPT + "' '" +
                              json_path.string() + "' '" + png_path.string() + "' 2>&1";
  std::string output;
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr) << command;
  std::array<char, 256> chunk{};
  while (fgets(chunk.data(), static_cast<int>(chunk.size()), pipe) != nullptr)
    output += chunk.data();
  const int status = pclose(pipe);
  ASSERT_EQ(status, 0) << command << "\n" << output;

  std::ifstream file(png_path, std::ios::binary);
  const std::string png((std::istreambuf_iterator<char>(file)), {});
  ASSERT_GT(png.size(), 1000U) << output;
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(png.substr(12, 4), "IHDR");
  EXPECT_GT(big_endian_u32(png, 16), 500U);  // width in pixels
  EXPECT_GT(big_endian_u32(png, 20), 300U);  // height
  // matplotlib signs its PNGs with a tEXt chunk: Software, "Matplotlib version...".
  bool signed_by_matplotlib = false;
  for (std::size_t at = 8; at + 8 <= png.size();) {
    const std::uint32_t length = big_endian_u32(png, at);
    const std::string type = png.substr(at + 4, 4);
    if (type == "tEXt" && png.substr(at + 8, 9) == std::string("Software\0", 9) &&
        png.substr(at + 17, 10) == "Matplotlib") {
      signed_by_matplotlib = true;
    }
    at += 12 + length;
  }
  EXPECT_TRUE(signed_by_matplotlib) << "no Software: Matplotlib chunk in " << png_path;
}

}  // namespace
}  // namespace bufferpool
