// PoolConfig::to_json() and from_json(): every field written and read back,
// and a bad document refused with a ConfigError that names the field.
#include <bufferpool/config.hpp>
#include <bufferpool/errors.hpp>

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace bufferpool {
namespace {

using nlohmann::json;

/// Every field of a config that to_json() writes, compared one by one so
/// that a failure names the field.
void expect_same_settings(const PoolConfig& actual, const PoolConfig& expected) {
  EXPECT_EQ(actual.size_classes, expected.size_classes);
  EXPECT_EQ(actual.max_pool_size, expected.max_pool_size);
  EXPECT_EQ(actual.max_cached_bytes, expected.max_cached_bytes);
  EXPECT_EQ(actual.eviction, expected.eviction);
  EXPECT_EQ(actual.memory_limit, expected.memory_limit);
  EXPECT_EQ(actual.ttl, expected.ttl);
  EXPECT_EQ(actual.cleanup_interval, expected.cleanup_interval);
  EXPECT_EQ(actual.background_cleanup, expected.background_cleanup);
  EXPECT_EQ(actual.segments.small_request_max_bytes, expected.segments.small_request_max_bytes);
  EXPECT_EQ(actual.segments.small_segment_bytes, expected.segments.small_segment_bytes);
  EXPECT_EQ(actual.segments.large_request_max_bytes, expected.segments.large_request_max_bytes);
  EXPECT_EQ(actual.segments.large_segment_bytes, expected.segments.large_segment_bytes);
  EXPECT_EQ(actual.segments.dedicated_rounding_bytes, expected.segments.dedicated_rounding_bytes);
  EXPECT_EQ(actual.zero_on_reuse, expected.zero_on_reuse);
  EXPECT_EQ(actual.trace_path, expected.trace_path);
  EXPECT_EQ(actual.record_from_environment, expected.record_from_environment);
  EXPECT_EQ(actual.track_live_buffers, expected.track_live_buffers);
  EXPECT_EQ(actual.record_call_stacks, expected.record_call_stacks);
}

/// Every field away from its default, times that are not whole seconds.
PoolConfig unusual_config() {
  PoolConfig config;
  config.size_classes = geometric_size_classes(128, std::size_t{8} << 20, 3);
  config.max_pool_size = 1000;
  config.max_cached_bytes = (std::size_t{5} << 30) + 7;  // past 32 bits
  config.eviction = EvictionPolicy::size_aware;
  config.memory_limit = std::size_t{3} << 40;
  config.ttl = std::chrono::nanoseconds{1'500'000'001};
  config.cleanup_interval = std::chrono::milliseconds{250};
  config.background_cleanup = true;
  config.segments.small_request_max_bytes = 512 << 10;
  config.segments.small_segment_bytes = 4 << 20;
  config.segments.large_request_max_bytes = 8 << 20;
  config.segments.large_segment_bytes = 16 << 20;
  config.segments.dedicated_rounding_bytes = 64 << 10;
  config.zero_on_reuse = true;
  config.trace_path = "/tmp/a \"quoted\" path\n.csv";
  config.record_from_environment = false;
  config.track_live_buffers = true;
  config.record_call_stacks = true;
  return config;
}

TEST(ConfigJson, WritesEveryFieldWithItsType) {
  const PoolConfig config = unusual_config();
  const json document = json::parse(config.to_json());
  ASSERT_TRUE(document.is_object());
  EXPECT_EQ(document.size(), 14U);
  EXPECT_EQ(document.at("size_classes").get<std::vector<std::size_t>>(), config.size_classes);
  EXPECT_EQ(document.at("max_pool_size").get<std::size_t>(), 1000U);
  EXPECT_EQ(document.at("max_cached_bytes").get<std::size_t>(), (std::size_t{5} << 30) + 7);
  EXPECT_EQ(document.at("eviction").get<std::string>(), "size_aware");
  EXPECT_EQ(document.at("memory_limit").get<std::size_t>(), std::size_t{3} << 40);
  EXPECT_DOUBLE_EQ(document.at("ttl").get<double>(), 1.500000001);
  EXPECT_DOUBLE_EQ(document.at("cleanup_interval").get<double>(), 0.25);
  EXPECT_EQ(document.at("background_cleanup").get<bool>(), true);
  const json& segments = document.at("segments");
  EXPECT_EQ(segments.size(), 5U);
  EXPECT_EQ(segments.at("small_request_max_bytes").get<std::size_t>(), 512U << 10);
  EXPECT_EQ(segments.at("small_segment_bytes").get<std::size_t>(), 4U << 20);
  EXPECT_EQ(segments.at("large_request_max_bytes").get<std::size_t>(), 8U << 20);
  EXPECT_EQ(segments.at("large_segment_bytes").get<std::size_t>(), 16U << 20);
  EXPECT_EQ(segments.at("dedicated_rounding_bytes").get<std::size_t>(), 64U << 10);
  EXPECT_EQ(document.at("zero_on_reuse").get<bool>(), true);
  EXPECT_EQ(document.at("trace_path").get<std::string>(), config.trace_path);
  EXPECT_EQ(document.at("record_from_environment").get<bool>(), false);
  EXPECT_EQ(document.at("track_live_buffers").get<bool>(), true);
  EXPECT_EQ(document.at("record_call_stacks").get<bool>(), true);

  const json defaults = json::parse(PoolConfig{}.to_json());
  EXPECT_EQ(defaults.at("eviction").get<std::string>(), "oldest_first");
  EXPECT_DOUBLE_EQ(defaults.at("ttl").get<double>(), 60.0);
}

TEST(ConfigJson, RoundTripsEveryField) {
  for (const PoolConfig& config : {PoolConfig{}, PoolConfig::memory_constrained(),
                                   PoolConfig::performance_critical(), unusual_config()}) {
    const PoolConfig read = PoolConfig::from_json(config.to_json());
    expect_same_settings(read, config);
    EXPECT_EQ(read.to_json(), config.to_json());
  }
}

TEST(ConfigJson, FieldsLeftOutKeepTheirDefaults) {
  const PoolConfig config = PoolConfig::from_json(
      R"({"max_pool_size": 7, "segments": {"small_segment_bytes": 4194304}})");
  PoolConfig expected;
  expected.max_pool_size = 7;
  expected.segments.small_segment_bytes = 4 << 20;
  expect_same_settings(config, expected);
  expect_same_settings(PoolConfig::from_json("{}"), PoolConfig{});
  EXPECT_NE(PoolConfig::from_json("{}").clock, nullptr);
}

TEST(ConfigJson, ReadsWholeNumbersOfSecondsAndFractions) {
  const PoolConfig config = PoolConfig::from_json(R"({"ttl": 2, "cleanup_interval": 0.001})");
  EXPECT_EQ(config.ttl, std::chrono::seconds{2});
  EXPECT_EQ(config.cleanup_interval, std::chrono::milliseconds{1});
}

/// The message of the ConfigError that from_json throws for `text`, or "".
std::string error_for(const std::string& text) {
  try {
    (void)PoolConfig::from_json(text);
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "";
}

void expect_error_naming(const std::string& text, const std::string& field) {
  const std::string message = error_for(text);
  ASSERT_FALSE(message.empty()) << "accepted: " << text;
  EXPECT_NE(message.find("'" + field + "'"), std::string::npos)
      << "for " << text << ": " << message;
}

TEST(ConfigJson, UnknownFieldsAreNamed) {
  expect_error_naming(R"({"max_pool": 5})", "max_pool");
  expect_error_naming(R"({"segments": {"small_bytes": 5}})", "segments.small_bytes");
  EXPECT_NE(error_for(R"({"clock": 1})").find("the fields are size_classes"), std::string::npos);
}

TEST(ConfigJson, WrongTypesAreNamed) {
  expect_error_naming(R"({"size_classes": 256})", "size_classes");
  expect_error_naming(R"({"size_classes": [256, "1 KiB"]})", "size_classes[1]");
  expect_error_naming(R"({"max_pool_size": "64"})", "max_pool_size");
  expect_error_naming(R"({"max_pool_size": 64.5})", "max_pool_size");
  expect_error_naming(R"({"max_cached_bytes": null})", "max_cached_bytes");
  expect_error_naming(R"({"eviction": 1})", "eviction");
  expect_error_naming(R"({"memory_limit": true})", "memory_limit");
  expect_error_naming(R"({"ttl": "60s"})", "ttl");
  expect_error_naming(R"({"cleanup_interval": [1]})", "cleanup_interval");
  expect_error_naming(R"({"background_cleanup": 1})", "background_cleanup");
  expect_error_naming(R"({"segments": 5})", "segments");
  expect_error_naming(R"({"segments": {"large_segment_bytes": "big"}})",
                      "segments.large_segment_bytes");
  expect_error_naming(R"({"zero_on_reuse": "yes"})", "zero_on_reuse");
  expect_error_naming(R"({"trace_path": 3})", "trace_path");
  expect_error_naming(R"({"track_live_buffers": null})", "track_live_buffers");
  expect_error_naming(R"({"record_from_environment": "no"})", "record_from_environment");
  expect_error_naming(R"({"record_call_stacks": 0})", "record_call_stacks");
}

TEST(ConfigJson, ValuesOutOfRangeAreNamed) {
  expect_error_naming(R"({"max_pool_size": -1})", "max_pool_size");
  expect_error_naming(R"({"memory_limit": -4096})", "memory_limit");
  expect_error_naming(R"({"segments": {"small_segment_bytes": -1}})",
                      "segments.small_segment_bytes");
  expect_error_naming(R"({"ttl": -1})", "ttl");
  expect_error_naming(R"({"ttl": 1e300})", "ttl");
  expect_error_naming(R"({"cleanup_interval": -0.5})", "cleanup_interval");
  expect_error_naming(R"({"eviction": "lru"})", "eviction");
  // 2^64: past any byte count.
  expect_error_naming(R"({"max_cached_bytes": 18446744073709551616})", "max_cached_bytes");
}

TEST(ConfigJson, SettingsThatMakeNoSenseFailValidation) {
  // Well-formed, but the pool could not use it: validate() names the setting.
  const std::string message = error_for(R"({"size_classes": [1024, 256]})");
  EXPECT_NE(message.find("size_classes must be strictly increasing"), std::string::npos) << message;
  EXPECT_NE(error_for(R"({"segments": {"small_segment_bytes": 1024}})")
                .find("segments.small_segment_bytes"),
            std::string::npos);
}

TEST(ConfigJson, MalformedJsonGivesThePositionAndTheField) {
  const std::string text = R"({"max_pool_size": 64, "segments": {"small_segment_bytes": 12x}})";
  const std::string message = error_for(text);
  ASSERT_FALSE(message.empty());
  // The position is nlohmann's own: the byte it stopped at.
  std::size_t error_byte = 0;
  try {
    ADD_FAILURE() << "nlohmann parsed it: " << json::parse(text).dump();
  } catch (const json::parse_error& error) {
    error_byte = error.byte;
  }
  ASSERT_GT(error_byte, text.find("12x"));
  EXPECT_NE(message.find("at byte " + std::to_string(error_byte) + " "), std::string::npos)
      << message;
  EXPECT_NE(message.find("'segments.small_segment_bytes'"), std::string::npos) << message;
  EXPECT_FALSE(error_for("").empty());
  EXPECT_FALSE(error_for(R"({"ttl": 1,})").empty());
  EXPECT_NE(error_for("[1, 2]").find("not an object"), std::string::npos);
}

}  // namespace
}  // namespace bufferpool
