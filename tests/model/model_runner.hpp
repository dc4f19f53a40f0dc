// Runs a sequence of operations, decoded from bytes, on a real BufferPool and
// on the PoolModel side by side, and compares everything observable after each
// one: which buffer each request got (segment handle, offset, capacity), every
// reference count, every error, every metric, the backend's live allocations,
// the bytes each holder wrote, and the zeroing zero_on_reuse promises. After
// each operation it also checks the pool's own invariants: check_segments()
// is "", no two buffers overlap, each lies inside its segment.
//
// The same decoder drives the libFuzzer target (fuzz/) and the deterministic
// corpus replay (model_replay_test.cpp), so a crash found by fuzzing is a
// corpus file that the replay test keeps checking.
//
// Input format: 8 header bytes choose the first pool's config; then each
// operation takes 4 bytes (an opcode and three arguments; missing bytes read
// as 0), except "replace the pool", which also takes the next 4 bytes as
// config. See describe_format() for the opcode table.
//
// Streams came after the corpus: they took opcode 8, a second reset until
// then, so that every other operation of an older input decodes as it did.
// Opcode 8 picks open, get for, release to or close a stream by its byte's
// high part; its release mostly names a stream slot, which older inputs never
// fill: StreamId::none, the reset they had (the rest of their 8s became stream
// operations or releases to streams never opened, UsageError). The corpus
// kept reaching every path of the pool. Random bytes seldom reach a
// stream reuse, so tests/model/corpus/stream-* are written by hand: by
// stream_corpus() in model_replay_test.cpp, which checks that the files are
// what it writes, and rewrites them when run with
// BUFFERPOOL_WRITE_MODEL_CORPUS=1 (see StreamCorpusInputsAreCheckedIn). The
// other corpus files come from scripts/fuzz.sh, named by their SHA-1.
#pragma once

#include "pool_model.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace bufferpool::model {

struct RunStats {
  std::size_t inputs = 0;
  std::size_t operations = 0;
  std::size_t requests = 0;              ///< get_buffer calls
  std::size_t out_of_memory_errors = 0;  ///< OutOfMemoryError seen (and predicted)
  std::size_t backend_errors = 0;        ///< BackendError seen (and predicted): fill_zero faults
  std::size_t usage_errors = 0;          ///< UsageError / InvalidArgumentError / ConfigError seen
  std::size_t pools_created = 0;
  std::size_t zeroed_checks = 0;  ///< host-visible buffers checked to be all zero
  std::uint64_t faults_injected = 0;
  /// What the model saw the pool do (splits, merges, frees, retries, ...).
  ModelCoverage coverage;

  RunStats& operator+=(const RunStats& other);
};

/// One line: every count of `stats`, for reports.
[[nodiscard]] std::string describe(const RunStats& stats);

/// Runs `input` and returns a description of the first divergence between the
/// pool and the model (with the operations that led to it), or nullopt.
[[nodiscard]] std::optional<std::string> run_against_model(std::span<const std::uint8_t> input,
                                                           RunStats* stats = nullptr);

/// The opcode table, for humans reading a failing input.
[[nodiscard]] std::string describe_format();

}  // namespace bufferpool::model
