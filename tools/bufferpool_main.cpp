// The `bufferpool` command-line program:
//
//   bufferpool bench [--quick] [--out DIR] [--skip SECTION]... [--seed N] [--no-plots]
//   bufferpool replay TRACE... [--config FILE | --preset NAME] [--json]
//                              [--perfetto FILE] [--memory-viz FILE] [--plot FILE]
//   bufferpool tune TRACE... [--max-overhead X | --memory-budget BYTES] [--out FILE]
//                            [--config FILE | --preset NAME] [--threads N] [--json]
//
// Subcommands, options and help are CLI11's; each subcommand's work is in its
// own file (bench_command.cpp, replay_command.cpp, tune_command.cpp).
#include "commands.hpp"
#include "suite.hpp"

#include <bufferpool/errors.hpp>

#include <CLI/CLI.hpp>

#include <exception>
#include <iostream>
#include <string>

namespace {

using bufferpool::cli::kPresetNames;
using bufferpool::cli::SettingsArgs;

constexpr const char* kBenchFooter =
    "The plots need python3 with matplotlib (Debian: python3-matplotlib), run as\n"
    "BUFFERPOOL_PYTHON or /usr/bin/python3; the script is found through\n"
    "BUFFERPOOL_PLOT_SCRIPT, the source tree or the installed share folder.\n"
    "The traces section replays every .csv in BUFFERPOOL_TRACES_DIR, else\n"
    "bench/traces in the source tree, else the installed share folder's traces.\n";

constexpr const char* kReplayFooter =
    "A trace is RMM's logging_resource_adaptor CSV, as BufferPool::start_recording(),\n"
    "PoolConfig::trace_path and BUFFERPOOL_TRACE=FILE write it. Nothing is timed and\n"
    "no memory is touched: the pool runs over a simulated device, its clock set to\n"
    "each event's time. Several threads in a trace replay in trace order on one.\n"
    "With several traces, each output file gets the trace's name before its\n"
    "extension (out.json -> out.resnet18_train.json). --plot runs plot_timeline.py\n"
    "(BUFFERPOOL_PLOT_TIMELINE_SCRIPT, the source tree or the share folder) with\n"
    "BUFFERPOOL_PYTHON or /usr/bin/python3.\n";

constexpr const char* kTuneFooter =
    "The objective: the most hits subject to peak bytes held <= X times the trace's\n"
    "peak live bytes (--max-overhead, 1.25 by default) or <= BYTES (--memory-budget,\n"
    "such as 512MiB), on every trace. The baseline (--config/--preset, the defaults\n"
    "otherwise) is always a candidate, and the recommendation does at least as well\n"
    "as it on every trace. Given several traces, one setting must do so on each of\n"
    "them, which leaves less room than tuning each workload's trace on its own.\n";

void add_settings_options(CLI::App& command, SettingsArgs& settings, const std::string& role) {
  CLI::Option* config = command.add_option("--config", settings.config_file,
                                           role + " from a JSON file (PoolConfig::from_json)");
  config->check(CLI::ExistingFile);
  CLI::Option* preset = command.add_option("--preset", settings.preset,
                                           role +
                                               ": defaults, memory_constrained or "
                                               "performance_critical (default: defaults)");
  preset->check(CLI::IsMember(kPresetNames));
  config->excludes(preset);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "bufferpool: benchmark the pool, replay recorded allocation traces through it, and tune "
      "its settings from them"};
  app.require_subcommand(1);

  bufferpool::cli::BenchArgs bench;
  CLI::App* bench_command =
      app.add_subcommand("bench",
                         "measure the pool against the design's claims: a table "
                         "with PASS/MISS per target");
  bench_command->add_flag("--quick", bench.quick,
                          "a short run (under a minute on a 2-core machine)");
  bench_command->add_flag_callback(
      "--full", [&bench] { bench.quick = false; }, "the full run (the default)");
  bench_command->add_option("--out", bench.out_dir,
                            "write DIR/bench.json, DIR/table.txt and PNG plots");
  bench_command
      ->add_option(
          "--skip", bench.skip,
          "leave out a section: workloads, host, vulkan, end_to_end, sequences, bookkeeping, "
          "threads, traces (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  bench_command->add_option("--seed", bench.seed, "seed of the generated workloads (default 42)");
  bench_command->add_flag_callback(
      "--no-plots", [&bench] { bench.plots = false; }, "do not run the plotting script");
  bench_command->footer(kBenchFooter);

  bufferpool::cli::ReplayArgs replay;
  CLI::App* replay_command = app.add_subcommand(
      "replay",
      "replay traces through the pool in simulated time: hit rate, peak held and live bytes, "
      "overhead, device allocations, per class and per segment, fragmentation over time");
  replay_command->add_option("TRACE", replay.traces, "RMM log CSV files")
      ->required()
      ->check(CLI::ExistingFile);
  add_settings_options(*replay_command, replay.settings, "the pool's settings");
  replay_command->add_flag("--json", replay.json,
                           "print a JSON array, one object per trace, instead of the report");
  replay_command->add_option("--perfetto", replay.perfetto_path,
                             "write the timeline as Chrome trace-event JSON (ui.perfetto.dev)");
  replay_command->add_option("--memory-viz", replay.memory_viz_path,
                             "write a snapshot for PyTorch's memory viewer "
                             "(pytorch.org/memory_viz)");
  replay_command->add_option("--plot", replay.plot_path,
                             "draw bytes held, live and idle over time, misses marked, as a PNG");
  replay_command->footer(kReplayFooter);

  bufferpool::cli::TuneArgs tune;
  CLI::App* tune_command = app.add_subcommand(
      "tune",
      "search the pool's settings by replaying traces; print the frontier of hit rate against "
      "peak memory and the recommended settings");
  tune_command->add_option("TRACE", tune.traces, "RMM log CSV files")
      ->required()
      ->check(CLI::ExistingFile);
  CLI::Option* overhead =
      tune_command
          ->add_option("--max-overhead", tune.max_overhead,
                       "at most X times the peak live bytes held (default 1.25)")
          ->check(CLI::Range(1.0, 1e6));
  CLI::Option* budget =
      tune_command
          ->add_option("--memory-budget", tune.memory_budget_bytes,
                       "at most BYTES held (a number, or with a unit: 512MiB, 2GiB)")
          ->transform(CLI::AsSizeValue(false));
  overhead->excludes(budget);
  tune_command->add_option("--out", tune.out_path,
                           "write the recommended settings as JSON (PoolConfig::from_json)");
  add_settings_options(*tune_command, tune.baseline, "the baseline to beat");
  tune_command->add_option("--threads", tune.threads,
                           "replays run at once (default: one per core)");
  tune_command->add_flag("--json", tune.json,
                         "print the frontier, the baseline and the recommendation as JSON");
  tune_command->footer(kTuneFooter);

  // The host allocator comparison runs this program again with an
  // allocator preloaded; not for people.
  std::string child_allocator;
  std::string child_mode;
  CLI::App* child_command = app.add_subcommand("__host-alloc-child", "");
  child_command->group("");
  child_command->add_option("ALLOCATOR", child_allocator)->required();
  child_command->add_option("MODE", child_mode)
      ->required()
      ->check(CLI::IsMember({"quick", "full"}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
  try {
    if (bench_command->parsed()) return bufferpool::cli::run_bench(bench);
    if (replay_command->parsed()) return bufferpool::cli::run_replay(replay);
    if (tune_command->parsed()) return bufferpool::cli::run_tune(tune);
    if (child_command->parsed()) {
      return bufferpool::bench::run_host_allocation_child(child_allocator, child_mode == "quick");
    }
  } catch (const std::exception& failure) {
    // The library's messages already start with "bufferpool: ".
    const std::string message = failure.what();
    std::cerr << (message.rfind("bufferpool: ", 0) == 0 ? "" : "bufferpool: ") << message << "\n";
    return 1;
  }
  return 2;
}
