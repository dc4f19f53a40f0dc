// `bufferpool bench`: the benchmark suite, its table on stdout and, with
// --out, its JSON, table and plots in a folder.
#include "commands.hpp"
#include "suite.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <streambuf>

namespace bufferpool::cli {
namespace {

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

}  // namespace

int run_bench(const BenchArgs& args) {
  bench::BenchOptions options;
  options.quick = args.quick;
  options.seed = args.seed;
  options.skip = args.skip;
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
  const bench::Report report = bench::run_all(options, table);
  table.flush();

  if (!args.out_dir.empty()) {
    std::filesystem::create_directories(args.out_dir);
    const std::filesystem::path json_path = std::filesystem::path(args.out_dir) / "bench.json";
    write_file(json_path, report.json.dump());
    write_file(std::filesystem::path(args.out_dir) / "table.txt", copy.str());
    std::cout << "wrote " << json_path.string() << " and table.txt\n";
    if (args.plots) {
      const std::string script = find_script("plot_bench.py", "BUFFERPOOL_PLOT_SCRIPT");
      if (script.empty()) {
        std::cerr << "bufferpool bench: plot_bench.py not found; set BUFFERPOOL_PLOT_SCRIPT\n";
      } else {
        const std::string command =
            bench::shell_quote(find_python()) + " " + bench::shell_quote(script) + " " +
            bench::shell_quote(json_path.string()) + " " + bench::shell_quote(args.out_dir);
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

}  // namespace bufferpool::cli
