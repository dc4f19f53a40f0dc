// MemoryVizRecorder and its pickle writer. The pickle writer's bytes are
// checked here; the MemoryVizSample tests write pickles with the JSON of what
// they must hold, which check_memory_viz.py (a ctest of its own) loads with
// Python's pickle and checks opcode by opcode.
#include <bufferpool/backend.hpp>
#include <bufferpool/clock.hpp>
#include <bufferpool/errors.hpp>
#include <bufferpool/host_backend.hpp>
#include <bufferpool/memory_snapshot.hpp>
#include <bufferpool/memory_viz.hpp>
#include <bufferpool/pool.hpp>

#include "manual_timeline_backend.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "observe/pickle_writer.hpp"

namespace bufferpool {
namespace {

using nlohmann::json;

constexpr std::uint64_t kKiB = 1024;
constexpr std::uint64_t kMiB = 1024 * kKiB;

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (const int value : values) out.push_back(static_cast<char>(value));
  return out;
}

TEST(PickleWriter, IntsTakeTheSmallestOpcodePythonWouldUse) {
  detail::PickleWriter pickle;
  pickle.begin_list();
  for (const std::uint64_t number :
       {std::uint64_t{0}, std::uint64_t{255}, std::uint64_t{256}, std::uint64_t{65535},
        std::uint64_t{65536}, std::uint64_t{0x7fffffff}, std::uint64_t{0x80000000},
        std::uint64_t{1} << 40, std::uint64_t{1} << 63, ~std::uint64_t{0}}) {
    pickle.value(number);
  }
  pickle.end_list();
  const std::string expected =
      bytes({0x80, 4, ']', '('}) + bytes({'K', 0}) + bytes({'K', 0xff}) + bytes({'M', 0, 1}) +
      bytes({'M', 0xff, 0xff}) + bytes({'J', 0, 0, 1, 0}) + bytes({'J', 0xff, 0xff, 0xff, 0x7f}) +
      bytes({0x8a, 5, 0, 0, 0, 0x80, 0}) + bytes({0x8a, 6, 0, 0, 0, 0, 0, 1}) +
      bytes({0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0x80, 0}) +
      bytes({0x8a, 9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0}) + bytes({'e', '.'});
  EXPECT_EQ(pickle.finish(), expected);
}

TEST(PickleWriter, KeysAndSymbolsComeFromTheMemoTheSecondTime) {
  detail::PickleWriter pickle;
  pickle.begin_list();
  for (int i = 0; i < 2; ++i) {
    pickle.begin_dict();
    pickle.key("state");
    pickle.symbol("inactive");
    pickle.key("ok");
    pickle.value(i == 0);
    pickle.end_dict();
  }
  pickle.value(std::string(300, 'x'));
  pickle.end_list();
  const std::string expected =
      bytes({0x80, 4, ']', '(', '}', '(', 0x8c, 5}) + "state" + bytes({0x94, 0x8c, 8}) +
      "inactive" + bytes({0x94, 0x8c, 2}) + "ok" + bytes({0x94, 0x88, 'u'}) +
      bytes({'}', '(', 'h', 0, 'h', 1, 'h', 2, 0x89, 'u'}) + bytes({'X', 0x2c, 1, 0, 0}) +
      std::string(300, 'x') + bytes({'e', '.'});
  EXPECT_EQ(pickle.finish(), expected);
}

TEST(PickleWriter, ListsGoInBatchesOfAThousand) {
  detail::PickleWriter pickle;
  pickle.begin_list();
  for (int i = 0; i < 2500; ++i) pickle.value(std::uint64_t{1});
  pickle.end_list();
  std::string one_item = bytes({'K', 1});
  auto batch = [&](int items) {
    std::string out = "(";
    for (int i = 0; i < items; ++i) out += one_item;
    return out + "e";
  };
  EXPECT_EQ(pickle.finish(), bytes({0x80, 4, ']'}) + batch(1000) + batch(1000) + batch(500) + ".");
}

TEST(PickleWriter, MisuseIsALogicError) {
  detail::PickleWriter value_for_key;
  value_for_key.begin_dict();
  EXPECT_THROW(value_for_key.value(std::uint64_t{1}), std::logic_error);

  detail::PickleWriter left_open;
  left_open.begin_list();
  EXPECT_THROW((void)left_open.finish(), std::logic_error);

  detail::PickleWriter two_values;
  two_values.value(true);
  EXPECT_THROW(two_values.value(false), std::logic_error);
}

// ---------------------------------------------------------------------------
// Samples for check_memory_viz.py: a pickle and the JSON of what it holds.

std::filesystem::path sample_dir() {
  const char* from_ctest = std::getenv("BUFFERPOOL_MEMORY_VIZ_SAMPLE_DIR");
  std::filesystem::path directory =
      from_ctest != nullptr ? std::filesystem::path(from_ctest)
                            : std::filesystem::path(::testing::TempDir()) / "memory_viz_samples";
  std::filesystem::create_directories(directory);
  return directory;
}

void write_sample(const std::string& name, const MemoryVizRecorder& recorder,
                  const MemorySnapshot& snapshot, const json& expected) {
  const auto directory = sample_dir();
  recorder.write(directory / (name + ".pickle"), snapshot);
  std::ofstream(directory / (name + ".json")) << expected.dump(1);
  std::ifstream written(directory / (name + ".pickle"), std::ios::binary);
  const std::string on_disk((std::istreambuf_iterator<char>(written)), {});
  EXPECT_EQ(on_disk, recorder.to_pickle(snapshot));
}

PoolEvent make_event(PoolEventKind kind, std::uint64_t time_ns, std::uint64_t address,
                     std::size_t size_bytes, std::size_t capacity_bytes) {
  PoolEvent event;
  event.kind = kind;
  event.time_ns = time_ns;
  event.address = address;
  event.size_bytes = size_bytes;
  event.capacity_bytes = capacity_bytes;
  return event;
}

json trace_entry(const char* action, std::uint64_t address, std::uint64_t size,
                 std::uint64_t time_us) {
  return {{"action", action}, {"addr", address},    {"size", size},
          {"stream", 0},      {"time_us", time_us}, {"frames", json::array()}};
}

json block_json(std::uint64_t address, std::uint64_t size, std::uint64_t requested,
                const char* state) {
  return {{"address", address},
          {"size", size},
          {"requested_size", requested},
          {"state", state},
          {"frames", json::array()}};
}

// Segments S1 (small, kept), S3 (small, taken and given back) and S2 (large);
// buffers A (reused, live), B (pending at the end), C (in S3), D (in S2), E
// (pending, completed, idle at the end); an out-of-memory between.
constexpr std::uint64_t kS1 = 0x7f0000000000;
constexpr std::uint64_t kS2 = 0x7f0000200000;
constexpr std::uint64_t kS3 = 0x7f0002000000;
constexpr std::uint64_t kA = kS1;
constexpr std::uint64_t kB = kS1 + 1024;
constexpr std::uint64_t kE = kS1 + 1280;
constexpr std::uint64_t kC = kS3;
constexpr std::uint64_t kD = kS2;

std::vector<PoolEvent> hand_written_events() {
  using enum PoolEventKind;
  std::vector<PoolEvent> events = {
      make_event(segment_allocate, 1000, kS1, 0, 2 * kMiB),
      make_event(allocate, 2000, kA, 1000, 1024),
      make_event(allocate, 3000, kB, 200, 256),
      make_event(free, 4000, kA, 1000, 1024),
      make_event(allocate, 5000, kA, 900, 1024),
      make_event(free, 6000, kB, 200, 256),
      make_event(segment_allocate, 7000, kS3, 0, 2 * kMiB),
      make_event(allocate, 8000, kC, 4096, 4096),
      make_event(free, 9000, kC, 4096, 4096),
      make_event(evict, 10000, kC, 4096, 4096),
      make_event(segment_free, 11000, kS3, 0, 2 * kMiB),
      make_event(allocate_failure, 12000, 0, 64 * kMiB, 0),
      make_event(segment_allocate, 13000, kS2, 0, 20 * kMiB),
      make_event(allocate, 14000, kD, 3 * kMiB, 3 * kMiB),
      make_event(allocate, 15000, kE, 300, 320),
      make_event(free, 16000, kE, 300, 320),
      make_event(free_completed, 17000, kE, 300, 320),
  };
  events[4].reused = true;
  events[5].pending = true;   // B: device work still uses it, to the end
  events[15].pending = true;  // E: until 17 us
  return events;
}

MemorySnapshot hand_written_snapshot() {
  MemorySnapshot snapshot;
  snapshot.time = std::chrono::microseconds{18};
  SnapshotSegment small{kS1, 2 * kMiB, false, {}};
  small.blocks = {{kA, 1024, 900, BlockState::live, 1},
                  {kB, 256, 200, BlockState::pending, 0},
                  {kE, 320, 300, BlockState::idle, 1},
                  {kS1 + 1600, 2 * kMiB - 1600, 0, BlockState::free, 0}};
  SnapshotSegment large{kS2, 20 * kMiB, true, {}};
  large.blocks = {{kD, 3 * kMiB, 3 * kMiB, BlockState::live, 8},
                  {kS2 + 3 * kMiB, 17 * kMiB, 0, BlockState::free, 0}};
  snapshot.segments = {small, large};
  return snapshot;
}

json hand_written_segments() {
  return json::array(
      {{{"device", 0},
        {"address", kS1},
        {"total_size", 2 * kMiB},
        {"allocated_size", 1024},
        {"active_size", 1024 + 256},
        {"requested_size", 900 + 200},
        {"stream", 0},
        {"segment_type", "small"},
        {"blocks", json::array({block_json(kA, 1024, 900, "active_allocated"),
                                block_json(kB, 256, 200, "active_pending_free"),
                                block_json(kE, 320, 300, "inactive"),
                                block_json(kS1 + 1600, 2 * kMiB - 1600, 0, "inactive")})}},
       {{"device", 0},
        {"address", kS2},
        {"total_size", 20 * kMiB},
        {"allocated_size", 3 * kMiB},
        {"active_size", 3 * kMiB},
        {"requested_size", 3 * kMiB},
        {"stream", 0},
        {"segment_type", "large"},
        {"blocks", json::array({block_json(kD, 3 * kMiB, 3 * kMiB, "active_allocated"),
                                block_json(kS2 + 3 * kMiB, 17 * kMiB, 0, "inactive")})}}});
}

json hand_written_trace() {
  json oom = trace_entry("oom", 30 * kMiB, 64 * kMiB, 12);
  oom["device_free"] = 30 * kMiB;  // the 32 MiB limit less S1, the one segment held
  return json::array(
      {trace_entry("segment_alloc", kS1, 2 * kMiB, 1), trace_entry("alloc", kA, 1000, 2),
       trace_entry("alloc", kB, 200, 3), trace_entry("free_requested", kA, 1000, 4),
       trace_entry("free_completed", kA, 1000, 4), trace_entry("alloc", kA, 900, 5),
       trace_entry("free_requested", kB, 200, 6), trace_entry("segment_alloc", kS3, 2 * kMiB, 7),
       trace_entry("alloc", kC, 4096, 8), trace_entry("free_requested", kC, 4096, 9),
       trace_entry("free_completed", kC, 4096, 9), trace_entry("segment_free", kS3, 2 * kMiB, 11),
       oom, trace_entry("segment_alloc", kS2, 20 * kMiB, 13),
       trace_entry("alloc", kD, 3 * kMiB, 14), trace_entry("alloc", kE, 300, 15),
       trace_entry("free_requested", kE, 300, 16), trace_entry("free_completed", kE, 300, 17)});
}

TEST(MemoryVizSample, HandWrittenRun) {
  MemoryVizRecorder recorder({.max_entries = 1000, .memory_limit_bytes = 32 * kMiB});
  for (const PoolEvent& event : hand_written_events()) recorder.on_event(event);
  // A release without device work is two entries; an eviction none.
  EXPECT_EQ(recorder.entries_held(), 18U);
  EXPECT_EQ(recorder.entries_dropped(), 0U);
  write_sample("hand_written", recorder, hand_written_snapshot(),
               {{"segments", hand_written_segments()},
                {"device_traces", json::array({hand_written_trace()})}});
}

TEST(MemoryVizSample, BoundedRunKeepsTheNewestEntries) {
  MemoryVizRecorder recorder({.max_entries = 6, .memory_limit_bytes = 32 * kMiB});
  for (const PoolEvent& event : hand_written_events()) recorder.on_event(event);
  EXPECT_EQ(recorder.entries_held(), 6U);
  EXPECT_EQ(recorder.entries_dropped(), 12U);
  const json full = hand_written_trace();
  const json newest(full.end() - 6, full.end());
  write_sample("hand_written_bounded", recorder, hand_written_snapshot(),
               {{"segments", hand_written_segments()}, {"device_traces", json::array({newest})}});
}

TEST(MemoryVizSample, ThousandsOfEntriesInOneList) {
  MemoryVizRecorder recorder;
  constexpr std::uint64_t kSegment = 0x40000000;
  recorder.on_event(make_event(PoolEventKind::segment_allocate, 0, kSegment, 0, 2 * kMiB));
  json trace = json::array({trace_entry("segment_alloc", kSegment, 2 * kMiB, 0)});
  for (std::uint64_t i = 1; i <= 1500; ++i) {
    recorder.on_event(make_event(PoolEventKind::allocate, i * 2000, kSegment, 64, 64));
    recorder.on_event(make_event(PoolEventKind::free, i * 2000 + 1000, kSegment, 64, 64));
    trace.push_back(trace_entry("alloc", kSegment, 64, i * 2));
    trace.push_back(trace_entry("free_requested", kSegment, 64, i * 2 + 1));
    trace.push_back(trace_entry("free_completed", kSegment, 64, i * 2 + 1));
  }
  MemorySnapshot snapshot;
  SnapshotSegment segment{kSegment, 2 * kMiB, false, {}};
  segment.blocks = {{kSegment, 64, 64, BlockState::idle, 0},
                    {kSegment + 64, 2 * kMiB - 64, 0, BlockState::free, 0}};
  snapshot.segments = {segment};
  const json segments = json::array(
      {{{"device", 0},
        {"address", kSegment},
        {"total_size", 2 * kMiB},
        {"allocated_size", 0},
        {"active_size", 0},
        {"requested_size", 0},
        {"stream", 0},
        {"segment_type", "small"},
        {"blocks", json::array({block_json(kSegment, 64, 64, "inactive"),
                                block_json(kSegment + 64, 2 * kMiB - 64, 0, "inactive")})}}});
  EXPECT_EQ(recorder.entries_held(), 4501U);
  write_sample("many_entries", recorder, snapshot,
               {{"segments", segments}, {"device_traces", json::array({trace})}});
}

const char* expected_state(BlockState state) {
  switch (state) {
    case BlockState::live:
      return "active_allocated";
    case BlockState::pending:
      return "active_pending_free";
    case BlockState::idle:
    case BlockState::free:
      break;
  }
  return "inactive";
}

using testing::ManualTimelineBackend;

// A pool's own run, with pending buffers, reuse, evictions, expirations and
// segments given back: the Python check replays the trace back from the
// snapshot as the viewer does, so a trace that disagrees with it fails there.
TEST(MemoryVizSample, PoolRun) {
  auto clock = std::make_shared<ManualClock>(std::chrono::seconds{1});
  auto backend = std::make_shared<ManualTimelineBackend>();
  PoolConfig config;
  config.clock = clock;
  config.max_pool_size = 3;
  config.ttl = std::chrono::seconds{5};
  config.cleanup_interval = std::chrono::seconds{1};
  config.memory_limit = 64 * kMiB;
  BufferPool pool(backend, config);
  auto recorder = std::make_shared<MemoryVizRecorder>(
      MemoryVizOptions{.memory_limit_bytes = pool.config().memory_limit});
  pool.add_observer(recorder);

  std::vector<BufferRef> live;
  for (std::size_t size : {1000U, 3000U, 3000U, 70000U, 5U * 1024 * 1024, 12U * 1024 * 1024}) {
    live.push_back(pool.get_buffer(size));
    clock->advance(std::chrono::milliseconds{1});
  }
  EXPECT_THROW((void)pool.get_buffer(100 * kMiB), OutOfMemoryError);
  live[0].mark_used_until(3);
  live[1].mark_used_until(5);
  live[0].reset();
  live[1].reset();
  live[2].reset();
  backend->complete(3);
  live.push_back(pool.get_buffer(900));
  live.push_back(pool.get_buffer(3000));
  clock->advance(std::chrono::milliseconds{1});
  live[3].reset();
  live[4].reset();
  live[5].reset();  // its own segment
  clock->advance(std::chrono::seconds{10});
  pool.cleanup();  // expirations, and empty segments back
  live.push_back(pool.get_buffer(200));
  pool.remove_observer(*recorder);

  const MemorySnapshot snapshot = pool.snapshot();
  json segments = json::array();
  bool some_pending = false;
  for (const SnapshotSegment& segment : snapshot.segments) {
    json blocks = json::array();
    std::uint64_t allocated = 0;
    std::uint64_t active = 0;
    std::uint64_t requested = 0;
    for (const SnapshotBlock& block : segment.blocks) {
      blocks.push_back(block_json(block.address, block.size_bytes, block.requested_bytes,
                                  expected_state(block.state)));
      some_pending = some_pending || block.state == BlockState::pending;
      if (block.state == BlockState::live) allocated += block.size_bytes;
      if (block.state == BlockState::live || block.state == BlockState::pending) {
        active += block.size_bytes;
        requested += block.requested_bytes;
      }
    }
    segments.push_back({{"device", 0},
                        {"address", segment.address},
                        {"total_size", segment.size_bytes},
                        {"allocated_size", allocated},
                        {"active_size", active},
                        {"requested_size", requested},
                        {"stream", 0},
                        {"segment_type", segment.large ? "large" : "small"},
                        {"blocks", blocks}});
  }
  EXPECT_TRUE(some_pending) << "live[1] was to stay pending";
  EXPECT_GT(recorder->entries_held(), 20U);
  write_sample("pool_run", *recorder, snapshot, {{"segments", segments}});
  backend->complete(5);  // or the pool's destructor waits for live[1]'s device work
}

TEST(MemoryVizRecorder, NamesAPathItCannotWriteAndRefusesNoEntries) {
  MemoryVizRecorder recorder;
  const auto missing = std::filesystem::path(::testing::TempDir()) / "no such dir" / "s.pickle";
  try {
    recorder.write(missing, MemorySnapshot{});
    FAIL() << "write to a missing directory did not throw";
  } catch (const InvalidArgumentError& error) {
    EXPECT_NE(std::string(error.what()).find(missing.string()), std::string::npos) << error.what();
  }
  EXPECT_THROW(MemoryVizRecorder({.max_entries = 0}), InvalidArgumentError);
}

}  // namespace
}  // namespace bufferpool
