// Google Benchmark micro-benchmarks of the pool on the host backend: the hit
// path (get + release of a cached buffer), the carve path (a request the
// ready cache cannot serve, carved from segment space, and a buffer given
// back to its segment), the miss path (caching off: a backend allocation and
// free per request) and malloc + free for scale, per size class, with 1, 2
// and 4 threads on one pool; and the hit path while the pool records its
// trace (BufferPool::start_recording) or tells an observer that does nothing,
// which is what observing costs per hit (two events: allocate and free).
//
//   build-bench/bench/bufferpool_microbench --benchmark_filter=HitPath
#include <bufferpool/bufferpool.hpp>

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <memory>

namespace {

bufferpool::BufferPool& pool_with(std::size_t max_pool_size) {
  bufferpool::PoolConfig config;
  config.max_pool_size = max_pool_size;
  if (max_pool_size == 0) {
    static bufferpool::BufferPool caching_off(bufferpool::make_host_backend(), config);
    return caching_off;
  }
  static bufferpool::BufferPool pooled(bufferpool::make_host_backend(), config);
  return pooled;
}

void BM_HitPath(benchmark::State& state) {
  bufferpool::BufferPool& pool = pool_with(1024);
  const auto size = static_cast<std::size_t>(state.range(0));
  pool.get_buffer(size).reset();  // this thread's shard now holds one
  for (auto _ : state) {
    bufferpool::BufferRef buffer = pool.get_buffer(size);
    benchmark::DoNotOptimize(buffer);
  }
  state.SetItemsProcessed(state.iterations());
}

/// Hits of one 4 KiB buffer while the pool is watched: `recording` writes
/// RMM's CSV to a temporary file, else an observer ignores every event.
void watched_hits(benchmark::State& state, bool recording) {
  static bufferpool::BufferPool pool(bufferpool::make_host_backend());
  struct Ignore final : bufferpool::PoolObserver {
    void on_event(const bufferpool::PoolEvent& /*event*/) noexcept override {}
  };
  static const auto ignore = std::make_shared<Ignore>();
  const auto trace = std::filesystem::temp_directory_path() / "bufferpool_microbench_trace.csv";
  if (state.thread_index() == 0) {
    if (recording) {
      pool.start_recording(trace);
    } else {
      pool.add_observer(ignore);
    }
  }
  pool.get_buffer(4096).reset();
  for (auto _ : state) {
    bufferpool::BufferRef buffer = pool.get_buffer(4096);
    benchmark::DoNotOptimize(buffer);
  }
  if (state.thread_index() == 0) {
    if (recording) {
      state.counters["recording_waits"] = static_cast<double>(pool.metrics().recording_waits);
      pool.stop_recording();
      std::filesystem::remove(trace);
    } else {
      pool.remove_observer(*ignore);
    }
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_HitPathRecording(benchmark::State& state) { watched_hits(state, true); }
void BM_HitPathObserved(benchmark::State& state) { watched_hits(state, false); }

void BM_CarvePath(benchmark::State& state) {
  // One idle buffer kept: each iteration reuses it, carves a second one from
  // the segment, and on release gives the older back to its segment, where it
  // merges with the free space: one carve and one give-back, plus a hit.
  bufferpool::PoolConfig config;
  config.max_pool_size = 1;
  bufferpool::BufferPool pool(bufferpool::make_host_backend(), config);
  const auto size = static_cast<std::size_t>(state.range(0));
  pool.get_buffer(size).reset();
  for (auto _ : state) {
    bufferpool::BufferRef reused = pool.get_buffer(size);
    bufferpool::BufferRef carved = pool.get_buffer(size);
    benchmark::DoNotOptimize(reused);
    benchmark::DoNotOptimize(carved);
  }
  const auto metrics = pool.metrics();
  state.counters["carves"] = static_cast<double>(metrics.hits_carved);
  state.counters["backend_allocations"] = static_cast<double>(metrics.allocations);
  state.SetItemsProcessed(state.iterations());
}

void BM_MissPath(benchmark::State& state) {
  bufferpool::BufferPool& pool = pool_with(0);
  const auto size = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    bufferpool::BufferRef buffer = pool.get_buffer(size);
    benchmark::DoNotOptimize(buffer);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_MallocFree(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    void* memory = std::malloc(size);  // NOLINT(cppcoreguidelines-no-malloc): the reference
    benchmark::DoNotOptimize(memory);
    std::free(memory);  // NOLINT(cppcoreguidelines-no-malloc)
  }
  state.SetItemsProcessed(state.iterations());
}

constexpr std::int64_t kSmallestClass = 256;
constexpr std::int64_t kLargestClass = std::int64_t{64} << 20;

BENCHMARK(BM_HitPath)
    ->RangeMultiplier(4)
    ->Range(kSmallestClass, kLargestClass)
    ->ThreadRange(1, 4)
    ->UseRealTime();
BENCHMARK(BM_HitPathRecording)->ThreadRange(1, 4)->UseRealTime();
BENCHMARK(BM_HitPathObserved)->ThreadRange(1, 4)->UseRealTime();
BENCHMARK(BM_CarvePath)->RangeMultiplier(4)->Range(kSmallestClass, std::int64_t{1} << 20);
BENCHMARK(BM_MissPath)
    ->RangeMultiplier(4)
    ->Range(kSmallestClass, kLargestClass)
    ->ThreadRange(1, 4)
    ->UseRealTime();
BENCHMARK(BM_MallocFree)
    ->RangeMultiplier(4)
    ->Range(kSmallestClass, kLargestClass)
    ->ThreadRange(1, 4)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
