// GPU faults: device allocations that fail in the middle of a workload, and
// buffers released while their dispatches are still running, all under the
// validation layers and with every output checked.
#include "vulkan_test_support.hpp"

#include <bufferpool/autorelease.hpp>
#include <bufferpool/backend_adaptors.hpp>
#include <bufferpool/manager.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace bufferpool::testing {
namespace {

struct SaxpyParams {
  std::uint32_t n;
  float a;
};

/// A validated manager whose pool allocates through fault injection and a
/// counter, so the test can fail allocations and see what is still live.
struct FaultyManager {
  std::shared_ptr<FaultInjectingBackend> faults;
  std::shared_ptr<CountingBackend> counting;
  std::unique_ptr<ComputeManager> manager;

  explicit FaultyManager(PoolConfig pool = {}) {
    ManagerOptions options = validated_manager_options();
    options.pool = std::move(pool);
    options.backend_adaptor = [this](std::shared_ptr<Backend> device) {
      faults = std::make_shared<FaultInjectingBackend>(std::move(device));
      counting = std::make_shared<CountingBackend>(faults);
      return counting;
    };
    manager = std::make_unique<ComputeManager>(options);
    manager->load_builtin_shader_library("kernels");
    manager->create_compute_pipeline("kernels", "saxpy", "saxpy");
  }
};

TEST(GpuFaults, DeviceAllocationsFailingMidWorkloadSurfaceAsOutOfMemoryAndLoseNothing) {
  // Caching off: every buffer is a device allocation, and a failed one is
  // retried once, so about a quarter of them fail for good.
  PoolConfig pool;
  pool.max_pool_size = 0;
  FaultyManager faulty(pool);
  ComputeManager& manager = *faulty.manager;
  faulty.faults->fail_fraction(0.5, 2026);

  int completed = 0;
  int failed = 0;
  for (std::uint32_t step = 0; step < 40; ++step) {
    const std::uint32_t n = 100 + 997 * step;  // a new size, often a new class
    try {
      AutoReleaseScope scope;
      auto x = autorelease(manager.create_buffer(std::vector<float>(n, float(step))));
      auto y = autorelease(manager.create_buffer(std::vector<float>(n, 1.0F)));
      auto out = autorelease(manager.create_buffer(std::size_t{n} * sizeof(float)));
      manager.execute_shader("saxpy", {x, y}, {out}, TotalThreads{n}, SaxpyParams{n, 2.0F});
      for (const float value : manager.get_buffer_data<float>(out)) {
        ASSERT_FLOAT_EQ(value, 2.0F * float(step) + 1.0F) << "step " << step;
      }
      ++completed;
    } catch (const OutOfMemoryError& error) {
      EXPECT_EQ(error.limit_bytes(), 0U) << "the device, not the pool's limit, said no";
      ++failed;
    }
  }
  EXPECT_GT(failed, 0) << "faults were injected";
  EXPECT_GT(completed, 0) << "the pool kept serving between faults";
  EXPECT_GT(faulty.faults->faults_injected(), 0U);

  faulty.faults->disarm();
  const std::uint32_t n = 5000;
  auto x = manager.create_buffer(std::vector<float>(n, 3.0F));
  auto y = manager.create_buffer(std::vector<float>(n, 1.0F));
  auto out = manager.create_buffer(std::size_t{n} * sizeof(float));
  manager.execute_shader("saxpy", {x, y}, {out}, TotalThreads{n}, SaxpyParams{n, 2.0F});
  for (const float value : manager.get_buffer_data<float>(out)) ASSERT_FLOAT_EQ(value, 7.0F);
  x.reset();
  y.reset();
  out.reset();

  const auto metrics = manager.pool().metrics();
  EXPECT_EQ(metrics.buffers_in_use, 0U);
  EXPECT_EQ(metrics.current_bytes_allocated, faulty.counting->live_bytes());
  auto counting = faulty.counting;
  faulty.manager.reset();
  EXPECT_EQ(counting->live_allocations(), 0U) << "every device allocation was given back";
}

TEST(GpuFaults, BuffersDroppedWhileTheirDispatchesRunKeepTheirResultsUnderFaults) {
  // Segments of two buffers each, so that the workload keeps asking the
  // device for memory (and faults can strike) while buffers share segments
  // with buffers whose dispatches still run.
  PoolConfig pool;
  pool.segments.small_request_max_bytes = 16 * 1024;
  pool.segments.small_segment_bytes = 32 * 1024;
  FaultyManager faulty(pool);
  ComputeManager& manager = *faulty.manager;
  faulty.faults->fail_fraction(0.2, 7);

  struct Pending {
    Submission work;
    BufferRef out;
    float expected;
  };
  std::vector<Pending> pending;
  int failed = 0;
  for (std::uint32_t step = 0; step < 24; ++step) {
    const std::uint32_t n = 4096;
    try {
      auto x = manager.create_buffer(std::vector<float>(n, float(step)));
      auto y = manager.create_buffer(std::vector<float>(n, 0.5F));
      auto out = manager.create_buffer(std::size_t{n} * sizeof(float));
      auto work = manager.submit("saxpy", {x, y}, {out}, TotalThreads{n}, SaxpyParams{n, 3.0F});
      // x and y go now, while the dispatch may still read them.
      pending.push_back({std::move(work), std::move(out), 3.0F * float(step) + 0.5F});
    } catch (const OutOfMemoryError&) {
      ++failed;
    }
  }
  EXPECT_GT(failed, 0);
  ASSERT_FALSE(pending.empty());
  for (auto& item : pending) {
    item.work.wait();
    for (const float value : manager.get_buffer_data<float>(item.out)) {
      ASSERT_FLOAT_EQ(value, item.expected);
    }
  }
  pending.clear();
  manager.pool().cleanup();
  EXPECT_EQ(manager.pool().metrics().buffers_pending_gpu, 0U);
  EXPECT_EQ(manager.pool().metrics().buffers_in_use, 0U);
}

TEST(GpuFaults, AnAdaptorThatReturnsNothingIsAConfigError) {
  ManagerOptions options = validated_manager_options();
  options.backend_adaptor = [](std::shared_ptr<Backend>) { return std::shared_ptr<Backend>{}; };
  EXPECT_THROW(ComputeManager{options}, ConfigError);
}

}  // namespace
}  // namespace bufferpool::testing
