#include <bufferpool/bufferpool.hpp>

#include <gtest/gtest.h>

#include <limits>
#include <string>

namespace bufferpool {
namespace {

using std::chrono::seconds;

std::string config_error(const PoolConfig& config) {
  try {
    BufferPool pool(make_host_backend(), config);
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "";
}

TEST(PoolConfig, DefaultsAreTheDesignsSettings) {
  const PoolConfig config;
  EXPECT_EQ(config.size_classes, (std::vector<std::size_t>{256, 1024, 4096, 16384, 65536, 262144,
                                                           1048576, 4194304, 16777216, 67108864}));
  EXPECT_EQ(config.max_pool_size, 64U);
  EXPECT_EQ(config.max_cached_bytes, 0U);
  EXPECT_EQ(config.memory_limit, 0U);
  EXPECT_EQ(config.ttl, seconds{60});
  EXPECT_EQ(config.cleanup_interval, seconds{60});
  EXPECT_FALSE(config.background_cleanup);
  EXPECT_NE(config.clock, nullptr);
  EXPECT_NO_THROW(config.validate());
}

TEST(PoolConfig, DurationsTakeAnyChronoLiteral) {
  using namespace std::chrono_literals;
  PoolConfig config;
  config.ttl = 1500ms;
  config.cleanup_interval = 2min;
  EXPECT_EQ(config.ttl.count(), 1'500'000'000);
  EXPECT_EQ(config.cleanup_interval, seconds{120});
}

TEST(PoolConfig, PresetsFollowTheDesignsAdvice) {
  const auto constrained = PoolConfig::memory_constrained();
  const auto critical = PoolConfig::performance_critical();
  EXPECT_NE(constrained.max_cached_bytes, 0U) << "idle bytes are capped";
  EXPECT_EQ(constrained.eviction, EvictionPolicy::size_aware);
  EXPECT_LT(constrained.ttl, PoolConfig{}.ttl);
  EXPECT_LT(constrained.cleanup_interval, critical.cleanup_interval);
  EXPECT_LT(constrained.ttl, critical.ttl);
  EXPECT_GT(critical.max_pool_size, PoolConfig{}.max_pool_size);
  EXPECT_NO_THROW(constrained.validate());
  EXPECT_NO_THROW(critical.validate());
}

TEST(PoolConfig, InvalidSettingsFailAtConstructionNamingTheSetting) {
  PoolConfig empty;
  empty.size_classes.clear();
  EXPECT_NE(config_error(empty).find("PoolConfig::size_classes is empty"), std::string::npos);

  PoolConfig unsorted;
  unsorted.size_classes = {256, 4096, 1024};
  EXPECT_NE(config_error(unsorted).find("strictly increasing: size_classes[2] = 1024 follows 4096"),
            std::string::npos)
      << config_error(unsorted);

  PoolConfig duplicate;
  duplicate.size_classes = {256, 256};
  EXPECT_NE(config_error(duplicate).find("strictly increasing"), std::string::npos);

  PoolConfig zero_class;
  zero_class.size_classes = {0, 256};
  EXPECT_NE(config_error(zero_class).find("size_classes[0] is 0"), std::string::npos);

  PoolConfig negative_ttl;
  negative_ttl.ttl = seconds{-1};
  EXPECT_NE(config_error(negative_ttl).find("PoolConfig::ttl"), std::string::npos);

  PoolConfig negative_interval;
  negative_interval.cleanup_interval = seconds{-1};
  EXPECT_NE(config_error(negative_interval).find("PoolConfig::cleanup_interval"),
            std::string::npos);

  PoolConfig spinning;
  spinning.background_cleanup = true;
  spinning.cleanup_interval = seconds{0};
  EXPECT_NE(config_error(spinning).find("background_cleanup"), std::string::npos);

  PoolConfig no_clock;
  no_clock.clock = nullptr;
  EXPECT_NE(config_error(no_clock).find("PoolConfig::clock"), std::string::npos);

  PoolConfig tiny_limit;
  tiny_limit.memory_limit = 100;
  EXPECT_NE(config_error(tiny_limit).find("PoolConfig::memory_limit"), std::string::npos);
}

TEST(PoolConfig, ANullBackendIsAConfigError) { EXPECT_THROW(BufferPool(nullptr), ConfigError); }

TEST(GeometricSizeClasses, SpansTheRangeWithTheAskedDensity) {
  const auto classes = geometric_size_classes(256, 64 << 20, 4);
  EXPECT_EQ(classes.front(), 256U);
  EXPECT_EQ(classes.back(), std::size_t{64} << 20);
  // 18 doublings, 4 classes each, plus the first.
  EXPECT_EQ(classes.size(), 18U * 4 + 1);
  for (std::size_t i = 1; i < classes.size(); ++i) {
    EXPECT_GT(classes[i], classes[i - 1]);
    EXPECT_EQ(classes[i] % 16, 0U);
    // Each step is about 2^(1/4) = 1.19, plus rounding to 16 bytes at the
    // small end and to 1/64 of the power of two above 1 KiB.
    EXPECT_LE(static_cast<double>(classes[i]) / static_cast<double>(classes[i - 1]),
              classes[i - 1] < 1024 ? 1.25 : 1.22);
  }
  PoolConfig config;
  config.size_classes = classes;
  EXPECT_NO_THROW(config.validate());
}

TEST(GeometricSizeClasses, RoundingDoesNotDependOnTheClasses) {
  // Classes organise the ready cache and the metrics; a buffer is carved at
  // the request's own size, rounded to 64 bytes, whatever the classes.
  PoolConfig geometric;
  geometric.size_classes = geometric_size_classes(256, 1 << 20, 4);
  BufferPool fine(make_host_backend(), geometric);
  BufferPool coarse(make_host_backend());
  for (std::size_t request = 300; request < (1 << 20); request = request * 3 / 2) {
    const auto capacity = fine.capacity_for(request);
    EXPECT_GE(capacity, request);
    EXPECT_LT(capacity - request, 64U);
    EXPECT_EQ(coarse.capacity_for(request), capacity);
  }
}

TEST(GeometricSizeClasses, RejectsNonsense) {
  EXPECT_THROW((void)geometric_size_classes(0, 1024, 2), ConfigError);
  EXPECT_THROW((void)geometric_size_classes(4096, 1024, 2), ConfigError);
  EXPECT_THROW((void)geometric_size_classes(256, 1024, 0), ConfigError);
  EXPECT_THROW((void)geometric_size_classes(256, std::numeric_limits<std::size_t>::max(), 4),
               ConfigError);
}

}  // namespace
}  // namespace bufferpool
