// Streams: buffers released to a stream serve that stream's later requests
// and nobody else's until it closes; then they wait for the device as any
// release does.
#include "manual_timeline_backend.hpp"

#include <bufferpool/errors.hpp>
#include <bufferpool/host_backend.hpp>
#include <bufferpool/pool.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace bufferpool::testing {
namespace {

using Place = std::pair<std::uint64_t, std::size_t>;

Place place_of(const BufferRef& buffer) { return {buffer.native_handle(), buffer.offset_bytes()}; }

TEST(Streams, AKeptBufferServesItsOwnStreamOnly) {
  BufferPool pool(make_host_backend());
  const StreamId stream = pool.open_stream();
  const StreamId other = pool.open_stream();
  EXPECT_NE(stream, StreamId::none);
  EXPECT_NE(stream, other);
  auto buffer = pool.get_buffer(1000);
  const Place kept = place_of(buffer);
  pool.release_to_stream(buffer, stream);
  EXPECT_FALSE(buffer) << "the handle is empty after its release";

  auto metrics = pool.metrics();
  EXPECT_EQ(metrics.buffers_kept_for_streams, 1U);
  EXPECT_EQ(metrics.bytes_kept_for_streams, pool.capacity_for(1000));
  EXPECT_EQ(metrics.buffers_in_use, 0U);
  EXPECT_EQ(metrics.buffers_cached, 0U) << "a kept buffer is not in the ready cache";
  EXPECT_EQ(metrics.open_streams, 2U);

  auto plain = pool.get_buffer(1000);
  auto on_other = pool.get_buffer(1000, other);
  EXPECT_NE(place_of(plain), kept);
  EXPECT_NE(place_of(on_other), kept);
  const auto before = pool.metrics();
  auto again = pool.get_buffer(900, stream);
  EXPECT_EQ(place_of(again), kept);
  EXPECT_EQ(again.size(), 900U);
  EXPECT_EQ(again.ref_count(), 1U);
  metrics = pool.metrics();
  EXPECT_EQ(metrics.stream_reuses, 1U);
  EXPECT_EQ(metrics.hits_reused, before.hits_reused + 1);
  EXPECT_EQ(metrics.misses, before.misses);
  EXPECT_EQ(metrics.buffers_kept_for_streams, 0U);
  EXPECT_EQ(metrics.buffers_in_use, 3U);
  EXPECT_EQ(pool.check_segments(), "");
}

TEST(Streams, ARequestTooSmallForTheKeptBufferIsServedElsewhere) {
  BufferPool pool(make_host_backend());
  const StreamId stream = pool.open_stream();
  auto big = pool.get_buffer(64 * 1024);
  const Place kept = place_of(big);
  pool.release_to_stream(big, stream);
  // A quarter of it would waste more than an eighth.
  auto small = pool.get_buffer(16 * 1024, stream);
  EXPECT_NE(place_of(small), kept);
  EXPECT_EQ(pool.metrics().buffers_kept_for_streams, 1U);
  EXPECT_EQ(pool.metrics().stream_reuses, 0U);
}

TEST(Streams, ClosingAStreamMakesItsBuffersReusableByAnyone) {
  BufferPool pool(make_host_backend());
  const StreamId stream = pool.open_stream();
  auto buffer = pool.get_buffer(4096);
  const Place kept = place_of(buffer);
  pool.release_to_stream(buffer, stream);
  pool.close_stream(stream);
  auto metrics = pool.metrics();
  EXPECT_EQ(metrics.buffers_kept_for_streams, 0U);
  EXPECT_EQ(metrics.buffers_cached, 1U);
  EXPECT_EQ(metrics.open_streams, 0U);
  EXPECT_EQ(place_of(pool.get_buffer(4096)), kept);
  EXPECT_EQ(pool.check_segments(), "");
}

TEST(Streams, OnlyTheLastReferenceIsKept) {
  BufferPool pool(make_host_backend());
  const StreamId stream = pool.open_stream();
  auto buffer = pool.get_buffer(256);
  auto copy = buffer;
  pool.release_to_stream(buffer, stream);
  EXPECT_FALSE(buffer);
  EXPECT_EQ(copy.ref_count(), 1U);
  EXPECT_EQ(pool.metrics().buffers_kept_for_streams, 0U);
  pool.release_to_stream(copy, stream);
  EXPECT_EQ(pool.metrics().buffers_kept_for_streams, 1U);
}

TEST(Streams, NamingAStreamThatIsNotOpenIsAnError) {
  BufferPool pool(make_host_backend());
  BufferPool other_pool(make_host_backend());
  const StreamId stream = pool.open_stream();
  pool.close_stream(stream);
  auto buffer = pool.get_buffer(256);
  EXPECT_THROW(pool.release_to_stream(buffer, stream), UsageError);
  EXPECT_TRUE(buffer) << "a refused release leaves the handle as it was";
  EXPECT_THROW((void)pool.get_buffer(256, stream), UsageError);
  EXPECT_THROW((void)pool.get_buffer(256, StreamId{12345}), UsageError);
  auto foreign = other_pool.get_buffer(256);
  const StreamId open = pool.open_stream();
  EXPECT_THROW(pool.release_to_stream(foreign, open), UsageError);
  EXPECT_TRUE(foreign);
  // StreamId::none is no stream: a plain release and a plain request.
  pool.release_to_stream(buffer, StreamId::none);
  EXPECT_FALSE(buffer);
  EXPECT_EQ(pool.metrics().buffers_cached, 1U);
  EXPECT_TRUE(pool.get_buffer(256, StreamId::none));
  pool.close_stream(stream);  // closed already: nothing happens
}

TEST(Streams, AClosedStreamsBuffersWaitForItsLastSubmission) {
  auto backend = std::make_shared<ManualTimelineBackend>();
  BufferPool pool(backend);
  const StreamId stream = pool.open_stream();
  auto buffer = pool.get_buffer(4096);
  const Place kept = place_of(buffer);
  buffer.mark_used_until(3);
  pool.release_to_stream(buffer, stream);
  // The stream's last submission, 7, used the buffer after its handle went.
  pool.close_stream(stream, 7);
  EXPECT_EQ(pool.metrics().buffers_pending_gpu, 1U);
  backend->complete(6);
  auto during = pool.get_buffer(4096);
  EXPECT_NE(place_of(during), kept) << "reused before the stream's last submission ended";
  backend->complete(7);
  pool.cleanup();
  EXPECT_EQ(pool.metrics().buffers_pending_gpu, 0U);
  EXPECT_EQ(place_of(pool.get_buffer(4096)), kept);
}

TEST(Streams, AStreamReuseKeepsTheDeviceUseOfTheBuffer) {
  auto backend = std::make_shared<ManualTimelineBackend>();
  BufferPool pool(backend);
  const StreamId stream = pool.open_stream();
  auto buffer = pool.get_buffer(4096);
  buffer.mark_used_until(5);
  pool.release_to_stream(buffer, stream);
  // Reused inside the stream at once, with the device not done: the stream
  // orders the new use after the old one.
  auto reused = pool.get_buffer(4096, stream);
  ASSERT_EQ(pool.metrics().stream_reuses, 1U);
  reused.reset();
  EXPECT_EQ(pool.metrics().buffers_pending_gpu, 1U)
      << "the release of a stream-reused buffer must still wait for its earlier device work";
}

TEST(Streams, ASnapshotShowsKeptBuffersAsPending) {
  BufferPool pool(make_host_backend());
  const StreamId stream = pool.open_stream();
  auto buffer = pool.get_buffer(4096);
  pool.release_to_stream(buffer, stream);
  std::size_t pending = 0;
  for (const auto& segment : pool.snapshot().segments) {
    for (const auto& block : segment.blocks) pending += block.state == BlockState::pending ? 1 : 0;
  }
  EXPECT_EQ(pending, 1U);
  EXPECT_TRUE(pool.live_buffers().empty()) << "a kept buffer is no leak";
}

TEST(Streams, APoolDestroyedWithAStreamOpenGivesItsBuffersBack) {
  auto backend = std::make_shared<ManualTimelineBackend>();
  {
    BufferPool pool(backend);
    const StreamId stream = pool.open_stream();
    auto buffer = pool.get_buffer(4096);
    buffer.mark_used_until(9);
    pool.release_to_stream(buffer, stream);
  }
  // It waited for the device work marked on the kept buffer before freeing it.
  EXPECT_EQ(backend->waited_for(), 9U);
}

TEST(Streams, ManyBuffersCycleThroughOneStreamWithoutNewMemory) {
  BufferPool pool(make_host_backend());
  const StreamId stream = pool.open_stream();
  // A chain whose every link dies one step later: two buffers serve it all.
  auto previous = pool.get_buffer(1 << 16, stream);
  for (int step = 0; step < 100; ++step) {
    auto next = pool.get_buffer(1 << 16, stream);
    pool.release_to_stream(previous, stream);
    previous = std::move(next);
  }
  const auto metrics = pool.metrics();
  EXPECT_EQ(metrics.stream_reuses, 99U);
  EXPECT_EQ(metrics.buffers_in_use + metrics.buffers_kept_for_streams, 2U);
  EXPECT_EQ(metrics.misses, 1U);
}

}  // namespace
}  // namespace bufferpool::testing
