#include <bufferpool/bufferpool.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <locale>
#include <set>
#include <string>
#include <utility>
#include <vector>

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

/// Every counter of PoolMetrics::to_json() with its member, in one list, so
/// that the tests below check the same fields.
std::vector<std::pair<std::string, std::uint64_t>> top_level_counters(const PoolMetrics& metrics) {
  return {
      {"hits", metrics.hits},
      {"hits_reused", metrics.hits_reused},
      {"hits_carved", metrics.hits_carved},
      {"misses", metrics.misses},
      {"allocations", metrics.allocations},
      {"deallocations", metrics.deallocations},
      {"evictions", metrics.evictions},
      {"expirations", metrics.expirations},
      {"failed_allocations", metrics.failed_allocations},
      {"bytes_requested", metrics.bytes_requested},
      {"bytes_granted", metrics.bytes_granted},
      {"stream_reuses", metrics.stream_reuses},
      {"current_bytes_allocated", metrics.current_bytes_allocated},
      {"peak_bytes_allocated", metrics.peak_bytes_allocated},
      {"bytes_in_use", metrics.bytes_in_use},
      {"buffers_in_use", metrics.buffers_in_use},
      {"bytes_cached", metrics.bytes_cached},
      {"buffers_cached", metrics.buffers_cached},
      {"bytes_pending_gpu", metrics.bytes_pending_gpu},
      {"buffers_pending_gpu", metrics.buffers_pending_gpu},
      {"bytes_kept_for_streams", metrics.bytes_kept_for_streams},
      {"buffers_kept_for_streams", metrics.buffers_kept_for_streams},
      {"open_streams", metrics.open_streams},
      {"segments", metrics.segments},
      {"empty_segments", metrics.empty_segments},
      {"bytes_free_in_segments", metrics.bytes_free_in_segments},
      {"largest_free_block_bytes", metrics.largest_free_block_bytes},
      {"recorded_events", metrics.recorded_events},
      {"recording_waits", metrics.recording_waits},
  };
}

/// Parses `metrics.to_json()` and checks every field against `metrics`,
/// exactly: integers as 64-bit integers, not doubles.
void expect_json_matches(const PoolMetrics& metrics) {
  const std::string text = metrics.to_json();
  const auto json = nlohmann::json::parse(text);
  const auto counters = top_level_counters(metrics);
  // The counters, hit_rate, size_classes and scopes.
  ASSERT_EQ(json.size(), counters.size() + 3)
      << "a field without a check, or one missing: " << text;
  for (const auto& [field, value] : counters) {
    ASSERT_TRUE(json.contains(field)) << field;
    ASSERT_TRUE(json[field].is_number_unsigned()) << field << " is not an integer: " << text;
    EXPECT_EQ(json[field].get<std::uint64_t>(), value) << field;
  }
  EXPECT_DOUBLE_EQ(json["hit_rate"].get<double>(), metrics.hit_rate());
  ASSERT_EQ(json["size_classes"].size(), metrics.size_classes.size());
  for (std::size_t index = 0; index < metrics.size_classes.size(); ++index) {
    const auto& entry = metrics.size_classes[index];
    const auto& parsed = json["size_classes"][index];
    EXPECT_EQ(parsed.size(), 6U);
    EXPECT_EQ(parsed["capacity_bytes"].get<std::uint64_t>(), entry.capacity_bytes);
    EXPECT_EQ(parsed["oversize"].get<bool>(), entry.oversize);
    EXPECT_EQ(parsed["hits"].get<std::uint64_t>(), entry.hits);
    EXPECT_EQ(parsed["misses"].get<std::uint64_t>(), entry.misses);
    EXPECT_EQ(parsed["buffers_cached"].get<std::uint64_t>(), entry.buffers_cached);
    EXPECT_EQ(parsed["buffers_in_use"].get<std::uint64_t>(), entry.buffers_in_use);
  }
  ASSERT_EQ(json["scopes"].size(), metrics.scopes.size());
  for (std::size_t index = 0; index < metrics.scopes.size(); ++index) {
    const auto& scope = metrics.scopes[index];
    const auto& parsed = json["scopes"][index];
    EXPECT_EQ(parsed.size(), 5U);
    EXPECT_EQ(parsed["name"].get<std::string>(), scope.name);
    EXPECT_EQ(parsed["budget_bytes"].get<std::uint64_t>(), scope.budget_bytes);
    EXPECT_EQ(parsed["current_bytes"].get<std::uint64_t>(), scope.current_bytes);
    EXPECT_EQ(parsed["peak_bytes"].get<std::uint64_t>(), scope.peak_bytes);
    EXPECT_EQ(parsed["budget_failures"].get<std::uint64_t>(), scope.budget_failures);
  }
}

TEST(PoolMetrics, JsonCarriesEveryFieldWithItsValue) {
  BufferPool pool(make_host_backend());
  pool.get_buffer(100).reset();
  auto live = pool.get_buffer(100);
  auto other = pool.get_buffer(5000);
  const PoolMetrics metrics = pool.metrics();
  // The figures themselves, so that a field written from the wrong member fails.
  EXPECT_EQ(metrics.hits, 2U);
  EXPECT_EQ(metrics.hits_reused, 1U);
  EXPECT_EQ(metrics.hits_carved, 1U);
  EXPECT_EQ(metrics.misses, 1U);
  EXPECT_EQ(metrics.bytes_requested, 5200U);
  EXPECT_EQ(metrics.segments, 1U);
  expect_json_matches(metrics);
}

// Every field set to a value of its own, most of them past 2^53 (where a
// double would round them), and a scope name JSON must escape: a field
// written from the wrong member, through a double, or unescaped fails.
TEST(PoolMetrics, JsonKeepsEveryFieldDistinctExactAndEscaped) {
  constexpr std::uint64_t kBig = (std::uint64_t{1} << 60) + 1;
  PoolMetrics metrics;
  std::uint64_t next = kBig;
  for (std::uint64_t* field :
       {&metrics.hits, &metrics.hits_reused, &metrics.hits_carved, &metrics.misses,
        &metrics.allocations, &metrics.deallocations, &metrics.evictions, &metrics.expirations,
        &metrics.failed_allocations, &metrics.bytes_requested, &metrics.bytes_granted,
        &metrics.stream_reuses, &metrics.recorded_events, &metrics.recording_waits}) {
    *field = next++;
  }
  for (std::size_t* field :
       {&metrics.current_bytes_allocated, &metrics.peak_bytes_allocated, &metrics.bytes_in_use,
        &metrics.buffers_in_use, &metrics.bytes_cached, &metrics.buffers_cached,
        &metrics.bytes_pending_gpu, &metrics.buffers_pending_gpu, &metrics.bytes_kept_for_streams,
        &metrics.buffers_kept_for_streams, &metrics.open_streams, &metrics.segments,
        &metrics.empty_segments, &metrics.bytes_free_in_segments,
        &metrics.largest_free_block_bytes}) {
    *field = static_cast<std::size_t>(next++);
  }
  metrics.size_classes.push_back({256, false, next++, next++, 3, 4});
  metrics.size_classes.push_back({0, true, next++, next++, 5, 6});
  metrics.scopes.push_back({"step \"7\" \\ \x01\n", next++, next++, next++, next++});
  metrics.scopes.push_back({"other", 1, 2, 3, 4});
  const std::string text = metrics.to_json();
  EXPECT_EQ(text.find('\x01'), std::string::npos) << "a raw control character in the JSON";
  std::set<std::uint64_t> values;
  for (const auto& [field, value] : top_level_counters(metrics)) values.insert(value);
  EXPECT_EQ(values.size(), top_level_counters(metrics).size()) << "the values are not distinct";
  expect_json_matches(metrics);
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
