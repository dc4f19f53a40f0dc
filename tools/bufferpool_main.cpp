// The `bufferpool` command-line program.
//
//   bufferpool bench [--quick] [--out DIR] [--skip SECTION]... [--seed N] [--no-plots]
//
// `bench` measures the pool against the design's claims, prints a table with
// PASS/MISS for each target, and with --out writes DIR/bench.json (every
// figure), DIR/table.txt and PNG plots drawn from the JSON by plot_bench.py.
#include "suite.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <streambuf>
#include <string>
#include <vector>

namespace {

constexpr const char* kUsage =
    "usage: bufferpool bench [--quick] [--out DIR] [--skip SECTION]... [--seed N] [--no-plots]\n"
    "\n"
    "  --quick         a short run (under a minute on a 2-core machine)\n"
    "  --out DIR       write DIR/bench.json, DIR/table.txt and PNG plots\n"
    "  --skip SECTION  leave out a section: workloads, host, vulkan, end_to_end,\n"
    "                  bookkeeping, threads, traces (repeatable)\n"
    "  --seed N        seed of the generated workloads (default 42)\n"
    "  --no-plots      do not run the plotting script\n"
    "\n"
    "The plots need python3 with matplotlib (Debian: python3-matplotlib), run as\n"
    "BUFFERPOOL_PYTHON or /usr/bin/python3; the script is found through\n"
    "BUFFERPOOL_PLOT_SCRIPT, the source tree or the installed share folder.\n"
    "The traces section replays every .csv in BUFFERPOOL_TRACES_DIR, else\n"
    "bench/traces in the source tree, else the installed share folder's traces.\n";

/// Writes everything to two stream buffers: the terminal and a copy.
class TeeBuffer final : public std::streambuf {
 public:
  TeeBuffer(std::streambuf* first, std::streambuf* second) : first_(first), second_(second) {}

 protected:
  int overflow(int character) override {
    if (character == traits_type::eof()) return traits_type::not_eof(character);
    const auto as_char = traits_type::to_char_type(character);
    if (first_->sputc(as_char) == traits_type::eof() ||
        second_->sputc(as_char) == traits_type::eof()) {
      return traits_type::eof();
    }
    return character;
  }
  int sync() override { return first_->pubsync() == 0 && second_->pubsync() == 0 ? 0 : -1; }

 private:
  std::streambuf* first_;
  std::streambuf* second_;
};

std::string find_plot_script() {
  namespace fs = std::filesystem;
  // The program reads its environment once, before any thread starts.
  // NOLINTNEXTLINE(concurrency-mt-unsafe)
  if (const char* configured = std::getenv("BUFFERPOOL_PLOT_SCRIPT")) return configured;
  for (const fs::path& candidate : {fs::path(BUFFERPOOL_SOURCE_DIR) / "scripts" / "plot_bench.py",
                                    fs::path(BUFFERPOOL_INSTALL_DATADIR) / "plot_bench.py"}) {
    std::error_code error;
    if (fs::exists(candidate, error)) return candidate.string();
  }
  return "";
}

/// The Python that has Debian's python3-matplotlib: BUFFERPOOL_PYTHON, else
/// /usr/bin/python3 (a pyenv or venv python3 first on PATH may lack it), else
/// python3 from PATH.
std::string find_python() {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): read once, before any thread starts
  if (const char* configured = std::getenv("BUFFERPOOL_PYTHON")) return configured;
  std::error_code error;
  if (std::filesystem::exists("/usr/bin/python3", error)) return "/usr/bin/python3";
  return "python3";
}

int run_bench(const std::vector<std::string>& arguments) {
  bufferpool::bench::BenchOptions options;
  std::string out_dir;
  bool plots = true;
  for (std::size_t index = 0; index < arguments.size(); ++index) {
    const std::string& argument = arguments[index];
    const auto value = [&]() -> std::string {
      if (index + 1 >= arguments.size()) {
        throw std::invalid_argument(argument + " needs a value");
      }
      return arguments[++index];
    };
    if (argument == "--quick") {
      options.quick = true;
    } else if (argument == "--full") {
      options.quick = false;
    } else if (argument == "--out") {
      out_dir = value();
    } else if (argument == "--skip") {
      options.skip.push_back(value());
    } else if (argument == "--seed") {
      options.seed = std::stoull(value());
    } else if (argument == "--no-plots") {
      plots = false;
    } else if (argument == "--help" || argument == "-h") {
      std::cout << kUsage;
      return 0;
    } else {
      throw std::invalid_argument("unknown option '" + argument + "'");
    }
  }
  std::error_code error;
  options.self_path = std::filesystem::read_symlink("/proc/self/exe", error).string();
  if (error) {
    std::cerr << "bufferpool bench: cannot find this program's path (/proc/self/exe): "
              << error.message() << "; the host allocator comparison will fail\n";
  }

  std::ostringstream copy;
  TeeBuffer tee(std::cout.rdbuf(), copy.rdbuf());
  std::ostream table(&tee);
  table << "bufferpool bench (" << (options.quick ? "quick" : "full") << " mode)\n";
  const bufferpool::bench::Report report = bufferpool::bench::run_all(options, table);
  table.flush();

  if (!out_dir.empty()) {
    std::filesystem::create_directories(out_dir);
    const std::filesystem::path json_path = std::filesystem::path(out_dir) / "bench.json";
    std::ofstream(json_path) << report.json.dump();
    std::ofstream(std::filesystem::path(out_dir) / "table.txt") << copy.str();
    std::cout << "wrote " << json_path.string() << " and table.txt\n";
    if (plots) {
      const std::string script = find_plot_script();
      if (script.empty()) {
        std::cerr << "bufferpool bench: plot_bench.py not found; set BUFFERPOOL_PLOT_SCRIPT\n";
      } else {
        const std::string command = bufferpool::bench::shell_quote(find_python()) + " " +
                                    bufferpool::bench::shell_quote(script) + " " +
                                    bufferpool::bench::shell_quote(json_path.string()) + " " +
                                    bufferpool::bench::shell_quote(out_dir);
        // Runs our own plotting script, after the benchmark threads have ended.
        // NOLINTNEXTLINE(cert-env33-c,concurrency-mt-unsafe)
        if (std::system(command.c_str()) != 0) {
          std::cerr << "bufferpool bench: plotting failed (is python3-matplotlib installed?)\n";
        }
      }
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> arguments(argv + 1, argv + argc);
  try {
    if (arguments.empty() || arguments[0] == "help" || arguments[0] == "--help") {
      std::cout << kUsage;
      return arguments.empty() ? 2 : 0;
    }
    if (arguments[0] == "bench") {
      return run_bench({arguments.begin() + 1, arguments.end()});
    }
    if (arguments[0] == "__host-alloc-child" && arguments.size() == 3) {
      return bufferpool::bench::run_host_allocation_child(arguments[1], arguments[2] == "quick");
    }
    std::cerr << "bufferpool: unknown command '" << arguments[0] << "'\n" << kUsage;
    return 2;
  } catch (const std::exception& failure) {
    std::cerr << "bufferpool: " << failure.what() << "\n";
    return 1;
  }
}
