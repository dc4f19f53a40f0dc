// One test per row of docs/misuse.md: every misuse the API can see, and the
// error it gets. Each test also checks that the misuse changed nothing else,
// so that a program that catches the error can go on.
#include "simulated_backend.hpp"

#include <bufferpool/bufferpool.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

namespace bufferpool::model {
namespace {

using namespace std::chrono_literals;

/// Runs `call`, expects an exception of type E whose message contains `needle`.
template <typename E, typename Call>
void expect_error(Call&& call, const std::string& needle) {
  try {
    call();
    ADD_FAILURE() << "expected an exception mentioning '" << needle << "'";
  } catch (const E& error) {
    EXPECT_NE(std::string(error.what()).find(needle), std::string::npos) << error.what();
  }
}

class Misuse : public ::testing::Test {
 protected:
  std::shared_ptr<CountingBackend> backend = std::make_shared<CountingBackend>(make_host_backend());
};

// Row: size 0.
TEST_F(Misuse, SizeZeroIsAnInvalidArgument) {
  BufferPool pool(backend);
  expect_error<InvalidArgumentError>([&] { (void)pool.get_buffer(0); }, "get_buffer(0)");
  expect_error<InvalidArgumentError>([&] { (void)pool.capacity_for(0); }, "get_buffer(0)");
  EXPECT_EQ(pool.metrics().misses + pool.metrics().hits, 0U);
  EXPECT_EQ(backend->total_allocations(), 0U);
}

// Row: size too large for the backend (or for the pool's 48-bit sizes).
TEST_F(Misuse, SizeTooLargeIsAnInvalidArgument) {
  auto simulated = std::make_shared<SimulatedBackend>();
  simulated->set_max_allocation_bytes(std::size_t{64} << 20 | 4096);
  BufferPool pool(simulated);
  for (const std::size_t size : {(std::size_t{64} << 20) + 4097,
                                 std::numeric_limits<std::size_t>::max(), std::size_t{1} << 48}) {
    expect_error<InvalidArgumentError>([&] { (void)pool.get_buffer(size); },
                                       "split the data into smaller buffers");
    expect_error<InvalidArgumentError>([&] { (void)pool.capacity_for(size); }, "larger than");
  }
  EXPECT_EQ(pool.get_buffer((std::size_t{64} << 20) + 4096).capacity(),
            (std::size_t{64} << 20) + 4096)
      << "the largest size the backend can hold is still served";
  EXPECT_EQ(simulated->live_allocations(), 1U);
}

// Row: empty handle used (default-made, moved from, reset, or released by
// decrement()).
TEST_F(Misuse, AnEmptyHandleThrowsUsageErrorAndReportsNothing) {
  BufferPool pool(backend);
  BufferRef never_assigned;
  BufferRef moved_from = pool.get_buffer(100);
  BufferRef target = std::move(moved_from);
  BufferRef reset = pool.get_buffer(100);
  reset.reset();
  for (BufferRef* empty : {&never_assigned, &moved_from, &reset}) {
    expect_error<UsageError>([&] { (void)empty->data(); }, "empty handle");
    expect_error<UsageError>([&] { (void)empty->bytes(); }, "empty handle");
    expect_error<UsageError>([&] { empty->increment(); }, "empty handle");
    expect_error<UsageError>([&] { (void)empty->native_handle(); }, "empty handle");
    expect_error<UsageError>([&] { empty->mark_used_until(1); }, "empty handle");
    // The queries that cannot fail report an empty buffer.
    EXPECT_FALSE(*empty);
    EXPECT_EQ(empty->ref_count(), 0U);
    EXPECT_EQ(empty->size(), 0U);
    EXPECT_EQ(empty->capacity(), 0U);
    EXPECT_FALSE(empty->host_visible());
    empty->reset();  // a no-op, never an error
  }
  EXPECT_EQ(target.ref_count(), 1U);
  EXPECT_EQ(pool.metrics().buffers_in_use, 1U);
}

// Row: data() of memory the host cannot see (a device-local buffer).
TEST_F(Misuse, HostAccessToDeviceLocalMemoryIsAUsageError) {
  BufferPool pool(std::make_shared<SimulatedBackend>());
  const BufferRef device_local = pool.get_buffer(SimulatedBackend::kHostVisibleLimit + 1);
  EXPECT_FALSE(device_local.host_visible());
  expect_error<UsageError>([&] { (void)device_local.data(); }, "not host-visible");
  EXPECT_EQ(device_local.ref_count(), 1U);
}

// Row: decrement past zero.
TEST_F(Misuse, DecrementPastZeroIsAUsageErrorAndReleasesNothingTwice) {
  BufferPool pool(backend);
  BufferRef buffer = pool.get_buffer(1024);
  buffer.increment();
  buffer.decrement();  // drops the increment
  buffer.decrement();  // drops the handle's own reference: the buffer goes back
  EXPECT_FALSE(buffer);
  expect_error<UsageError>([&] { buffer.decrement(); }, "decrement() on an empty handle");
  expect_error<UsageError>([&] { buffer.decrement(); }, "decrement() on an empty handle");
  const PoolMetrics metrics = pool.metrics();
  EXPECT_EQ(metrics.buffers_cached, 1U) << "returned once";
  EXPECT_EQ(metrics.buffers_in_use, 0U);
  auto again = pool.get_buffer(1024);
  auto other = pool.get_buffer(1024);
  // Both come from the one segment; their bytes are disjoint.
  EXPECT_EQ(again.native_handle(), other.native_handle());
  EXPECT_TRUE(again.offset_bytes() + again.capacity() <= other.offset_bytes() ||
              other.offset_bytes() + other.capacity() <= again.offset_bytes())
      << "never handed out twice";
  EXPECT_EQ(pool.check_segments(), "");
}

// Row: add to a scope from another thread (and the scope rows next to it).
TEST_F(Misuse, AddingToAScopeFromAnotherThreadIsAUsageError) {
  BufferPool pool(backend);
  BufferRef buffer = pool.get_buffer(256);
  {
    AutoReleaseScope scope;
    std::thread other([&] {
      expect_error<UsageError>([&] { scope.add(buffer); }, "from a thread other than");
      // The other thread has no scope of its own.
      expect_error<UsageError>([&] { (void)autorelease(buffer); }, "no AutoReleaseScope");
    });
    other.join();
    EXPECT_EQ(scope.size(), 0U);
    expect_error<UsageError>([&] { scope.add(BufferRef{}); }, "empty BufferRef");
    EXPECT_EQ(buffer.ref_count(), 1U) << "the failed adds took no reference";
  }
  expect_error<UsageError>([&] { (void)autorelease(buffer); }, "no AutoReleaseScope");
  EXPECT_EQ(buffer.ref_count(), 1U);
}

// Row: pool destroyed with buffers out. Not an error: the buffers stay valid
// (also those held by a scope), and each segment goes back to the backend
// when the last buffer carved from it goes.
TEST_F(Misuse, DestroyingThePoolWithBuffersOutIsSafe) {
  BufferRef survivor;
  BufferRef neighbour;
  {
    AutoReleaseScope scope;
    {
      BufferPool pool(backend);
      survivor = pool.get_buffer(5000);                  // a small segment
      neighbour = pool.get_buffer(700);                  // the same small segment
      scope.add(pool.get_buffer(std::size_t{3} << 20));  // a large segment
      pool.get_buffer(100).reset();                      // idle in the small segment
      pool.get_buffer(std::size_t{12} << 20).reset();    // idle in the large segment
      std::memset(survivor.data(), 0x42, survivor.size());
      std::memset(neighbour.data(), 0x17, neighbour.size());
      EXPECT_EQ(backend->live_allocations(), 2U);
    }
    EXPECT_EQ(backend->live_allocations(), 2U) << "the small and the large segment stay";
    survivor.increment();
    EXPECT_EQ(survivor.ref_count(), 2U);
    survivor.decrement();
  }  // the scope drops its buffer: the large segment goes, its pool is gone
  EXPECT_EQ(backend->live_allocations(), 1U);
  neighbour.reset();
  EXPECT_EQ(backend->live_allocations(), 1U) << "the survivor still holds the small segment";
  EXPECT_EQ(static_cast<int>(survivor.data()[0]), 0x42);
  EXPECT_EQ(static_cast<int>(survivor.data()[survivor.size() - 1]), 0x42);
  survivor.reset();
  EXPECT_EQ(backend->live_allocations(), 0U);
  EXPECT_EQ(backend->total_allocations(), backend->total_frees());
}

// Row: a config that makes no sense. Each gets ConfigError naming the setting.
TEST_F(Misuse, ConfigsThatMakeNoSenseAreRejectedNamingTheSetting) {
  struct Bad {
    const char* setting;
    PoolConfig config;
  };
  std::vector<Bad> bad;
  const auto with = [](auto change) {
    PoolConfig config;
    change(config);
    return config;
  };
  bad.push_back({"size_classes is empty", with([](PoolConfig& c) { c.size_classes = {}; })});
  bad.push_back({"size_classes[0] is 0", with([](PoolConfig& c) { c.size_classes = {0, 1}; })});
  bad.push_back({"strictly increasing", with([](PoolConfig& c) {
                   c.size_classes = {4096, 1024};
                 })});
  bad.push_back({"strictly increasing", with([](PoolConfig& c) { c.size_classes = {256, 256}; })});
  bad.push_back(
      {"128 GiB - 64 B", with([](PoolConfig& c) { c.size_classes = {std::size_t{256} << 30}; })});
  bad.push_back({"at most 1024", with([](PoolConfig& c) {
                   c.size_classes.clear();
                   for (std::size_t i = 1; i <= 1025; ++i) c.size_classes.push_back(i * 256);
                 })});
  bad.push_back({"ttl is negative", with([](PoolConfig& c) { c.ttl = -1s; })});
  bad.push_back(
      {"cleanup_interval is negative", with([](PoolConfig& c) { c.cleanup_interval = -1ms; })});
  bad.push_back({"background_cleanup", with([](PoolConfig& c) {
                   c.background_cleanup = true;
                   c.cleanup_interval = 0s;
                 })});
  bad.push_back({"clock is null", with([](PoolConfig& c) { c.clock = nullptr; })});
  bad.push_back({"memory_limit", with([](PoolConfig& c) { c.memory_limit = 255; })});
  bad.push_back({"segments.small_request_max_bytes is 0",
                 with([](PoolConfig& c) { c.segments.small_request_max_bytes = 0; })});
  bad.push_back({"segments.small_segment_bytes is 0",
                 with([](PoolConfig& c) { c.segments.small_segment_bytes = 0; })});
  bad.push_back({"segments.large_request_max_bytes is 0",
                 with([](PoolConfig& c) { c.segments.large_request_max_bytes = 0; })});
  bad.push_back({"segments.large_segment_bytes is 0",
                 with([](PoolConfig& c) { c.segments.large_segment_bytes = 0; })});
  bad.push_back({"segments.dedicated_rounding_bytes is 0",
                 with([](PoolConfig& c) { c.segments.dedicated_rounding_bytes = 0; })});
  bad.push_back({"a small request must fit in a small segment", with([](PoolConfig& c) {
                   c.segments.small_segment_bytes = c.segments.small_request_max_bytes / 2;
                 })});
  bad.push_back({"is below segments.small_request_max_bytes", with([](PoolConfig& c) {
                   c.segments.large_request_max_bytes = c.segments.small_request_max_bytes / 2;
                 })});
  bad.push_back({"a large request must fit in a large segment", with([](PoolConfig& c) {
                   c.segments.large_segment_bytes = c.segments.large_request_max_bytes / 2;
                 })});
  for (const Bad& entry : bad) {
    SCOPED_TRACE(entry.setting);
    expect_error<ConfigError>([&] { entry.config.validate(); }, entry.setting);
    expect_error<ConfigError>([&] { BufferPool pool(backend, entry.config); }, entry.setting);
  }
  // Classes the backend cannot allocate.
  auto small_device = std::make_shared<SimulatedBackend>();
  small_device->set_max_allocation_bytes(std::size_t{1} << 20);
  expect_error<ConfigError>([&] { BufferPool pool(small_device); }, "size_classes ends at");
  // No backend at all.
  expect_error<ConfigError>([&] { BufferPool pool(nullptr); }, "needs a backend");
  // The helpers and adaptors check their arguments the same way.
  expect_error<ConfigError>([] { (void)geometric_size_classes(0, 1024, 4); }, "min_bytes");
  expect_error<ConfigError>([] { (void)geometric_size_classes(4096, 1024, 4); }, "max_bytes");
  expect_error<ConfigError>([] { (void)geometric_size_classes(256, 1024, 0); },
                            "classes_per_doubling");
  expect_error<ConfigError>([] { (void)make_host_backend({.alignment_bytes = 48}); },
                            "alignment_bytes");
  expect_error<ConfigError>([] { CountingBackend counting(nullptr); }, "upstream");
  FaultInjectingBackend faults(make_host_backend());
  expect_error<ConfigError>([&] { faults.fail_nth_allocation(0); }, "n must be >= 1");
  expect_error<ConfigError>([&] { faults.fail_fraction(1.5, 1); }, "probability");
  expect_error<ConfigError>([&] { faults.fail_fraction(-0.1, 1); }, "probability");
  EXPECT_EQ(backend->total_allocations(), 0U);
}

// Row: a request that cannot fit under memory_limit even with the cache
// empty. Not a misuse the pool can refuse up front, but the error is the
// documented one, at once, and the cache is kept.
TEST_F(Misuse, ARequestAboveTheMemoryLimitFailsAtOnceKeepingTheCache) {
  PoolConfig config;
  config.memory_limit = 1 << 20;
  BufferPool pool(backend, config);
  // Each in a segment of its own size: a 2 MiB segment would pass the limit.
  const BufferRef live = pool.get_buffer(300000);
  pool.get_buffer(1000).reset();
  EXPECT_EQ(pool.metrics().current_bytes_allocated, 300032U + 1024U);
  for (const std::size_t size : {std::size_t{2} << 20, std::size_t{800000}}) {
    try {
      (void)pool.get_buffer(size);
      ADD_FAILURE() << "expected OutOfMemoryError for " << size;
    } catch (const OutOfMemoryError& error) {
      EXPECT_EQ(error.limit_bytes(), std::size_t{1} << 20);
      EXPECT_EQ(error.requested_bytes(), pool.capacity_for(size)) << "the request, not a segment";
      EXPECT_EQ(error.in_use_bytes(), 300032U) << "the live buffer";
      EXPECT_NE(std::string(error.what()).find("memory_limit"), std::string::npos);
    }
  }
  const PoolMetrics metrics = pool.metrics();
  EXPECT_EQ(metrics.buffers_cached, 1U) << "the cache is kept";
  EXPECT_EQ(metrics.failed_allocations, 2U);
  EXPECT_EQ(metrics.evictions, 0U);
}

// Row: the backend out of memory even after the retry. The error says the
// backend ran out (limit 0) and counts only live buffers as in use, not the
// bytes of the request that failed.
TEST_F(Misuse, ABackendOutOfMemoryReportsOnlyLiveBuffersAsInUse) {
  auto faults = std::make_shared<FaultInjectingBackend>(make_host_backend());
  BufferPool pool(faults);
  const BufferRef live = pool.get_buffer(4096);  // in a 2 MiB segment, the rest free
  faults->fail_all(true);
  EXPECT_TRUE(pool.get_buffer(100000)) << "carved from the segment: no allocation to fail";
  try {
    (void)pool.get_buffer(std::size_t{3} << 20);  // a large request: a new segment
    ADD_FAILURE() << "expected OutOfMemoryError";
  } catch (const OutOfMemoryError& error) {
    EXPECT_EQ(error.requested_bytes(), std::size_t{3} << 20);
    EXPECT_EQ(error.limit_bytes(), 0U);
    EXPECT_EQ(error.in_use_bytes(), 4096U)
        << "not the free segment space, not the request: " << error.what();
    EXPECT_NE(std::string(error.what()).find("4 KiB are in use"), std::string::npos)
        << error.what();
    EXPECT_NE(std::string(error.what()).find("free in 1 segments"), std::string::npos)
        << error.what();
  }
  EXPECT_EQ(pool.metrics().failed_allocations, 1U);
}

// Row: zero_on_reuse where the backend cannot zero the memory. The error is
// the backend's, nothing is lost: the buffer goes back to the pool, and the
// next request gets a zeroed buffer.
TEST_F(Misuse, AFailedZeroFillGivesTheBufferBack) {
  auto simulated = std::make_shared<SimulatedBackend>();
  PoolConfig config;
  config.zero_on_reuse = true;
  config.segments = {4096, 16384, 32768, 65536, 4096};  // host-visible segments
  BufferPool pool(simulated, config);
  BufferRef dirty = pool.get_buffer(1000);
  std::memset(dirty.data(), 0xAB, dirty.capacity());
  dirty.reset();
  simulated->fail_next_fill_zero();
  expect_error<BackendError>([&] { (void)pool.get_buffer(1000); }, "fill_zero");
  PoolMetrics metrics = pool.metrics();
  EXPECT_EQ(metrics.buffers_in_use, 0U);
  EXPECT_EQ(metrics.buffers_cached, 1U) << "the buffer is back in the cache";
  const BufferRef clean = pool.get_buffer(1000);
  for (std::size_t index = 0; index < clean.capacity(); ++index) {
    ASSERT_EQ(clean.data()[index], std::byte{0}) << index;
  }
  EXPECT_EQ(simulated->zero_fills(), 2U);
  EXPECT_EQ(simulated->zero_fill_faults(), 1U);
  EXPECT_EQ(pool.check_segments(), "");
}

// Found by the fuzzer: get_slow handed out a buffer from another shard (or
// one the device had just finished with) under that shard's spin lock, so
// zero_on_reuse's fill_zero ran under it, and when it threw, the handle's
// destructor released the buffer into the same shard and spun for ever. A
// deadlock fails here, in a child process given 10 s, instead of hanging.
TEST(MisuseDeathTest, AFailedZeroFillOfABufferFoundOnTheSlowPathDoesNotDeadlock) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        alarm(10);
        auto simulated = std::make_shared<SimulatedBackend>();
        PoolConfig config;
        config.zero_on_reuse = true;
        BufferPool pool(simulated, config);
        BufferRef buffer = pool.get_buffer(1000);
        buffer.mark_used_until(1);
        buffer.reset();                // pending: device work still uses it
        simulated->complete_until(1);  // the device is done with it
        simulated->fail_next_fill_zero();
        try {
          (void)pool.get_buffer(1000);  // reclaims it, reuses it, fill_zero throws
        } catch (const BackendError&) {
          std::exit(pool.metrics().buffers_cached == 1 ? 0 : 3);
        }
        std::exit(2);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace bufferpool::model
