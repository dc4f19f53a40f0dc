// What a pool tells its observers: one event per request, release, eviction,
// expiration and segment, with addresses that name buffers the way pointers
// do.
#include <bufferpool/bufferpool.hpp>

#include "manual_timeline_backend.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <vector>

namespace bufferpool {
namespace {

using std::chrono::seconds;

class EventLog final : public PoolObserver {
 public:
  void on_event(const PoolEvent& event) noexcept override {
    const std::lock_guard lock(mutex_);
    events_.push_back(event);
  }
  std::vector<PoolEvent> take() {
    const std::lock_guard lock(mutex_);
    return std::exchange(events_, {});
  }

 private:
  std::mutex mutex_;
  std::vector<PoolEvent> events_;
};

std::vector<PoolEventKind> kinds(const std::vector<PoolEvent>& events) {
  std::vector<PoolEventKind> result;
  for (const auto& event : events) result.push_back(event.kind);
  return result;
}

using testing::ManualTimelineBackend;

struct Observed {
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>(seconds{100});
  std::shared_ptr<EventLog> log = std::make_shared<EventLog>();
};

PoolConfig manual_config(const Observed& observed) {
  PoolConfig config;
  config.clock = observed.clock;
  return config;
}

TEST(PoolEvents, AMissAHitFromFreeSpaceAndAReuseAreToldApart) {
  Observed observed;
  BufferPool pool(make_host_backend(), manual_config(observed));
  pool.add_observer(observed.log);

  auto first = pool.get_buffer(1000);
  auto events = observed.log->take();
  ASSERT_EQ(kinds(events), (std::vector{PoolEventKind::segment_allocate, PoolEventKind::allocate}));
  const PoolEvent segment = events[0];
  EXPECT_EQ(segment.capacity_bytes, std::size_t{2} << 20);
  const PoolEvent miss = events[1];
  EXPECT_FALSE(miss.hit);
  EXPECT_FALSE(miss.reused);
  EXPECT_EQ(miss.size_bytes, 1000U);
  EXPECT_EQ(miss.capacity_bytes, first.capacity());
  EXPECT_EQ(miss.segment_address, segment.address);
  EXPECT_EQ(miss.address, segment.address + first.offset_bytes());
  // Host memory is mapped: the address is the buffer's own pointer.
  EXPECT_EQ(miss.address, reinterpret_cast<std::uintptr_t>(first.data()));
  EXPECT_EQ(miss.time_ns, 100'000'000'000U);
  EXPECT_EQ(miss.class_index, 1U) << "1000 B is in the 1 KiB class";

  observed.clock->advance(seconds{1});
  auto second = pool.get_buffer(5000);
  events = observed.log->take();
  ASSERT_EQ(kinds(events), (std::vector{PoolEventKind::allocate}));
  EXPECT_TRUE(events[0].hit);
  EXPECT_FALSE(events[0].reused);
  EXPECT_NE(events[0].address, miss.address);
  EXPECT_EQ(events[0].time_ns, 101'000'000'000U);

  first.reset();
  events = observed.log->take();
  ASSERT_EQ(kinds(events), (std::vector{PoolEventKind::free}));
  EXPECT_EQ(events[0].address, miss.address);
  EXPECT_EQ(events[0].size_bytes, 1000U);
  EXPECT_FALSE(events[0].pending);

  auto again = pool.get_buffer(900);
  events = observed.log->take();
  ASSERT_EQ(kinds(events), (std::vector{PoolEventKind::allocate}));
  EXPECT_TRUE(events[0].hit);
  EXPECT_TRUE(events[0].reused);
  EXPECT_EQ(events[0].address, miss.address) << "a reused buffer keeps its address";
  EXPECT_EQ(events[0].size_bytes, 900U);
}

TEST(PoolEvents, EvictionsExpirationsAndSegmentFreesAreReported) {
  Observed observed;
  PoolConfig config = manual_config(observed);
  config.max_pool_size = 1;
  config.ttl = seconds{10};
  config.cleanup_interval = seconds{10};
  BufferPool pool(make_host_backend(), config);
  auto a = pool.get_buffer(4096);
  auto b = pool.get_buffer(4096);
  pool.add_observer(observed.log);
  const auto b_address = reinterpret_cast<std::uintptr_t>(b.data());
  a.reset();
  b.reset();  // two idle, one allowed: the older goes back to its segment
  auto events = observed.log->take();
  ASSERT_EQ(kinds(events),
            (std::vector{PoolEventKind::free, PoolEventKind::free, PoolEventKind::evict}));
  EXPECT_EQ(events[2].address, events[0].address) << "the one released longest ago goes";
  EXPECT_EQ(events[2].capacity_bytes, 4096U);
  EXPECT_EQ(events[2].size_bytes, 0U) << "the ready cache keeps no request size";

  observed.clock->advance(seconds{5});
  EXPECT_EQ(pool.cleanup(), 0U);
  EXPECT_TRUE(observed.log->take().empty()) << "younger than its TTL";

  observed.clock->advance(seconds{6});
  EXPECT_EQ(pool.cleanup(), 1U);
  events = observed.log->take();
  // The buffer expires, and its segment, unused since that buffer's release
  // a TTL ago, goes back with it.
  ASSERT_EQ(kinds(events), (std::vector{PoolEventKind::expire, PoolEventKind::segment_free}));
  EXPECT_EQ(events[0].address, b_address);
  EXPECT_EQ(events[0].capacity_bytes, 4096U);
  EXPECT_EQ(events[1].capacity_bytes, std::size_t{2} << 20);
  EXPECT_EQ(events[1].address, events[0].segment_address);
}

TEST(PoolEvents, ABufferDeviceWorkStillUsesIsPendingUntilTheWorkCompletes) {
  Observed observed;
  auto device = std::make_shared<ManualTimelineBackend>();
  BufferPool pool(device, manual_config(observed));
  pool.add_observer(observed.log);
  auto buffer = pool.get_buffer(4096);
  buffer.mark_used_until(7);
  observed.log->take();
  buffer.reset();
  auto events = observed.log->take();
  ASSERT_EQ(kinds(events), (std::vector{PoolEventKind::free}));
  EXPECT_TRUE(events[0].pending);
  const auto address = events[0].address;

  device->complete(7);
  auto other = pool.get_buffer(1 << 20);  // a miss of the ready cache reclaims finished work
  events = observed.log->take();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0].kind, PoolEventKind::free_completed);
  EXPECT_EQ(events[0].address, address);
}

TEST(PoolEvents, WithCachingOffAReleaseGoesStraightBackWithItsSegment) {
  Observed observed;
  PoolConfig config = manual_config(observed);
  config.max_pool_size = 0;
  BufferPool pool(make_host_backend(), config);
  pool.add_observer(observed.log);
  pool.get_buffer(100).reset();
  EXPECT_EQ(kinds(observed.log->take()),
            (std::vector{PoolEventKind::segment_allocate, PoolEventKind::allocate,
                         PoolEventKind::free, PoolEventKind::evict, PoolEventKind::segment_free}));
}

TEST(PoolEvents, ARefusedRequestIsReportedAsAnAllocateFailure) {
  Observed observed;
  PoolConfig config = manual_config(observed);
  config.memory_limit = std::size_t{4} << 20;
  BufferPool pool(make_host_backend(), config);
  pool.add_observer(observed.log);
  EXPECT_THROW(static_cast<void>(pool.get_buffer(std::size_t{8} << 20)), OutOfMemoryError);
  const auto events = observed.log->take();
  ASSERT_EQ(kinds(events), (std::vector{PoolEventKind::allocate_failure}));
  EXPECT_EQ(events[0].size_bytes, std::size_t{8} << 20);
}

TEST(PoolEvents, ARemovedObserverHearsNothingMore) {
  Observed observed;
  BufferPool pool(make_host_backend(), manual_config(observed));
  pool.add_observer(observed.log);
  pool.get_buffer(64).reset();
  EXPECT_FALSE(observed.log->take().empty());
  pool.remove_observer(*observed.log);
  pool.get_buffer(64).reset();
  EXPECT_TRUE(observed.log->take().empty());
  EXPECT_THROW(pool.add_observer(nullptr), UsageError);
}

TEST(PoolEvents, EveryKindHasTheNameTheWritersPrint) {
  EXPECT_STREQ(to_string(PoolEventKind::allocate), "allocate");
  EXPECT_STREQ(to_string(PoolEventKind::allocate_failure), "allocate failure");
  EXPECT_STREQ(to_string(PoolEventKind::free), "free");
  EXPECT_STREQ(to_string(PoolEventKind::free_completed), "free completed");
  EXPECT_STREQ(to_string(PoolEventKind::evict), "evict");
  EXPECT_STREQ(to_string(PoolEventKind::expire), "expire");
  EXPECT_STREQ(to_string(PoolEventKind::segment_allocate), "segment allocate");
  EXPECT_STREQ(to_string(PoolEventKind::segment_free), "segment free");
}

}  // namespace
}  // namespace bufferpool
