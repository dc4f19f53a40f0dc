// Replays the checked-in fuzz corpus (tests/model/corpus) and a fixed set of
// generated inputs against the reference model, deterministically: the same
// bytes give the same operations on every run and every machine.
#include "model_runner.hpp"

#include <bufferpool/bufferpool.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
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
  std::cout << "replayed " << inputs.size() << " corpus inputs: " << total.operations
            << " operations, " << total.requests << " requests, " << total.faults_injected
            << " faults injected, " << total.out_of_memory_errors << " out-of-memory errors, "
            << total.pools_created << " pools\n";
}

TEST(ModelReplay, GeneratedInputsAgreeWithTheModel) {
  // Fixed seeds: the same 300 inputs on every run.
  RunStats total;
  for (std::uint32_t seed = 1; seed <= 300; ++seed) {
    std::mt19937 random(seed);
    std::vector<std::uint8_t> input(4 + 4 * (50 + random() % 400));
    for (auto& byte : input) byte = static_cast<std::uint8_t>(random());
    const auto failure = run_against_model(input, &total);
    ASSERT_FALSE(failure) << "seed " << seed << ": " << *failure;
  }
  std::cout << "generated inputs: " << total.operations << " operations, " << total.requests
            << " requests, " << total.faults_injected << " faults injected\n";
}

// Hand-written sequences for the clauses the contract names, so that a reader
// can see the format at work. Header: default classes, 64 idle buffers, no
// limits, ttl 60 s, interval 60 s, unlimited simulated device.
TEST(ModelReplay, HandWrittenSequencesAgreeWithTheModel) {
  const std::vector<std::vector<std::uint8_t>> sequences = {
      // get 1000 into slot 0, reset it, get 900 into slot 1 (a hit).
      bytes({0, 0, 0, 0, 0, 1, 231, 3, 7, 0, 0, 0, 1, 1, 131, 3}),
      // increment, decrement twice, decrement on the now empty handle.
      bytes({0, 0, 0, 0, 0, 1, 5, 0, 9, 0, 0, 0, 10, 0, 0, 0, 10, 0, 0, 0, 10, 0, 0, 0}),
      // scope: open, get, add, reset the slot, close the scope (the buffer returns).
      bytes({0, 0, 0, 0, 12, 0, 0, 0, 0, 1, 9, 9, 13, 0, 0, 0, 7, 0, 0, 0, 14, 0, 0, 0}),
      // device: get, mark used until 1, reset (pending), get (miss), complete, cleanup.
      bytes(
          {0, 0, 0, 0, 0, 1, 9, 9, 19, 0, 0, 0, 7, 0, 0, 0, 1, 1, 9, 9, 20, 0, 0, 0, 17, 0, 0, 0}),
      // fault: fail the next allocation once, then a get that retries and succeeds.
      bytes({0, 0, 0, 0, 21, 0, 0, 0, 0, 1, 9, 9, 21, 1, 0, 0, 1, 1, 9, 9, 21, 2, 0, 0}),
      // TTL: get, reset, advance by ttl - 1 then 1 ns, cleanup each time.
      bytes(
          {0, 0, 0, 0, 0, 1, 9, 9, 7, 0, 0, 0, 16, 4, 0, 0, 17, 0, 0, 0, 16, 0, 0, 0, 17, 0, 0, 0}),
      // Pool replaced while a buffer is out (max_pool_size 1, memory limit 64 KiB).
      bytes({0, 0, 0, 0, 0, 1, 9, 9, 23, 2, 3, 0, 1, 1, 9, 9, 7, 0, 0, 0}),
  };
  for (std::size_t index = 0; index < sequences.size(); ++index) {
    const auto failure = run_against_model(sequences[index]);
    EXPECT_FALSE(failure) << "sequence " << index << ": " << *failure;
  }
}

// Found while writing the model: release stamps used to be made strictly
// increasing by adding 1 ns per release within a clock tick, so of two buffers
// released at the same instant only the first was "ttl old" when exactly ttl
// had passed. Release times are now exact and a separate count orders them.
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

}  // namespace
}  // namespace bufferpool::model
