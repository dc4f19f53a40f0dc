// Seeing what a pool holds: snapshots of its segments, the buffers still
// live (with ages and call stacks when asked), the report of a pool
// destroyed with buffers out, what an out-of-memory error carries, and named
// scopes with budgets.
#include <bufferpool/bufferpool.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <string>

namespace bufferpool {

// External linkage, so that the program's exported symbols name it.
[[gnu::noinline]] BufferRef request_from_a_named_function(BufferPool& pool);
[[gnu::noinline]] BufferRef request_from_a_named_function(BufferPool& pool) {
  return pool.get_buffer(2048);
}

namespace {

using std::chrono::seconds;
using ::testing::HasSubstr;

std::size_t count_state(const MemorySnapshot& snapshot, BlockState state) {
  std::size_t count = 0;
  for (const auto& segment : snapshot.segments) {
    for (const auto& block : segment.blocks) count += block.state == state ? 1 : 0;
  }
  return count;
}

TEST(Snapshot, BlocksTileEachSegmentAndCarryTheirStates) {
  BufferPool pool(make_host_backend());
  auto live = pool.get_buffer(1000);
  auto idle = pool.get_buffer(3000);
  const std::size_t idle_capacity = idle.capacity();
  auto large = pool.get_buffer(std::size_t{3} << 20);
  idle.reset();

  const MemorySnapshot snapshot = pool.snapshot();
  ASSERT_EQ(snapshot.segments.size(), 2U);
  for (const auto& segment : snapshot.segments) {
    std::uint64_t next = segment.address;
    for (const auto& block : segment.blocks) {
      EXPECT_EQ(block.address, next) << "blocks tile the segment in address order";
      next += block.size_bytes;
    }
    EXPECT_EQ(next, segment.address + segment.size_bytes);
  }
  const auto small = std::find_if(snapshot.segments.begin(), snapshot.segments.end(),
                                  [](const auto& segment) { return !segment.large; });
  ASSERT_NE(small, snapshot.segments.end());
  ASSERT_EQ(small->blocks.size(), 3U);
  EXPECT_EQ(small->blocks[0].state, BlockState::live);
  EXPECT_EQ(small->blocks[0].requested_bytes, 1000U);
  EXPECT_EQ(small->blocks[0].size_bytes, live.capacity());
  EXPECT_EQ(small->blocks[0].address, reinterpret_cast<std::uintptr_t>(live.data()));
  EXPECT_EQ(small->blocks[1].state, BlockState::idle);
  EXPECT_EQ(small->blocks[1].size_bytes, idle_capacity);
  EXPECT_EQ(small->blocks[1].requested_bytes, 0U) << "the ready cache keeps no request size";
  EXPECT_EQ(small->blocks[2].state, BlockState::free);
  EXPECT_EQ(small->blocks[2].requested_bytes, 0U);
  EXPECT_EQ(count_state(snapshot, BlockState::live), 2U);

  live.reset();
  large.reset();
  pool.clear();
  EXPECT_TRUE(pool.snapshot().segments.empty());
}

TEST(LiveBuffers, ListsExactlyTheBuffersStillReferenced) {
  BufferPool pool(make_host_backend());
  auto kept = pool.get_buffer(4000);
  auto copy = kept;
  auto dropped = pool.get_buffer(100);
  dropped.reset();
  const auto live = pool.live_buffers();
  ASSERT_EQ(live.size(), 1U);
  EXPECT_EQ(live[0].address, reinterpret_cast<std::uintptr_t>(kept.data()));
  EXPECT_EQ(live[0].size_bytes, 4000U);
  EXPECT_EQ(live[0].capacity_bytes, kept.capacity());
  EXPECT_EQ(live[0].ref_count, 2U);
  EXPECT_FALSE(live[0].age.has_value()) << "ages are kept only when asked for";
  EXPECT_TRUE(live[0].allocation_site.empty());
}

TEST(LiveBuffers, AgesAndCallStacksWhenThePoolIsAskedToKeepThem) {
  auto clock = std::make_shared<ManualClock>(seconds{1});
  PoolConfig config;
  config.clock = clock;
  config.record_call_stacks = true;
  BufferPool pool(make_host_backend(), config);
  auto old_buffer = request_from_a_named_function(pool);
  clock->advance(seconds{3});
  auto new_buffer = pool.get_buffer(64);
  clock->advance(seconds{1});
  const auto live = pool.live_buffers();
  ASSERT_EQ(live.size(), 2U);
  EXPECT_EQ(live[0].size_bytes, 2048U) << "oldest first";
  ASSERT_TRUE(live[0].age.has_value());
  EXPECT_EQ(*live[0].age, seconds{4});
  EXPECT_EQ(*live[1].age, seconds{1});
  ASSERT_FALSE(live[0].allocation_site.empty());
  // The test program exports its symbols (ENABLE_EXPORTS), so frames have names.
  const bool names_caller = std::any_of(
      live[0].allocation_site.begin(), live[0].allocation_site.end(), [](const std::string& frame) {
        return frame.find("request_from_a_named_function") != std::string::npos;
      });
  EXPECT_TRUE(names_caller) << live[0].allocation_site.front();
  EXPECT_THAT(live[0].allocation_site.front(), ::testing::Not(HasSubstr("PoolCore")))
      << "the pool's own frames are left out";
}

TEST(LiveBuffers, APoolDestroyedWithBuffersOutReportsThem) {
  BufferRef survivor;
  ::testing::internal::CaptureStderr();
  {
    PoolConfig config;
    config.track_live_buffers = true;
    BufferPool pool(make_host_backend(), config);
    survivor = pool.get_buffer(3000);
    pool.get_buffer(100).reset();
  }
  const std::string report = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(report, HasSubstr("destroyed with 1 buffer still referenced"));
  EXPECT_THAT(report, HasSubstr("asked 3000 B"));
  survivor.data()[0] = std::byte{1};  // still valid
  survivor.reset();

  ::testing::internal::CaptureStderr();
  {
    PoolConfig config;
    config.track_live_buffers = true;
    BufferPool pool(make_host_backend(), config);
    pool.get_buffer(100).reset();
  }
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "") << "nothing out, nothing reported";
}

TEST(OutOfMemory, TheErrorCarriesWhatWouldHaveHadToGive) {
  PoolConfig config;
  config.memory_limit = std::size_t{4} << 20;
  BufferPool pool(make_host_backend(), config);
  auto live = pool.get_buffer(1000);  // 1024 granted: 24 bytes of padding
  auto idle = pool.get_buffer(20000);
  idle.reset();
  try {
    static_cast<void>(pool.get_buffer(std::size_t{3} << 20));
    static_cast<void>(pool.get_buffer(std::size_t{3} << 20));
    FAIL() << "6 MiB cannot fit under a 4 MiB limit";
  } catch (const OutOfMemoryError& error) {
    const OutOfMemoryDetails& details = error.details();
    EXPECT_EQ(details.idle_bytes_per_class.size(), pool.config().size_classes.size() + 1);
    EXPECT_EQ(details.rounding_padding_bytes, live.capacity() - 1000U);
    EXPECT_EQ(details.pending_bytes, 0U);
    EXPECT_GE(details.device_allocations, 1U);
    EXPECT_EQ(details.device_allocation_limit, pool.backend().max_live_allocations());
    EXPECT_FALSE(details.device_budget_bytes.has_value()) << "host memory reports no budget";
    EXPECT_TRUE(details.scope_name.empty());
    const auto metrics = pool.metrics();
    EXPECT_EQ(details.free_bytes_in_segments, metrics.bytes_free_in_segments);
    EXPECT_EQ(details.largest_free_block_bytes, metrics.largest_free_block_bytes);
    EXPECT_THAT(error.what(), HasSubstr("of padding in live buffers"));
  }
}

TEST(OutOfMemory, IdleBytesPerClassAreThoseTheCacheKeptWhenFailingAtOnce) {
  PoolConfig config;
  config.memory_limit = std::size_t{2} << 20;
  BufferPool pool(make_host_backend(), config);
  auto idle = pool.get_buffer(4096);
  idle.reset();
  // More than the limit on its own: refused at once, keeping the cache.
  try {
    static_cast<void>(pool.get_buffer(std::size_t{3} << 20));
    FAIL() << "3 MiB cannot fit under a 2 MiB limit";
  } catch (const OutOfMemoryError& error) {
    const auto& idle_bytes = error.details().idle_bytes_per_class;
    EXPECT_EQ(std::accumulate(idle_bytes.begin(), idle_bytes.end(), std::size_t{0}), 4096U);
    EXPECT_EQ(idle_bytes[2], 4096U) << "4096 B is in the 4 KiB class";
  }
}

TEST(NamedScopes, BytesPerNameArePublishedInTheMetrics) {
  BufferPool pool(make_host_backend());
  {
    AutoReleaseScope step("step");
    step.add(pool.get_buffer(1024));
    {
      AutoReleaseScope inner("inner");
      inner.add(pool.get_buffer(4096));
      EXPECT_EQ(step.held_bytes(), 1024U + 4096U) << "a scope counts its nested scopes";
      EXPECT_EQ(inner.held_bytes(), 4096U);
    }
    EXPECT_EQ(step.held_bytes(), 1024U);
    auto metrics = pool.metrics();
    ASSERT_EQ(metrics.scopes.size(), 2U);
    const auto& inner_metrics = metrics.scopes[0];  // by name
    const auto& step_metrics = metrics.scopes[1];
    EXPECT_EQ(inner_metrics.name, "inner");
    EXPECT_EQ(inner_metrics.current_bytes, 0U);
    EXPECT_EQ(inner_metrics.peak_bytes, 4096U);
    EXPECT_EQ(step_metrics.name, "step");
    EXPECT_EQ(step_metrics.current_bytes, 1024U);
    EXPECT_EQ(step_metrics.peak_bytes, 1024U + 4096U);
  }
  EXPECT_EQ(pool.metrics().scopes[1].current_bytes, 0U);
  EXPECT_THROW(AutoReleaseScope(""), ConfigError);
}

TEST(NamedScopes, ARequestPastAScopesBudgetFailsNamingTheScope) {
  BufferPool pool(make_host_backend());
  AutoReleaseScope outer("batch", 8192);
  outer.add(pool.get_buffer(4096));
  {
    AutoReleaseScope inner("layer");  // no budget of its own: the enclosing one holds
    inner.add(pool.get_buffer(2048));
    try {
      static_cast<void>(pool.get_buffer(4096));
      FAIL() << "4096 + 2048 + 4096 passes the 8192-byte budget";
    } catch (const OutOfMemoryError& error) {
      EXPECT_EQ(error.details().scope_name, "batch");
      EXPECT_EQ(error.limit_bytes(), 8192U);
      EXPECT_THAT(error.what(), HasSubstr("'batch'"));
    }
    auto fits = pool.get_buffer(2048);  // exactly to the budget
    inner.add(fits);
    EXPECT_EQ(outer.held_bytes(), 8192U);
  }
  // A buffer requested before the scope opened, added past its budget, is
  // refused too.
  BufferRef outside = pool.get_buffer(2048);
  AutoReleaseScope tight("tight", 1024);
  EXPECT_THROW(tight.add(outside), OutOfMemoryError);
  EXPECT_EQ(tight.held_bytes(), 0U);
  const auto metrics = pool.metrics();
  EXPECT_EQ(metrics.failed_allocations, 2U);
  const auto batch = std::find_if(metrics.scopes.begin(), metrics.scopes.end(),
                                  [](const auto& scope) { return scope.name == "batch"; });
  ASSERT_NE(batch, metrics.scopes.end());
  EXPECT_EQ(batch->budget_bytes, 8192U);
  EXPECT_EQ(batch->budget_failures, 1U);
}

}  // namespace
}  // namespace bufferpool
