// One test per row of docs/misuse.md: every misuse the API can see, and the
// error it gets. Each test also checks that the misuse changed nothing else,
// so that a program that catches the error can go on.
#include "simulated_backend.hpp"

#include <bufferpool/bufferpool.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <limits>
#include <string>
#include <thread>
#include <vector>

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
  EXPECT_NE(again.native_handle(), other.native_handle()) << "never handed out twice";
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
// (also those held by a scope) and are freed when their last reference goes.
TEST_F(Misuse, DestroyingThePoolWithBuffersOutIsSafe) {
  BufferRef survivor;
  {
    AutoReleaseScope scope;
    {
      BufferPool pool(backend);
      survivor = pool.get_buffer(5000);
      scope.add(pool.get_buffer(300));
      pool.get_buffer(100).reset();  // idle: freed with the pool
      std::memset(survivor.data(), 0x42, survivor.size());
    }
    EXPECT_EQ(backend->live_allocations(), 2U);
    survivor.increment();
    EXPECT_EQ(survivor.ref_count(), 2U);
    survivor.decrement();
  }  // the scope drops its buffer: freed, its pool is gone
  EXPECT_EQ(backend->live_allocations(), 1U);
  EXPECT_EQ(static_cast<int>(survivor.data()[survivor.size() - 1]), 0x42);
  survivor.reset();
  EXPECT_EQ(backend->live_allocations(), 0U);
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
      {"2^48 - 1 bytes", with([](PoolConfig& c) { c.size_classes = {std::size_t{1} << 48}; })});
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
  pool.get_buffer(1000).reset();
  try {
    (void)pool.get_buffer(2 << 20);
    ADD_FAILURE() << "expected OutOfMemoryError";
  } catch (const OutOfMemoryError& error) {
    EXPECT_EQ(error.limit_bytes(), std::size_t{1} << 20);
    EXPECT_EQ(error.requested_bytes(), std::size_t{4} << 20);
    EXPECT_EQ(error.in_use_bytes(), 0U);
  }
  EXPECT_EQ(pool.metrics().buffers_cached, 1U);
}

// Row: the backend out of memory even after the retry. The error says the
// backend ran out (limit 0) and counts only live buffers as in use, not the
// bytes of the request that failed.
TEST_F(Misuse, ABackendOutOfMemoryReportsOnlyLiveBuffersAsInUse) {
  auto faults = std::make_shared<FaultInjectingBackend>(make_host_backend());
  BufferPool pool(faults);
  const BufferRef live = pool.get_buffer(4096);
  faults->fail_all(true);
  try {
    (void)pool.get_buffer(100000);
    ADD_FAILURE() << "expected OutOfMemoryError";
  } catch (const OutOfMemoryError& error) {
    EXPECT_EQ(error.requested_bytes(), 256U * 1024);
    EXPECT_EQ(error.limit_bytes(), 0U);
    EXPECT_EQ(error.in_use_bytes(), 4096U) << error.what();
    EXPECT_NE(std::string(error.what()).find("4 KiB are in use"), std::string::npos)
        << error.what();
  }
}

}  // namespace
}  // namespace bufferpool::model
