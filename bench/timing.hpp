// Timing helpers for the benchmark suite: batches timed with a steady clock,
// medians, and comparisons made as medians of per-round ratios, so that a
// machine whose speed drifts (other work on its cores) moves both sides of
// each ratio together.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace bufferpool::bench {

/// The median of a non-empty list (the mean of the two middle values for an
/// even count). 0 for an empty list.
inline double median(std::vector<double> values) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  const std::size_t middle = values.size() / 2;
  return values.size() % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2.0;
}

/// Keeps the optimizer from removing a computation whose result is unused
/// (a malloc + free pair, say).
template <typename T>
inline void keep(T const& value) {
  asm volatile("" : : "r,m"(value) : "memory");
}

using Clock = std::chrono::steady_clock;

inline double elapsed_ns(Clock::time_point start) {
  return std::chrono::duration<double, std::nano>(Clock::now() - start).count();
}

/// Runs `operation` `iterations` times and returns nanoseconds per call.
template <typename Operation>
double ns_per_call(Operation&& operation, std::size_t iterations) {
  const auto start = Clock::now();
  for (std::size_t iteration = 0; iteration < iterations; ++iteration) operation();
  return elapsed_ns(start) / static_cast<double>(iterations);
}

/// How many calls of `operation` fill about batch_ns: times a few calls
/// (after one warm-up call) and scales. At least 1, at most max_iterations.
template <typename Operation>
std::size_t calibrate(Operation&& operation, double batch_ns,
                      std::size_t max_iterations = 2'000'000) {
  operation();
  std::size_t probe = 1;
  double per_call = ns_per_call(operation, probe);
  while (per_call * static_cast<double>(probe) < 200'000.0 && probe < max_iterations) {
    probe *= 4;
    per_call = ns_per_call(operation, probe);
  }
  const double wanted = batch_ns / std::max(per_call, 0.1);
  return std::clamp<std::size_t>(static_cast<std::size_t>(wanted), 1, max_iterations);
}

/// Several variants of one operation, timed in alternating batches.
struct Contest {
  struct Entry {
    std::function<void()> operation;
    std::size_t iterations = 1;
    std::vector<double> ns_per_call;  // one per round
  };
  std::vector<Entry> entries;

  /// Adds a variant; returns its index.
  std::size_t add(std::function<void()> operation) {
    entries.push_back(Entry{std::move(operation), 1, {}});
    return entries.size() - 1;
  }

  /// Calibrates each variant to about batch_ns per batch, then runs `rounds`
  /// rounds, each timing one batch of every variant in turn.
  void run(unsigned rounds, double batch_ns) {
    for (auto& entry : entries) entry.iterations = calibrate(entry.operation, batch_ns);
    for (unsigned round = 0; round < rounds; ++round) {
      for (auto& entry : entries) {
        entry.ns_per_call.push_back(ns_per_call(entry.operation, entry.iterations));
      }
    }
  }

  [[nodiscard]] double median_ns(std::size_t index) const {
    return median(entries[index].ns_per_call);
  }

  /// The median over rounds of time(numerator) / time(denominator): how many
  /// times slower the numerator is.
  [[nodiscard]] double median_ratio(std::size_t numerator, std::size_t denominator) const {
    std::vector<double> ratios;
    const auto& top = entries[numerator].ns_per_call;
    const auto& bottom = entries[denominator].ns_per_call;
    for (std::size_t round = 0; round < std::min(top.size(), bottom.size()); ++round) {
      if (bottom[round] > 0.0) ratios.push_back(top[round] / bottom[round]);
    }
    return median(ratios);
  }
};

}  // namespace bufferpool::bench
