// Recording a pool's requests as RMM's logging_resource_adaptor CSV.
#include <bufferpool/bufferpool.hpp>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace bufferpool {
namespace {

using std::chrono::microseconds;
using std::chrono::seconds;

struct CsvLine {
  std::string thread, time, action, pointer, size, stream;
};

std::vector<CsvLine> read_csv(const std::filesystem::path& path, std::string* header = nullptr) {
  std::ifstream input(path);
  std::string line;
  std::getline(input, line);
  if (header != nullptr) *header = line;
  std::vector<CsvLine> lines;
  while (std::getline(input, line)) {
    std::istringstream fields(line);
    CsvLine parsed;
    std::getline(fields, parsed.thread, ',');
    std::getline(fields, parsed.time, ',');
    std::getline(fields, parsed.action, ',');
    std::getline(fields, parsed.pointer, ',');
    std::getline(fields, parsed.size, ',');
    std::getline(fields, parsed.stream, ',');
    lines.push_back(parsed);
  }
  return lines;
}

/// HH:MM:SS.ffffff as microseconds since midnight; -1 when malformed.
std::int64_t parse_time(const std::string& text) {
  if (text.size() != 15 || text[2] != ':' || text[5] != ':' || text[8] != '.') return -1;
  const auto number = [&](std::size_t at, std::size_t digits) {
    return std::stoll(text.substr(at, digits));
  };
  return ((number(0, 2) * 60 + number(3, 2)) * 60 + number(6, 2)) * 1'000'000 + number(9, 6);
}

class TempFile {
 public:
  explicit TempFile(const std::string& name)
      : path_(std::filesystem::temp_directory_path() /
              (name + "." + std::to_string(::getpid()) + ".csv")) {}
  ~TempFile() {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

TEST(Recording, WritesEveryRequestAndReleaseAsRmmWritesItsLog) {
  TempFile trace("bufferpool_recording");
  auto clock = std::make_shared<ManualClock>(seconds{5});
  PoolConfig config;
  config.clock = clock;
  config.memory_limit = std::size_t{4} << 20;
  BufferPool pool(make_host_backend(), config);
  pool.start_recording(trace.path());
  EXPECT_TRUE(pool.recording());
  auto first = pool.get_buffer(1000);
  clock->advance(microseconds{250});
  auto second = pool.get_buffer(3000);
  clock->advance(microseconds{1'000'000});
  first.reset();
  EXPECT_THROW(static_cast<void>(pool.get_buffer(std::size_t{8} << 20)), OutOfMemoryError);
  second.reset();
  pool.stop_recording();
  EXPECT_FALSE(pool.recording());
  pool.get_buffer(64).reset();  // after the recording: not in it

  std::string header;
  const auto lines = read_csv(trace.path(), &header);
  EXPECT_EQ(header, "Thread,Time,Action,Pointer,Size,Stream");
  ASSERT_EQ(lines.size(), 5U);
  const std::vector<std::string> actions = {"allocate", "allocate", "free", "allocate failure",
                                            "free"};
  for (std::size_t index = 0; index < lines.size(); ++index) {
    EXPECT_EQ(lines[index].action, actions[index]) << "line " << index;
    EXPECT_EQ(lines[index].stream, "0x0");
    EXPECT_EQ(lines[index].thread, lines[0].thread) << "one thread made every request";
    EXPECT_EQ(lines[index].pointer.rfind("0x", 0), 0U) << lines[index].pointer;
  }
  EXPECT_EQ(lines[0].size, "1000");
  EXPECT_EQ(lines[1].size, "3000");
  EXPECT_EQ(lines[2].size, "1000");
  EXPECT_EQ(lines[3].size, std::to_string(std::size_t{8} << 20));
  EXPECT_EQ(lines[4].size, "3000");
  // Frees name the pointer their allocation returned, which is the buffer's.
  EXPECT_EQ(lines[2].pointer, lines[0].pointer);
  EXPECT_EQ(lines[4].pointer, lines[1].pointer);
  EXPECT_NE(lines[0].pointer, lines[1].pointer);
  // Times differ exactly as the pool's clock moved (modulo midnight).
  const auto t0 = parse_time(lines[0].time);
  const auto t1 = parse_time(lines[1].time);
  const auto t2 = parse_time(lines[2].time);
  ASSERT_GE(t0, 0) << lines[0].time;
  ASSERT_GE(t1, 0) << lines[1].time;
  constexpr std::int64_t kDayUs = std::int64_t{86'400} * 1'000'000;
  EXPECT_EQ((t1 - t0 + kDayUs) % kDayUs, 250);
  EXPECT_EQ((t2 - t1 + kDayUs) % kDayUs, 1'000'000);
  EXPECT_EQ(pool.metrics().recorded_events, 5U);
}

TEST(Recording, TheEnvironmentVariableRecordsAnUnchangedProgramOneFilePerPool) {
  TempFile trace("bufferpool_env");
  const std::filesystem::path second_file = trace.path().string() + ".1";
  ASSERT_EQ(::setenv("BUFFERPOOL_TRACE", trace.path().c_str(), 1), 0);
  {
    BufferPool pool(make_host_backend());
    BufferPool other(make_host_backend());
    EXPECT_TRUE(pool.recording());
    EXPECT_TRUE(other.recording());
    PoolConfig opted_out;
    opted_out.record_from_environment = false;  // as replay() makes its pools
    BufferPool unrecorded(make_host_backend(), opted_out);
    EXPECT_FALSE(unrecorded.recording());
    pool.get_buffer(100).reset();
    other.get_buffer(200).reset();
    other.get_buffer(300).reset();
  }
  ::unsetenv("BUFFERPOOL_TRACE");
  EXPECT_EQ(read_csv(trace.path()).size(), 2U);
  EXPECT_EQ(read_csv(second_file).size(), 4U);
  std::filesystem::remove(second_file);
  BufferPool unrecorded(make_host_backend());
  EXPECT_FALSE(unrecorded.recording());
}

TEST(Recording, AConfigPathRecordsFromConstruction) {
  TempFile trace("bufferpool_config_path");
  PoolConfig config;
  config.trace_path = trace.path().string();
  {
    BufferPool pool(make_host_backend(), config);
    pool.get_buffer(512).reset();
  }  // the recording ends, flushed, with the pool
  const auto lines = read_csv(trace.path());
  ASSERT_EQ(lines.size(), 2U);
  EXPECT_EQ(lines[0].action, "allocate");
  EXPECT_EQ(lines[1].action, "free");
}

TEST(Recording, MisuseIsRefusedClearly) {
  TempFile trace("bufferpool_misuse");
  BufferPool pool(make_host_backend());
  try {
    pool.start_recording("/nonexistent-folder/trace.csv");
    FAIL() << "a file that cannot be opened must be refused";
  } catch (const ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("/nonexistent-folder/trace.csv"), std::string::npos)
        << error.what();
  }
  EXPECT_FALSE(pool.recording());
  pool.start_recording(trace.path());
  EXPECT_THROW(pool.start_recording(trace.path()), UsageError);
  pool.stop_recording();
  pool.stop_recording();  // a second stop does nothing
  EXPECT_FALSE(pool.recording());
}

TEST(Recording, ThreadsRecordingAtOnceLoseNoEvent) {
  TempFile trace("bufferpool_threads");
  BufferPool pool(make_host_backend());
  pool.start_recording(trace.path());
  constexpr int kThreads = 4;
  // More events than the recorder buffers, so that threads also wait for it.
  constexpr int kRequestsPerThread = 40'000;
  std::vector<std::thread> threads;
  for (int thread = 0; thread < kThreads; ++thread) {
    threads.emplace_back([&pool, thread] {
      for (int request = 0; request < kRequestsPerThread; ++request) {
        pool.get_buffer(static_cast<std::size_t>(64 + 64 * ((request + thread) % 32))).reset();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  pool.stop_recording();
  const auto lines = read_csv(trace.path());
  ASSERT_EQ(lines.size(), std::size_t{2} * kThreads * kRequestsPerThread);
  // Per thread, every allocate is followed by the free of the same pointer.
  std::map<std::string, std::string> open_pointer_of_thread;
  std::map<std::string, int> lines_of_thread;
  for (const auto& line : lines) {
    ++lines_of_thread[line.thread];
    auto& open = open_pointer_of_thread[line.thread];
    if (line.action == "allocate") {
      EXPECT_TRUE(open.empty());
      open = line.pointer;
    } else {
      ASSERT_EQ(line.action, "free");
      EXPECT_EQ(open, line.pointer);
      open.clear();
    }
  }
  EXPECT_EQ(lines_of_thread.size(), static_cast<std::size_t>(kThreads));
  EXPECT_EQ(pool.metrics().recorded_events, std::uint64_t{2} * kThreads * kRequestsPerThread);
}

}  // namespace
}  // namespace bufferpool
