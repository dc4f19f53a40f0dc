// Sequences: many dispatches in one submission, each seeing the writes of
// the ones before it, with stream-ordered reuse of the buffers that die
// inside; all under the validation layers.
#include "vulkan_test_support.hpp"

#include <bufferpool/manager.hpp>
#include <bufferpool/sequence.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <set>
#include <utility>
#include <vector>

namespace bufferpool::testing {
namespace {

struct SaxpyParams {
  std::uint32_t n;
  float a;
};

using Place = std::pair<std::uint64_t, std::size_t>;
Place place_of(const BufferRef& buffer) { return {buffer.native_handle(), buffer.offset_bytes()}; }

constexpr const char* kAddOne = R"(#version 450
layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;
layout(set = 0, binding = 0) buffer Data { float values[]; };
void main() {
  const uint i = gl_GlobalInvocationID.x;
  if (i < values.length()) values[i] += 1.0;
}
)";

/// The validation layer's synchronization checks (read when the instance is
/// made): they report a hazard between dispatches that no barrier orders,
/// which on lavapipe may well give the right answer anyway. Left out under
/// AddressSanitizer: Debian 12's layer (1.3.239) leaks a few KiB of its
/// synchronization state per instance, which LeakSanitizer reports; the
/// plain build runs the checks.
ManagerOptions synchronization_validated_options() {
#ifndef __SANITIZE_ADDRESS__
  // NOLINTNEXTLINE(concurrency-mt-unsafe): set before the manager starts its threads
  ::setenv("VK_LAYER_ENABLES", "VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT", 1);
#endif
  return validated_manager_options();
}

class SequenceTest : public ::testing::Test {
 protected:
  SequenceTest() : manager(synchronization_validated_options()) {
    // NOLINTNEXTLINE(concurrency-mt-unsafe): the manager has read it
    ::unsetenv("VK_LAYER_ENABLES");
    manager.load_builtin_shader_library("kernels");
    manager.create_compute_pipeline("kernels", "saxpy", "saxpy");
    manager.load_shader_library_from_source(kAddOne, "add_one");
    manager.create_compute_pipeline("add_one", "main", "add_one");
  }
  ComputeManager manager;
};

/// x <- a * x + y, `steps` times, on the CPU.
std::vector<float> chain_on_cpu(std::vector<float> x, const std::vector<float>& y, float a,
                                int steps) {
  for (int step = 0; step < steps; ++step) {
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = a * x[i] + y[i];
  }
  return x;
}

TEST_F(SequenceTest, AChainOfDispatchesInOneSubmissionMatchesTheCpu) {
  constexpr std::uint32_t n = 4096;
  constexpr int kSteps = 16;
  std::vector<float> x0(n);
  std::vector<float> y(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    x0[i] = float(i % 97) * 0.25F;
    y[i] = float(i % 13) - 6.0F;
  }
  auto bias = manager.create_buffer(y);
  auto sequence = manager.sequence();
  auto current = sequence.create_buffer(n * sizeof(float));
  sequence.record_upload(current, x0);
  for (int step = 0; step < kSteps; ++step) {
    auto next = sequence.create_buffer(n * sizeof(float));
    sequence.record("saxpy", {current, bias}, {next}, TotalThreads{n}, SaxpyParams{n, 0.5F});
    current = std::move(next);  // the previous output dies here
  }
  EXPECT_EQ(sequence.command_count(), std::size_t{kSteps} + 1);
  const auto before = manager.get_performance_metrics();
  sequence.execute();
  EXPECT_EQ(manager.get_buffer_data<float>(current), chain_on_cpu(x0, y, 0.5F, kSteps));
  const auto after = manager.get_performance_metrics();
  EXPECT_EQ(after.dispatches - before.dispatches, std::uint64_t{kSteps});
  // Each dead output served a later step: three buffers carry the chain.
  EXPECT_GE(after.buffer_pool.stream_reuses, std::uint64_t{kSteps} - 2);

  // Submitted again, the same program runs again from the uploaded input.
  sequence.execute();
  EXPECT_EQ(manager.get_buffer_data<float>(current), chain_on_cpu(x0, y, 0.5F, kSteps));
  EXPECT_EQ(validation_message_count().load(), 0);
}

TEST_F(SequenceTest, ABufferReusedInsideTheSequenceIsWrittenOnlyAfterItsEarlierReaderRan) {
  constexpr std::uint32_t n = 1 << 16;
  const std::vector<float> input(n, 3.0F);
  const std::vector<float> zeros(n, 0.0F);
  auto zero = manager.create_buffer(zeros);
  auto sequence = manager.sequence();
  auto first = sequence.create_buffer(n * sizeof(float));
  sequence.record_upload(first, input);
  auto second = sequence.create_buffer(n * sizeof(float));
  sequence.record("saxpy", {first, zero}, {second}, TotalThreads{n},
                  SaxpyParams{n, 2.0F});  // reads first
  const Place first_place = place_of(first);
  first.reset();
  // The request may take first's memory: the dispatch below writes it after
  // the one above has read it, because the barrier between them says so.
  auto third = sequence.create_buffer(n * sizeof(float));
  ASSERT_EQ(place_of(third), first_place) << "the dead buffer served the later request";
  sequence.record("saxpy", {second, zero}, {third}, TotalThreads{n}, SaxpyParams{n, 10.0F});
  sequence.execute();
  EXPECT_EQ(manager.get_buffer_data<float>(second), std::vector<float>(n, 6.0F));
  EXPECT_EQ(manager.get_buffer_data<float>(third), std::vector<float>(n, 60.0F));
  EXPECT_EQ(validation_message_count().load(), 0);
}

TEST_F(SequenceTest, BuffersKeptForASequenceAreNotHandedOutsideItUntilItsWorkEnds) {
  constexpr std::uint32_t n = 1 << 16;
  auto sequence = manager.sequence();
  std::set<Place> dead_places;
  auto data = sequence.create_buffer(n * sizeof(float));
  sequence.record_upload(data, std::vector<float>(n, 0.0F));
  for (int step = 0; step < 40; ++step) sequence.record("add_one", {}, {data}, TotalThreads{n});
  {
    auto scratch = sequence.create_buffer(n * sizeof(float));
    sequence.record("add_one", {}, {scratch}, TotalThreads{n});
    dead_places.insert(place_of(scratch));
  }
  // Too large to reuse the dead scratch, which the request keeps for the sequence.
  (void)sequence.create_buffer(4 * n * sizeof(float));
  ASSERT_EQ(manager.pool().metrics().buffers_kept_for_streams, 1U);
  const Submission work = sequence.submit();
  // While the sequence lives, no request outside it gets its buffers.
  std::vector<BufferRef> outside;
  for (int i = 0; i < 8; ++i) {
    outside.push_back(manager.create_buffer(n * sizeof(float)));
    EXPECT_FALSE(dead_places.contains(place_of(outside.back())));
  }
  outside.clear();
  // Once it is gone, they may come back, but only after its work ended.
  sequence = manager.sequence();
  for (int i = 0; i < 8; ++i) {
    outside.push_back(manager.create_buffer(n * sizeof(float)));
    if (dead_places.contains(place_of(outside.back()))) {
      EXPECT_TRUE(work.done()) << "a buffer of a running sequence was handed out";
    }
  }
  work.wait();
  EXPECT_EQ(manager.get_buffer_data<float>(data), std::vector<float>(n, 40.0F));
  EXPECT_EQ(validation_message_count().load(), 0);
}

TEST_F(SequenceTest, ASequenceSubmittedAgainWhileItRunsRunsTwiceInOrder) {
  constexpr std::uint32_t n = 1 << 16;
  auto data = manager.create_buffer(std::vector<float>(n, 0.0F));
  auto sequence = manager.sequence();
  for (int step = 0; step < 8; ++step) sequence.record("add_one", {}, {data}, TotalThreads{n});
  const Submission first = sequence.submit();
  const Submission second = sequence.submit();
  const Submission third = sequence.submit();
  EXPECT_LT(first.timeline_value(), second.timeline_value());
  EXPECT_LT(second.timeline_value(), third.timeline_value());
  third.wait();
  EXPECT_TRUE(first.done());
  EXPECT_EQ(manager.get_buffer_data<float>(data), std::vector<float>(n, 24.0F));
  EXPECT_EQ(validation_message_count().load(), 0);
}

TEST_F(SequenceTest, StreamOrderedReuseHalvesThePeakOfAStepOfSixteenKernels) {
  constexpr std::uint32_t n = (1 << 20) / sizeof(float);  // 1 MiB tensors
  const auto bias = manager.create_buffer(std::vector<float>(n, 1.0F));
  const auto run = [&](bool stream_ordered) {
    manager.pool().clear();
    manager.pool().reset_peak();
    const std::size_t base = manager.pool().metrics().peak_bytes_allocated;
    auto sequence = manager.sequence();
    auto current = manager.create_buffer(std::vector<float>(n, 0.0F));
    for (int kernel = 0; kernel < 16; ++kernel) {
      auto next = stream_ordered ? sequence.create_buffer(n * sizeof(float))
                                 : manager.create_buffer(n * sizeof(float));
      sequence.record("saxpy", {current, bias}, {next}, TotalThreads{n}, SaxpyParams{n, 1.0F});
      current = std::move(next);
    }
    sequence.execute();
    EXPECT_EQ(manager.get_buffer_data<float>(current), std::vector<float>(n, 16.0F));
    return manager.pool().metrics().peak_bytes_allocated - base;
  };
  const std::size_t without = run(false);
  const std::size_t with = run(true);
  EXPECT_LE(2 * with, without) << "with reuse " << with << " B, without " << without << " B";
  EXPECT_EQ(validation_message_count().load(), 0);
}

TEST_F(SequenceTest, MisuseIsRefusedWithAClearError) {
  auto sequence = manager.sequence();
  EXPECT_THROW((void)sequence.submit(), UsageError);
  auto data = manager.create_buffer(std::vector<float>(64, 0.0F));
  EXPECT_THROW(sequence.record("no such pipeline", {}, {data}, TotalThreads{64}),
               InvalidArgumentError);
  EXPECT_THROW(sequence.record("saxpy", {}, {data}, TotalThreads{64}),
               InvalidArgumentError);  // three bindings
  sequence.record("add_one", {}, {data}, TotalThreads{64});
  sequence.execute();
  EXPECT_TRUE(sequence.submitted());
  EXPECT_THROW(sequence.record("add_one", {}, {data}, TotalThreads{64}), UsageError);
  EXPECT_THROW(sequence.record_upload(data, std::vector<float>(1, 0.0F)), UsageError);
  EXPECT_THROW(sequence.record_copy(data, data, 4), UsageError);
  EXPECT_EQ(manager.get_buffer_data<float>(data), std::vector<float>(64, 1.0F));

  auto fresh = manager.sequence();
  EXPECT_THROW(fresh.record_upload(data, std::vector<float>(65, 0.0F)), InvalidArgumentError);
  auto other = manager.create_buffer(64 * sizeof(float));
  EXPECT_THROW(fresh.record_copy(data, other, 0), InvalidArgumentError);
  EXPECT_THROW(fresh.record_copy(data, data, 4), InvalidArgumentError) << "overlapping ranges";
  EXPECT_THROW(sequence.record("no such pipeline", {}, {data}, TotalThreads{64}), UsageError)
      << "a submitted sequence refuses before it looks at the pipeline";
  EXPECT_EQ(validation_message_count().load(), 0);
}

TEST(Sequence, OutlivingItsManagerMakesEveryCallAUsageError) {
  std::optional<ComputeManager> manager(std::in_place, validated_manager_options());
  manager->load_shader_library_from_source(kAddOne, "add_one");
  manager->create_compute_pipeline("add_one", "main", "add_one");
  auto data = manager->create_buffer(std::vector<float>(64, 0.0F));
  auto sequence = manager->sequence();
  sequence.record("add_one", {}, {data}, TotalThreads{64});
  (void)sequence.submit();
  manager.reset();  // waits for the work; the sequence lets go of everything
  EXPECT_THROW((void)sequence.submit(), UsageError);
  EXPECT_THROW((void)sequence.create_buffer(64), UsageError);
  EXPECT_EQ(data.size(), 64 * sizeof(float)) << "buffers outlive their manager as before";
}

TEST(Sequence, TheHostBackendHasNone) {
  ManagerOptions options;
  options.backend = ManagerBackend::host;
  ComputeManager manager(options);
  EXPECT_THROW((void)manager.sequence(), BackendError);
}

}  // namespace
}  // namespace bufferpool::testing
