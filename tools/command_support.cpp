#include "commands.hpp"

#include <bufferpool/errors.hpp>

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

namespace bufferpool::cli {

PoolConfig load_settings(const SettingsArgs& args) {
  if (!args.config_file.empty()) {
    std::ifstream file(args.config_file);
    if (!file) {
      throw ConfigError("cannot read the settings file '" + args.config_file +
                        "'; give a JSON file as `bufferpool tune --out` writes");
    }
    std::ostringstream text;
    text << file.rdbuf();
    try {
      return PoolConfig::from_json(text.str());
    } catch (const ConfigError& error) {
      std::string message = error.what();
      const std::string prefix = "bufferpool: ";
      if (message.rfind(prefix, 0) == 0) message.erase(0, prefix.size());
      throw ConfigError(prefix + args.config_file + ": " + message);
    }
  }
  if (args.preset == "memory_constrained") return PoolConfig::memory_constrained();
  if (args.preset == "performance_critical") return PoolConfig::performance_critical();
  if (args.preset == "defaults") return PoolConfig{};
  // CLI11 checks the name against kPresetNames first; this is for callers
  // that build SettingsArgs themselves.
  throw ConfigError("unknown preset '" + args.preset +
                    "'; the presets are defaults, memory_constrained, performance_critical");
}

std::string settings_name(const SettingsArgs& args) {
  return args.config_file.empty() ? args.preset : args.config_file;
}

std::string find_script(const std::string& file_name, const char* environment_variable) {
  namespace fs = std::filesystem;
  // The program reads its environment before any thread starts.
  // NOLINTNEXTLINE(concurrency-mt-unsafe)
  if (const char* configured = std::getenv(environment_variable)) return configured;
  for (const fs::path& candidate : {fs::path(BUFFERPOOL_SOURCE_DIR) / "scripts" / file_name,
                                    fs::path(BUFFERPOOL_INSTALL_DATADIR) / file_name}) {
    std::error_code error;
    if (fs::exists(candidate, error)) return candidate.string();
  }
  return "";
}

std::string find_python() {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): read before any thread starts
  if (const char* configured = std::getenv("BUFFERPOOL_PYTHON")) return configured;
  std::error_code error;
  if (std::filesystem::exists("/usr/bin/python3", error)) return "/usr/bin/python3";
  return "python3";
}

std::filesystem::path path_for_trace(const std::filesystem::path& base,
                                     const std::string& trace_name, std::size_t trace_count) {
  if (trace_count <= 1) return base;
  return base.parent_path() / (base.stem().string() + "." + trace_name + base.extension().string());
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << text;
  file.close();
  if (!file) {
    throw Error("cannot write '" + path.string() +
                "'; check that its folder exists and is writable");
  }
}

ProgressLine::ProgressLine() : terminal_(isatty(STDERR_FILENO) == 1) {}

ProgressLine::~ProgressLine() { clear(); }

void ProgressLine::show(const std::string& text) {
  if (!terminal_) return;
  // \r and "erase to the end of the line": the next text draws over this.
  std::cerr << "\r\033[K" << text << std::flush;
  drawn_ = true;
}

void ProgressLine::clear() {
  if (!terminal_ || !drawn_) return;
  std::cerr << "\r\033[K" << std::flush;
  drawn_ = false;
}

}  // namespace bufferpool::cli
