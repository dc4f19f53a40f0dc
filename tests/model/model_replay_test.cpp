// Replays the checked-in fuzz corpus (tests/model/corpus) and a fixed set of
// generated inputs against the reference model, deterministically: the same
// bytes give the same operations on every run and every machine.
#include "model_runner.hpp"
#include "simulated_backend.hpp"

#include <bufferpool/bufferpool.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <vector>

namespace bufferpool::model {
namespace {

std::vector<std::uint8_t> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<std::uint8_t> bytes(std::initializer_list<int> values) {
  std::vector<std::uint8_t> result;
  for (const int value : values) result.push_back(static_cast<std::uint8_t>(value));
  return result;
}

TEST(ModelReplay, EveryCorpusInputAgreesWithTheModel) {
  const std::filesystem::path corpus = BUFFERPOOL_MODEL_CORPUS_DIR;
  std::vector<std::filesystem::path> inputs;
  for (const auto& entry : std::filesystem::directory_iterator(corpus)) {
    if (entry.is_regular_file()) inputs.push_back(entry.path());
  }
  std::sort(inputs.begin(), inputs.end());
  ASSERT_GE(inputs.size(), 10U) << "the corpus in " << corpus << " is missing";
  RunStats total;
  for (const auto& path : inputs) {
    const auto input = read_file(path);
    const auto failure = run_against_model(input, &total);
    EXPECT_FALSE(failure) << path.filename() << ": " << *failure;
  }
  std::cout << "corpus: " << describe(total) << "\n";
  // The corpus must keep reaching every path of the segments, the limits and
  // the retries: a corpus that stops reaching one no longer tests it.
  for (const auto& [path, count] : total.coverage.fields()) {
    EXPECT_GT(count, 0U) << "no corpus input reaches " << path;
  }
  EXPECT_GT(total.out_of_memory_errors, 0U);
  EXPECT_GT(total.backend_errors, 0U);
  EXPECT_GT(total.zeroed_checks, 0U);
}

TEST(ModelReplay, GeneratedInputsAgreeWithTheModel) {
  // Fixed seeds: the same 300 inputs on every run.
  RunStats total;
  for (std::uint32_t seed = 1; seed <= 300; ++seed) {
    std::mt19937 random(seed);
    std::vector<std::uint8_t> input(8 + 4 * (50 + random() % 400));
    for (auto& byte : input) byte = static_cast<std::uint8_t>(random());
    const auto failure = run_against_model(input, &total);
    ASSERT_FALSE(failure) << "seed " << seed << ": " << *failure;
  }
  std::cout << "generated: " << describe(total) << "\n";
}

// Hand-written sequences for the clauses the contract names, so that a reader
// can see the format at work. Header (8 bytes): default classes, 64 idle
// buffers, no limits, ttl 60 s, interval 60 s, unlimited simulated device,
// default segments (2 MiB small, 20 MiB large); byte 4 = 1 picks 4 KiB small
// segments for requests up to 1 KiB, 16 KiB large ones below 8 KiB.
TEST(ModelReplay, HandWrittenSequencesAgreeWithTheModel) {
  const std::vector<std::vector<std::uint8_t>> sequences = {
      // get 1000 into slot 0, reset it, get 900 into slot 1 (a hit, reused).
      bytes({0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 231, 3, 7, 0, 0, 0, 1, 1, 131, 3}),
      // increment, decrement twice, decrement on the now empty handle.
      bytes(
          {0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 5, 0, 9, 0, 0, 0, 10, 0, 0, 0, 10, 0, 0, 0, 10, 0, 0, 0}),
      // scope: open, get, add, reset the slot, close the scope (the buffer returns).
      bytes(
          {0, 0, 0, 0, 0, 0, 0, 0, 12, 0, 0, 0, 0, 1, 9, 9, 13, 0, 0, 0, 7, 0, 0, 0, 14, 0, 0, 0}),
      // device: get, mark used until 1, reset (pending), get (carved), complete, cleanup.
      bytes({0, 0, 0, 0, 0, 0, 0, 0, 0,  1, 9, 9, 19, 0, 0, 0,
             7, 0, 0, 0, 1, 1, 9, 9, 20, 0, 0, 0, 17, 0, 0, 0}),
      // fault: fail the next allocation once, then a get that retries and succeeds.
      bytes(
          {0, 0, 0, 0, 0, 0, 0, 0, 21, 0, 0, 0, 0, 1, 9, 9, 21, 1, 0, 0, 1, 1, 9, 9, 21, 2, 0, 0}),
      // TTL: get, reset, advance by ttl - 1 then 1 ns, cleanup each time: the
      // buffer expires, then its empty segment goes back.
      bytes({0,  0, 0, 0, 0,  0, 0, 0, 0,  1, 9, 9, 7,  0, 0, 0,
             16, 4, 0, 0, 17, 0, 0, 0, 16, 0, 0, 0, 17, 0, 0, 0}),
      // Pool replaced while a buffer is out (max_pool_size 1, memory limit 64 KiB).
      bytes({0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 9, 9, 23, 2, 3, 0, 0, 0, 0, 0, 1, 1, 9, 9, 7, 0, 0, 0}),
  };
  for (std::size_t index = 0; index < sequences.size(); ++index) {
    const auto failure = run_against_model(sequences[index]);
    EXPECT_FALSE(failure) << "sequence " << index << ": " << *failure;
  }
}

/// Writes operations in the runner's format, for sequences a reader can follow.
class Ops {
 public:
  explicit Ops(std::array<std::uint8_t, 8> header) : bytes_(header.begin(), header.end()) {}
  /// slot = get_buffer(size), for 1 <= size <= 64 KiB.
  Ops& get(unsigned slot, std::size_t size) {
    return op(get_opcode(slot), 3, static_cast<int>((size - 1) >> 8),
              static_cast<int>((size - 1) & 0xFF));
  }
  /// slot = get_buffer(2^(8 + power) * (1 + steps / 256)).
  Ops& get_power(unsigned slot, int power, int steps) {
    return op(get_opcode(slot), 4, power, steps);
  }
  Ops& reset(unsigned slot) { return op(7, static_cast<int>(slot), 0, 0); }
  Ops& clear() { return op(18, 0, 0, 0); }
  Ops& cleanup() { return op(17, 0, 0, 0); }
  /// Advances the clock by the pool's ttl.
  Ops& advance_ttl() { return op(16, 3, 0, 0); }
  Ops& fail_next_allocation() { return op(21, 0, 0, 0); }
  Ops& op(int a, int b, int c, int d) {
    for (const int value : {a, b, c, d}) bytes_.push_back(static_cast<std::uint8_t>(value));
    return *this;
  }
  [[nodiscard]] const std::vector<std::uint8_t>& bytes() const { return bytes_; }

 private:
  static int get_opcode(unsigned slot) {
    // The runner's get target is (opcode / 24 * 5 + opcode % 24) % 12.
    return slot < 5    ? static_cast<int>(slot)
           : slot < 10 ? 24 + static_cast<int>(slot) - 5
                       : 48 + static_cast<int>(slot) - 10;
  }
  std::vector<std::uint8_t> bytes_;
};

/// Runs `ops` against the model and returns what the model saw it do.
ModelCoverage run_agreeing(const Ops& ops) {
  RunStats stats;
  const auto failure = run_against_model(ops.bytes(), &stats);
  EXPECT_FALSE(failure) << *failure;
  return stats.coverage;
}

constexpr std::array<std::uint8_t, 8> kDefaults{};
/// 4 KiB small segments for requests up to 1 KiB (segment setting 1).
constexpr std::array<std::uint8_t, 8> kTinySegments{0, 0, 0, 0, 1, 0, 0, 0};

// The ready cache looks at the 8 newest idle buffers of the request's class,
// no further: a 4096-byte idle buffer behind 7 newer 1280-byte ones serves a
// request of 4000, behind 8 it does not (the request is carved instead).
TEST(ModelReplay, ReuseLooksAtTheEightNewestIdleBuffersOfTheClass) {
  for (const unsigned newer : {7U, 8U}) {
    SCOPED_TRACE(newer);
    Ops ops(kDefaults);
    ops.get(0, 4096);
    for (unsigned slot = 1; slot <= newer; ++slot) ops.get(slot, 1025);
    for (unsigned slot = 0; slot <= newer; ++slot) ops.reset(slot);
    ops.get(11, 4000);
    const ModelCoverage seen = run_agreeing(ops);
    EXPECT_EQ(seen.hits_reused, newer == 7 ? 1U : 0U);
  }
}

/// A pool on the simulated backend whose small segments hold exactly three
/// 1 KiB buffers (no smaller first segment: half of 3 KiB cannot hold two).
BufferPool three_kib_segments_pool() {
  PoolConfig config;
  config.segments = {1024, 3072, 8192, 16384, 4096};
  return BufferPool(std::make_shared<SimulatedBackend>(), config);
}

// Free blocks of the same size: the one that became free first is carved.
TEST(ModelReplay, OfFreeBlocksOfEqualSizeTheFirstFreedIsCarved) {
  for (const bool second_first : {false, true}) {
    SCOPED_TRACE(second_first);
    // Through the model (segment setting 1: 4 KiB segments): segment 1
    // holds slots 0-3, segment 2 slots 4-7, segment 3 slots 8-9.
    Ops ops(kTinySegments);
    for (unsigned slot = 0; slot < 10; ++slot) ops.get(slot, 1024);
    ops.reset(second_first ? 5 : 1).clear().reset(second_first ? 1 : 5).clear();
    ops.get(11, 1024);
    const ModelCoverage seen = run_agreeing(ops);
    EXPECT_EQ(seen.best_fit_ties, 1U);
    EXPECT_EQ(seen.hits_carved, 8U);
    // On the pool: segment 1 or 2 at offset 1024.
    BufferPool pool = three_kib_segments_pool();
    std::vector<BufferRef> held;
    for (int i = 0; i < 6; ++i) held.push_back(pool.get_buffer(1024));
    held[second_first ? 4 : 1].reset();
    pool.clear();
    held[second_first ? 1 : 4].reset();
    pool.clear();
    const BufferRef taken = pool.get_buffer(1024);
    EXPECT_EQ(taken.native_handle(), second_first ? 2U : 1U);
    EXPECT_EQ(taken.offset_bytes(), 1024U);
  }
}

// Best fit by size, not by age: a 1 KiB hole is taken before an older 2 KiB
// one, and a carve takes the lower end of its block.
TEST(ModelReplay, TheSmallestFreeBlockThatFitsIsCarved) {
  BufferPool pool = three_kib_segments_pool();
  std::vector<BufferRef> held;
  for (int i = 0; i < 6; ++i) held.push_back(pool.get_buffer(1024));
  held[1].reset();
  held[2].reset();  // segment 1: a 2 KiB hole at 1024
  held[4].reset();  // segment 2: a 1 KiB hole at 1024
  pool.clear();
  const BufferRef taken = pool.get_buffer(700);
  EXPECT_EQ(taken.native_handle(), 2U);
  EXPECT_EQ(taken.offset_bytes(), 1024U);
  const BufferRef next = pool.get_buffer(700);
  EXPECT_EQ(next.native_handle(), 1U) << "the lower end of the 2 KiB hole";
  EXPECT_EQ(next.offset_bytes(), 1024U);
  EXPECT_EQ(pool.metrics().hits_carved, 6U);
  EXPECT_EQ(pool.check_segments(), "");
}

// A give-back merges with both free neighbours, and a segment left empty
// goes back to the backend at clear().
TEST(ModelReplay, GiveBackMergesWithBothNeighbours) {
  Ops ops(kTinySegments);
  ops.get(0, 1024).get(1, 1024).get(2, 1024);  // segment 1 (4 KiB): free [3K, 4K)
  ops.reset(0).reset(2).clear();               // free [0, 1K), and [2K, 4K) after an upper merge
  ops.reset(1).clear();                        // both neighbours: the segment is empty and goes
  const ModelCoverage seen = run_agreeing(ops);
  EXPECT_EQ(seen.merges_upper, 1U);
  EXPECT_EQ(seen.merges_both, 1U);
  EXPECT_EQ(seen.empty_freed_clear, 1U);
}

// Found while writing the model: release stamps used to be made strictly
// increasing by adding 1 ns per release within a clock tick, so of two buffers
// released at the same instant only the first was "ttl old" when exactly ttl
// had passed. Release times are now exact and a separate count orders them.
//
// Both buffers come from misses, and each miss owes its shard one release
// that reads the clock, so both are stamped at t = 0 and expire together.
TEST(ModelReplay, BuffersReleasedAtTheSameInstantExpireTogether) {
  auto clock = std::make_shared<ManualClock>();
  PoolConfig config;
  config.clock = clock;
  config.ttl = std::chrono::seconds{10};
  config.cleanup_interval = std::chrono::hours{1};
  BufferPool pool(make_host_backend(), config);
  {
    auto first = pool.get_buffer(100);
    auto second = pool.get_buffer(2000);
  }  // both released at t = 0
  clock->advance(std::chrono::seconds{10});
  EXPECT_EQ(pool.cleanup(), 2U) << "both were idle exactly ttl";
}

// The cleanup a miss runs stamps the shard's releases; the release the miss
// owes must still read the clock afterwards.
TEST(ModelReplay, ABufferGotByAMissThatRanCleanupStillHasAnExactTtl) {
  auto clock = std::make_shared<ManualClock>();
  PoolConfig config;
  config.clock = clock;
  config.ttl = std::chrono::seconds{10};
  config.cleanup_interval = std::chrono::nanoseconds{0};  // every miss runs cleanup
  BufferPool pool(make_host_backend(), config);
  pool.get_buffer(1000).reset();  // a miss, released at t = 0
  clock->advance(std::chrono::seconds{10});
  EXPECT_EQ(pool.cleanup(), 1U) << "idle for exactly ttl";
}

}  // namespace
}  // namespace bufferpool::model
