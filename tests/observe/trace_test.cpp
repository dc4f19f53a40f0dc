// The RMM log reader: the format as RMM writes it, integer-nanosecond times,
// odd lines counted rather than fatal, errors that name the file and line,
// and the committed model traces.
#include <bufferpool/errors.hpp>
#include <bufferpool/trace.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace bufferpool {
namespace {

Trace parse(const std::string& text, const std::string& name = "test.csv") {
  std::istringstream input(text);
  return parse_trace(input, name, "test");
}

TEST(TraceReader, ParsesRmmLogFormat) {
  // As rmm::mr::logging_resource_adaptor writes it: spdlog's "%t,%H:%M:%S.%f"
  // then "allocate,{ptr},{bytes},{stream}".
  const Trace trace = parse(
      "Thread,Time,Action,Pointer,Size,Stream\n"
      "140573312345856,10:00:00.000000,allocate,0x7f8a40000000,1024,0x0\n"
      "140573312345856,10:00:00.000250,allocate,0x7f8a40000400,2048,0x0\n"
      "140573312349999,10:00:00.001000,free,0x7f8a40000000,1024,0x0\n"
      "140573312349999,10:00:00.001500,allocate failure,0x0,4096,0x0\n"
      "140573312345856,10:00:00.002000,free,0x7f8a4000dead,64,0x0\n"
      "140573312345856,10:00:01.000000,allocate,0x7f8a40000000,512,0x0\n");
  ASSERT_EQ(trace.events.size(), 5U);
  EXPECT_EQ(trace.thread_count, 2U);
  EXPECT_EQ(trace.allocation_count, 3U);
  EXPECT_EQ(trace.allocate_failures, 1U);
  EXPECT_EQ(trace.unknown_frees, 1U);
  EXPECT_EQ(trace.peak_live_bytes, 3072U);
  EXPECT_EQ(trace.live_at_end, 2U);

  EXPECT_EQ(trace.events[0].kind, TraceEvent::Kind::allocate);
  EXPECT_EQ(trace.events[0].time_ns, 0U);
  EXPECT_EQ(trace.events[0].size_bytes, 1024U);
  EXPECT_EQ(trace.events[0].buffer_id, 0U);
  EXPECT_EQ(trace.events[1].time_ns, 250'000U);
  EXPECT_EQ(trace.events[1].buffer_id, 1U);
  // The free names its allocation and carries its size; another thread.
  EXPECT_EQ(trace.events[2].kind, TraceEvent::Kind::free);
  EXPECT_EQ(trace.events[2].buffer_id, 0U);
  EXPECT_EQ(trace.events[2].size_bytes, 1024U);
  EXPECT_EQ(trace.events[2].thread_index, 1U);
  EXPECT_EQ(trace.events[2].time_ns, 1'000'000U);
  // The refused request is kept, with its size, for a replay to make again.
  EXPECT_EQ(trace.events[3].kind, TraceEvent::Kind::allocate_failure);
  EXPECT_EQ(trace.events[3].size_bytes, 4096U);
  EXPECT_EQ(trace.events[3].thread_index, 1U);
  EXPECT_EQ(trace.events[3].time_ns, 1'500'000U);
  // The pointer, freed, comes back as a new allocation.
  EXPECT_EQ(trace.events[4].kind, TraceEvent::Kind::allocate);
  EXPECT_EQ(trace.events[4].buffer_id, 2U);
  EXPECT_EQ(trace.events[4].time_ns, 1'000'000'000U);
  EXPECT_EQ(trace.duration_ns(), 1'000'000'000U);
}

TEST(TraceReader, ParsesIntegerNanosecondTimes) {
  const Trace trace = parse(
      "Thread,Time,Action,Pointer,Size,Stream\n"
      "1,5000,allocate,0x1000,100,0x0\n"
      "1,7500,allocate,0x2000,300,0x0\n"
      "1,9000,free,0x1000,100,0x0\n");
  ASSERT_EQ(trace.events.size(), 3U);
  EXPECT_EQ(trace.events[1].time_ns, 2'500U);
  EXPECT_EQ(trace.events[2].time_ns, 4'000U);
  EXPECT_EQ(trace.peak_live_bytes, 400U);
}

TEST(TraceReader, ParsesDeviceColumnWithPointersPerDevice) {
  const Trace trace = parse(
      "Thread,Time,Action,Pointer,Size,Stream,Device\n"
      "1,00:00:00.000001,allocate,0x1000,100,0x0,0\n"
      "1,00:00:00.000002,allocate,0x1000,200,0x0,1\n"
      "1,00:00:00.000003,free,0x1000,200,0x0,1\n");
  ASSERT_EQ(trace.events.size(), 3U);
  EXPECT_EQ(trace.reused_live_pointers, 0U);
  EXPECT_EQ(trace.events[2].buffer_id, 1U);  // device 1's, not device 0's
  EXPECT_EQ(trace.live_at_end, 1U);
}

TEST(TraceReader, ClockTimesPassMidnight) {
  const Trace trace = parse(
      "Thread,Time,Action,Pointer,Size,Stream\n"
      "1,23:59:59.999999,allocate,0x1000,100,0x0\n"
      "1,00:00:00.000001,free,0x1000,100,0x0\n");
  ASSERT_EQ(trace.events.size(), 2U);
  EXPECT_EQ(trace.events[1].time_ns, 2'000U);
}

TEST(TraceReader, CountsOddLinesWithoutFailing) {
  const Trace trace = parse(
      "Thread,Time,Action,Pointer,Size,Stream\n"
      "1,1,allocate,0x1000,0,0x0\n"  // 0 bytes: dropped
      "1,2,free,0x1000,0,0x0\n"      // its free: dropped too
      "1,3,allocate,0x2000,64,0x0\n"
      "1,4,allocate,0x2000,64,0x0\n");  // still live: its free was lost
  EXPECT_EQ(trace.zero_size_allocations, 1U);
  EXPECT_EQ(trace.unknown_frees, 0U);
  EXPECT_EQ(trace.reused_live_pointers, 1U);
  ASSERT_EQ(trace.events.size(), 3U);
  EXPECT_EQ(trace.events[1].kind, TraceEvent::Kind::free);
  EXPECT_EQ(trace.events[1].buffer_id, 0U);
  EXPECT_EQ(trace.peak_live_bytes, 64U);
}

TEST(TraceReader, RejectsMalformedLineNamingFileAndLine) {
  const auto message_of = [](const std::string& text) -> std::string {
    try {
      (void)parse(text, "model.csv");
    } catch (const TraceError& error) {
      return error.what();
    }
    return "(no error)";
  };
  const std::string header = "Thread,Time,Action,Pointer,Size,Stream\n";
  const std::string good = "1,00:00:00.000001,allocate,0x1000,100,0x0\n";
  EXPECT_NE(message_of(header + good + "1,00:00:00.000002,allocate,0xZZ,100,0x0\n")
                .find("model.csv:3: bad Pointer"),
            std::string::npos);
  EXPECT_NE(
      message_of(header + good + "1,noon,allocate,0x2000,100,0x0\n").find("model.csv:3: bad Time"),
      std::string::npos);
  EXPECT_NE(message_of(header + good + "1,00:00:01,allocate,0x2000,-4,0x0\n")
                .find("model.csv:3: bad Size"),
            std::string::npos);
  EXPECT_NE(
      message_of(header + "1,00:00:01,release,0x2000,4,0x0\n").find("model.csv:2: bad Action"),
      std::string::npos);
  EXPECT_NE(message_of(header + "1,00:00:01,free,0x2000\n").find("model.csv:2: expected 6"),
            std::string::npos);
  EXPECT_NE(message_of("Time,Size\n1,2\n").find("model.csv:1: not an RMM log header"),
            std::string::npos);
  EXPECT_NE(message_of("").find("model.csv:0: empty trace"), std::string::npos);
}

TEST(TraceReader, ParsesTimeFields) {
  EXPECT_EQ(parse_trace_time_ns("01:02:03.5"), std::optional<std::uint64_t>{3'723'500'000'000U});
  EXPECT_EQ(parse_trace_time_ns("00:00:00.123456789"), std::optional<std::uint64_t>{123'456'789U});
  EXPECT_EQ(parse_trace_time_ns(" 42 "), std::optional<std::uint64_t>{42U});
  EXPECT_EQ(parse_trace_time_ns("1:2"), std::nullopt);
  EXPECT_EQ(parse_trace_time_ns("00:61:00.0"), std::nullopt);
  EXPECT_EQ(parse_trace_time_ns("00:00:00.1234567890"), std::nullopt);
  EXPECT_EQ(parse_trace_time_ns("12ms"), std::nullopt);
}

TEST(TraceReader, NamesFileThatCannotBeOpened) {
  try {
    (void)read_trace("/nonexistent/trace.csv");
    FAIL() << "no error";
  } catch (const TraceError& error) {
    EXPECT_NE(std::string(error.what()).find("/nonexistent/trace.csv"), std::string::npos);
  }
}

TEST(TraceReader, ErrorsAreBufferpoolErrors) {
  // Callers that catch the library's whole family catch a bad trace too.
  EXPECT_THROW((void)parse("Thread,Time\n"), Error);
}

TEST(TraceReader, NamesTheTraceAfterTheFile) {
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / "bufferpool_trace_name_test.csv";
  {
    std::ofstream file(path);
    file << "Thread,Time,Action,Pointer,Size,Stream\n1,0,allocate,0x10,64,0x0\n";
  }
  const Trace trace = read_trace(path);
  std::filesystem::remove(path);
  EXPECT_EQ(trace.name, "bufferpool_trace_name_test");
  ASSERT_EQ(trace.events.size(), 1U);
  EXPECT_EQ(trace.live_at_end, 1U);
}

TEST(CommittedTraces, AreCompleteRecordings) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(BUFFERPOOL_TRACES_DIR)) {
    if (entry.path().extension() == ".csv") files.push_back(entry.path());
  }
  ASSERT_EQ(files.size(), 6U) << "bench/traces/ should hold the six model traces";
  for (const fs::path& file : files) {
    SCOPED_TRACE(file.string());
    EXPECT_LE(fs::file_size(file), 2'000'000U);
    const Trace trace = read_trace(file);
    EXPECT_GE(trace.events.size(), 5'000U);
    EXPECT_EQ(trace.unknown_frees, 0U);
    EXPECT_EQ(trace.allocate_failures, 0U);
    EXPECT_EQ(trace.reused_live_pointers, 0U);
    EXPECT_EQ(trace.live_at_end, 0U);  // the recording frees everything before it stops
    EXPECT_GT(trace.peak_live_bytes, 0U);
    // The serving trace tells its two threads apart (and the main thread
    // that built the model).
    EXPECT_EQ(trace.thread_count, trace.name == "mlp_serve_2threads" ? 3U : 1U);
  }
}

}  // namespace
}  // namespace bufferpool
