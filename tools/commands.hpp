// The subcommands of the `bufferpool` program, each in its own file, and what
// they share: finding the helper scripts, reading settings, progress on a
// terminal.
#pragma once

#include <bufferpool/config.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace bufferpool::cli {

/// The presets --preset accepts, in the order help lists them.
inline const std::vector<std::string> kPresetNames = {"defaults", "memory_constrained",
                                                      "performance_critical"};

struct BenchArgs {
  bool quick = false;
  std::string out_dir;
  std::vector<std::string> skip;
  std::uint64_t seed = 42;
  bool plots = true;
};

/// Where a command's settings come from: a JSON file, or a preset.
struct SettingsArgs {
  std::string config_file;
  std::string preset = "defaults";
};

struct ReplayArgs {
  std::vector<std::string> traces;
  SettingsArgs settings;
  bool json = false;
  std::string perfetto_path;
  std::string memory_viz_path;
  std::string plot_path;
};

struct TuneArgs {
  std::vector<std::string> traces;
  std::optional<double> max_overhead;
  std::optional<std::uint64_t> memory_budget_bytes;
  std::string out_path;
  SettingsArgs baseline;
  unsigned threads = 0;
  bool json = false;
};

int run_bench(const BenchArgs& args);
int run_replay(const ReplayArgs& args);
int run_tune(const TuneArgs& args);

/// The settings named by --config FILE (PoolConfig::from_json; errors name
/// the file) or --preset NAME.
[[nodiscard]] PoolConfig load_settings(const SettingsArgs& args);
/// "defaults", "memory_constrained", ... or the config file's path.
[[nodiscard]] std::string settings_name(const SettingsArgs& args);

/// A helper script shipped with the program: $`environment_variable` when
/// set, else scripts/`file_name` in the source tree, else the installed
/// share folder. Empty when none exists.
[[nodiscard]] std::string find_script(const std::string& file_name,
                                      const char* environment_variable);
/// The Python that has Debian's python3-matplotlib: $BUFFERPOOL_PYTHON, else
/// /usr/bin/python3 (a venv python3 first on PATH may lack it), else python3.
[[nodiscard]] std::string find_python();

/// For a command given several traces, `base` with the trace's name before
/// its extension ("out.json" -> "out.resnet18_train.json"); `base` itself
/// for one trace.
[[nodiscard]] std::filesystem::path path_for_trace(const std::filesystem::path& base,
                                                   const std::string& trace_name,
                                                   std::size_t trace_count);

/// Writes `text` to `path`, replacing it; throws bufferpool::Error naming the
/// path when it cannot.
void write_file(const std::filesystem::path& path, const std::string& text);

/// A progress line on stderr, redrawn in place, when stderr is a terminal;
/// nothing otherwise (logs and pipes get no control characters).
class ProgressLine {
 public:
  ProgressLine();
  ~ProgressLine();
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;
  ProgressLine(ProgressLine&&) = delete;
  ProgressLine& operator=(ProgressLine&&) = delete;

  [[nodiscard]] bool shown() const noexcept { return terminal_; }
  /// Replaces the line with `text`.
  void show(const std::string& text);
  /// Clears the line.
  void clear();

 private:
  bool terminal_ = false;
  bool drawn_ = false;
};

}  // namespace bufferpool::cli
