// tune(): the settings a pool should use for a workload, found by replaying
// its recorded traces under many settings and keeping the best.
//
//     const std::vector<bufferpool::Trace> traces = {bufferpool::read_trace("run.csv")};
//     const bufferpool::TuneResult result = bufferpool::tune(traces, {});
//     bufferpool::BufferPool pool(backend, result.recommended.config);
//
// The objective: the most hits (fewest misses) subject to a bound on the
// bytes held, on every trace. The recommendation is never worse than the
// baseline (PoolConfig{} unless told otherwise) on that objective, on any
// trace: the baseline is always a candidate, and a candidate is eligible only
// where it does at least as well as the baseline on each trace.
#pragma once

#include <bufferpool/config.hpp>
#include <bufferpool/trace.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace bufferpool {

/// The bound on bytes held that tune() maximises the hit rate under.
struct TuneObjective {
  enum class Kind : std::uint8_t {
    /// Peak bytes held <= max_overhead * the trace's peak live bytes.
    max_overhead,
    /// Peak bytes held <= memory_budget_bytes.
    memory_budget,
  };
  /// The default: at most 1.25 times the live bytes, the bound the
  /// benchmarks hold the default settings to.
  Kind kind = Kind::max_overhead;
  double max_overhead = 1.25;
  std::size_t memory_budget_bytes = 0;

  /// The bound for one trace, in bytes.
  [[nodiscard]] std::size_t limit_bytes(const Trace& trace) const noexcept;
  /// "peak held <= 1.25x peak live", "peak held <= 64 MiB".
  [[nodiscard]] std::string describe() const;
};

struct TuneOptions {
  TuneObjective objective;
  /// The settings to beat, and the start of the search: the recommendation
  /// does at least as well as these on every trace. Its clock is not used.
  PoolConfig baseline;
  /// Rounds of local refinement from each starting point after the coarse
  /// grid (each round tries every value of every setting, one setting at a
  /// time, moving to the best; it stops early when a round changes nothing).
  unsigned refinement_rounds = 3;
  /// Threads replaying at once; 0 = std::thread::hardware_concurrency().
  /// The result does not depend on it.
  unsigned threads = 0;
  /// When set, called on the calling thread after each batch of candidates
  /// with the candidates evaluated so far and the most the search will
  /// evaluate. It must not throw.
  std::function<void(std::size_t candidates_done, std::size_t candidates_most)> progress;
};

/// One candidate's replay of one trace.
struct TuneTraceScore {
  std::string trace;
  std::uint64_t requests = 0;
  std::uint64_t misses = 0;
  double hit_rate = 0.0;
  std::uint64_t failed_requests = 0;
  std::size_t peak_bytes_held = 0;
  std::size_t peak_bytes_live = 0;
  double overhead = 0.0;
  std::uint64_t device_allocations = 0;
  /// The objective's bound for this trace, and how far peak_bytes_held
  /// passes it (0 when within).
  std::size_t limit_bytes = 0;
  std::size_t excess_bytes = 0;
};

struct TuneCandidate {
  PoolConfig config;
  /// How config differs from the baseline ("max_pool_size=256, ttl=1s"),
  /// or "baseline".
  std::string changes;
  /// In the order of the traces given.
  std::vector<TuneTraceScore> traces;
  /// Over all traces: hits / (hits + misses).
  double hit_rate = 0.0;
  std::uint64_t misses = 0;
  std::uint64_t failed_requests = 0;
  /// The sum over the traces of each one's peak bytes held (one trace: its
  /// peak).
  std::size_t peak_bytes_held = 0;
  std::size_t excess_bytes = 0;
  std::uint64_t device_allocations = 0;
  /// Within the bound on every trace, with no request refused.
  [[nodiscard]] bool feasible() const noexcept { return excess_bytes == 0 && failed_requests == 0; }
};

struct TuneResult {
  TuneObjective objective;
  /// The baseline's scores.
  TuneCandidate baseline;
  /// The best eligible candidate: on each trace, fewer refused requests,
  /// or as many and a smaller excess over the bound, or as much and no more
  /// misses than the baseline; among those, the fewest refused requests,
  /// then the least excess, the fewest misses, the fewest bytes held and
  /// the fewest device allocations over all traces. It is the baseline when
  /// nothing beats it. Not feasible() when no candidate met the bound.
  TuneCandidate recommended;
  /// The candidates that refuse no request and that no other beats on both
  /// hit rate and peak bytes held, fewest bytes held first.
  std::vector<TuneCandidate> frontier;
  /// Distinct settings replayed, each over every trace.
  std::size_t candidates_evaluated = 0;
};

/// Searches the settings that matter for memory and hits: size class
/// density (geometric_size_classes), segment sizes, max_pool_size,
/// max_cached_bytes (as fractions of the largest trace's peak live bytes),
/// the eviction policy, ttl (cleanup_interval follows it) and, for a memory
/// budget, memory_limit set to the budget. It replays the baseline and
/// the design's presets, then a coarse grid of the settings that move the
/// bytes held most, then refines from three starting points (the best
/// eligible candidate and the best two of all) one setting at a time, and
/// recommends the best eligible candidate of all it replayed. Each replay is
/// replay() with no snapshots or samples.
///
/// Throws InvalidArgumentError for no traces or an objective with no bound
/// (max_overhead < 1, memory_budget_bytes 0), ConfigError for a baseline
/// that makes no sense. Blocks the calling thread until done; runs replays
/// on options.threads threads.
[[nodiscard]] TuneResult tune(const std::vector<Trace>& traces, const TuneOptions& options = {});

/// C++ statements that give `variable` (a PoolConfig) every setting of
/// `config` that to_json() writes, one per line, for pasting into a program:
///
///     config.max_pool_size = 256;
///     config.ttl = std::chrono::milliseconds{1000};
[[nodiscard]] std::string to_cpp_statements(const PoolConfig& config,
                                            std::string_view variable = "config");

}  // namespace bufferpool
