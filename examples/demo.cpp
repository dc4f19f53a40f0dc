// The main job: a model-like sequence of GPU steps through the ComputeManager,
// checked against a CPU reference, run with the pool and with pooling off,
// one submission per kernel, and with the pool as one recorded Sequence per
// step (one submission, stream-ordered reuse of the tensors that die inside).
//
// Each step is a two-layer MLP forward pass plus a loss:
//   h = gelu(x W1 + b1); y = h W2 + b2; loss = sum(y^2)
// and makes a fresh buffer for every tensor, as framework code does. With the
// pool those come from its cache; with max_pool_size = 0 every one is a new
// device allocation.
//
// Usage: demo [--steps N] [--batch N] [--json]
#include <bufferpool/manager.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using bufferpool::BufferRef;
using bufferpool::ComputeManager;
using bufferpool::ThreadGroups;
using bufferpool::ThreadsPerGroup;
using bufferpool::TotalThreads;

struct ActivationParams {
  std::uint32_t batch;
  std::uint32_t features;
  std::uint32_t kind;
  float alpha;
  float scale;
};
struct MatmulParams {
  std::uint32_t rows;
  std::uint32_t columns;
  std::uint32_t inner;
};
struct ReduceParams {
  std::uint32_t n;
  std::uint32_t square;
};
constexpr std::uint32_t kIdentity = 0;
constexpr std::uint32_t kGelu = 3;

struct Model {
  std::uint32_t batch = 32;
  std::uint32_t inputs = 128;
  std::uint32_t hidden = 256;
  std::uint32_t outputs = 64;
  std::vector<float> w1, b1, w2, b2;
};

std::vector<float> random_floats(std::size_t count, std::mt19937& generator, float scale) {
  std::uniform_real_distribution<float> distribution(-scale, scale);
  std::vector<float> values(count);
  for (auto& value : values) value = distribution(generator);
  return values;
}

// --- CPU reference ----------------------------------------------------------

std::vector<float> cpu_matmul(const std::vector<float>& a, const std::vector<float>& b,
                              std::uint32_t rows, std::uint32_t columns, std::uint32_t inner) {
  std::vector<float> c(std::size_t{rows} * columns, 0.0F);
  for (std::uint32_t r = 0; r < rows; ++r) {
    for (std::uint32_t k = 0; k < inner; ++k) {
      const float left = a[std::size_t{r} * inner + k];
      for (std::uint32_t col = 0; col < columns; ++col) {
        c[std::size_t{r} * columns + col] += left * b[std::size_t{k} * columns + col];
      }
    }
  }
  return c;
}

void cpu_bias_activation(std::vector<float>& values, const std::vector<float>& bias,
                         std::uint32_t features, std::uint32_t kind) {
  for (std::size_t i = 0; i < values.size(); ++i) {
    const float v = values[i] + bias[i % features];
    values[i] = kind == kGelu
                    ? 0.5F * v * (1.0F + std::tanh(0.7978845608F * (v + 0.044715F * v * v * v)))
                    : v;
  }
}

struct StepResult {
  std::vector<float> y;
  float loss = 0;
};

StepResult cpu_step(const Model& model, const std::vector<float>& x) {
  auto h = cpu_matmul(x, model.w1, model.batch, model.hidden, model.inputs);
  cpu_bias_activation(h, model.b1, model.hidden, kGelu);
  auto y = cpu_matmul(h, model.w2, model.batch, model.outputs, model.hidden);
  cpu_bias_activation(y, model.b2, model.outputs, kIdentity);
  double loss = 0;
  for (const float v : y) loss += double{v} * v;
  return {y, static_cast<float>(loss)};
}

// --- GPU ----------------------------------------------------------------------

struct GpuModel {
  BufferRef w1, b1, w2, b2;
};

/// loss = sum(y^2), reduced group by group until one value is left; `create`
/// makes each partial-sum buffer and `run` runs or records each reduction.
template <typename Create, typename Run>
BufferRef reduce_loss(ComputeManager& manager, const BufferRef& y, std::uint32_t n, Create&& create,
                      Run&& run) {
  BufferRef current = y;
  bool first = true;
  while (n > 1 || first) {
    const ThreadsPerGroup size = manager.threads_per_group("reduce_sum", TotalThreads{n});
    const std::uint32_t groups = (n + size.extent().x - 1) / size.extent().x;
    BufferRef partial = create(groups * sizeof(float));
    run(current, partial, ThreadGroups{groups}, size, ReduceParams{n, first ? 1U : 0U});
    current = partial;
    n = groups;
    first = false;
  }
  return current;
}

StepResult gpu_step(ComputeManager& manager, const Model& model, const GpuModel& weights,
                    const std::vector<float>& x_values) {
  // Every tensor of the step is a fresh buffer, released at the end of the step.
  auto x = manager.create_buffer(x_values);
  auto h_linear = manager.create_buffer(std::size_t{model.batch} * model.hidden * sizeof(float));
  auto h = manager.create_buffer(std::size_t{model.batch} * model.hidden * sizeof(float));
  auto y_linear = manager.create_buffer(std::size_t{model.batch} * model.outputs * sizeof(float));
  auto y = manager.create_buffer(std::size_t{model.batch} * model.outputs * sizeof(float));

  manager.execute_shader("matmul", {x, weights.w1}, {h_linear},
                         TotalThreads{model.hidden, model.batch},
                         MatmulParams{model.batch, model.hidden, model.inputs});
  manager.execute_shader("activation", {h_linear, weights.b1}, {h},
                         TotalThreads{model.hidden, model.batch},
                         ActivationParams{model.batch, model.hidden, kGelu, 0.0F, 1.0F});
  manager.execute_shader("matmul", {h, weights.w2}, {y_linear},
                         TotalThreads{model.outputs, model.batch},
                         MatmulParams{model.batch, model.outputs, model.hidden});
  manager.execute_shader("activation", {y_linear, weights.b2}, {y},
                         TotalThreads{model.outputs, model.batch},
                         ActivationParams{model.batch, model.outputs, kIdentity, 0.0F, 1.0F});

  const BufferRef loss = reduce_loss(
      manager, y, model.batch * model.outputs,
      [&](std::size_t bytes) { return manager.create_buffer(bytes); },
      [&](const BufferRef& in, const BufferRef& out, const ThreadGroups& groups,
          const ThreadsPerGroup& size, ReduceParams params) {
        manager.execute_shader("reduce_sum", {in}, {out}, groups, size, params);
      });
  return {manager.get_buffer_data<float>(y), manager.get_buffer_data<float>(loss, 1)[0]};
}

/// The same step recorded into one Sequence: one submission instead of one
/// per kernel and per upload, and each tensor that dies inside the step (the
/// pre-activations, the partial sums) may serve a later tensor of the step.
StepResult gpu_step_recorded(ComputeManager& manager, const Model& model, const GpuModel& weights,
                             const std::vector<float>& x_values) {
  auto step = manager.sequence();
  auto x = step.create_buffer(x_values.size() * sizeof(float));
  step.record_upload(x, x_values);
  auto h_linear = step.create_buffer(std::size_t{model.batch} * model.hidden * sizeof(float));
  step.record("matmul", {x, weights.w1}, {h_linear}, TotalThreads{model.hidden, model.batch},
              MatmulParams{model.batch, model.hidden, model.inputs});
  x.reset();
  auto h = step.create_buffer(std::size_t{model.batch} * model.hidden * sizeof(float));
  step.record("activation", {h_linear, weights.b1}, {h}, TotalThreads{model.hidden, model.batch},
              ActivationParams{model.batch, model.hidden, kGelu, 0.0F, 1.0F});
  h_linear.reset();
  auto y_linear = step.create_buffer(std::size_t{model.batch} * model.outputs * sizeof(float));
  step.record("matmul", {h, weights.w2}, {y_linear}, TotalThreads{model.outputs, model.batch},
              MatmulParams{model.batch, model.outputs, model.hidden});
  h.reset();
  auto y = step.create_buffer(std::size_t{model.batch} * model.outputs * sizeof(float));
  step.record("activation", {y_linear, weights.b2}, {y}, TotalThreads{model.outputs, model.batch},
              ActivationParams{model.batch, model.outputs, kIdentity, 0.0F, 1.0F});
  y_linear.reset();
  const BufferRef loss = reduce_loss(
      manager, y, model.batch * model.outputs,
      [&](std::size_t bytes) { return step.create_buffer(bytes); },
      [&](const BufferRef& in, const BufferRef& out, const ThreadGroups& groups,
          const ThreadsPerGroup& size,
          ReduceParams params) { step.record("reduce_sum", {in}, {out}, groups, size, params); });
  step.execute();
  return {manager.get_buffer_data<float>(y), manager.get_buffer_data<float>(loss, 1)[0]};
}

struct RunReport {
  std::string backend;
  double seconds_per_step = 0;      ///< median over the steps
  double gpu_seconds_per_step = 0;  ///< time in dispatches, warm-up left out
  double max_relative_error = 0;
  bufferpool::PerformanceMetrics metrics;
};

/// One manager with the model's weights, pooled or not, and what its steps took.
class Runner {
 public:
  Runner(const Model& model, bool pooling, bool recorded)
      : model_(model), recorded_(recorded), manager_(options(pooling)) {
    if (!manager_.can_execute_shaders()) {
      throw bufferpool::BackendError(
          "demo: no Vulkan device, so no shaders can run. Install one: `sudo apt-get install "
          "mesa-vulkan-drivers` (lavapipe runs on the CPU), then run the demo again");
    }
    manager_.load_builtin_shader_library("kernels");
    for (const char* name : {"matmul", "activation", "reduce_sum"}) {
      manager_.create_compute_pipeline("kernels", name, name);
    }
    weights_ = {manager_.create_buffer(model.w1), manager_.create_buffer(model.b1),
                manager_.create_buffer(model.w2), manager_.create_buffer(model.b2)};
  }

  /// A step whose time is not counted: it makes the pipelines for each group
  /// size, and its GPU time includes the driver compiling them.
  void warm_up(const std::vector<float>& input) {
    (void)run_step(input);
    manager_.pool().reset_peak();
    warm_up_gpu_ns_ = manager_.get_performance_metrics().gpu_time_ns;
  }

  void step(const std::vector<float>& input, const StepResult& expected) {
    const auto start = std::chrono::steady_clock::now();
    const auto result = run_step(input);
    step_seconds_.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    for (std::size_t i = 0; i < result.y.size(); ++i) {
      const double reference = expected.y[i];
      max_relative_error_ = std::max(max_relative_error_, std::abs(result.y[i] - reference) /
                                                              std::max(1e-3, std::abs(reference)));
    }
    const double loss_error =
        std::abs(result.loss - expected.loss) / std::max(1e-3, double{std::abs(expected.loss)});
    max_relative_error_ = std::max(max_relative_error_, loss_error);
  }

  RunReport report() {
    RunReport result;
    result.backend = manager_.backend_name();
    result.max_relative_error = max_relative_error_;
    result.metrics = manager_.get_performance_metrics();
    const auto steps = static_cast<double>(step_seconds_.size());
    result.gpu_seconds_per_step =
        static_cast<double>(result.metrics.gpu_time_ns - warm_up_gpu_ns_) / 1e9 / steps;
    std::sort(step_seconds_.begin(), step_seconds_.end());
    result.seconds_per_step = step_seconds_[step_seconds_.size() / 2];
    return result;
  }

 private:
  StepResult run_step(const std::vector<float>& input) {
    return recorded_ ? gpu_step_recorded(manager_, model_, weights_, input)
                     : gpu_step(manager_, model_, weights_, input);
  }

  static bufferpool::ManagerOptions options(bool pooling) {
    bufferpool::ManagerOptions result;
    if (!pooling) result.pool.max_pool_size = 0;
    return result;
  }

  const Model& model_;
  bool recorded_;
  ComputeManager manager_;
  GpuModel weights_;
  std::uint64_t warm_up_gpu_ns_ = 0;
  std::vector<double> step_seconds_;
  double max_relative_error_ = 0;
};

struct RunReports {
  RunReport pooled, recorded, unpooled;
};

/// The same steps with the pool, with the pool as one sequence per step, and
/// with pooling off, rotated step by step (and which goes first each time), so
/// that a machine that speeds up or slows down during the run moves all alike.
RunReports run(const Model& model, const std::vector<std::vector<float>>& inputs,
               const std::vector<StepResult>& expected) {
  Runner pooled(model, true, false);
  Runner recorded(model, true, true);
  Runner unpooled(model, false, false);
  const std::array<Runner*, 3> runners{&pooled, &recorded, &unpooled};
  for (Runner* runner : runners) runner->warm_up(inputs.front());
  for (std::size_t step = 0; step < inputs.size(); ++step) {
    for (std::size_t turn = 0; turn < runners.size(); ++turn) {
      runners[(step + turn) % runners.size()]->step(inputs[step], expected[step]);
    }
  }
  return {pooled.report(), recorded.report(), unpooled.report()};
}

std::string mib(std::size_t bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.2f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  Model model;
  std::size_t steps = 50;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view argument = argv[i];
    if (argument == "--steps" && i + 1 < argc) {
      steps = std::max<std::size_t>(1, std::strtoul(argv[++i], nullptr, 10));
    } else if (argument == "--batch" && i + 1 < argc) {
      model.batch = static_cast<std::uint32_t>(std::max(1UL, std::strtoul(argv[++i], nullptr, 10)));
    } else if (argument == "--json") {
      json = true;
    } else {
      std::cerr << "usage: demo [--steps N] [--batch N] [--json]\n";
      return 2;
    }
  }

  try {
    std::mt19937 generator(42);
    model.w1 = random_floats(std::size_t{model.inputs} * model.hidden, generator, 0.1F);
    model.b1 = random_floats(model.hidden, generator, 0.1F);
    model.w2 = random_floats(std::size_t{model.hidden} * model.outputs, generator, 0.1F);
    model.b2 = random_floats(model.outputs, generator, 0.1F);
    std::vector<std::vector<float>> inputs;
    std::vector<StepResult> expected;
    for (std::size_t step = 0; step < steps; ++step) {
      inputs.push_back(random_floats(std::size_t{model.batch} * model.inputs, generator, 1.0F));
      expected.push_back(cpu_step(model, inputs.back()));
    }

    const auto [pooled, recorded, unpooled] = run(model, inputs, expected);
    constexpr double kTolerance = 1e-3;
    const double max_error = std::max(
        {pooled.max_relative_error, recorded.max_relative_error, unpooled.max_relative_error});
    const bool correct = max_error < kTolerance;

    const auto& pool = pooled.metrics.buffer_pool;
    const auto& seq = recorded.metrics.buffer_pool;
    const auto& off = unpooled.metrics.buffer_pool;
    const auto count = [](std::uint64_t value) { return static_cast<unsigned long long>(value); };
    std::printf("bufferpool demo: %zu steps of a 2-layer MLP forward pass + loss\n", steps);
    std::printf("  batch %u, %u -> %u -> %u features; 5+ dispatches and 6+ buffers per step\n",
                model.batch, model.inputs, model.hidden, model.outputs);
    std::printf("device: %s\n", pooled.backend.c_str());
    std::printf("check against the CPU reference: %s (max relative error %.2g)\n",
                correct ? "PASS" : "FAIL", max_error);
    std::printf("\n%-34s %14s %14s %14s\n", "", "pool on", "one sequence", "pool off");
    std::printf("%-34s %11.3f ms %11.3f ms %11.3f ms\n", "time per step (median)",
                pooled.seconds_per_step * 1e3, recorded.seconds_per_step * 1e3,
                unpooled.seconds_per_step * 1e3);
    // A sequence's dispatches carry no timestamps of their own.
    std::printf("%-34s %11.3f ms %14s %11.3f ms\n", "  GPU work per step (mean)",
                pooled.gpu_seconds_per_step * 1e3, "not timed",
                unpooled.gpu_seconds_per_step * 1e3);
    std::printf("%-34s %13.1f%% %13.1f%% %13.1f%%\n", "pool hit rate", 100.0 * pool.hit_rate(),
                100.0 * seq.hit_rate(), 100.0 * off.hit_rate());
    std::printf("%-34s %14llu %14llu %14llu\n", "  hits reusing an idle buffer",
                count(pool.hits_reused - pool.stream_reuses),
                count(seq.hits_reused - seq.stream_reuses),
                count(off.hits_reused - off.stream_reuses));
    std::printf("%-34s %14llu %14llu %14llu\n", "  hits reusing inside the sequence",
                count(pool.stream_reuses), count(seq.stream_reuses), count(off.stream_reuses));
    std::printf("%-34s %14llu %14llu %14llu\n", "  hits carved from a segment",
                count(pool.hits_carved), count(seq.hits_carved), count(off.hits_carved));
    std::printf("%-34s %14llu %14llu %14llu\n", "device allocations (segments)",
                count(pool.allocations), count(seq.allocations), count(off.allocations));
    std::printf("%-34s %14llu %14llu %14llu\n", "buffers handed out",
                count(pool.hits + pool.misses), count(seq.hits + seq.misses),
                count(off.hits + off.misses));
    std::printf("%-34s %14s %14s %14s\n", "bytes requested", mib(pool.bytes_requested).c_str(),
                mib(seq.bytes_requested).c_str(), mib(off.bytes_requested).c_str());
    std::printf("%-34s %14s %14s %14s\n", "bytes granted (size + alignment)",
                mib(pool.bytes_granted).c_str(), mib(seq.bytes_granted).c_str(),
                mib(off.bytes_granted).c_str());
    std::printf("%-34s %14s %14s %14s\n", "peak bytes held from the device",
                mib(pool.peak_bytes_allocated).c_str(), mib(seq.peak_bytes_allocated).c_str(),
                mib(off.peak_bytes_allocated).c_str());
    std::printf("%-34s %14s %14s %14s\n", "bytes cached at the end", mib(pool.bytes_cached).c_str(),
                mib(seq.bytes_cached).c_str(), mib(off.bytes_cached).c_str());
    std::printf("%-34s %14llu %14llu %14llu\n", "dispatches", count(pooled.metrics.dispatches),
                count(recorded.metrics.dispatches), count(unpooled.metrics.dispatches));
    std::printf(
        "\npooling made each step %.2fx as fast; one sequence per step, %.2fx as fast again\n",
        unpooled.seconds_per_step / pooled.seconds_per_step,
        pooled.seconds_per_step / recorded.seconds_per_step);
    if (json) std::printf("\n%s\n", pooled.metrics.to_json().c_str());
    return correct ? 0 : 1;
  } catch (const bufferpool::Error& error) {
    std::cerr << error.what() << '\n';
    return 1;
  }
}
