#include <bufferpool/errors.hpp>
#include <bufferpool/replay.hpp>
#include <bufferpool/tune.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>
#include <tuple>
#include <utility>

namespace bufferpool {
namespace {

constexpr std::size_t kKiB = 1024;
constexpr std::size_t kMiB = 1024 * kKiB;
/// Refinement runs from this many of the best candidates of the grid.
constexpr std::size_t kStartingPoints = 3;

std::string bytes_text(std::size_t bytes) {
  if (bytes != 0 && bytes % kMiB == 0) return std::to_string(bytes / kMiB) + " MiB";
  if (bytes != 0 && bytes % kKiB == 0) return std::to_string(bytes / kKiB) + " KiB";
  return std::to_string(bytes) + " B";
}

std::string seconds_text(std::chrono::nanoseconds duration) {
  std::ostringstream text;
  text << static_cast<double>(duration.count()) / 1e9 << "s";
  return text.str();
}

/// One value of one setting: a name for messages and what it changes.
struct Choice {
  std::string label;
  std::function<void(PoolConfig&)> apply;
};

/// A setting the search moves, with the values it tries.
struct Dimension {
  std::string name;
  std::vector<Choice> choices;
};

bool large_segments_shared(const SegmentConfig& segments) {
  return segments.large_request_max_bytes > segments.small_request_max_bytes;
}

/// Small requests: at most half a small segment, so that a segment always
/// holds two of the largest.
void set_small_segments(PoolConfig& config, std::size_t segment_bytes) {
  SegmentConfig& segments = config.segments;
  const bool shared = large_segments_shared(segments);
  segments.small_segment_bytes = segment_bytes;
  segments.small_request_max_bytes = segment_bytes / 2;
  if (!shared || segments.large_request_max_bytes < segments.small_request_max_bytes) {
    // Keeps "no shared large segments" meaning the same after the change.
    segments.large_request_max_bytes = segments.small_request_max_bytes;
    segments.large_segment_bytes =
        std::max(segments.large_segment_bytes, segments.large_request_max_bytes);
  }
}

/// segment_bytes == 0: no shared large segments, every request above the
/// small ones gets a segment of its own (memory_constrained()'s layout).
void set_large_segments(PoolConfig& config, std::size_t segment_bytes) {
  SegmentConfig& segments = config.segments;
  if (segment_bytes == 0 || segment_bytes / 2 <= segments.small_request_max_bytes) {
    segments.large_request_max_bytes = segments.small_request_max_bytes;
    segments.large_segment_bytes = segments.small_request_max_bytes;
    return;
  }
  segments.large_segment_bytes = segment_bytes;
  segments.large_request_max_bytes = segment_bytes / 2;
}

std::size_t round_up(std::size_t value, std::size_t granule) {
  return (value + granule - 1) / granule * granule;
}

/// The values each setting takes. Byte caps scale with the traces, times
/// and counts are fixed ladders wide enough for any workload.
std::vector<Dimension> make_dimensions(std::size_t largest_peak_live_bytes,
                                       std::size_t common_limit_bytes) {
  std::vector<Dimension> dimensions;

  Dimension classes{"size_classes", {}};
  classes.choices.push_back({"default_size_classes()", [](PoolConfig& config) {
                               config.size_classes = default_size_classes();
                             }});
  for (const unsigned per_doubling : {1U, 2U, 4U, 8U}) {
    classes.choices.push_back({"geometric " + std::to_string(per_doubling) + "/doubling",
                               [per_doubling](PoolConfig& config) {
                                 config.size_classes =
                                     geometric_size_classes(256, 64 * kMiB, per_doubling);
                               }});
  }
  dimensions.push_back(std::move(classes));

  Dimension small{"small segments", {}};
  for (const std::size_t bytes : {256 * kKiB, 512 * kKiB, kMiB, 2 * kMiB, 4 * kMiB, 8 * kMiB}) {
    small.choices.push_back(
        {bytes_text(bytes), [bytes](PoolConfig& config) { set_small_segments(config, bytes); }});
  }
  dimensions.push_back(std::move(small));

  Dimension large{"large segments", {}};
  for (const std::size_t bytes : {std::size_t{0}, 8 * kMiB, 20 * kMiB, 64 * kMiB}) {
    large.choices.push_back({bytes == 0 ? "none" : bytes_text(bytes),
                             [bytes](PoolConfig& config) { set_large_segments(config, bytes); }});
  }
  dimensions.push_back(std::move(large));

  Dimension rounding{"dedicated rounding", {}};
  for (const std::size_t bytes : {4 * kKiB, 64 * kKiB, 256 * kKiB, 2 * kMiB}) {
    rounding.choices.push_back({bytes_text(bytes), [bytes](PoolConfig& config) {
                                  config.segments.dedicated_rounding_bytes = bytes;
                                }});
  }
  dimensions.push_back(std::move(rounding));

  Dimension pool_size{"max_pool_size", {}};
  for (const std::size_t count : {16U, 64U, 256U, 1024U, 4096U}) {
    pool_size.choices.push_back(
        {std::to_string(count), [count](PoolConfig& config) { config.max_pool_size = count; }});
  }
  dimensions.push_back(std::move(pool_size));

  Dimension cached{"max_cached_bytes", {}};
  cached.choices.push_back({"no cap", [](PoolConfig& config) { config.max_cached_bytes = 0; }});
  std::vector<std::size_t> caps;
  for (const std::size_t divisor : {64U, 16U, 4U, 1U}) {
    const std::size_t cap =
        round_up(std::max<std::size_t>(1, largest_peak_live_bytes / divisor), 64 * kKiB);
    if (std::find(caps.begin(), caps.end(), cap) == caps.end()) caps.push_back(cap);
  }
  for (const std::size_t cap : caps) {
    cached.choices.push_back(
        {bytes_text(cap), [cap](PoolConfig& config) { config.max_cached_bytes = cap; }});
  }
  dimensions.push_back(std::move(cached));

  Dimension eviction{"eviction", {}};
  eviction.choices.push_back(
      {"oldest_first", [](PoolConfig& config) { config.eviction = EvictionPolicy::oldest_first; }});
  eviction.choices.push_back(
      {"size_aware", [](PoolConfig& config) { config.eviction = EvictionPolicy::size_aware; }});
  dimensions.push_back(std::move(eviction));

  Dimension ttl{"ttl", {}};
  for (const std::chrono::milliseconds duration :
       {std::chrono::milliseconds{100}, std::chrono::milliseconds{1'000},
        std::chrono::milliseconds{5'000}, std::chrono::milliseconds{15'000},
        std::chrono::milliseconds{60'000}, std::chrono::milliseconds{600'000}}) {
    ttl.choices.push_back({seconds_text(duration), [duration](PoolConfig& config) {
                             // Cleanup at most every ttl: an idle buffer goes
                             // back between ttl and twice ttl after its release.
                             config.ttl = duration;
                             config.cleanup_interval = duration;
                           }});
  }
  dimensions.push_back(std::move(ttl));

  if (common_limit_bytes != 0) {
    Dimension limit{"memory_limit", {}};
    limit.choices.push_back({"none", [](PoolConfig& config) { config.memory_limit = 0; }});
    limit.choices.push_back(
        {bytes_text(common_limit_bytes),
         [common_limit_bytes](PoolConfig& config) { config.memory_limit = common_limit_bytes; }});
    dimensions.push_back(std::move(limit));
  }
  return dimensions;
}

/// "a=1, b=2" for each field that differs between the JSON of two configs.
std::string describe_changes(const PoolConfig& baseline, const PoolConfig& config) {
  if (baseline.to_json() == config.to_json()) return "baseline";
  std::vector<std::string> changes;
  const auto note = [&changes](bool differs, const std::string& text) {
    if (differs) changes.push_back(text);
  };
  if (config.size_classes != baseline.size_classes) {
    std::string classes = config.size_classes == default_size_classes()
                              ? "default"
                              : std::to_string(config.size_classes.size()) + " classes " +
                                    bytes_text(config.size_classes.front()) + ".." +
                                    bytes_text(config.size_classes.back());
    changes.push_back("size_classes=" + classes);
  }
  note(config.max_pool_size != baseline.max_pool_size,
       "max_pool_size=" + std::to_string(config.max_pool_size));
  note(config.max_cached_bytes != baseline.max_cached_bytes,
       "max_cached_bytes=" + bytes_text(config.max_cached_bytes));
  note(config.eviction != baseline.eviction,
       std::string("eviction=") +
           (config.eviction == EvictionPolicy::size_aware ? "size_aware" : "oldest_first"));
  note(config.memory_limit != baseline.memory_limit,
       "memory_limit=" + bytes_text(config.memory_limit));
  note(config.ttl != baseline.ttl, "ttl=" + seconds_text(config.ttl));
  note(config.cleanup_interval != baseline.cleanup_interval,
       "cleanup_interval=" + seconds_text(config.cleanup_interval));
  const SegmentConfig& a = baseline.segments;
  const SegmentConfig& b = config.segments;
  note(b.small_request_max_bytes != a.small_request_max_bytes,
       "segments.small_request_max_bytes=" + bytes_text(b.small_request_max_bytes));
  note(b.small_segment_bytes != a.small_segment_bytes,
       "segments.small_segment_bytes=" + bytes_text(b.small_segment_bytes));
  note(b.large_request_max_bytes != a.large_request_max_bytes,
       "segments.large_request_max_bytes=" + bytes_text(b.large_request_max_bytes));
  note(b.large_segment_bytes != a.large_segment_bytes,
       "segments.large_segment_bytes=" + bytes_text(b.large_segment_bytes));
  note(b.dedicated_rounding_bytes != a.dedicated_rounding_bytes,
       "segments.dedicated_rounding_bytes=" + bytes_text(b.dedicated_rounding_bytes));
  std::string text;
  for (const std::string& change : changes) {
    if (!text.empty()) text += ", ";
    text += change;
  }
  return text;
}

/// Per trace, lower is better: refused requests, then bytes over the bound,
/// then misses.
using TraceRank = std::tuple<std::uint64_t, std::size_t, std::uint64_t>;

TraceRank rank_on(const TuneTraceScore& score) {
  return {score.failed_requests, score.excess_bytes, score.misses};
}

/// Over all traces, lower is better; ties go to the candidate found first.
using TotalRank = std::tuple<std::uint64_t, std::size_t, std::uint64_t, std::size_t, std::uint64_t>;

TotalRank total_rank(const TuneCandidate& candidate) {
  return {candidate.failed_requests, candidate.excess_bytes, candidate.misses,
          candidate.peak_bytes_held, candidate.device_allocations};
}

/// At least as good as the baseline on every trace.
bool eligible(const TuneCandidate& candidate, const TuneCandidate& baseline) {
  for (std::size_t index = 0; index < candidate.traces.size(); ++index) {
    if (rank_on(baseline.traces[index]) < rank_on(candidate.traces[index])) return false;
  }
  return true;
}

TuneTraceScore score_of(const Trace& trace, const ReplayResult& result,
                        const TuneObjective& objective) {
  TuneTraceScore score;
  score.trace = trace.name;
  score.requests = result.requests;
  score.misses = result.metrics.misses;
  score.hit_rate = result.hit_rate;
  score.failed_requests = result.failed_requests;
  score.peak_bytes_held = result.peak_bytes_held;
  score.peak_bytes_live = result.peak_bytes_live;
  score.overhead = result.overhead;
  score.device_allocations = result.device_allocations;
  score.limit_bytes = objective.limit_bytes(trace);
  score.excess_bytes =
      result.peak_bytes_held > score.limit_bytes ? result.peak_bytes_held - score.limit_bytes : 0;
  return score;
}

void total_up(TuneCandidate& candidate) {
  std::uint64_t hits = 0;
  for (const TuneTraceScore& score : candidate.traces) {
    candidate.misses += score.misses;
    candidate.failed_requests += score.failed_requests;
    candidate.peak_bytes_held += score.peak_bytes_held;
    candidate.excess_bytes += score.excess_bytes;
    candidate.device_allocations += score.device_allocations;
    hits += score.requests - score.failed_requests - score.misses;
  }
  const std::uint64_t served = hits + candidate.misses;
  candidate.hit_rate = served == 0 ? 0.0 : static_cast<double>(hits) / static_cast<double>(served);
}

/// Every candidate replayed so far, each once, in the order first asked for.
class Search {
 public:
  Search(const std::vector<Trace>& traces, const TuneOptions& options, std::size_t most)
      : traces_(traces), options_(options), most_(most) {
    threads_ =
        options.threads != 0 ? options.threads : std::max(1U, std::thread::hardware_concurrency());
  }

  /// Replays those of `configs` not replayed yet; returns each one's index.
  std::vector<std::size_t> evaluate(const std::vector<PoolConfig>& configs) {
    std::vector<std::size_t> indices;
    std::vector<std::size_t> fresh;
    for (const PoolConfig& config : configs) {
      config.validate();
      std::string key = config.to_json();
      const auto found = index_of_.find(key);
      if (found != index_of_.end()) {
        indices.push_back(found->second);
        continue;
      }
      const std::size_t index = candidates_.size();
      index_of_.emplace(std::move(key), index);
      TuneCandidate candidate;
      candidate.config = config;
      candidate.changes = describe_changes(options_.baseline, config);
      candidate.traces.resize(traces_.size());
      candidates_.push_back(std::move(candidate));
      indices.push_back(index);
      fresh.push_back(index);
    }
    replay_all(fresh);
    for (const std::size_t index : fresh) total_up(candidates_[index]);
    if (options_.progress)
      options_.progress(candidates_.size(), std::max(most_, candidates_.size()));
    return indices;
  }

  [[nodiscard]] const TuneCandidate& candidate(std::size_t index) const {
    return candidates_[index];
  }
  [[nodiscard]] const std::vector<TuneCandidate>& candidates() const { return candidates_; }

 private:
  /// Every (candidate, trace) pair of `fresh`, on up to threads_ threads.
  void replay_all(const std::vector<std::size_t>& fresh) {
    const std::size_t jobs = fresh.size() * traces_.size();
    if (jobs == 0) return;
    ReplayOptions replay_options;
    replay_options.max_fragmentation_samples = 0;
    replay_options.snapshot_at_peak = false;
    std::atomic<std::size_t> next_job{0};
    std::exception_ptr failure;
    std::mutex failure_mutex;
    const auto work = [&] {
      for (std::size_t job = next_job.fetch_add(1); job < jobs; job = next_job.fetch_add(1)) {
        TuneCandidate& candidate = candidates_[fresh[job / traces_.size()]];
        const Trace& trace = traces_[job % traces_.size()];
        try {
          const ReplayResult result = replay(trace, candidate.config, replay_options);
          candidate.traces[job % traces_.size()] = score_of(trace, result, options_.objective);
        } catch (...) {
          const std::lock_guard lock(failure_mutex);
          if (!failure) failure = std::current_exception();
          next_job.store(jobs);
        }
      }
    };
    const std::size_t helpers = std::min<std::size_t>(threads_, jobs) - 1;
    std::vector<std::jthread> workers;
    workers.reserve(helpers);
    for (std::size_t helper = 0; helper < helpers; ++helper) workers.emplace_back(work);
    work();
    workers.clear();  // joins
    if (failure) std::rethrow_exception(failure);
  }

  const std::vector<Trace>& traces_;
  const TuneOptions& options_;
  std::size_t most_;
  unsigned threads_ = 1;
  std::vector<TuneCandidate> candidates_;
  std::map<std::string, std::size_t> index_of_;
};

/// The index of the best candidate among `indices` and `current`; with
/// `eligible_only`, only those eligible beat `current`.
std::size_t best_of(const Search& search, const std::vector<std::size_t>& indices,
                    std::size_t current, bool eligible_only) {
  const TuneCandidate& baseline = search.candidate(0);
  std::size_t best = current;
  for (const std::size_t index : indices) {
    const TuneCandidate& candidate = search.candidate(index);
    if ((!eligible_only || eligible(candidate, baseline)) &&
        total_rank(candidate) < total_rank(search.candidate(best))) {
      best = index;
    }
  }
  return best;
}

/// Up to `count` distinct starting points for refinement: the best eligible
/// candidate, then the best of all, eligible or not (a better region may lie
/// past settings that do worse than the baseline on some trace).
std::vector<std::size_t> starting_points(const Search& search, std::size_t count) {
  std::vector<std::size_t> all(search.candidates().size());
  for (std::size_t index = 0; index < all.size(); ++index) all[index] = index;
  std::vector<std::size_t> starts = {best_of(search, all, 0, true)};
  std::stable_sort(all.begin(), all.end(), [&search](std::size_t left, std::size_t right) {
    return total_rank(search.candidate(left)) < total_rank(search.candidate(right));
  });
  for (const std::size_t index : all) {
    if (starts.size() >= count) break;
    if (std::find(starts.begin(), starts.end(), index) == starts.end()) starts.push_back(index);
  }
  return starts;
}

std::vector<TuneCandidate> frontier_of(const std::vector<TuneCandidate>& candidates) {
  std::vector<const TuneCandidate*> serving;
  for (const TuneCandidate& candidate : candidates) {
    if (candidate.failed_requests == 0) serving.push_back(&candidate);
  }
  // Fewest bytes first, fewest misses among equals; a candidate is on the
  // frontier when it has fewer misses than every one before it.
  std::stable_sort(serving.begin(), serving.end(), [](const auto* left, const auto* right) {
    return std::tie(left->peak_bytes_held, left->misses) <
           std::tie(right->peak_bytes_held, right->misses);
  });
  std::vector<TuneCandidate> frontier;
  for (const TuneCandidate* candidate : serving) {
    if (frontier.empty() || candidate->misses < frontier.back().misses) {
      frontier.push_back(*candidate);
    }
  }
  return frontier;
}

}  // namespace

std::size_t TuneObjective::limit_bytes(const Trace& trace) const noexcept {
  if (kind == Kind::memory_budget) return memory_budget_bytes;
  return static_cast<std::size_t>(
      std::floor(max_overhead * static_cast<double>(trace.peak_live_bytes)));
}

std::string TuneObjective::describe() const {
  if (kind == Kind::memory_budget) {
    return "the most hits with peak held <= " + bytes_text(memory_budget_bytes) + " (" +
           std::to_string(memory_budget_bytes) + " bytes) on every trace";
  }
  std::ostringstream text;
  text << "the most hits with peak held <= " << max_overhead << "x peak live on every trace";
  return text.str();
}

TuneResult tune(const std::vector<Trace>& traces, const TuneOptions& options) {
  if (traces.empty()) {
    throw InvalidArgumentError("bufferpool: tune() was given no traces; give at least one");
  }
  const TuneObjective& objective = options.objective;
  if (objective.kind == TuneObjective::Kind::max_overhead &&
      !(objective.max_overhead >= 1.0 && std::isfinite(objective.max_overhead))) {
    throw InvalidArgumentError(
        "bufferpool: tune(): max_overhead is " + std::to_string(objective.max_overhead) +
        "; no pool holds less than its live bytes, so give a ratio >= 1 (1.25: a quarter more)");
  }
  if (objective.kind == TuneObjective::Kind::memory_budget && objective.memory_budget_bytes == 0) {
    throw InvalidArgumentError(
        "bufferpool: tune(): memory_budget_bytes is 0; give the most bytes the pool may hold");
  }
  options.baseline.validate();

  std::size_t largest_peak_live_bytes = 0;
  for (const Trace& trace : traces) {
    largest_peak_live_bytes = std::max(largest_peak_live_bytes, trace.peak_live_bytes);
  }
  // A memory budget is a limit the program has, which memory_limit can
  // enforce; a bound derived from a trace's peak is not one to fail
  // requests at when the next run needs a little more.
  const std::size_t common_limit_bytes =
      objective.kind == TuneObjective::Kind::memory_budget ? objective.memory_budget_bytes : 0;
  const std::vector<Dimension> dimensions =
      make_dimensions(largest_peak_live_bytes, common_limit_bytes);

  // The coarse grid: the settings that move the bytes held most, two
  // values each, over the baseline.
  std::vector<PoolConfig> grid;
  {
    std::vector<PoolConfig> layer = {options.baseline};
    const auto expand = [&layer](const std::vector<std::function<void(PoolConfig&)>>& values) {
      std::vector<PoolConfig> next;
      for (const PoolConfig& config : layer) {
        for (const auto& apply : values) {
          PoolConfig changed = config;
          apply(changed);
          next.push_back(std::move(changed));
        }
      }
      layer = std::move(next);
    };
    const std::size_t quarter_cap =
        round_up(std::max<std::size_t>(1, largest_peak_live_bytes / 4), 64 * kKiB);
    expand({[](PoolConfig& config) { set_large_segments(config, 20 * kMiB); },
            [](PoolConfig& config) { set_large_segments(config, 0); }});
    expand({[](PoolConfig& config) { config.segments.dedicated_rounding_bytes = 2 * kMiB; },
            [](PoolConfig& config) { config.segments.dedicated_rounding_bytes = 64 * kKiB; }});
    expand({[](PoolConfig& config) { config.max_cached_bytes = 0; },
            [quarter_cap](PoolConfig& config) { config.max_cached_bytes = quarter_cap; }});
    expand({[](PoolConfig& config) { config.eviction = EvictionPolicy::oldest_first; },
            [](PoolConfig& config) { config.eviction = EvictionPolicy::size_aware; }});
    expand({[](PoolConfig& config) {
              config.ttl = std::chrono::seconds{1};
              config.cleanup_interval = std::chrono::seconds{1};
            },
            [](PoolConfig& config) {
              config.ttl = std::chrono::seconds{60};
              config.cleanup_interval = std::chrono::seconds{60};
            }});
    grid = std::move(layer);
  }
  std::size_t choices_per_round = 0;
  for (const Dimension& dimension : dimensions) choices_per_round += dimension.choices.size();
  const std::size_t most =
      3 + grid.size() + kStartingPoints * options.refinement_rounds * choices_per_round;

  Search search(traces, options, most);
  // Index 0 is the baseline: every eligibility test compares with it.
  (void)search.evaluate({options.baseline});
  (void)search.evaluate({PoolConfig::memory_constrained(), PoolConfig::performance_critical()});
  (void)search.evaluate(grid);

  // Coordinate descent from each starting point: every value of one setting
  // at a time, moving to the best; the recommendation is then the best
  // eligible candidate of all those replayed.
  for (const std::size_t start : starting_points(search, kStartingPoints)) {
    std::size_t current = start;
    for (unsigned round = 0; round < options.refinement_rounds; ++round) {
      const std::size_t round_start = current;
      for (const Dimension& dimension : dimensions) {
        std::vector<PoolConfig> neighbours;
        for (const Choice& choice : dimension.choices) {
          PoolConfig changed = search.candidate(current).config;
          choice.apply(changed);
          neighbours.push_back(std::move(changed));
        }
        current = best_of(search, search.evaluate(neighbours), current, false);
      }
      if (current == round_start) break;
    }
  }
  std::vector<std::size_t> all(search.candidates().size());
  for (std::size_t index = 0; index < all.size(); ++index) all[index] = index;
  const std::size_t best = best_of(search, all, 0, true);

  TuneResult result;
  result.objective = objective;
  result.baseline = search.candidate(0);
  result.recommended = search.candidate(best);
  result.frontier = frontier_of(search.candidates());
  result.candidates_evaluated = search.candidates().size();
  return result;
}

std::string to_cpp_statements(const PoolConfig& config, std::string_view variable) {
  const std::string prefix(variable);
  std::ostringstream out;
  const auto duration = [](std::chrono::nanoseconds value) {
    if (value.count() % 1'000'000 == 0) {
      return "std::chrono::milliseconds{" + std::to_string(value.count() / 1'000'000) + "}";
    }
    return "std::chrono::nanoseconds{" + std::to_string(value.count()) + "}";
  };
  std::string classes;
  if (config.size_classes == default_size_classes()) {
    classes = "bufferpool::default_size_classes()";
  } else {
    for (unsigned per_doubling = 1; per_doubling <= 64 && classes.empty(); ++per_doubling) {
      if (config.size_classes == geometric_size_classes(config.size_classes.front(),
                                                        config.size_classes.back(), per_doubling)) {
        classes = "bufferpool::geometric_size_classes(" +
                  std::to_string(config.size_classes.front()) + ", " +
                  std::to_string(config.size_classes.back()) + ", " + std::to_string(per_doubling) +
                  ")";
      }
    }
    if (classes.empty()) {
      classes = "{";
      for (std::size_t index = 0; index < config.size_classes.size(); ++index) {
        classes += (index == 0 ? "" : ", ") + std::to_string(config.size_classes[index]);
      }
      classes += "}";
    }
  }
  const auto text = [](const std::string& value) {
    std::string quoted = "\"";
    for (const char character : value) {
      switch (character) {
        case '"':
          quoted += "\\\"";
          break;
        case '\\':
          quoted += "\\\\";
          break;
        case '\n':
          quoted += "\\n";
          break;
        case '\t':
          quoted += "\\t";
          break;
        case '\r':
          quoted += "\\r";
          break;
        default:
          quoted += character;
      }
    }
    return quoted + "\"";
  };
  const auto flag = [](bool value) { return value ? "true" : "false"; };
  out << prefix << ".size_classes = " << classes << ";\n"
      << prefix << ".max_pool_size = " << config.max_pool_size << ";\n"
      << prefix << ".max_cached_bytes = " << config.max_cached_bytes << ";\n"
      << prefix << ".eviction = bufferpool::EvictionPolicy::"
      << (config.eviction == EvictionPolicy::size_aware ? "size_aware" : "oldest_first") << ";\n"
      << prefix << ".memory_limit = " << config.memory_limit << ";\n"
      << prefix << ".ttl = " << duration(config.ttl) << ";\n"
      << prefix << ".cleanup_interval = " << duration(config.cleanup_interval) << ";\n"
      << prefix << ".background_cleanup = " << flag(config.background_cleanup) << ";\n"
      << prefix << ".segments.small_request_max_bytes = " << config.segments.small_request_max_bytes
      << ";\n"
      << prefix << ".segments.small_segment_bytes = " << config.segments.small_segment_bytes
      << ";\n"
      << prefix << ".segments.large_request_max_bytes = " << config.segments.large_request_max_bytes
      << ";\n"
      << prefix << ".segments.large_segment_bytes = " << config.segments.large_segment_bytes
      << ";\n"
      << prefix
      << ".segments.dedicated_rounding_bytes = " << config.segments.dedicated_rounding_bytes
      << ";\n"
      << prefix << ".zero_on_reuse = " << flag(config.zero_on_reuse) << ";\n"
      << prefix << ".trace_path = " << text(config.trace_path) << ";\n"
      << prefix << ".record_from_environment = " << flag(config.record_from_environment) << ";\n"
      << prefix << ".track_live_buffers = " << flag(config.track_live_buffers) << ";\n"
      << prefix << ".record_call_stacks = " << flag(config.record_call_stacks) << ";\n";
  return out.str();
}

}  // namespace bufferpool
