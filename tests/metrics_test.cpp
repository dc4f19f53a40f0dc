#include <bufferpool/bufferpool.hpp>

#include <gtest/gtest.h>

namespace bufferpool {
namespace {

TEST(PoolMetrics, HitRateIsHitsOverRequests) {
  PoolMetrics metrics;
  EXPECT_EQ(metrics.hit_rate(), 0.0);
  metrics.hits = 3;
  metrics.misses = 1;
  EXPECT_DOUBLE_EQ(metrics.hit_rate(), 0.75);
}

TEST(PoolMetrics, CountsPerSizeClass) {
  BufferPool pool(make_host_backend());
  pool.get_buffer(100).reset();
  pool.get_buffer(200).reset();
  auto live = pool.get_buffer(3000);
  const auto metrics = pool.metrics();
  ASSERT_EQ(metrics.size_classes.size(), PoolConfig{}.size_classes.size() + 1);
  EXPECT_EQ(metrics.size_classes[0].capacity_bytes, 256U);
  EXPECT_EQ(metrics.size_classes[0].misses, 1U);
  EXPECT_EQ(metrics.size_classes[0].hits, 1U);
  EXPECT_EQ(metrics.size_classes[0].buffers_cached, 1U);
  EXPECT_EQ(metrics.size_classes[2].capacity_bytes, 4096U);
  EXPECT_EQ(metrics.size_classes[2].buffers_in_use, 1U);
  EXPECT_TRUE(metrics.size_classes.back().oversize);
}

TEST(PoolMetrics, JsonCarriesEveryField) {
  BufferPool pool(make_host_backend());
  pool.get_buffer(100).reset();
  auto live = pool.get_buffer(100);
  const std::string json = pool.metrics().to_json();
  for (const char* field :
       {"\"hits\":1", "\"misses\":1", "\"hit_rate\":0.5", "\"allocations\":1",
        "\"deallocations\":0", "\"evictions\":0", "\"expirations\":0", "\"bytes_requested\":200",
        "\"bytes_granted\":512", "\"current_bytes_allocated\":256", "\"peak_bytes_allocated\":256",
        "\"bytes_in_use\":256", "\"buffers_in_use\":1", "\"bytes_cached\":0",
        "\"buffers_cached\":0", "\"bytes_pending_gpu\":0",
        "\"size_classes\":[{\"capacity_bytes\":256", "\"oversize\":true"}) {
    EXPECT_NE(json.find(field), std::string::npos) << field << " in " << json;
  }
  EXPECT_EQ(json.front(), '{');
  EXPECT_EQ(json.back(), '}');
}

}  // namespace
}  // namespace bufferpool
