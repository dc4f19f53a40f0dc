// A training-like allocation workload on the host backend: each step makes
// activations, gradients and scratch buffers of a few sizes inside an
// AutoReleaseScope, the way a framework's ops do. Prints what the pool did,
// then the same steps with caching off for comparison.
#include <bufferpool/bufferpool.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

namespace {

constexpr int kSteps = 2000;
constexpr std::size_t kBatch = 32;

struct RunResult {
  bufferpool::PoolMetrics metrics;
  double seconds = 0;
};

RunResult run(bufferpool::PoolConfig config) {
  bufferpool::BufferPool pool(bufferpool::make_host_backend(), std::move(config));
  const std::vector<std::size_t> layer_features = {784, 512, 256, 128, 10};
  std::mt19937 random(7);
  const auto start = std::chrono::steady_clock::now();
  for (int step = 0; step < kSteps; ++step) {
    bufferpool::AutoReleaseScope step_scope;
    std::vector<bufferpool::BufferRef> activations;
    for (const std::size_t features : layer_features) {
      auto activation = bufferpool::autorelease(pool.get_buffer(kBatch * features * sizeof(float)));
      std::memset(activation.data(), 0, activation.size());
      activations.push_back(activation);
      // Scratch space of a varying size, as a fused op would ask for.
      auto scratch = pool.get_buffer(256 + random() % 4096);
      std::memset(scratch.data(), 1, scratch.size());
    }
    for (auto it = activations.rbegin(); it != activations.rend(); ++it) {
      auto gradient = bufferpool::autorelease(pool.get_buffer(it->size()));
      std::memcpy(gradient.data(), it->data(), it->size());
    }
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  return {pool.metrics(), std::chrono::duration<double>(elapsed).count()};
}

void print(const char* label, const RunResult& result) {
  const auto& m = result.metrics;
  std::printf("%-14s %8.1f ms  hit rate %6.2f%%  allocations %7llu  peak held %8.1f KiB\n", label,
              result.seconds * 1e3, 100.0 * m.hit_rate(),
              static_cast<unsigned long long>(m.allocations),
              static_cast<double>(m.peak_bytes_allocated) / 1024.0);
}

}  // namespace

int main() {
  std::printf("host workload: %d steps of a 5-layer forward and backward pass, batch %zu\n\n",
              kSteps, kBatch);
  const auto pooled = run({});
  bufferpool::PoolConfig uncached;
  uncached.max_pool_size = 0;
  const auto baseline = run(uncached);
  print("pooled", pooled);
  print("caching off", baseline);
  std::printf("\nspeed-up from pooling: %.2fx\n", baseline.seconds / pooled.seconds);
  std::printf("\npool metrics (JSON):\n%s\n", pooled.metrics.to_json().c_str());
  return 0;
}
