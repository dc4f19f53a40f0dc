// Tests of the replay harness: the simulations of PyTorch's caching
// allocator and MLX's buffer cache on traces small enough to work out by
// hand, and the three policies side by side. The trace reader and the
// library's replay are tested in tests/observe/.
#include "replay/mlx_policy.hpp"
#include "replay/policies.hpp"
#include "replay/pytorch_policy.hpp"

#include <bufferpool/trace.hpp>

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

namespace bufferpool::bench {
namespace {

constexpr std::size_t kKiB = 1024;
constexpr std::size_t kMiB = 1024 * kKiB;

Trace parse(const std::string& text, const std::string& name = "test.csv") {
  std::istringstream input(text);
  return parse_trace(input, name, "test");
}

// ---- PyTorch's caching allocator ----

TEST(PytorchPolicy, RoundsAndSizesSegmentsAsPytorch) {
  EXPECT_EQ(PytorchCachingPolicy::round_size(1), 512U);
  EXPECT_EQ(PytorchCachingPolicy::round_size(512), 512U);
  EXPECT_EQ(PytorchCachingPolicy::round_size(513), 1024U);
  EXPECT_EQ(PytorchCachingPolicy::segment_size_for(512), 2 * kMiB);
  EXPECT_EQ(PytorchCachingPolicy::segment_size_for(kMiB), 2 * kMiB);
  EXPECT_EQ(PytorchCachingPolicy::segment_size_for(kMiB + 512), 20 * kMiB);
  EXPECT_EQ(PytorchCachingPolicy::segment_size_for(10 * kMiB - 512), 20 * kMiB);
  EXPECT_EQ(PytorchCachingPolicy::segment_size_for(10 * kMiB), 10 * kMiB);
  EXPECT_EQ(PytorchCachingPolicy::segment_size_for(10 * kMiB + 512), 12 * kMiB);
}

TEST(PytorchPolicy, SmallPoolSplitsAndCoalesces) {
  PytorchCachingPolicy policy;
  // 1000 B -> 1 KiB, cut from a new 2 MiB segment (the rest, >= 512 B, split off).
  const auto a = policy.allocate(1000);
  EXPECT_EQ(policy.block_size(a), kKiB);
  const std::uint64_t base = policy.block_address(a);
  // 3000 B -> 3 KiB, from the remainder, right after a.
  const auto b = policy.allocate(3000);
  EXPECT_EQ(policy.block_size(b), 3 * kKiB);
  EXPECT_EQ(policy.block_address(b), base + kKiB);
  EXPECT_EQ(policy.stats().segment_allocations, 1U);
  // a's 1 KiB cannot merge with b (in use): two free blocks.
  policy.free(a);
  EXPECT_EQ(policy.free_blocks(), 2U);
  // 600 B -> 1 KiB: best fit is a's block, an exact fit, not the big remainder.
  const auto c = policy.allocate(600);
  EXPECT_EQ(policy.block_address(c), base);
  EXPECT_EQ(policy.block_size(c), kKiB);
  // Freeing b and c merges the whole segment into one 2 MiB block.
  policy.free(b);
  policy.free(c);
  EXPECT_EQ(policy.free_blocks(), 1U);
  // 1 MiB (still "small") and 1 MiB - 512 B share the coalesced segment;
  // the 512 B left is split off (>= kMinBlockSize) and serves 100 B.
  const auto d = policy.allocate(kMiB);
  const auto e = policy.allocate(kMiB - 512);
  EXPECT_EQ(policy.block_address(d), base);
  EXPECT_EQ(policy.block_address(e), base + kMiB);
  EXPECT_EQ(policy.block_size(e), kMiB - 512);
  EXPECT_EQ(policy.free_blocks(), 1U);
  const auto f = policy.allocate(100);
  EXPECT_EQ(policy.block_address(f), base + 2 * kMiB - 512);
  EXPECT_EQ(policy.free_blocks(), 0U);
  // The segment is full: 512 B needs a second one.
  (void)policy.allocate(512);
  EXPECT_EQ(policy.stats().requests, 7U);
  EXPECT_EQ(policy.stats().requests_from_cache, 5U);  // b, c, d, e, f
  EXPECT_EQ(policy.stats().segment_allocations, 2U);
  EXPECT_EQ(policy.stats().held_bytes, 4 * kMiB);
  EXPECT_EQ(policy.stats().peak_held_bytes, 4 * kMiB);
  EXPECT_EQ(policy.stats().allocated_bytes, 2 * kMiB + 512);
}

TEST(PytorchPolicy, LargePoolSplitsOnlyAboveOneMebibyte) {
  PytorchCachingPolicy policy;
  // 3 MiB: a new 20 MiB segment; the 17 MiB remainder is split off.
  const auto g = policy.allocate(3 * kMiB);
  EXPECT_EQ(policy.block_size(g), 3 * kMiB);
  // 16.5 MiB fits the 17 MiB remainder; 0.5 MiB left is not > 1 MiB: no split.
  const auto h = policy.allocate(16 * kMiB + 512 * kKiB);
  EXPECT_EQ(policy.block_size(h), 17 * kMiB);
  EXPECT_EQ(policy.stats().segment_allocations, 1U);
  // 2.5 MiB reuses g's 3 MiB block whole.
  policy.free(g);
  const auto i = policy.allocate(2 * kMiB + 512 * kKiB);
  EXPECT_EQ(policy.block_size(i), 3 * kMiB);
  // 12 MiB + 1: its own segment of 14 MiB; 2096640 B left, > 1 MiB: split.
  const auto j = policy.allocate(12 * kMiB + 1);
  EXPECT_EQ(policy.block_size(j), 12 * kMiB + 512);
  EXPECT_EQ(policy.stats().segment_allocations, 2U);
  EXPECT_EQ(policy.stats().held_bytes, 34 * kMiB);
  // Freeing h and i coalesces the first segment to one 20 MiB block.
  policy.free(h);
  policy.free(i);
  EXPECT_EQ(policy.free_blocks(), 2U);
  // 1.5 MiB: best fit is the 2096640 B remainder of the second segment.
  const auto k = policy.allocate(kMiB + 512 * kKiB);
  EXPECT_EQ(policy.block_size(k), 14 * kMiB - (12 * kMiB + 512));
  EXPECT_EQ(policy.block_address(k), policy.block_address(j) + 12 * kMiB + 512);
  EXPECT_EQ(policy.stats().segment_allocations, 2U);
  EXPECT_EQ(policy.stats().peak_held_bytes, 34 * kMiB);
  // 19 MiB takes the free 20 MiB block; exactly 1 MiB left is not split.
  const auto l = policy.allocate(19 * kMiB);
  EXPECT_EQ(policy.block_size(l), 20 * kMiB);
  EXPECT_EQ(policy.free_blocks(), 0U);
  EXPECT_EQ(policy.stats().segment_allocations, 2U);
}

// ---- MLX's buffer cache ----

TEST(MlxPolicy, RoundsAbovePageToWholePages) {
  EXPECT_EQ(MlxBufferCachePolicy::rounded_size(100), 100U);
  EXPECT_EQ(MlxBufferCachePolicy::rounded_size(16 * kKiB), 16 * kKiB);
  EXPECT_EQ(MlxBufferCachePolicy::rounded_size(16 * kKiB + 1), 32 * kKiB);
  EXPECT_EQ(MlxBufferCachePolicy::rounded_size(100'000), std::size_t{7} * 16 * kKiB);
}

TEST(MlxPolicy, ReusesWithinTheWindowOnly) {
  MlxBufferCachePolicy policy;
  const auto a = policy.allocate(100);
  policy.free(a);
  // 60 B: window [60, min(120, 60 + 32 KiB)) holds 100: reused.
  const auto b = policy.allocate(60);
  EXPECT_EQ(b, a);
  EXPECT_EQ(policy.buffer_length(b), 100U);
  policy.free(b);
  // 50 B: window [50, 100) ends just before 100: a new buffer.
  const auto edge = policy.allocate(50);
  EXPECT_NE(edge, a);
  policy.free(edge);
  // 20 B: window [20, 40) holds neither 50 nor 100: a new buffer.
  const auto c = policy.allocate(20);
  EXPECT_NE(c, a);
  EXPECT_EQ(policy.stats().device_allocations, 3U);

  // Above a page: 100000 B -> 7 pages (114688 B).
  const auto d = policy.allocate(100'000);
  EXPECT_EQ(policy.buffer_length(d), 114'688U);
  policy.free(d);
  // 60000 B -> 4 pages; window [65536, 98304) (2 pages more): 114688 is out.
  const auto e = policy.allocate(60'000);
  EXPECT_NE(e, d);
  EXPECT_EQ(policy.buffer_length(e), 65'536U);
  // 90000 B -> 6 pages; window [98304, 131072): 114688 is in.
  const auto f = policy.allocate(90'000);
  EXPECT_EQ(f, d);
  EXPECT_EQ(policy.stats().requests, 7U);
  EXPECT_EQ(policy.stats().requests_from_cache, 2U);
  EXPECT_EQ(policy.stats().device_allocations, 5U);
  // Held at the peak: 100 and 50 (cached) + 20 + 114688 + 65536.
  EXPECT_EQ(policy.stats().peak_held_bytes, 100U + 50U + 20U + 114'688U + 65'536U);
}

TEST(MlxPolicy, TakesTheSmallestCachedBufferThatFits) {
  MlxBufferCachePolicy policy;
  const auto large = policy.allocate(200);
  const auto small = policy.allocate(150);
  policy.free(large);
  policy.free(small);
  EXPECT_EQ(policy.allocate(120), small);
  EXPECT_EQ(policy.allocate(120), large);
}

TEST(MlxPolicy, EvictsLeastRecentlyFreedOnlyPastTheLimit) {
  MlxBufferCachePolicy policy(1000);
  const auto x = policy.allocate(600);
  const auto y = policy.allocate(600);
  policy.free(x);
  policy.free(y);  // the cache (600 B) was under its limit: cached too
  EXPECT_EQ(policy.cached_buffers(), 2U);
  EXPECT_EQ(policy.stats().device_frees, 0U);
  // A miss finds 1200 B cached, 200 B over: the oldest, x, goes.
  (void)policy.allocate(5000);
  EXPECT_EQ(policy.cached_buffers(), 1U);
  EXPECT_EQ(policy.stats().device_frees, 1U);
  EXPECT_EQ(policy.allocate(600), y);

  MlxBufferCachePolicy unlimited;
  for (int round = 0; round < 100; ++round) unlimited.free(unlimited.allocate(1000 + round * 64));
  EXPECT_EQ(unlimited.stats().device_frees, 0U);
}

// ---- replays ----

Trace repeated_trace(std::size_t size_bytes, int rounds) {
  std::string text = "Thread,Time,Action,Pointer,Size,Stream\n";
  for (int round = 0; round < rounds; ++round) {
    const std::string size = std::to_string(size_bytes);
    text += "7," + std::to_string(round * 1000) + ",allocate,0x1000," + size + ",0x0\n";
    text += "7," + std::to_string(round * 1000 + 500) + ",free,0x1000," + size + ",0x0\n";
  }
  return parse(text);
}

TEST(PolicyReplay, AllPoliciesReuseARepeatedRequest) {
  const Trace trace = repeated_trace(4096, 10);
  const PolicyResult pool = replay_bufferpool(trace, PoolConfig{}, "default");
  EXPECT_EQ(pool.requests, 10U);
  EXPECT_EQ(pool.device_allocations, 1U);
  EXPECT_EQ(pool.requests_without_device_allocation, 9U);
  EXPECT_EQ(pool.peak_live_bytes, 4096U);
  EXPECT_EQ(pool.failed_requests, 0U);
  ASSERT_TRUE(pool.pool.has_value());
  EXPECT_EQ(pool.pool->hits + pool.pool->misses, 10U);

  const PolicyResult pytorch = replay_pytorch(trace);
  EXPECT_EQ(pytorch.device_allocations, 1U);
  EXPECT_EQ(pytorch.peak_held_bytes, 2 * kMiB);
  EXPECT_DOUBLE_EQ(pytorch.held_over_live(), 512.0);

  const PolicyResult mlx = replay_mlx(trace);
  EXPECT_EQ(mlx.device_allocations, 1U);
  EXPECT_EQ(mlx.peak_held_bytes, 4096U);
  EXPECT_DOUBLE_EQ(mlx.served_without_allocation(), 0.9);
}

TEST(PolicyReplay, PoolTimeFollowsTheTrace) {
  // A buffer idle for 10 minutes is past the default TTL (60 s) when the
  // next miss runs cleanup; idle for 1 ms, it is not.
  const auto trace_with_gap = [](const std::string& second_request_time) {
    return parse(
        "Thread,Time,Action,Pointer,Size,Stream\n"
        "1,00:00:00.000000,allocate,0x1000,4096,0x0\n"
        "1,00:00:00.000100,free,0x1000,4096,0x0\n"
        "1," +
        second_request_time +
        ",allocate,0x2000,1048576,0x0\n"
        "1," +
        second_request_time + ",free,0x2000,1048576,0x0\n");
  };
  const PolicyResult late =
      replay_bufferpool(trace_with_gap("00:10:00.000000"), PoolConfig{}, "default");
  ASSERT_TRUE(late.pool.has_value());
  EXPECT_GE(late.pool->expirations, 1U);
  const PolicyResult soon =
      replay_bufferpool(trace_with_gap("00:00:00.001000"), PoolConfig{}, "default");
  ASSERT_TRUE(soon.pool.has_value());
  EXPECT_EQ(soon.pool->expirations, 0U);
}

}  // namespace
}  // namespace bufferpool::bench
