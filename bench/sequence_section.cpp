// Section 3b: the design's step of many small kernels, one submission per
// kernel against one recorded Sequence, and the sequence's peak device bytes
// with and without stream-ordered reuse.
//
// The step: 16 elementwise kernels (saxpy, x <- 0.5 x + bias) over 1 MiB
// tensors, each kernel's output dying after the next kernel reads it, and
// one value read back. Every way is checked against the CPU.
#include "suite.hpp"
#include "timing.hpp"

#include <bufferpool/manager.hpp>

#include <cmath>
#include <cstdint>
#include <exception>
#include <iomanip>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

namespace bufferpool::bench {
namespace {

constexpr int kKernels = 16;
constexpr std::size_t kTensorBytes = std::size_t{1} << 20;
constexpr std::uint32_t kElements = kTensorBytes / sizeof(float);
constexpr float kScale = 0.5F;

struct SaxpyParams {
  std::uint32_t n;
  float a;
};

/// What the CPU says the step's output is.
std::vector<float> reference(std::vector<float> x, const std::vector<float>& bias) {
  for (int kernel = 0; kernel < kKernels; ++kernel) {
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = kScale * x[i] + bias[i];
  }
  return x;
}

void check_output(ComputeManager& manager, const BufferRef& output,
                  const std::vector<float>& expected, const char* way) {
  const auto values = manager.get_buffer_data<float>(output);
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (std::abs(values[i] - expected[i]) > 1e-4F * std::max(1.0F, std::abs(expected[i]))) {
      throw std::runtime_error(std::string("the step ") + way + " differs from the CPU at " +
                               std::to_string(i));
    }
  }
}

struct Step {
  ComputeManager& manager;
  BufferRef input;
  BufferRef bias;

  /// One submission (and wait) per kernel, as execute_shader runs them.
  BufferRef per_kernel() {
    BufferRef current = input;
    for (int kernel = 0; kernel < kKernels; ++kernel) {
      BufferRef next = manager.create_buffer(kTensorBytes);
      manager.execute_shader("saxpy", {current, bias}, {next}, TotalThreads{kElements},
                             SaxpyParams{kElements, kScale});
      current = std::move(next);
    }
    return current;
  }

  /// The step recorded into a sequence; intermediates from the sequence
  /// (stream-ordered reuse) or from the manager (no reuse inside it).
  Sequence record(bool stream_ordered, BufferRef& output) {
    Sequence sequence = manager.sequence();
    BufferRef current = input;
    for (int kernel = 0; kernel < kKernels; ++kernel) {
      BufferRef next = stream_ordered ? sequence.create_buffer(kTensorBytes)
                                      : manager.create_buffer(kTensorBytes);
      sequence.record("saxpy", {current, bias}, {next}, TotalThreads{kElements},
                      SaxpyParams{kElements, kScale});
      current = std::move(next);
    }
    output = current;
    return sequence;
  }
};

float read_one(ComputeManager& manager, const BufferRef& buffer) {
  std::array<float, 1> value{};
  manager.get_buffer_data(buffer, std::span<float>(value));
  return value[0];
}

}  // namespace

void run_sequence_section(const BenchOptions& options, Report& report) {
  std::ostream& out = *report.table;
  Json section = Json::object();
  const std::string target_rate = "recorded sequence vs one submission per kernel (steps/s)";
  const std::string target_peak = "sequence peak bytes, stream-ordered reuse vs none";
  try {
    const unsigned rounds = options.quick ? 7 : 21;
    const unsigned steps_per_round = options.quick ? 3 : 6;
    ManagerOptions manager_options;
    manager_options.backend = ManagerBackend::vulkan;
    ComputeManager manager(manager_options);
    manager.load_builtin_shader_library("kernels");
    manager.create_compute_pipeline("kernels", "saxpy", "saxpy");
    std::vector<float> x0(kElements);
    std::vector<float> bias(kElements);
    for (std::uint32_t i = 0; i < kElements; ++i) {
      x0[i] = static_cast<float>(i % 101) * 0.125F;
      bias[i] = static_cast<float>(i % 7) - 3.0F;
    }
    const auto expected = reference(x0, bias);
    Step step{manager, manager.create_buffer(x0), manager.create_buffer(bias)};

    // Peak device bytes of one step each way, from an empty pool.
    const auto peak_of = [&](auto&& run) {
      manager.wait_idle();
      manager.pool().clear();
      manager.pool().reset_peak();
      run();
      manager.wait_idle();
      return manager.pool().metrics().peak_bytes_allocated;
    };
    std::size_t peak_per_kernel = 0;
    std::size_t peak_without_reuse = 0;
    std::size_t peak_with_reuse = 0;
    peak_per_kernel =
        peak_of([&] { check_output(manager, step.per_kernel(), expected, "per kernel"); });
    peak_without_reuse = peak_of([&] {
      BufferRef output;
      Sequence sequence = step.record(false, output);
      sequence.execute();
      check_output(manager, output, expected, "as a sequence without reuse");
    });
    std::uint64_t reuses_before = manager.pool().metrics().stream_reuses;
    peak_with_reuse = peak_of([&] {
      BufferRef output;
      Sequence sequence = step.record(true, output);
      sequence.execute();
      check_output(manager, output, expected, "as a sequence with reuse");
    });
    const std::uint64_t reuses = manager.pool().metrics().stream_reuses - reuses_before;

    // Throughput: one submission per kernel; the sequence recorded once and
    // submitted every step (a training loop's step); the sequence recorded
    // anew every step (a framework that cannot keep it). Rounds rotate which
    // goes first, so that the machine's drift moves all alike.
    BufferRef fixed_output;
    Sequence fixed = step.record(true, fixed_output);
    fixed.execute();
    check_output(manager, fixed_output, expected, "recorded once, submitted again");
    float sink = 0.0F;
    const auto per_kernel = [&] { sink += read_one(manager, step.per_kernel()); };
    const auto recorded_once = [&] {
      fixed.execute();
      sink += read_one(manager, fixed_output);
    };
    const auto recorded_each_step = [&] {
      BufferRef output;
      Sequence sequence = step.record(true, output);
      sequence.execute();
      sink += read_one(manager, output);
    };
    const std::uint64_t gpu_ns_before = manager.get_performance_metrics().gpu_time_ns;
    std::vector<double> rate_per_kernel;
    std::vector<double> rate_once;
    std::vector<double> rate_each;
    std::vector<double> gain_once;
    std::vector<double> gain_each;
    for (unsigned round = 0; round < rounds; ++round) {
      double seconds[3] = {0, 0, 0};
      for (unsigned turn = 0; turn < 3; ++turn) {
        const unsigned way = (round + turn) % 3;
        const auto start = Clock::now();
        for (unsigned s = 0; s < steps_per_round; ++s) {
          if (way == 0) per_kernel();
          if (way == 1) recorded_once();
          if (way == 2) recorded_each_step();
        }
        seconds[way] = elapsed_ns(start) / 1e9;
      }
      rate_per_kernel.push_back(steps_per_round / seconds[0]);
      rate_once.push_back(steps_per_round / seconds[1]);
      rate_each.push_back(steps_per_round / seconds[2]);
      gain_once.push_back(seconds[0] / seconds[1]);
      gain_each.push_back(seconds[0] / seconds[2]);
    }
    keep(sink);
    // Only the per-kernel way's dispatches carry timestamps: the device time of
    // one kernel, which no way of submitting can save.
    const double device_ms_per_kernel =
        static_cast<double>(manager.get_performance_metrics().gpu_time_ns - gpu_ns_before) / 1e6 /
        (static_cast<double>(rounds) * steps_per_round * kKernels);

    out << "\n3b. Sequences: a step of " << kKernels << " elementwise kernels over "
        << format_size(kTensorBytes) << " tensors, each output dying after the next kernel; "
        << "median of " << rounds << " rotated rounds of " << steps_per_round << " steps\n";
    out << "   " << std::setw(50) << std::left << "way" << std::right << std::setw(10) << "steps/s"
        << std::setw(9) << "gain" << std::setw(14) << "peak held"
        << "\n";
    const auto row = [&](const char* way, std::optional<double> rate, std::optional<double> gain,
                         std::optional<std::size_t> peak) {
      out << "   " << std::setw(50) << std::left << way << std::right << std::setw(10)
          << (rate ? format_fixed(*rate, 1) : std::string("-")) << std::setw(9)
          << (gain ? format_fixed(*gain, 2) + "x" : std::string("-")) << std::setw(14)
          << (peak ? format_size(*peak) : std::string("-")) << "\n";
    };
    row("one submission per kernel (execute_shader)", median(rate_per_kernel), std::nullopt,
        peak_per_kernel);
    row("one sequence, recorded once, submitted each step", median(rate_once), median(gain_once),
        peak_with_reuse);
    row("one sequence, recorded each step", median(rate_each), median(gain_each), std::nullopt);
    row("one sequence without stream-ordered reuse", std::nullopt, std::nullopt,
        peak_without_reuse);
    out << "   stream-ordered reuses in one recorded step: " << reuses << "\n";
    out << "   device time per kernel (timestamps): " << format_fixed(device_ms_per_kernel, 3)
        << " ms, so " << format_fixed(device_ms_per_kernel * kKernels, 2) << " ms of the "
        << format_fixed(1e3 / median(rate_per_kernel), 2)
        << " ms per-kernel step is the kernels themselves: no way of submitting them can make "
           "the step more than "
        << format_fixed(1e3 / median(rate_per_kernel) / (device_ms_per_kernel * kKernels), 2)
        << "x as fast here\n";

    section["device"] = Json(manager.backend_name());
    section["kernels"] = Json(kKernels);
    section["tensor_bytes"] = Json(static_cast<std::uint64_t>(kTensorBytes));
    section["per_kernel_steps_per_second"] = Json(median(rate_per_kernel));
    section["recorded_once_steps_per_second"] = Json(median(rate_once));
    section["recorded_each_step_steps_per_second"] = Json(median(rate_each));
    section["recorded_once_over_per_kernel"] = Json(median(gain_once));
    section["recorded_each_step_over_per_kernel"] = Json(median(gain_each));
    section["peak_bytes_per_kernel"] = Json(static_cast<std::uint64_t>(peak_per_kernel));
    section["peak_bytes_sequence_with_reuse"] = Json(static_cast<std::uint64_t>(peak_with_reuse));
    section["peak_bytes_sequence_without_reuse"] =
        Json(static_cast<std::uint64_t>(peak_without_reuse));
    section["stream_reuses_per_step"] = Json(reuses);
    section["device_ms_per_kernel"] = Json(device_ms_per_kernel);
    report.check({target_rate, ">= 1.5x",
                  format_fixed(median(gain_once), 2) + "x recorded once, " +
                      format_fixed(median(gain_each), 2) + "x recorded each step",
                  median(gain_once) >= 1.5,
                  "on lavapipe the kernels themselves run on the CPU's cores, so the "
                  "submissions saved are a small part of the step"});
    report.check({target_peak, "<= 0.5x",
                  format_size(peak_with_reuse) + " vs " + format_size(peak_without_reuse),
                  2 * peak_with_reuse <= peak_without_reuse, ""});
  } catch (const std::exception& error) {
    out << "\n3b. Sequences: skipped (" << error.what() << ")\n";
    section["error"] = Json(std::string(error.what()));
    for (const auto& name : {target_rate, target_peak}) {
      report.check({name, "-", "not measured: " + std::string(error.what()), false, ""});
    }
  }
  report.json["sequences"] = section;
}

}  // namespace bufferpool::bench
