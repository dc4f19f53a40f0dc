// Section 3: end-to-end throughput of a model-like sequence of compute ops on
// Vulkan, with the pool and with caching off (max_pool_size = 0), steps
// alternated between the two in one process.
//
// One step, as a framework's ops would run it: upload a new input activation;
// then four ops, each creating its output buffer and a small parameter buffer
// (64 B) from the pool: scale + bias, GELU-like activation, residual add, and
// a per-group partial sum; then read the partial sums back.
#include "suite.hpp"
#include "timing.hpp"

#include <bufferpool/manager.hpp>

#include <array>
#include <cstdint>
#include <exception>
#include <iomanip>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

namespace bufferpool::bench {

namespace {

// Each kernel bounds-checks its index and loops nowhere (llvmpipe cuts shader
// loops off after 65535 iterations).
constexpr const char* kScaleBias = R"(#version 450
layout(local_size_x_id = 0) in;
layout(set = 0, binding = 0) readonly buffer In { float x[]; };
layout(set = 0, binding = 1) readonly buffer Params { float p[]; };
layout(set = 0, binding = 2) writeonly buffer Out { float y[]; };
layout(push_constant) uniform Size { uint n; };
void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i < n) y[i] = x[i] * p[0] + p[1];
})";

constexpr const char* kActivation = R"(#version 450
layout(local_size_x_id = 0) in;
layout(set = 0, binding = 0) readonly buffer In { float x[]; };
layout(set = 0, binding = 1) readonly buffer Params { float p[]; };
layout(set = 0, binding = 2) writeonly buffer Out { float y[]; };
layout(push_constant) uniform Size { uint n; };
void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i < n) { float v = x[i]; y[i] = v / (1.0 + exp(-p[0] * v)); }
})";

constexpr const char* kResidual = R"(#version 450
layout(local_size_x_id = 0) in;
layout(set = 0, binding = 0) readonly buffer A { float a[]; };
layout(set = 0, binding = 1) readonly buffer B { float b[]; };
layout(set = 0, binding = 2) readonly buffer Params { float p[]; };
layout(set = 0, binding = 3) writeonly buffer Out { float y[]; };
layout(push_constant) uniform Size { uint n; };
void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i < n) y[i] = a[i] + p[0] * b[i];
})";

// Sums 64 consecutive values per invocation (a loop of 64, far below the cap).
constexpr const char* kPartialSum = R"(#version 450
layout(local_size_x_id = 0) in;
layout(set = 0, binding = 0) readonly buffer In { float x[]; };
layout(set = 0, binding = 1) readonly buffer Params { float p[]; };
layout(set = 0, binding = 2) writeonly buffer Out { float y[]; };
layout(push_constant) uniform Size { uint n; };
void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i * 64u < n) {
    float sum = 0.0;
    for (uint k = 0u; k < 64u; ++k) {
      uint j = i * 64u + k;
      if (j < n) sum += x[j];
    }
    y[i] = sum * p[0];
  }
})";

struct Model {
  ComputeManager manager;
  std::vector<float> input;
  std::size_t elements;

  Model(std::size_t activation_bytes, std::size_t max_pool_size)
      : manager([max_pool_size] {
          ManagerOptions options;
          options.backend = bufferpool::ManagerBackend::vulkan;
          options.pool.max_pool_size = max_pool_size;
          return options;
        }()),
        input(activation_bytes / sizeof(float), 0.5F),
        elements(activation_bytes / sizeof(float)) {
    const std::array<std::pair<const char*, const char*>, 4> kernels = {{
        {"scale_bias", kScaleBias},
        {"activation", kActivation},
        {"residual", kResidual},
        {"partial_sum", kPartialSum},
    }};
    for (const auto& [name, source] : kernels) {
      manager.load_shader_library_from_source(source, name);
      manager.create_compute_pipeline(name, "main", name);
    }
  }

  /// One step; returns a value read back from the device so the work counts.
  float step(std::uint64_t index) {
    input[index % elements] = static_cast<float>(index % 97);  // new input data every step
    const auto n = static_cast<std::uint32_t>(elements);
    const std::array<float, 16> params = {1.001F, 0.01F};
    BufferRef x = manager.create_buffer(std::span<const float>(input));
    BufferRef p1 = manager.create_buffer(std::span<const float>(params));
    BufferRef h1 = manager.create_buffer(elements * sizeof(float));
    manager.execute_shader("scale_bias", {x, p1}, {h1}, TotalThreads{elements}, n);
    BufferRef p2 = manager.create_buffer(std::span<const float>(params));
    BufferRef h2 = manager.create_buffer(elements * sizeof(float));
    manager.execute_shader("activation", {h1, p2}, {h2}, TotalThreads{elements}, n);
    h1.reset();
    BufferRef p3 = manager.create_buffer(std::span<const float>(params));
    BufferRef h3 = manager.create_buffer(elements * sizeof(float));
    manager.execute_shader("residual", {h2, x, p3}, {h3}, TotalThreads{elements}, n);
    h2.reset();
    x.reset();
    BufferRef p4 = manager.create_buffer(std::span<const float>(params));
    const std::size_t partials = (elements + 63) / 64;
    BufferRef sums = manager.create_buffer(partials * sizeof(float));
    manager.execute_shader("partial_sum", {h3, p4}, {sums}, TotalThreads{partials}, n);
    std::array<float, 1> first{};
    manager.get_buffer_data(sums, std::span<float>(first));
    return first[0];
  }
};

}  // namespace

void run_end_to_end_section(const BenchOptions& options, Report& report) {
  std::ostream& out = *report.table;
  Json section = Json::object();
  try {
    const unsigned rounds = options.quick ? 15 : 41;
    out << "\n3. End-to-end, model-like step (upload + 4 ops, each with its output and a "
           "parameter buffer, + readback) on Vulkan; median of "
        << rounds << " alternated rounds\n";
    out << "   " << std::setw(11) << "activation" << std::setw(14) << "pooled st/s" << std::setw(16)
        << "caching off st/s" << std::setw(9) << "gain" << std::setw(13) << "pooled peak"
        << std::setw(15) << "off peak"
        << "\n";
    Json rows = Json::array();
    double worst_gain = 1e300;
    std::string gains;
    for (const std::size_t activation_bytes : {std::size_t{64} << 10, std::size_t{4} << 20}) {
      Model pooled(activation_bytes, PoolConfig{}.max_pool_size);
      Model caching_off(activation_bytes, 0);
      const unsigned steps_per_round = activation_bytes <= (std::size_t{64} << 10)
                                           ? (options.quick ? 40U : 120U)
                                           : (options.quick ? 8U : 24U);
      float sink = 0.0F;
      sink += pooled.step(0);  // warm: pipelines built, pool filled
      sink += caching_off.step(0);
      std::vector<double> pooled_rate;
      std::vector<double> off_rate;
      std::vector<double> gain;
      std::uint64_t index = 1;
      // Rounds alternate which side goes first (ABBA), so that a drift in
      // the machine's speed (other work on its cores) cancels out.
      for (unsigned round = 0; round < rounds; ++round) {
        const auto run_steps = [&](Model& model) {
          const auto start = Clock::now();
          for (unsigned step = 0; step < steps_per_round; ++step) sink += model.step(index++);
          return elapsed_ns(start) / 1e9;
        };
        double pooled_seconds = 0.0;
        double off_seconds = 0.0;
        if (round % 2 == 0) {
          pooled_seconds = run_steps(pooled);
          off_seconds = run_steps(caching_off);
        } else {
          off_seconds = run_steps(caching_off);
          pooled_seconds = run_steps(pooled);
        }
        pooled_rate.push_back(steps_per_round / pooled_seconds);
        off_rate.push_back(steps_per_round / off_seconds);
        gain.push_back(off_seconds / pooled_seconds);
      }
      keep(sink);
      const auto pooled_peak = pooled.manager.pool().metrics().peak_bytes_allocated;
      const auto off_peak = caching_off.manager.pool().metrics().peak_bytes_allocated;
      const double median_gain = median(gain);
      worst_gain = std::min(worst_gain, median_gain);
      gains += (gains.empty() ? "" : ", ") + format_fixed(median_gain, 2) + "x at " +
               format_size(activation_bytes);
      out << "   " << std::setw(11) << format_size(activation_bytes) << std::setw(14)
          << format_fixed(median(pooled_rate), 1) << std::setw(16)
          << format_fixed(median(off_rate), 1) << std::setw(8) << format_fixed(median_gain, 2)
          << "x" << std::setw(13) << format_size(pooled_peak) << std::setw(15)
          << format_size(off_peak) << "\n";
      Json row = Json::object();
      row["activation_bytes"] = Json(static_cast<std::uint64_t>(activation_bytes));
      row["steps_per_round"] = Json(steps_per_round);
      row["pooled_steps_per_second"] = Json(median(pooled_rate));
      row["caching_off_steps_per_second"] = Json(median(off_rate));
      row["pooled_over_caching_off"] = Json(median_gain);
      row["pooled_peak_bytes_held"] = Json(static_cast<std::uint64_t>(pooled_peak));
      row["caching_off_peak_bytes_held"] = Json(static_cast<std::uint64_t>(off_peak));
      row["pooled_hit_rate"] = Json(pooled.manager.pool().metrics().hit_rate());
      rows.push_back(row);
    }
    section["device"] = Json("vulkan");
    section["results"] = rows;
    report.check({"end-to-end, pooled vs caching off (steps/s)", ">= 0.97x at 64 KiB and 4 MiB",
                  gains, worst_gain >= 0.97, ""});
  } catch (const std::exception& error) {
    out << "\n3. End-to-end: skipped (" << error.what() << ")\n";
    section["error"] = Json(std::string(error.what()));
    report.check({"end-to-end, pooled vs caching off", ">= 0.97x at 64 KiB and 4 MiB",
                  "not measured: " + std::string(error.what()), false, ""});
  }
  report.json["end_to_end"] = section;
}

}  // namespace bufferpool::bench
