// Replays the checked-in fuzz corpus (tests/model/corpus) and a fixed set of
// generated inputs against the reference model, deterministically: the same
// bytes give the same operations on every run and every machine.
#include "model_runner.hpp"
#include "simulated_backend.hpp"

#include <bufferpool/bufferpool.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <string>
#include <string_view>
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

TEST(ModelReplay, GeneratedStreamHeavyInputsAgreeWithTheModel) {
  // Random bytes reach a stream reuse seldom (it takes an open, a release to
  // that stream and a request of a size that fits): here opcodes are drawn
  // from the ones streams interact with, a third of them stream operations.
  constexpr std::array<int, 12> kOpcodes{8, 32, 56, 80, 8, 32, 0, 1, 7, 19, 20, 5};
  constexpr std::array<int, 6> kSometimes{17, 18, 16, 21, 11, 9};
  RunStats total;
  for (std::uint32_t seed = 1; seed <= 200; ++seed) {
    std::mt19937 random(seed);
    std::vector<std::uint8_t> input(8);
    for (auto& byte : input) byte = static_cast<std::uint8_t>(random());
    input[0] %= 7;  // size classes that make sense
    const auto operations = static_cast<std::size_t>(20 + random() % 200);
    for (std::size_t index = 0; index < operations; ++index) {
      const int opcode = random() % 8 == 0 ? kSometimes[random() % kSometimes.size()]
                                           : kOpcodes[random() % kOpcodes.size()];
      input.push_back(static_cast<std::uint8_t>(opcode));
      for (int argument = 0; argument < 3; ++argument) {
        input.push_back(static_cast<std::uint8_t>(random()));
      }
    }
    const auto failure = run_against_model(input, &total);
    ASSERT_FALSE(failure) << "seed " << seed << ": " << *failure;
  }
  std::cout << "generated, stream-heavy: " << describe(total) << "\n";
  EXPECT_GT(total.coverage.stream_reuses, 0U);
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
  Ops& fail_next_fill_zero() { return op(21, 4, 0, 0); }
  /// Checks slot's bytes and writes a new pattern into them.
  Ops& write_pattern(unsigned slot) { return op(11, static_cast<int>(slot), 0x5A, 0); }
  /// to = from (a second handle on the same buffer).
  Ops& copy(unsigned from, unsigned to) {
    return op(5, static_cast<int>(from), static_cast<int>(to), 0);
  }
  /// slot.mark_used_until(completed + 1 + ahead), ahead < 3.
  Ops& mark_used(unsigned slot, int ahead) { return op(19, static_cast<int>(slot), ahead, 0); }
  /// The device completes its work up to completed + 1 + ahead, ahead < 3.
  Ops& complete_device(int ahead) { return op(20, ahead, 0, 0); }
  /// Replaces the pool: config bytes {a, b, c, a ^ c, d, e, f, g}.
  Ops& new_pool(int a, int b, int c, std::array<int, 4> rest) {
    op(23, a, b, c);
    return op(rest[0], rest[1], rest[2], rest[3]);
  }

  // Streams: opcode 8 + 24 * k, k % 4 the operation; stream slots 0-3.
  Ops& open_stream(unsigned stream_slot) { return op(56, static_cast<int>(stream_slot), 0, 0); }
  /// release_to_stream(slot, the id in stream_slot).
  Ops& release_to_stream(unsigned slot, unsigned stream_slot) {
    return op(8, static_cast<int>(slot), static_cast<int>(stream_slot), 0);
  }
  /// release_to_stream(slot, StreamId{id}) for 1 <= id <= 4, open or not.
  Ops& release_to_raw_stream(unsigned slot, int id) {
    return op(8, static_cast<int>(slot), 4 + 6 * (id - 1), 0);
  }
  /// release_to_stream(slot, StreamId::none).
  Ops& release_to_no_stream(unsigned slot) { return op(8, static_cast<int>(slot), 5, 0); }
  /// slot = get_buffer(size, the id in stream_slot), for 1 <= size <= 1024.
  Ops& get_for_stream(unsigned slot, unsigned stream_slot, std::size_t size) {
    if (size == 0 || size > 1024) ADD_FAILURE() << "get_for_stream() encodes 1-1024 bytes only";
    return op(32, static_cast<int>(stream_slot * 12 + slot),
              1 + 8 * static_cast<int>((size - 1) / 256), static_cast<int>((size - 1) % 256));
  }
  /// slot = get_buffer(2^(8 + power) * (1 + steps / 256), the id in stream_slot), steps < 32.
  Ops& get_power_for_stream(unsigned slot, unsigned stream_slot, int power, int steps) {
    return op(32, static_cast<int>(stream_slot * 12 + slot), 4 + 8 * steps, power);
  }
  /// slot = get_buffer(a size at an edge of the reuse rule for the stream's
  /// kept buffer `from_newest`, the id in stream_slot): edge 0-7 capacity -
  /// edge, 8 capacity + 1, 9 the smallest size it serves, 10 one less.
  Ops& get_near_kept(unsigned slot, unsigned stream_slot, int from_newest, int edge) {
    return op(32, static_cast<int>(stream_slot * 12 + slot), 7, from_newest + 16 * edge);
  }
  /// close_stream(the id in stream_slot, used until): `until` 0 nothing, 1
  /// the completed value, 2 and 3 one and two past it.
  Ops& close_stream(unsigned stream_slot, int until) {
    return op(80, static_cast<int>(stream_slot), until, 0);
  }
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

// ---- streams -------------------------------------------------------------------

/// zero_on_reuse, on 4 KiB segments: host-visible, so the runner checks the zeros.
constexpr std::array<std::uint8_t, 8> kZeroOnReuse{0, 0, 0, 0, 1, 1, 0, 0};
/// max_pool_size 0: caching off, every release frees.
constexpr std::array<std::uint8_t, 8> kCachingOff{0, 1, 0, 0, 0, 0, 0, 0};
/// max_pool_size 2 and a 64 KiB memory_limit.
constexpr std::array<std::uint8_t, 8> kTwoIdleAndALimit{0, 4, 3, 0, 0, 0, 0, 0};
/// ttl 10 s, cleanup interval 1 h (only cleanup() expires).
constexpr std::array<std::uint8_t, 8> kTtlTenSeconds{0, 0, 3 * 8, 4, 0, 0, 0, 0};

struct NamedInput {
  std::string name;
  std::vector<std::uint8_t> bytes;
};

/// The inputs of tests/model/corpus/stream-*: each reaches stream paths that
/// random bytes seldom do. They are written by this list (see
/// StreamCorpusInputsAreCheckedIn), so that a change of the format shows.
std::vector<NamedInput> stream_corpus() {
  std::vector<NamedInput> inputs;
  const auto add = [&inputs](std::string name, const Ops& ops) {
    inputs.push_back({"stream-" + std::move(name), ops.bytes()});
  };
  {
    // Kept, reused by a smaller request of the stream, kept again, closed
    // (idle), then served to an ordinary request; the closed stream refuses.
    Ops ops(kDefaults);
    ops.open_stream(0).get(0, 1000).release_to_stream(0, 0).get_for_stream(1, 0, 900);
    ops.release_to_stream(1, 0).close_stream(0, 0).get(2, 1000);
    ops.get_for_stream(3, 0, 10).get(4, 10).release_to_stream(4, 0);
    add("reuse-and-close", ops);
  }
  {
    // Device work: a busy buffer is reused by its stream, closing raises its
    // value (pending), the device completes, a cleanup reclaims it.
    Ops ops(kDefaults);
    ops.open_stream(1).get(0, 700).mark_used(0, 0).release_to_stream(0, 1);
    ops.get_for_stream(1, 1, 700).mark_used(1, 1).release_to_stream(1, 1);
    ops.get(2, 300).release_to_stream(2, 1);
    ops.close_stream(1, 3).complete_device(0).cleanup().complete_device(2).cleanup();
    ops.get(3, 700);
    add("busy-then-pending", ops);
  }
  {
    // zero_on_reuse: a busy buffer reused by its stream is zeroed after its
    // device work; then a fill_zero fault on a stream reuse.
    Ops ops(kZeroOnReuse);
    ops.open_stream(0).get(0, 512).write_pattern(0).mark_used(0, 2).release_to_stream(0, 0);
    ops.get_for_stream(1, 0, 500).release_to_stream(1, 0);
    ops.fail_next_fill_zero().get_for_stream(2, 0, 512).get_for_stream(3, 0, 512);
    ops.release_to_stream(3, 0).close_stream(0, 1);
    add("zero-on-reuse", ops);
  }
  {
    // The edges of the fit rule on a kept buffer, and the 8 looked at.
    Ops ops(kDefaults);
    ops.open_stream(2).get(0, 4096);
    for (unsigned slot = 1; slot <= 8; ++slot) ops.get(slot, 1025);
    for (unsigned slot = 0; slot <= 8; ++slot) ops.release_to_stream(slot, 2);
    ops.get_near_kept(9, 2, 8, 0);    // the 4096 one, behind 8 newer: not looked at
    ops.get_near_kept(10, 2, 0, 8);   // capacity + 1: too large for any
    ops.get_near_kept(10, 2, 0, 10);  // below the smallest size served: too small
    ops.get_near_kept(11, 2, 0, 9);   // the smallest size served: reused
    ops.release_to_stream(11, 2).get_near_kept(11, 2, 3, 11).close_stream(2, 1);
    add("fit-edges-and-eight", ops);
  }
  {
    // Releases that are not the last, StreamId::none, raw ids (4 never
    // opened, 2 open), closed streams, and ids of an earlier pool: 1 is not
    // open in the new pool until it opens its first stream, which is 1 again.
    Ops ops(kDefaults);
    ops.open_stream(0).open_stream(1).get(0, 100).copy(0, 1).release_to_stream(0, 0);
    ops.release_to_stream(1, 1).get(2, 100).release_to_no_stream(2).get(3, 100);
    ops.release_to_raw_stream(3, 4).release_to_raw_stream(3, 2).close_stream(1, 0);
    ops.release_to_stream(3, 1).get_for_stream(4, 1, 100).close_stream(1, 2);
    ops.new_pool(0, 0, 0, {0, 0, 0, 0});
    ops.release_to_stream(3, 0).get_for_stream(5, 0, 64).open_stream(3);
    ops.get(6, 64).release_to_stream(6, 0).get_for_stream(7, 0, 64);
    add("shared-none-and-stale-ids", ops);
  }
  {
    // Caching off: kept and reused all the same; closing frees them.
    Ops ops(kCachingOff);
    ops.open_stream(0).get(0, 1000).get(1, 3000).release_to_stream(0, 0).release_to_stream(1, 0);
    ops.get_for_stream(2, 0, 900).mark_used(2, 0).release_to_stream(2, 0);
    ops.close_stream(0, 1).close_stream(0, 2).get(3, 3000).mark_used(3, 1);
    ops.release_to_stream(3, 0).open_stream(1).release_to_stream(3, 1);
    add("caching-off", ops);
  }
  {
    // Kept bytes count as in use under memory_limit; a close past the idle
    // cap evicts; streams left open at the pool's end, one busy.
    Ops ops(kTwoIdleAndALimit);
    ops.open_stream(0).open_stream(1);
    for (unsigned slot = 0; slot < 4; ++slot) ops.get_power(slot, 5, 0);  // 8 KiB each
    for (unsigned slot = 0; slot < 4; ++slot) ops.release_to_stream(slot, 0);
    ops.get_power(4, 7, 64).get_power(5, 6, 0).close_stream(0, 0);
    ops.get_power(6, 6, 0).get_power_for_stream(7, 1, 5, 0).mark_used(7, 2);
    ops.release_to_stream(7, 1).get_power(8, 5, 0).release_to_stream(8, 1);
    add("limit-caps-and-left-open", ops);
  }
  {
    // TTL: kept buffers do not expire; once closed they are released now.
    Ops ops(kTtlTenSeconds);
    ops.open_stream(0).get(0, 256).release_to_stream(0, 0).advance_ttl().cleanup();
    ops.close_stream(0, 0).cleanup().advance_ttl().cleanup().cleanup();
    add("ttl", ops);
  }
  {
    // A buffer of an earlier pool released to a stream of the new one.
    Ops ops(kDefaults);
    ops.get(0, 5000).new_pool(0, 0, 0, {0, 0, 0, 0}).open_stream(0);
    ops.release_to_stream(0, 0).reset(0).get(1, 5000).release_to_stream(1, 0);
    add("other-pool", ops);
  }
  return inputs;
}

TEST(ModelReplay, StreamInputsAgreeWithTheModelAndReachEveryStreamPath) {
  RunStats total;
  for (const auto& input : stream_corpus()) {
    const auto failure = run_against_model(input.bytes, &total);
    EXPECT_FALSE(failure) << input.name << ": " << *failure;
  }
  std::cout << "stream inputs: " << describe(total) << "\n";
  const ModelCoverage& seen = total.coverage;
  for (const auto& [path, count] : seen.fields()) {
    if (std::string_view(path).starts_with("stream")) {
      EXPECT_GT(count, 0U) << "no stream input reaches " << path;
    }
  }
}

// The corpus holds stream_corpus() as it is now. To write it after changing
// the list or the format:
//   BUFFERPOOL_WRITE_MODEL_CORPUS=1 bufferpool_model_tests
//       --gtest_filter=ModelReplay.StreamCorpusInputsAreCheckedIn
TEST(ModelReplay, StreamCorpusInputsAreCheckedIn) {
  const std::filesystem::path corpus = BUFFERPOOL_MODEL_CORPUS_DIR;
  const bool write = std::getenv("BUFFERPOOL_WRITE_MODEL_CORPUS") != nullptr;
  for (const auto& input : stream_corpus()) {
    const std::filesystem::path path = corpus / input.name;
    if (write) {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out.write(reinterpret_cast<const char*>(input.bytes.data()),
                static_cast<std::streamsize>(input.bytes.size()));
    }
    EXPECT_EQ(read_file(path), input.bytes)
        << path
        << " is not what stream_corpus() writes; rewrite it with "
           "BUFFERPOOL_WRITE_MODEL_CORPUS=1 (see this test)";
  }
}

// A stream request reuses a kept buffer of any class, newest first, and the
// reuse keeps the buffer's device value: the release after it waits for both
// uses. On the pool directly, so that the contract reads plainly.
TEST(ModelReplay, AStreamReuseKeepsTheDeviceValueOfTheEarlierUse) {
  auto backend = std::make_shared<SimulatedBackend>();
  BufferPool pool(backend, PoolConfig{});
  const StreamId stream = pool.open_stream();
  BufferRef first = pool.get_buffer(1000);
  const std::uint64_t handle = first.native_handle();
  const std::size_t offset = first.offset_bytes();
  first.mark_used_until(5);
  pool.release_to_stream(first, stream);
  EXPECT_FALSE(first);
  EXPECT_EQ(pool.metrics().buffers_kept_for_streams, 1U);
  BufferRef other = pool.get_buffer(1000);
  EXPECT_NE(other.offset_bytes(), offset) << "a kept buffer serves its stream only";
  BufferRef again = pool.get_buffer(900, stream);
  EXPECT_EQ(again.native_handle(), handle);
  EXPECT_EQ(again.offset_bytes(), offset);
  EXPECT_EQ(pool.metrics().stream_reuses, 1U);
  again.reset();
  EXPECT_EQ(pool.metrics().buffers_pending_gpu, 1U) << "device work up to 5 still uses it";
  backend->complete_until(5);
  EXPECT_EQ(pool.cleanup(), 0U);
  EXPECT_EQ(pool.metrics().buffers_pending_gpu, 0U);
  EXPECT_EQ(pool.metrics().buffers_cached, 1U);
}

}  // namespace
}  // namespace bufferpool::model
