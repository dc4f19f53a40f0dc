// Device-timeline deferral and background cleanup, on the host backend with a
// timeline the test moves by hand.
#include <bufferpool/bufferpool.hpp>

#include "manual_timeline_backend.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace bufferpool {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

using testing::ManualTimelineBackend;

TEST(DeviceTimeline, ABufferReleasedWhileDeviceWorkUsesItIsNotHandedOutUntilTheWorkIsDone) {
  auto device = std::make_shared<ManualTimelineBackend>();
  BufferPool pool(device);
  auto buffer = pool.get_buffer(4096);
  const auto place = std::pair{buffer.native_handle(), buffer.offset_bytes()};
  buffer.mark_used_until(5);
  buffer.reset();
  auto metrics = pool.metrics();
  EXPECT_EQ(metrics.buffers_pending_gpu, 1U);
  EXPECT_EQ(metrics.bytes_pending_gpu, 4096U);
  EXPECT_EQ(metrics.buffers_cached, 0U);

  device->complete(4);
  auto other = pool.get_buffer(4096);
  EXPECT_NE((std::pair{other.native_handle(), other.offset_bytes()}), place)
      << "work 5 is still running";
  other.reset();

  device->complete(5);
  pool.get_buffer(100).reset();  // a miss reclaims finished buffers
  metrics = pool.metrics();
  EXPECT_EQ(metrics.buffers_pending_gpu, 0U);
  EXPECT_EQ(metrics.buffers_cached, 3U);
}

TEST(DeviceTimeline, MarkingKeepsTheLatestWork) {
  auto device = std::make_shared<ManualTimelineBackend>();
  BufferPool pool(device);
  auto buffer = pool.get_buffer(4096);
  buffer.mark_used_until(9);
  buffer.mark_used_until(3);  // earlier work does not shorten the wait
  buffer.reset();
  device->complete(8);
  EXPECT_EQ(pool.cleanup(), 0U);
  EXPECT_EQ(pool.metrics().buffers_pending_gpu, 1U);
  device->complete(9);
  pool.cleanup();
  EXPECT_EQ(pool.metrics().buffers_pending_gpu, 0U);
  EXPECT_EQ(pool.metrics().buffers_cached, 1U);
}

TEST(DeviceTimeline, WithCachingOffABufferIsFreedOnlyAfterItsWork) {
  auto counting_device = std::make_shared<ManualTimelineBackend>();
  auto backend = std::make_shared<CountingBackend>(counting_device);
  PoolConfig config;
  config.max_pool_size = 0;
  BufferPool pool(backend, config);
  auto buffer = pool.get_buffer(4096);
  buffer.mark_used_until(2);
  buffer.reset();
  EXPECT_EQ(backend->live_allocations(), 1U);
  counting_device->complete(2);
  pool.cleanup();
  EXPECT_EQ(backend->live_allocations(), 0U);
}

TEST(DeviceTimeline, DestroyingThePoolWaitsForWorkBeforeFreeing) {
  auto device = std::make_shared<ManualTimelineBackend>();
  {
    BufferPool pool(device);
    auto buffer = pool.get_buffer(4096);
    buffer.mark_used_until(7);
  }
  EXPECT_EQ(device->waited_for(), 7U);
}

TEST(DeviceTimeline, ABufferOutlivingThePoolWaitsForItsWorkWhenReleased) {
  auto device = std::make_shared<ManualTimelineBackend>();
  BufferRef survivor;
  {
    BufferPool pool(device);
    survivor = pool.get_buffer(4096);
  }
  survivor.mark_used_until(11);
  survivor.reset();
  EXPECT_EQ(device->waited_for(), 11U);
}

TEST(BackgroundCleanup, ExpiresIdleBuffersWithoutAnyCallIntoThePool) {
  auto clock = std::make_shared<ManualClock>();
  PoolConfig config;
  config.clock = clock;
  config.ttl = seconds{10};
  config.cleanup_interval = milliseconds{1};
  config.background_cleanup = true;
  BufferPool pool(make_host_backend(), config);
  pool.get_buffer(100).reset();
  clock->advance(seconds{10});
  // The thread runs on real time; give it up to 10 s on a loaded machine.
  const auto deadline = std::chrono::steady_clock::now() + seconds{10};
  while (pool.metrics().expirations == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds{1});
  }
  EXPECT_EQ(pool.metrics().expirations, 1U);
  EXPECT_EQ(pool.metrics().buffers_cached, 0U);
}

TEST(BackgroundCleanup, TheThreadStopsWhenThePoolGoes) {
  PoolConfig config;
  config.cleanup_interval = seconds{3600};
  config.background_cleanup = true;
  const auto start = std::chrono::steady_clock::now();
  { BufferPool pool(make_host_backend(), config); }
  // Stopping must not wait out the hour-long interval.
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds{60});
}

TEST(BackgroundCleanup, AnIntervalOfNeverDoesNotSpin) {
  auto clock = std::make_shared<ManualClock>();
  PoolConfig config;
  config.clock = clock;
  config.ttl = std::chrono::nanoseconds{0};  // any cleanup at all expires the buffer
  config.cleanup_interval = std::chrono::nanoseconds::max();
  config.background_cleanup = true;
  BufferPool pool(make_host_backend(), config);
  pool.get_buffer(100).reset();
  clock->advance(seconds{1});
  // A thread whose deadline overflowed would clean up at once, again and again.
  for (int i = 0; i < 1000; ++i) std::this_thread::yield();
  EXPECT_EQ(pool.metrics().expirations, 0U);
}

TEST(BackgroundCleanup, LazyCleanupIsOffWhenTheThreadRunsIt) {
  auto clock = std::make_shared<ManualClock>();
  PoolConfig config;
  config.clock = clock;
  config.ttl = seconds{1};
  config.cleanup_interval = seconds{3600};
  config.background_cleanup = true;
  BufferPool pool(make_host_backend(), config);
  pool.get_buffer(100).reset();
  clock->advance(seconds{7200});
  pool.get_buffer(5000).reset();
  EXPECT_EQ(pool.metrics().expirations, 0U) << "a release after the interval ran no cleanup";
  EXPECT_EQ(pool.cleanup(), 1U);
}

}  // namespace
}  // namespace bufferpool
