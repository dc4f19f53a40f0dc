// Runs a sequence of operations, decoded from bytes, on a real BufferPool and
// on the PoolModel side by side, and compares everything observable after each
// one: which buffer each request got, every reference count, every error, every
// metric, the backend's live allocations, and the bytes each holder wrote.
//
// The same decoder drives the libFuzzer target (fuzz/) and the deterministic
// corpus replay (model_replay_test.cpp), so a crash found by fuzzing is a
// corpus file that the replay test keeps checking.
//
// Input format: 4 header bytes choose the first pool's config; then each
// operation takes 4 bytes (an opcode and three arguments; missing bytes read
// as 0). See describe_format() for the opcode table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace bufferpool::model {

struct RunStats {
  std::size_t operations = 0;
  std::size_t requests = 0;              ///< get_buffer calls
  std::size_t out_of_memory_errors = 0;  ///< OutOfMemoryError seen (and predicted)
  std::size_t usage_errors = 0;          ///< UsageError / InvalidArgumentError / ConfigError seen
  std::size_t pools_created = 0;
  std::uint64_t faults_injected = 0;

  RunStats& operator+=(const RunStats& other);
};

/// Runs `input` and returns a description of the first divergence between the
/// pool and the model (with the operations that led to it), or nullopt.
[[nodiscard]] std::optional<std::string> run_against_model(std::span<const std::uint8_t> input,
                                                           RunStats* stats = nullptr);

/// The opcode table, for humans reading a failing input.
[[nodiscard]] std::string describe_format();

}  // namespace bufferpool::model
