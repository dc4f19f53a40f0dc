// Each built-in kernel against a CPU reference, at sizes that fill the last
// thread group and sizes that do not, with automatic and explicit group sizes.
#include "vulkan_test_support.hpp"

#include <bufferpool/manager.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace bufferpool::testing {
namespace {

struct SaxpyParams {
  std::uint32_t n;
  float a;
};
struct ActivationParams {
  std::uint32_t batch;
  std::uint32_t features;
  std::uint32_t kind;
  float alpha;
  float scale;
};
struct ReduceParams {
  std::uint32_t n;
  std::uint32_t square;
};
struct MatmulParams {
  std::uint32_t rows;
  std::uint32_t columns;
  std::uint32_t inner;
};

std::vector<float> random_floats(std::size_t count, unsigned seed) {
  std::mt19937 generator(seed);
  std::uniform_real_distribution<float> distribution(-2.0F, 2.0F);
  std::vector<float> values(count);
  for (auto& value : values) value = distribution(generator);
  return values;
}

float activate(float v, std::uint32_t kind, float alpha) {
  switch (kind) {
    case 1:
      return std::max(v, 0.0F);
    case 2:
      return v >= 0.0F ? v : alpha * v;
    case 3:
      return 0.5F * v * (1.0F + std::tanh(0.7978845608F * (v + 0.044715F * v * v * v)));
    case 4:
      return 1.0F / (1.0F + std::exp(-v));
    case 5:
      return v / (1.0F + std::exp(-v));
    default:
      return v;
  }
}

class VulkanKernels : public ::testing::Test {
 protected:
  VulkanKernels() {
    manager.load_builtin_shader_library("kernels");
    for (const char* name : {"saxpy", "activation", "reduce_sum", "matmul"}) {
      manager.create_compute_pipeline("kernels", name, name);
    }
  }

  std::vector<float> saxpy(const std::vector<float>& x, const std::vector<float>& y, float a,
                           std::optional<ThreadsPerGroup> threads_per_group = std::nullopt) {
    const auto n = static_cast<std::uint32_t>(x.size());
    auto x_buffer = manager.create_buffer(x);
    auto y_buffer = manager.create_buffer(y);
    auto out = manager.create_buffer(x.size() * sizeof(float));
    if (threads_per_group) {
      const std::uint32_t per_group = threads_per_group->extent().x;
      const std::uint32_t groups = (n + per_group - 1) / per_group;
      manager.execute_shader("saxpy", {x_buffer, y_buffer}, {out}, ThreadGroups{groups},
                             *threads_per_group, SaxpyParams{n, a});
    } else {
      manager.execute_shader("saxpy", {x_buffer, y_buffer}, {out}, TotalThreads{x.size()},
                             SaxpyParams{n, a});
    }
    return manager.get_buffer_data<float>(out);
  }

  float reduce(const std::vector<float>& x, bool square,
               std::optional<ThreadsPerGroup> threads_per_group = std::nullopt) {
    auto current = manager.create_buffer(x);
    auto n = static_cast<std::uint32_t>(x.size());
    bool first = true;
    do {
      const ThreadsPerGroup size =
          threads_per_group.value_or(manager.threads_per_group("reduce_sum", TotalThreads{n}));
      const std::uint32_t groups = (n + size.extent().x - 1) / size.extent().x;
      auto partial = manager.create_buffer(groups * sizeof(float));
      manager.execute_shader("reduce_sum", {current}, {partial}, ThreadGroups{groups}, size,
                             ReduceParams{n, first && square ? 1U : 0U});
      current = partial;
      n = groups;
      first = false;
    } while (n > 1);
    return manager.get_buffer_data<float>(current, 1)[0];
  }

  ComputeManager manager{validated_manager_options()};
};

TEST_F(VulkanKernels, SaxpyMatchesTheCpuAtSizesThatDoAndDoNotFillTheLastGroup) {
  for (const std::size_t n : {1U, 7U, 64U, 255U, 256U, 257U, 1000U, 4097U}) {
    const auto x = random_floats(n, 1);
    const auto y = random_floats(n, 2);
    const auto result = saxpy(x, y, 1.5F);
    ASSERT_EQ(result.size(), n);
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_FLOAT_EQ(result[i], 1.5F * x[i] + y[i]) << "n = " << n << ", i = " << i;
    }
  }
}

TEST_F(VulkanKernels, ExplicitGroupSizesGiveTheSameResultsAndOnePipelineEach) {
  const std::size_t n = 1000;
  const auto x = random_floats(n, 3);
  const auto y = random_floats(n, 4);
  const auto pipelines_before = manager.get_performance_metrics().pipelines;
  for (const std::uint32_t size : {1U, 13U, 64U, 100U, 1024U}) {
    const auto result = saxpy(x, y, -0.5F, ThreadsPerGroup{size});
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_FLOAT_EQ(result[i], -0.5F * x[i] + y[i]) << "group size " << size << ", i = " << i;
    }
  }
  (void)saxpy(x, y, 2.0F, ThreadsPerGroup{64});  // cached: no new pipeline
  EXPECT_EQ(manager.get_performance_metrics().pipelines, pipelines_before + 5);
}

TEST_F(VulkanKernels, TheAutomaticGroupSizeIsWithinTheDevicesLimits) {
  const Extent3D one_d = manager.threads_per_group("saxpy", TotalThreads{100000}).extent();
  EXPECT_GE(one_d.x, 1U);
  EXPECT_EQ(one_d.y, 1U);
  EXPECT_LE(one_d.volume(), 1024U);
  const Extent3D two_d = manager.threads_per_group("matmul", TotalThreads{300, 300}).extent();
  EXPECT_GT(two_d.y, 1U);
  EXPECT_LE(two_d.volume(), 1024U);
}

TEST_F(VulkanKernels, ActivationsMatchTheCpuOverBatchByFeatures) {
  struct Shape {
    std::uint32_t batch;
    std::uint32_t features;
  };
  for (const Shape shape : {Shape{1, 1}, Shape{3, 17}, Shape{8, 64}, Shape{33, 100}}) {
    const std::size_t count = std::size_t{shape.batch} * shape.features;
    const auto x = random_floats(count, shape.batch);
    const auto bias = random_floats(shape.features, shape.features);
    auto x_buffer = manager.create_buffer(x);
    auto bias_buffer = manager.create_buffer(bias);
    auto out = manager.create_buffer(count * sizeof(float));
    for (std::uint32_t kind = 0; kind <= 5; ++kind) {
      const ActivationParams params{shape.batch, shape.features, kind, 0.1F, 0.75F};
      manager.execute_shader("activation", {x_buffer, bias_buffer}, {out},
                             TotalThreads{shape.features, shape.batch}, params);
      const auto result = manager.get_buffer_data<float>(out);
      for (std::size_t i = 0; i < count; ++i) {
        const float expected = activate(x[i] * 0.75F + bias[i % shape.features], kind, 0.1F);
        ASSERT_NEAR(result[i], expected, 1e-5F + 1e-5F * std::abs(expected))
            << "kind " << kind << ", " << shape.batch << "x" << shape.features << ", i = " << i;
      }
    }
  }
}

TEST_F(VulkanKernels, ReductionMatchesTheCpuForAnyGroupSize) {
  for (const std::size_t n : {1U, 255U, 256U, 257U, 10000U, 70000U}) {
    const auto x = random_floats(n, static_cast<unsigned>(n));
    double sum = 0;
    double squares = 0;
    for (const float value : x) {
      sum += value;
      squares += double{value} * value;
    }
    EXPECT_NEAR(reduce(x, false), sum, 1e-3 * std::max(1.0, std::sqrt(double(n)))) << "n = " << n;
    EXPECT_NEAR(reduce(x, true), squares, 1e-4 * squares + 1e-4) << "n = " << n;
    EXPECT_NEAR(reduce(x, false, ThreadsPerGroup{100}), sum,
                1e-3 * std::max(1.0, std::sqrt(double(n))))
        << "n = " << n << ", 100 threads per group";
  }
}

TEST_F(VulkanKernels, MatmulMatchesTheCpu) {
  struct Shape {
    std::uint32_t rows;
    std::uint32_t columns;
    std::uint32_t inner;
  };
  for (const Shape shape : {Shape{1, 1, 1}, Shape{5, 7, 3}, Shape{33, 17, 65}, Shape{64, 64, 64}}) {
    const auto a = random_floats(std::size_t{shape.rows} * shape.inner, 11);
    const auto b = random_floats(std::size_t{shape.inner} * shape.columns, 12);
    auto a_buffer = manager.create_buffer(a);
    auto b_buffer = manager.create_buffer(b);
    auto c_buffer = manager.create_buffer(std::size_t{shape.rows} * shape.columns * sizeof(float));
    const MatmulParams params{shape.rows, shape.columns, shape.inner};
    const TotalThreads over{shape.columns, shape.rows};
    for (const auto& size :
         {std::optional<ThreadsPerGroup>{}, std::optional<ThreadsPerGroup>{ThreadsPerGroup{8, 8}},
          std::optional<ThreadsPerGroup>{ThreadsPerGroup{5, 3}}}) {
      if (size) {
        manager.execute_shader("matmul", {a_buffer, b_buffer}, {c_buffer}, over, *size, params);
      } else {
        manager.execute_shader("matmul", {a_buffer, b_buffer}, {c_buffer}, over, params);
      }
      const auto c = manager.get_buffer_data<float>(c_buffer);
      for (std::uint32_t row = 0; row < shape.rows; ++row) {
        for (std::uint32_t column = 0; column < shape.columns; ++column) {
          float expected = 0;
          for (std::uint32_t k = 0; k < shape.inner; ++k) {
            expected += a[row * shape.inner + k] * b[k * shape.columns + column];
          }
          ASSERT_NEAR(c[row * shape.columns + column], expected, 1e-4F * float(shape.inner))
              << shape.rows << "x" << shape.columns << "x" << shape.inner << " at " << row << ","
              << column;
        }
      }
    }
  }
}

TEST_F(VulkanKernels, ResultsStayIntactWhileBuffersAreReused) {
  for (int step = 0; step < 30; ++step) {
    const std::size_t n = 100 + static_cast<std::size_t>(step % 3) * 50;
    const auto x = random_floats(n, static_cast<unsigned>(step));
    const auto y = random_floats(n, static_cast<unsigned>(step + 100));
    const auto result = saxpy(x, y, float(step));
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_FLOAT_EQ(result[i], float(step) * x[i] + y[i]) << "step " << step << ", i = " << i;
    }
  }
  const auto metrics = manager.get_performance_metrics().buffer_pool;
  EXPECT_GT(metrics.hits, 80U) << "buffers were reused";
  EXPECT_LE(metrics.allocations, 12U);
}

TEST_F(VulkanKernels, TheStagingPathGivesTheSameResults) {
  ComputeManager staged(validated_manager_options(VulkanMemoryPlacement::device_local));
  staged.load_builtin_shader_library("kernels");
  staged.create_compute_pipeline("kernels", "saxpy", "saxpy");
  const std::size_t n = 777;
  const auto x = random_floats(n, 5);
  const auto y = random_floats(n, 6);
  auto x_buffer = staged.create_buffer(x);
  auto y_buffer = staged.create_buffer(y);
  auto out = staged.create_buffer(n * sizeof(float));
  EXPECT_FALSE(out.host_visible());
  staged.execute_shader("saxpy", {x_buffer, y_buffer}, {out}, TotalThreads{n},
                        SaxpyParams{static_cast<std::uint32_t>(n), 3.0F});
  const auto result = staged.get_buffer_data<float>(out);
  for (std::size_t i = 0; i < n; ++i) ASSERT_FLOAT_EQ(result[i], 3.0F * x[i] + y[i]);
  const auto metrics = staged.get_performance_metrics();
  EXPECT_EQ(metrics.staging_copies, 3U) << "two uploads and one download";
  EXPECT_EQ(metrics.bytes_uploaded, 2 * n * sizeof(float));
  EXPECT_EQ(metrics.bytes_downloaded, n * sizeof(float));
}

}  // namespace
}  // namespace bufferpool::testing
