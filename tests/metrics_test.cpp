#include <bufferpool/bufferpool.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <locale>
#include <map>
#include <string>

namespace bufferpool {
namespace {

/// A locale that writes 0.5 as "0,5", as a German one does.
struct NumpunctWithComma : std::numpunct<char> {
  [[nodiscard]] char do_decimal_point() const override { return ','; }
};

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
  EXPECT_EQ(metrics.size_classes[0].buffers_cached, 2U) << "128 B could not hold 200 B";
  EXPECT_EQ(metrics.size_classes[2].capacity_bytes, 4096U);
  EXPECT_EQ(metrics.size_classes[2].buffers_in_use, 1U);
  EXPECT_TRUE(metrics.size_classes.back().oversize);
}

TEST(PoolMetrics, JsonCarriesEveryFieldWithItsValue) {
  BufferPool pool(make_host_backend());
  pool.get_buffer(100).reset();
  auto live = pool.get_buffer(100);
  auto other = pool.get_buffer(5000);
  const PoolMetrics metrics = pool.metrics();
  const auto json = nlohmann::json::parse(metrics.to_json());
  const std::map<std::string, double> expected = {
      {"hits", metrics.hits},
      {"hits_reused", metrics.hits_reused},
      {"hits_carved", metrics.hits_carved},
      {"misses", metrics.misses},
      {"hit_rate", metrics.hit_rate()},
      {"allocations", metrics.allocations},
      {"deallocations", metrics.deallocations},
      {"evictions", metrics.evictions},
      {"expirations", metrics.expirations},
      {"failed_allocations", metrics.failed_allocations},
      {"bytes_requested", metrics.bytes_requested},
      {"bytes_granted", metrics.bytes_granted},
      {"current_bytes_allocated", metrics.current_bytes_allocated},
      {"peak_bytes_allocated", metrics.peak_bytes_allocated},
      {"bytes_in_use", metrics.bytes_in_use},
      {"buffers_in_use", metrics.buffers_in_use},
      {"bytes_cached", metrics.bytes_cached},
      {"buffers_cached", metrics.buffers_cached},
      {"bytes_pending_gpu", metrics.bytes_pending_gpu},
      {"buffers_pending_gpu", metrics.buffers_pending_gpu},
      {"segments", metrics.segments},
      {"empty_segments", metrics.empty_segments},
      {"bytes_free_in_segments", metrics.bytes_free_in_segments},
      {"largest_free_block_bytes", metrics.largest_free_block_bytes},
  };
  // The figures themselves, so that a field written from the wrong member fails.
  EXPECT_EQ(metrics.hits, 2U);
  EXPECT_EQ(metrics.hits_reused, 1U);
  EXPECT_EQ(metrics.hits_carved, 1U);
  EXPECT_EQ(metrics.misses, 1U);
  EXPECT_EQ(metrics.bytes_requested, 5200U);
  EXPECT_EQ(metrics.segments, 1U);
  ASSERT_EQ(json.size(), expected.size() + 1) << "a field without a check, or one missing";
  for (const auto& [field, value] : expected) {
    ASSERT_TRUE(json.contains(field)) << field;
    EXPECT_DOUBLE_EQ(json[field].get<double>(), value) << field;
  }
  ASSERT_EQ(json["size_classes"].size(), metrics.size_classes.size());
  for (std::size_t index = 0; index < metrics.size_classes.size(); ++index) {
    const auto& entry = metrics.size_classes[index];
    const auto& parsed = json["size_classes"][index];
    EXPECT_EQ(parsed.size(), 6U);
    EXPECT_EQ(parsed["capacity_bytes"].get<std::size_t>(), entry.capacity_bytes);
    EXPECT_EQ(parsed["oversize"].get<bool>(), entry.oversize);
    EXPECT_EQ(parsed["hits"].get<std::uint64_t>(), entry.hits);
    EXPECT_EQ(parsed["misses"].get<std::uint64_t>(), entry.misses);
    EXPECT_EQ(parsed["buffers_cached"].get<std::size_t>(), entry.buffers_cached);
    EXPECT_EQ(parsed["buffers_in_use"].get<std::size_t>(), entry.buffers_in_use);
  }
}

TEST(PoolMetrics, JsonIgnoresTheGlobalLocale) {
  PoolMetrics metrics;
  metrics.hits = 1;
  metrics.misses = 1;
  const std::locale previous =
      std::locale::global(std::locale(std::locale::classic(), new NumpunctWithComma));
  const std::string json = metrics.to_json();
  std::locale::global(previous);
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(json)["hit_rate"].get<double>(), 0.5) << json;
}

}  // namespace
}  // namespace bufferpool
