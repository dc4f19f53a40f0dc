#include <bufferpool/bufferpool.hpp>

#include <gtest/gtest.h>

#include <cstring>

namespace bufferpool {
namespace {

TEST(BufferRef, ADefaultHandleIsEmpty) {
  BufferRef empty;
  EXPECT_FALSE(empty);
  EXPECT_EQ(empty.ref_count(), 0U);
  EXPECT_EQ(empty.size(), 0U);
  EXPECT_EQ(empty.capacity(), 0U);
  EXPECT_FALSE(empty.host_visible());
  EXPECT_THROW((void)empty.data(), UsageError);
  EXPECT_THROW(empty.increment(), UsageError);
  EXPECT_THROW(empty.decrement(), UsageError);
  EXPECT_NO_THROW(empty.reset());
}

TEST(BufferRef, IncrementsAreSharedByAllHandlesOfTheBuffer) {
  BufferPool pool(make_host_backend());
  auto first = pool.get_buffer(100);
  auto second = first;
  first.increment();
  EXPECT_EQ(second.ref_count(), 3U);
  // second drops the increment first handle made: the count is the buffer's.
  second.decrement();
  EXPECT_TRUE(second);
  EXPECT_EQ(first.ref_count(), 2U);
  second.decrement();  // no increment left: drops second's own reference
  EXPECT_FALSE(second);
  EXPECT_EQ(first.ref_count(), 1U);
  EXPECT_EQ(pool.metrics().buffers_in_use, 1U);
  first.decrement();
  EXPECT_EQ(pool.metrics().buffers_in_use, 0U);
  EXPECT_EQ(pool.metrics().buffers_cached, 1U);
}

TEST(BufferRef, AnOutstandingIncrementKeepsTheBufferOutOfThePool) {
  BufferPool pool(make_host_backend());
  auto buffer = pool.get_buffer(100);
  buffer.increment();
  auto keeper = buffer;
  buffer.reset();
  keeper.decrement();  // drops the increment, keeper still holds its reference
  EXPECT_EQ(pool.metrics().buffers_in_use, 1U);
  keeper.reset();
  EXPECT_EQ(pool.metrics().buffers_in_use, 0U);
}

TEST(BufferRef, SelfAssignmentKeepsTheReference) {
  BufferPool pool(make_host_backend());
  auto buffer = pool.get_buffer(100);
  auto& alias = buffer;
  buffer = alias;
  EXPECT_EQ(buffer.ref_count(), 1U);
  buffer = std::move(alias);
  EXPECT_TRUE(buffer);
  EXPECT_EQ(buffer.ref_count(), 1U);
}

TEST(BufferRef, AssignmentReleasesWhatTheHandleHeld) {
  BufferPool pool(make_host_backend());
  auto first = pool.get_buffer(100);
  auto second = pool.get_buffer(100);
  first = second;
  EXPECT_EQ(first, second);
  EXPECT_EQ(first.ref_count(), 2U);
  EXPECT_EQ(pool.metrics().buffers_cached, 1U);
}

TEST(BufferRef, DataIsWritableAcrossTheWholeCapacity) {
  BufferPool pool(make_host_backend());
  auto buffer = pool.get_buffer(3000);
  ASSERT_TRUE(buffer.host_visible());
  std::memset(buffer.data(), 0xab, buffer.capacity());
  EXPECT_EQ(buffer.bytes().size(), 3000U);
  EXPECT_EQ(buffer.bytes()[2999], std::byte{0xab});
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(buffer.data()) % 64, 0U) << "64-byte aligned";
}

}  // namespace
}  // namespace bufferpool
