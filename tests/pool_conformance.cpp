#include "pool_conformance.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>
#include <vector>

namespace bufferpool::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr std::size_t KiB = 1024;
constexpr std::size_t MiB = 1024 * KiB;

void fill(const BufferRef& buffer, unsigned char value) {
  if (buffer.host_visible()) std::memset(buffer.data(), value, buffer.size());
}

/// What every fresh buffer's capacity is rounded to.
std::size_t granule_of(const Backend& backend) {
  return std::max<std::size_t>(64, backend.buffer_alignment_bytes());
}

std::size_t round_up(std::size_t bytes, std::size_t multiple) {
  return (bytes + multiple - 1) / multiple * multiple;
}

bool holds(const BufferRef& buffer, unsigned char value) {
  if (!buffer.host_visible()) return true;
  const auto bytes = buffer.bytes();
  return std::all_of(bytes.begin(), bytes.end(),
                     [value](std::byte b) { return b == std::byte{value}; });
}

TEST_P(PoolConformance, RoundsEachRequestOnlyToTheBackendsAlignment) {
  BufferPool pool(backend, config());
  const std::size_t granule = granule_of(*backend);
  for (const std::size_t request :
       {std::size_t{1}, std::size_t{100}, std::size_t{257}, std::size_t{1000}, 3 * KiB + 1,
        100 * KiB + 7, MiB + 1, 5 * MiB - 3, 64 * MiB + 1}) {
    auto buffer = pool.get_buffer(request);
    EXPECT_EQ(buffer.size(), request);
    EXPECT_EQ(buffer.capacity(), round_up(request, granule)) << request;
    EXPECT_EQ(pool.capacity_for(request), buffer.capacity()) << request;
    EXPECT_EQ(buffer.offset_bytes() % granule, 0U) << request;
  }
  const auto metrics = pool.metrics();
  EXPECT_LT(metrics.bytes_granted - metrics.bytes_requested, 9 * granule)
      << "rounding costs less than a granule a request";
  EXPECT_EQ(pool.check_segments(), "");
}

TEST_P(PoolConformance, SmallBuffersShareOneSegmentWithoutOverlapping) {
  BufferPool pool(backend, config());
  std::vector<BufferRef> live;
  for (int i = 0; i < 100; ++i) {
    live.push_back(pool.get_buffer(4 * KiB + static_cast<std::size_t>(i) * 100));
    fill(live.back(), static_cast<unsigned char>(i));
  }
  EXPECT_EQ(backend->live_allocations(), 1U) << "all carved from one 2 MiB segment";
  const auto metrics = pool.metrics();
  EXPECT_EQ(metrics.misses, 1U);
  EXPECT_EQ(metrics.hits, 99U);
  EXPECT_EQ(metrics.hits_carved, 99U);
  EXPECT_EQ(metrics.segments, 1U);
  EXPECT_EQ(metrics.current_bytes_allocated, 2 * MiB);
  EXPECT_EQ(metrics.current_bytes_allocated,
            metrics.bytes_in_use + metrics.bytes_cached + metrics.bytes_free_in_segments);
  std::vector<std::pair<std::size_t, std::size_t>> ranges;
  for (const auto& buffer : live) {
    EXPECT_EQ(buffer.native_handle(), live.front().native_handle());
    ranges.emplace_back(buffer.offset_bytes(), buffer.offset_bytes() + buffer.capacity());
  }
  std::sort(ranges.begin(), ranges.end());
  for (std::size_t i = 1; i < ranges.size(); ++i) {
    EXPECT_LE(ranges[i - 1].second, ranges[i].first) << "buffers " << i - 1 << " and " << i;
  }
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(holds(live[i], static_cast<unsigned char>(i)));
  EXPECT_EQ(pool.check_segments(), "");
}

TEST_P(PoolConformance, FreedNeighboursMergeSoALargeRequestFitsWhereSmallOnesWere) {
  BufferPool pool(backend, config());
  {
    std::vector<BufferRef> small;
    for (int i = 0; i < 12; ++i) small.push_back(pool.get_buffer(128 * KiB));
  }  // 1.5 MiB of idle buffers side by side from the segment's start; 0.5 MiB free after them
  EXPECT_EQ(pool.metrics().buffers_cached, 12U);
  // 1 MiB fits in the segment only once idle buffers are back in it and merged:
  // the eight oldest, the first 1 MiB of the segment.
  auto large = pool.get_buffer(MiB);
  auto metrics = pool.metrics();
  EXPECT_EQ(metrics.misses, 1U) << "no second segment";
  EXPECT_EQ(metrics.hits_carved, 12U);
  EXPECT_EQ(metrics.evictions, 8U) << "the oldest idle buffers went back to make room";
  EXPECT_EQ(metrics.buffers_cached, 4U);
  EXPECT_EQ(large.offset_bytes(), 0U);
  EXPECT_EQ(backend->live_allocations(), 1U);
  EXPECT_EQ(pool.check_segments(), "");
  large.reset();
  pool.clear();
  metrics = pool.metrics();
  EXPECT_EQ(metrics.segments, 0U) << "clear() gives empty segments back";
  EXPECT_EQ(backend->live_allocations(), 0U);
}

TEST_P(PoolConformance, ARequestAboveTheLargeSegmentsGetsASegmentOfItsOwn) {
  BufferPool pool(backend, config());
  const std::size_t request = 12 * MiB + 1;
  auto buffer = pool.get_buffer(request);
  EXPECT_EQ(buffer.offset_bytes(), 0U);
  EXPECT_EQ(backend->live_bytes(), 14 * MiB) << "rounded up to 2 MiB";
  auto medium = pool.get_buffer(2 * MiB);
  EXPECT_EQ(backend->live_bytes(), 14 * MiB + 20 * MiB) << "a 20 MiB large segment";
  auto small = pool.get_buffer(KiB);
  EXPECT_EQ(backend->live_bytes(), 36 * MiB) << "small requests have segments of their own";
  EXPECT_EQ(pool.metrics().segments, 3U);
}

TEST_P(PoolConformance, ServesRequestsAboveTheLargestClassAndCountsThem) {
  BufferPool pool(backend, config());
  const std::size_t request = 64 * MiB + 1;
  {
    auto buffer = pool.get_buffer(request);
    EXPECT_EQ(buffer.size(), request);
    EXPECT_EQ(buffer.capacity(), round_up(request, granule_of(*backend)));
  }
  auto again = pool.get_buffer(request + 100);
  const auto metrics = pool.metrics();
  EXPECT_EQ(metrics.misses, 1U);
  EXPECT_EQ(metrics.hits, 1U) << "carved from the first request's segment";
  EXPECT_TRUE(metrics.size_classes.back().oversize);
  EXPECT_EQ(metrics.size_classes.back().hits, 1U);
  EXPECT_EQ(metrics.bytes_requested, 2 * request + 100);
}

TEST_P(PoolConformance, AReleasedBufferIsHandedOutAgain) {
  BufferPool pool(backend, config());
  std::uint64_t handle = 0;
  std::size_t offset = 0;
  {
    auto buffer = pool.get_buffer(1000);
    handle = buffer.native_handle();
    offset = buffer.offset_bytes();
    fill(buffer, 7);
  }
  auto again = pool.get_buffer(900);
  EXPECT_EQ(again.native_handle(), handle);
  EXPECT_EQ(again.offset_bytes(), offset);
  EXPECT_EQ(again.size(), 900U);
  EXPECT_EQ(again.capacity(), KiB);
  const auto metrics = pool.metrics();
  EXPECT_EQ(metrics.hits, 1U);
  EXPECT_EQ(metrics.hits_reused, 1U);
  EXPECT_EQ(metrics.misses, 1U);
  EXPECT_EQ(metrics.allocations, 1U);
  EXPECT_EQ(backend->total_allocations(), 1U);
}

TEST_P(PoolConformance, AnIdleBufferMuchLargerThanTheRequestIsNotReused) {
  BufferPool pool(backend, config());
  pool.get_buffer(64 * KiB).reset();
  auto smaller = pool.get_buffer(20 * KiB);  // same class, but 64 KiB would waste two thirds
  EXPECT_EQ(smaller.capacity(), 20 * KiB);
  const auto metrics = pool.metrics();
  EXPECT_EQ(metrics.hits_reused, 0U);
  EXPECT_EQ(metrics.hits_carved, 1U);
  EXPECT_EQ(metrics.buffers_cached, 1U);
}

TEST_P(PoolConformance, LiveBuffersAreNeverShared) {
  BufferPool pool(backend, config());
  std::vector<BufferRef> live;
  std::set<std::pair<std::uint64_t, std::size_t>> places;
  for (int i = 0; i < 20; ++i) {
    live.push_back(pool.get_buffer(4 * KiB));
    fill(live.back(), static_cast<unsigned char>(i));
    places.emplace(live.back().native_handle(), live.back().offset_bytes());
  }
  EXPECT_EQ(places.size(), live.size());
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(holds(live[i], static_cast<unsigned char>(i)));
}

TEST_P(PoolConformance, ZeroOnReuseHandsOutOnlyZeroedBuffers) {
  if (!upstream->name().starts_with("host")) {
    GTEST_SKIP() << "device memory is checked through the manager (tests/vulkan)";
  }
  auto settings = config();
  settings.zero_on_reuse = true;
  BufferPool pool(backend, settings);
  for (int round = 0; round < 3; ++round) {
    auto buffer = pool.get_buffer(4 * KiB);
    EXPECT_TRUE(holds(buffer, 0)) << "round " << round;
    std::memset(buffer.data(), 0xAB, buffer.capacity());
  }
  EXPECT_GE(pool.metrics().hits_reused, 2U) << "the same buffer came back, zeroed";
}

TEST_P(PoolConformance, TheDesignsCountingSequenceWorksAsWritten) {
  BufferPool pool(backend, config());
  auto buffer = pool.get_buffer(1024);
  EXPECT_EQ(buffer.ref_count(), 1U);
  buffer.increment();
  EXPECT_EQ(buffer.ref_count(), 2U);
  buffer.decrement();
  EXPECT_EQ(buffer.ref_count(), 1U);
  buffer.decrement();
  EXPECT_FALSE(buffer);
  EXPECT_EQ(buffer.ref_count(), 0U);
  const auto metrics = pool.metrics();
  EXPECT_EQ(metrics.buffers_cached, 1U);
  EXPECT_EQ(metrics.buffers_in_use, 0U);
}

TEST_P(PoolConformance, CopiesShareTheCountAndTheLastOneReturnsTheBuffer) {
  BufferPool pool(backend, config());
  auto first = pool.get_buffer(100);
  auto second = first;
  EXPECT_EQ(first.ref_count(), 2U);
  EXPECT_EQ(second, first);
  first.reset();
  EXPECT_EQ(second.ref_count(), 1U);
  EXPECT_EQ(pool.metrics().buffers_cached, 0U);
  auto moved = std::move(second);
  EXPECT_FALSE(second);  // NOLINT(bugprone-use-after-move): a move empties the handle
  EXPECT_EQ(moved.ref_count(), 1U);
  moved = BufferRef{};
  EXPECT_EQ(pool.metrics().buffers_cached, 1U);
}

TEST_P(PoolConformance, AnEmptyHandleThrowsInsteadOfTouchingMemory) {
  BufferPool pool(backend, config());
  auto buffer = pool.get_buffer(64);
  buffer.decrement();
  EXPECT_THROW((void)buffer.data(), UsageError);
  EXPECT_THROW(buffer.increment(), UsageError);
  EXPECT_THROW(buffer.decrement(), UsageError);
  EXPECT_THROW((void)buffer.native_handle(), UsageError);
  EXPECT_EQ(pool.metrics().buffers_cached, 1U) << "the failed calls changed nothing";
}

TEST_P(PoolConformance, BadSizesAreRejectedAndThePoolStaysUsable) {
  BufferPool pool(backend, config());
  EXPECT_THROW((void)pool.get_buffer(0), InvalidArgumentError);
  EXPECT_THROW((void)pool.get_buffer(std::numeric_limits<std::size_t>::max()),
               InvalidArgumentError);
  EXPECT_THROW((void)pool.get_buffer(backend->max_allocation_bytes() + 1), InvalidArgumentError);
  auto buffer = pool.get_buffer(10);
  EXPECT_TRUE(buffer);
  EXPECT_EQ(pool.metrics().misses, 1U);
}

TEST_P(PoolConformance, PastMaxPoolSizeTheBufferReleasedLongestAgoGoesBack) {
  auto settings = config();
  settings.max_pool_size = 3;
  BufferPool pool(backend, settings);
  // Four buffers of different classes, released in the order b, d, a, c: the
  // clock never moves, so only the release order can decide.
  auto a = pool.get_buffer(256);
  auto b = pool.get_buffer(KiB);
  auto c = pool.get_buffer(4 * KiB);
  auto d = pool.get_buffer(16 * KiB);
  b.reset();
  d.reset();
  a.reset();
  c.reset();
  const auto metrics = pool.metrics();
  EXPECT_EQ(metrics.evictions, 1U);
  EXPECT_EQ(metrics.buffers_cached, 3U);
  EXPECT_EQ(metrics.size_classes[1].buffers_cached, 0U) << "b, released first, was evicted";
  EXPECT_EQ(metrics.size_classes[0].buffers_cached, 1U);
  EXPECT_EQ(metrics.size_classes[2].buffers_cached, 1U);
  EXPECT_EQ(metrics.size_classes[3].buffers_cached, 1U);
  EXPECT_EQ(metrics.bytes_free_in_segments, 2 * MiB - 256 - 4 * KiB - 16 * KiB)
      << "b's bytes are free space in the segment again";
  EXPECT_EQ(backend->live_allocations(), 1U);
  EXPECT_EQ(pool.check_segments(), "");
}

TEST_P(PoolConformance, PastMaxCachedBytesTheOldestIdleBuffersAreFreed) {
  auto settings = config();
  settings.max_cached_bytes = 20 * KiB;
  BufferPool pool(backend, settings);
  auto big = pool.get_buffer(16 * KiB);
  auto small = pool.get_buffer(4 * KiB);
  auto other = pool.get_buffer(4 * KiB);
  big.reset();    // 16 KiB idle
  small.reset();  // 20 KiB idle
  other.reset();  // 24 KiB: the 16 KiB buffer, released first, goes
  const auto metrics = pool.metrics();
  EXPECT_EQ(metrics.evictions, 1U);
  EXPECT_EQ(metrics.bytes_cached, 8 * KiB);
  EXPECT_EQ(metrics.size_classes[3].buffers_cached, 0U);
}

TEST_P(PoolConformance, SizeAwareEvictionFreesALargeBufferBeforeSmallerOlderOnes) {
  auto settings = config();
  settings.eviction = EvictionPolicy::size_aware;
  settings.max_cached_bytes = 64 * KiB;
  BufferPool pool(backend, settings);
  auto small_old = pool.get_buffer(KiB);
  auto large = pool.get_buffer(64 * KiB);
  auto small_new = pool.get_buffer(KiB);
  small_old.reset();
  large.reset();
  small_new.reset();  // 66 KiB idle: one must go
  const auto metrics = pool.metrics();
  EXPECT_EQ(metrics.evictions, 1U);
  EXPECT_EQ(metrics.size_classes[4].buffers_cached, 0U) << "the 64 KiB buffer went";
  EXPECT_EQ(metrics.size_classes[1].buffers_cached, 2U) << "both 1 KiB buffers stayed";
}

TEST_P(PoolConformance, SizeAwareEvictionWeighsBuffersAboveTheLargestClassBySize) {
  auto settings = config();
  settings.size_classes = {KiB};
  settings.eviction = EvictionPolicy::size_aware;
  settings.max_cached_bytes = 80 * KiB;
  BufferPool pool(backend, settings);
  auto small = pool.get_buffer(8 * KiB);
  auto large = pool.get_buffer(64 * KiB);
  auto newest = pool.get_buffer(12 * KiB);
  small.reset();
  large.reset();
  newest.reset();  // 84 KiB idle, all above the largest class
  const auto metrics = pool.metrics();
  EXPECT_EQ(metrics.evictions, 1U);
  EXPECT_EQ(metrics.bytes_cached, 20 * KiB) << "the 64 KiB buffer went, not the older 8 KiB one";
}

TEST_P(PoolConformance, SizeAwareEvictionStillAgesOutOldBuffers) {
  auto settings = config();
  settings.eviction = EvictionPolicy::size_aware;
  settings.max_pool_size = 2;
  BufferPool pool(backend, settings);
  // Equal sizes: the policy is oldest first.
  auto a = pool.get_buffer(KiB);
  auto b = pool.get_buffer(KiB);
  auto c = pool.get_buffer(KiB);
  const auto b_handle = b.native_handle();
  const auto c_handle = c.native_handle();
  a.reset();
  b.reset();
  c.reset();
  EXPECT_EQ(pool.metrics().evictions, 1U);
  auto first = pool.get_buffer(KiB);
  auto second = pool.get_buffer(KiB);
  EXPECT_EQ((std::set<std::uint64_t>{first.native_handle(), second.native_handle()}),
            (std::set<std::uint64_t>{b_handle, c_handle}));
}

TEST_P(PoolConformance, CachingOffAllocatesEveryRequestAndFreesEveryRelease) {
  auto settings = config();
  settings.max_pool_size = 0;
  BufferPool pool(backend, settings);
  for (int i = 0; i < 5; ++i) {
    auto buffer = pool.get_buffer(4 * KiB);
    EXPECT_EQ(backend->live_allocations(), 1U);
  }
  EXPECT_EQ(backend->live_allocations(), 0U);
  const auto metrics = pool.metrics();
  EXPECT_EQ(metrics.misses, 5U);
  EXPECT_EQ(metrics.hits, 0U);
  EXPECT_EQ(metrics.allocations, 5U);
  EXPECT_EQ(metrics.deallocations, 5U);
}

TEST_P(PoolConformance, CleanupFreesIdleBuffersAndSegmentsUnusedForTheTtlAndNoOthers) {
  auto settings = config();
  settings.ttl = seconds{10};
  BufferPool pool(backend, settings);
  pool.get_buffer(100).reset();
  clock->advance(seconds{5});
  pool.get_buffer(2000).reset();
  clock->advance(seconds{5} - milliseconds{1});
  EXPECT_EQ(pool.cleanup(), 0U) << "the first buffer is 1 ms short of its TTL";
  clock->advance(milliseconds{1});
  EXPECT_EQ(pool.cleanup(), 1U);
  auto metrics = pool.metrics();
  EXPECT_EQ(metrics.expirations, 1U);
  EXPECT_EQ(metrics.buffers_cached, 1U);
  EXPECT_EQ(metrics.size_classes[0].buffers_cached, 0U);
  EXPECT_EQ(backend->live_allocations(), 1U) << "the segment was used 5 s ago";
  clock->advance(seconds{5});
  EXPECT_EQ(pool.cleanup(), 1U);
  EXPECT_EQ(backend->live_allocations(), 0U) << "all of the segment unused for 10 s: it goes";
}

TEST_P(PoolConformance, ABufferReleasedAgainAndAgainNeverExpiresBeforeItsTtl) {
  auto settings = config();
  settings.ttl = seconds{10};
  BufferPool pool(backend, settings);
  pool.get_buffer(100).reset();
  // Hits whose releases mostly read no clock: each counts as released at the
  // pool's next clock reading, never earlier than it was.
  for (int second = 1; second <= 20; ++second) {
    clock->advance(seconds{1});
    pool.get_buffer(100).reset();
  }
  EXPECT_EQ(pool.cleanup(), 0U) << "released just now";
  clock->advance(seconds{10} - milliseconds{1});
  EXPECT_EQ(pool.cleanup(), 0U) << "1 ms short of its TTL";
  clock->advance(milliseconds{1});
  EXPECT_EQ(pool.cleanup(), 1U);
  EXPECT_EQ(pool.metrics().hits_reused, 20U);
}

TEST_P(PoolConformance, AnEmptySegmentStaysUntilItHasBeenUnusedForTheTtl) {
  auto settings = config();
  settings.ttl = seconds{10};
  settings.max_pool_size = 1;
  BufferPool pool(backend, settings);
  auto first = pool.get_buffer(KiB);
  auto second = pool.get_buffer(KiB);
  first.reset();
  clock->advance(seconds{8});
  second.reset();  // past max_pool_size: first goes back to the segment
  clock->advance(seconds{1});
  auto third = pool.get_buffer(4 * KiB);  // carved from the same segment
  third.reset();                          // second goes back; the segment holds only the idle third
  EXPECT_EQ(pool.cleanup(), 0U);
  EXPECT_EQ(pool.metrics().segments, 1U);
  clock->advance(seconds{10});
  EXPECT_EQ(pool.cleanup(), 1U) << "third has been idle 10 s";
  EXPECT_EQ(pool.metrics().segments, 0U) << "and no block of the segment was used since";
  EXPECT_EQ(backend->live_allocations(), 0U);
}

TEST_P(PoolConformance, CleanupRunsLazilyOnReleaseOnceTheIntervalHasPassed) {
  auto settings = config();
  settings.ttl = seconds{1};
  settings.cleanup_interval = seconds{30};
  BufferPool pool(backend, settings);
  pool.get_buffer(100).reset();
  clock->advance(seconds{29});
  pool.get_buffer(5000).reset();
  EXPECT_EQ(pool.metrics().expirations, 0U) << "the interval has not passed yet";
  clock->advance(seconds{1});
  pool.get_buffer(20000).reset();  // a miss and a release, 30 s after the pool began
  EXPECT_EQ(pool.metrics().expirations, 2U);
  EXPECT_EQ(pool.metrics().buffers_cached, 1U);
}

TEST_P(PoolConformance, CleanupRunsLazilyOnAMissOnceTheIntervalHasPassed) {
  auto settings = config();
  settings.ttl = seconds{1};
  settings.cleanup_interval = seconds{10};
  BufferPool pool(backend, settings);
  auto held = pool.get_buffer(100);
  pool.get_buffer(3000).reset();
  clock->advance(seconds{10});
  auto another = pool.get_buffer(50000);  // a miss: it runs the cleanup
  EXPECT_EQ(pool.metrics().expirations, 1U);
}

TEST_P(PoolConformance, TheMemoryLimitGivesIdleMemoryBackUntilTheRequestFits) {
  auto settings = config();
  settings.size_classes = {16 * KiB, 32 * KiB};
  settings.memory_limit = 64 * KiB;
  BufferPool pool(backend, settings);
  auto a = pool.get_buffer(16 * KiB);
  auto b = pool.get_buffer(16 * KiB);
  auto c = pool.get_buffer(16 * KiB);
  a.reset();
  c.reset();  // 48 KiB held, 32 KiB of it idle
  // 80 KiB would pass the limit. Near it a segment is as large as its request,
  // so each buffer here has a segment of its own. The idle buffers go back to
  // their segments (two evictions); the empty segments, too small for 32 KiB,
  // go back to the backend, and the request gets a segment of its own.
  auto big = pool.get_buffer(32 * KiB);
  const auto metrics = pool.metrics();
  EXPECT_EQ(metrics.evictions, 2U);
  EXPECT_EQ(metrics.misses, 4U);
  EXPECT_EQ(metrics.current_bytes_allocated, 48 * KiB);
  EXPECT_EQ(backend->live_allocations(), 2U);
  EXPECT_LE(backend->peak_live_bytes(), 64 * KiB) << "the backend never held more than the limit";
  EXPECT_TRUE(pool.get_buffer(16 * KiB)) << "room for one more";
}

TEST_P(PoolConformance, TheMemoryLimitFailsAtOnceAndKeepsTheCacheWhenNothingCouldMakeRoom) {
  auto settings = config();
  settings.size_classes = {16 * KiB, 32 * KiB};
  settings.memory_limit = 64 * KiB;
  BufferPool pool(backend, settings);
  auto live = pool.get_buffer(32 * KiB);
  auto other = pool.get_buffer(16 * KiB);
  pool.get_buffer(16 * KiB).reset();  // 16 KiB idle; 48 KiB live
  try {
    (void)pool.get_buffer(20 * KiB);
    FAIL() << "expected OutOfMemoryError";
  } catch (const OutOfMemoryError& error) {
    EXPECT_EQ(error.requested_bytes(), 20 * KiB);
    EXPECT_EQ(error.limit_bytes(), 64 * KiB);
    EXPECT_EQ(error.in_use_bytes(), 48 * KiB);
    const std::string message = error.what();
    EXPECT_NE(message.find("memory_limit is 64 KiB"), std::string::npos) << message;
    EXPECT_NE(message.find("20480 bytes"), std::string::npos) << message;
  }
  const auto metrics = pool.metrics();
  EXPECT_EQ(metrics.buffers_cached, 1U) << "the idle buffer was kept";
  EXPECT_EQ(metrics.evictions, 0U);
  EXPECT_EQ(metrics.failed_allocations, 1U);
  other.reset();
  EXPECT_EQ(pool.get_buffer(32 * KiB).capacity(), 32 * KiB) << "room again: it serves";
}

TEST_P(PoolConformance, ABackendOutOfMemoryFreesTheCacheAndRetriesOnceAtTheRequestsSize) {
  BufferPool pool(backend, config());
  pool.get_buffer(100).reset();
  pool.get_buffer(5000).reset();
  faults->fail_nth_allocation(1);
  // 3 MiB needs a new large segment: its allocation fails, the idle buffers
  // go back, their empty segment is freed, and a 3 MiB segment is tried.
  auto buffer = pool.get_buffer(3 * MiB);
  EXPECT_TRUE(buffer);
  EXPECT_EQ(faults->faults_injected(), 1U);
  EXPECT_EQ(pool.metrics().buffers_cached, 0U);
  EXPECT_EQ(backend->live_allocations(), 1U);
  EXPECT_EQ(backend->live_bytes(), 3 * MiB);
}

TEST_P(PoolConformance, ABackendStillOutOfMemoryAfterTheRetryFailsClearlyWithoutLeaking) {
  BufferPool pool(backend, config());
  auto live = pool.get_buffer(4 * KiB);
  pool.get_buffer(100).reset();
  faults->fail_all(true);
  try {
    (void)pool.get_buffer(3 * MiB);
    FAIL() << "expected OutOfMemoryError";
  } catch (const OutOfMemoryError& error) {
    EXPECT_EQ(error.requested_bytes(), 3 * MiB);
    EXPECT_NE(std::string(error.what()).find("even after freeing every idle buffer"),
              std::string::npos)
        << error.what();
  }
  EXPECT_EQ(faults->faults_injected(), 2U) << "one try and one retry";
  faults->fail_all(false);
  const auto metrics = pool.metrics();
  EXPECT_EQ(metrics.current_bytes_allocated, 2 * MiB) << "the small segment, still in use";
  EXPECT_EQ(backend->live_allocations(), 1U);
  EXPECT_TRUE(pool.get_buffer(3 * MiB));
}

TEST_P(PoolConformance, DestroyingThePoolWithBuffersOutLeavesThemValidUntilReleased) {
  BufferRef survivor;
  {
    BufferPool pool(backend, config());
    survivor = pool.get_buffer(3000);
    pool.get_buffer(100).reset();
    fill(survivor, 42);
  }
  EXPECT_EQ(backend->live_allocations(), 1U) << "the idle buffer went with the pool";
  EXPECT_TRUE(holds(survivor, 42));
  auto copy = survivor;
  survivor.reset();
  EXPECT_EQ(backend->live_allocations(), 1U);
  copy.reset();
  EXPECT_EQ(backend->live_allocations(), 0U);
}

TEST_P(PoolConformance, MetricsAccountForEveryByte) {
  BufferPool pool(backend, config());
  const std::size_t granule = granule_of(*backend);
  const std::size_t a_bytes = round_up(1000, granule);
  const std::size_t b_bytes = round_up(100000, granule);
  const std::size_t c_bytes = round_up(10, granule);
  auto a = pool.get_buffer(1000);
  auto b = pool.get_buffer(100000);
  pool.get_buffer(10).reset();  // idle
  auto metrics = pool.metrics();
  EXPECT_EQ(metrics.bytes_in_use, a_bytes + b_bytes);
  EXPECT_EQ(metrics.buffers_in_use, 2U);
  EXPECT_EQ(metrics.bytes_cached, c_bytes);
  EXPECT_EQ(metrics.current_bytes_allocated, 2 * MiB);
  EXPECT_EQ(metrics.bytes_free_in_segments, 2 * MiB - a_bytes - b_bytes - c_bytes);
  EXPECT_EQ(metrics.largest_free_block_bytes, metrics.bytes_free_in_segments);
  EXPECT_EQ(metrics.current_bytes_allocated,
            metrics.bytes_in_use + metrics.bytes_cached + metrics.bytes_free_in_segments);
  EXPECT_EQ(metrics.bytes_requested, 1000U + 100000U + 10U);
  EXPECT_EQ(metrics.bytes_granted, a_bytes + b_bytes + c_bytes);
  EXPECT_EQ(metrics.current_bytes_allocated, backend->live_bytes());
  b.reset();
  pool.clear();
  metrics = pool.metrics();
  EXPECT_EQ(metrics.current_bytes_allocated, 2 * MiB) << "a still uses the segment";
  EXPECT_EQ(metrics.bytes_free_in_segments, 2 * MiB - a_bytes);
  a.reset();
  pool.clear();
  metrics = pool.metrics();
  EXPECT_EQ(metrics.current_bytes_allocated, 0U);
  EXPECT_EQ(metrics.peak_bytes_allocated, 2 * MiB);
  pool.reset_peak();
  EXPECT_EQ(pool.metrics().peak_bytes_allocated, 0U);
}

TEST_P(PoolConformance, ClearFreesEveryIdleBufferAndNothingLive) {
  BufferPool pool(backend, config());
  auto live = pool.get_buffer(100);
  for (std::size_t size : {100U, 2000U, 70000U}) pool.get_buffer(size).reset();
  EXPECT_EQ(pool.clear(), 3U);
  EXPECT_EQ(backend->live_allocations(), 1U);
  EXPECT_TRUE(live);
}

}  // namespace
}  // namespace bufferpool::testing
