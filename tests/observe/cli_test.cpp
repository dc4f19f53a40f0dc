// The `bufferpool replay` and `bufferpool tune` commands, run as a user runs
// them: their --json, --out, --perfetto, --memory-viz and --plot outputs are
// parsed (nlohmann-json, PoolConfig::from_json, file signatures) and checked
// against the library's own replay() of the same traces; the C++ lines that
// tune prints are compiled and run, and must set what --out wrote.
#include <bufferpool/config.hpp>
#include <bufferpool/replay.hpp>
#include <bufferpool/trace.hpp>

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace bufferpool {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kTraces = BUFFERPOOL_TRACES_DIR;

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string read_file(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

/// A folder of its own for each test, removed at the end.
class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    folder_ = fs::temp_directory_path() /
              ("bufferpool_cli_" + std::string(info->name()) + "_" + std::to_string(getpid()));
    fs::remove_all(folder_);
    fs::create_directories(folder_);
  }
  void TearDown() override { fs::remove_all(folder_); }

  [[nodiscard]] fs::path file(const std::string& name) const { return folder_ / name; }

  /// Runs `bufferpool ARGUMENTS` (already quoted for the shell).
  CommandResult run(const std::string& arguments) const {
    const fs::path out = folder_ / "stdout.txt";
    const fs::path err = folder_ / "stderr.txt";
    const std::string command = std::string("'") + BUFFERPOOL_CLI + "' " + arguments + " >'" +
                                out.string() + "' 2>'" + err.string() + "'";
    // The test's own command line, built from paths it chose.
    // NOLINTNEXTLINE(cert-env33-c,concurrency-mt-unsafe)
    const int status = std::system(command.c_str());
    CommandResult result;
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result.out = read_file(out);
    result.err = read_file(err);
    return result;
  }

 private:
  fs::path folder_;
};

std::string quoted(const fs::path& path) { return "'" + path.string() + "'"; }

TEST_F(CliTest, ReplayJsonIsOneObjectPerTraceWithTheLibrarysFigures) {
  const fs::path first = kTraces / "lstm_infer.csv";
  const fs::path second = kTraces / "mlp_infer.csv";
  const CommandResult result = run("replay " + quoted(first) + " " + quoted(second) + " --json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const json document = json::parse(result.out);
  ASSERT_TRUE(document.is_array());
  ASSERT_EQ(document.size(), 2U);
  const fs::path files[] = {first, second};
  for (std::size_t index = 0; index < 2; ++index) {
    const json& entry = document[index];
    const Trace trace = read_trace(files[index]);
    const ReplayResult expected = replay(trace, PoolConfig{});
    SCOPED_TRACE(trace.name);
    EXPECT_EQ(entry.at("trace").get<std::string>(), trace.name);
    EXPECT_EQ(entry.at("requests").get<std::uint64_t>(), expected.requests);
    EXPECT_DOUBLE_EQ(entry.at("hit_rate").get<double>(), expected.hit_rate);
    EXPECT_EQ(entry.at("peak_bytes_held").get<std::size_t>(), expected.peak_bytes_held);
    EXPECT_EQ(entry.at("peak_bytes_live").get<std::size_t>(), expected.peak_bytes_live);
    EXPECT_DOUBLE_EQ(entry.at("overhead").get<double>(), expected.overhead);
    EXPECT_EQ(entry.at("device_allocations").get<std::uint64_t>(), expected.device_allocations);
    EXPECT_EQ(entry.at("metrics").at("misses").get<std::uint64_t>(), expected.metrics.misses);
    EXPECT_EQ(entry.at("metrics").at("size_classes").size(), expected.metrics.size_classes.size());
    EXPECT_EQ(entry.at("segments_at_peak").size(), expected.segments_at_peak.size());
    EXPECT_EQ(entry.at("fragmentation").size(), expected.fragmentation.size());
    EXPECT_EQ(entry.at("settings").get<std::string>(), "defaults");
    EXPECT_EQ(entry.at("events").get<std::size_t>(), trace.events.size());
  }
}

TEST_F(CliTest, ReplayTakesAPresetOrAConfigFile) {
  const fs::path trace_path = kTraces / "small_cnn_train.csv";
  const Trace trace = read_trace(trace_path);

  const CommandResult preset =
      run("replay " + quoted(trace_path) + " --preset memory_constrained --json");
  ASSERT_EQ(preset.exit_code, 0) << preset.err;
  const json preset_entry = json::parse(preset.out).at(0);
  EXPECT_EQ(preset_entry.at("config"), json::parse(PoolConfig::memory_constrained().to_json()));
  EXPECT_EQ(preset_entry.at("peak_bytes_held").get<std::size_t>(),
            replay(trace, PoolConfig::memory_constrained()).peak_bytes_held);

  PoolConfig custom;
  custom.max_pool_size = 3;
  custom.ttl = std::chrono::milliseconds{10};
  custom.cleanup_interval = std::chrono::milliseconds{10};
  const fs::path config_path = file("custom.json");
  std::ofstream(config_path) << custom.to_json();
  const CommandResult from_file =
      run("replay " + quoted(trace_path) + " --config " + quoted(config_path) + " --json");
  ASSERT_EQ(from_file.exit_code, 0) << from_file.err;
  const json file_entry = json::parse(from_file.out).at(0);
  EXPECT_EQ(file_entry.at("config").at("max_pool_size").get<std::size_t>(), 3U);
  EXPECT_EQ(file_entry.at("metrics").at("expirations").get<std::uint64_t>(),
            replay(trace, custom).metrics.expirations);
  EXPECT_EQ(file_entry.at("settings").get<std::string>(), config_path.string());
}

TEST_F(CliTest, ReplayWritesThePerfettoMemoryVizAndPlotViews) {
  const fs::path trace_path = kTraces / "lstm_infer.csv";
  const fs::path perfetto = file("timeline.json");
  const fs::path memory_viz = file("snapshot.pickle");
  const fs::path plot = file("timeline.png");
  const CommandResult result =
      run("replay " + quoted(trace_path) + " --json --perfetto " + quoted(perfetto) +
          " --memory-viz " + quoted(memory_viz) + " --plot " + quoted(plot));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const json entry = json::parse(result.out).at(0);
  EXPECT_EQ(entry.at("files").at("perfetto").get<std::string>(), perfetto.string());
  EXPECT_EQ(entry.at("files").at("memory_viz").get<std::string>(), memory_viz.string());
  EXPECT_EQ(entry.at("files").at("plot").get<std::string>(), plot.string());

  const json timeline = json::parse(read_file(perfetto));
  ASSERT_TRUE(timeline.at("traceEvents").is_array());
  std::size_t segment_allocations = 0;
  for (const json& event : timeline.at("traceEvents")) {
    if (event.value("ph", "") == "i" && event.value("name", "") == "segment allocate") {
      ++segment_allocations;
    }
  }
  EXPECT_EQ(segment_allocations, entry.at("device_allocations").get<std::size_t>());

  // A pickle of protocol 2 or later opens with PROTO and ends with STOP.
  const std::string pickle = read_file(memory_viz);
  ASSERT_GE(pickle.size(), 3U);
  EXPECT_EQ(static_cast<unsigned char>(pickle.front()), 0x80);
  EXPECT_EQ(pickle.back(), '.');

  const std::string png = read_file(plot);
  ASSERT_GE(png.size(), 8U);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
}

TEST_F(CliTest, TuneWritesSettingsThatFromJsonLoadsAndCppLinesThatSetThem) {
  const fs::path trace_path = kTraces / "mlp_infer.csv";
  const fs::path out = file("recommended.json");
  const CommandResult result =
      run("tune " + quoted(trace_path) + " --out " + quoted(out) + " --json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const json document = json::parse(result.out);
  EXPECT_EQ(document.at("objective").at("kind").get<std::string>(), "max_overhead");
  EXPECT_DOUBLE_EQ(document.at("objective").at("max_overhead").get<double>(), 1.25);

  const PoolConfig recommended = PoolConfig::from_json(read_file(out));
  EXPECT_EQ(json::parse(recommended.to_json()), document.at("recommended").at("config"));
  // The guarantee, on the one trace: at least as good as the defaults.
  const json& ours = document.at("recommended").at("traces").at(0);
  const json& base = document.at("baseline").at("traces").at(0);
  EXPECT_LE(ours.at("excess_bytes").get<std::size_t>(), base.at("excess_bytes").get<std::size_t>());
  // And replaying what --out wrote gives the figures tune reported.
  const ReplayResult replayed = replay(read_trace(trace_path), recommended);
  EXPECT_EQ(replayed.peak_bytes_held, ours.at("peak_bytes_held").get<std::size_t>());
  EXPECT_EQ(replayed.metrics.misses, ours.at("misses").get<std::uint64_t>());
  ASSERT_FALSE(document.at("frontier").empty());

  // The C++ lines, compiled against the library, set the same settings.
  const fs::path source = file("settings.cpp");
  std::ofstream(source) << "#include <bufferpool/config.hpp>\n#include <chrono>\n"
                           "#include <iostream>\nint main() {\n  bufferpool::PoolConfig config;\n"
                        << document.at("cpp").get<std::string>()
                        << "  std::cout << config.to_json();\n}\n";
  const fs::path program = file("settings");
  const std::string compile = std::string("'") + BUFFERPOOL_CXX + "' -std=c++20 -I'" +
                              BUFFERPOOL_INCLUDE_DIR + "' " + quoted(source) + " '" +
                              BUFFERPOOL_LIBRARY + "' -pthread -o " + quoted(program) + " 2>" +
                              quoted(file("compile.txt"));
  // NOLINTNEXTLINE(cert-env33-c,concurrency-mt-unsafe): our compiler, our file
  ASSERT_EQ(std::system(compile.c_str()), 0) << read_file(file("compile.txt"));
  const std::string run_program = quoted(program) + " >" + quoted(file("settings.json"));
  // NOLINTNEXTLINE(cert-env33-c,concurrency-mt-unsafe)
  ASSERT_EQ(std::system(run_program.c_str()), 0);
  EXPECT_EQ(json::parse(read_file(file("settings.json"))), json::parse(read_file(out)));
}

TEST_F(CliTest, TuneTakesAMemoryBudgetWithAUnit) {
  const CommandResult result =
      run("tune " + quoted(kTraces / "lstm_infer.csv") + " --memory-budget 3MiB --json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const json document = json::parse(result.out);
  EXPECT_EQ(document.at("objective").at("kind").get<std::string>(), "memory_budget");
  EXPECT_EQ(document.at("objective").at("memory_budget_bytes").get<std::size_t>(), 3U << 20);
  EXPECT_EQ(document.at("recommended").at("traces").at(0).at("limit_bytes").get<std::size_t>(),
            3U << 20);
}

TEST_F(CliTest, MistakesExitWithAnErrorThatSaysWhat) {
  const fs::path trace_path = kTraces / "lstm_infer.csv";
  EXPECT_NE(run("replay " + quoted(file("missing.csv"))).exit_code, 0);
  EXPECT_NE(run("replay " + quoted(trace_path) + " --preset fastest").exit_code, 0);
  EXPECT_NE(
      run("tune " + quoted(trace_path) + " --max-overhead 1.5 --memory-budget 1MiB").exit_code, 0);
  EXPECT_NE(run("tune " + quoted(trace_path) + " --max-overhead 0.5").exit_code, 0);

  const fs::path bad_config = file("bad.json");
  std::ofstream(bad_config) << R"({"max_pool_size": "many"})";
  const CommandResult bad = run("replay " + quoted(trace_path) + " --config " + quoted(bad_config));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("'max_pool_size'"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find(bad_config.string()), std::string::npos) << bad.err;

  const fs::path bad_trace = file("bad.csv");
  std::ofstream(bad_trace) << "Thread,Time,Action,Pointer,Size,Stream\n1,noon,allocate,0x1,8,0x0\n";
  const CommandResult unreadable = run("replay " + quoted(bad_trace));
  EXPECT_EQ(unreadable.exit_code, 1);
  EXPECT_NE(unreadable.err.find(bad_trace.string() + ":2: bad Time"), std::string::npos)
      << unreadable.err;
}

}  // namespace
}  // namespace bufferpool
