// The README's and user guide's snippets, runnable. Each block mirrors one of
// the design document's examples.
#include <bufferpool/bufferpool.hpp>

#include <cstdio>
#include <cstring>

int main() {
  using namespace std::chrono_literals;

  // A pool over host memory, with the design's default settings.
  bufferpool::BufferPool pool(bufferpool::make_host_backend());

  // Reference counting.
  auto buffer = pool.get_buffer(1024);  // ref_count() == 1
  buffer.increment();                   // 2
  buffer.decrement();                   // 1
  buffer.decrement();                   // 0: back in the pool, handle empty
  std::printf("after the counting sequence: handle empty = %s, idle buffers = %zu\n",
              buffer ? "no" : "yes", pool.metrics().buffers_cached);

  // Auto-release scopes: references dropped when the scope ends.
  {
    bufferpool::AutoReleaseScope scope;
    auto input = bufferpool::autorelease(pool.get_buffer(4096));
    auto output = bufferpool::autorelease(pool.get_buffer(4096));
    std::memset(input.data(), 0, input.size());
    std::memcpy(output.data(), input.data(), input.size());
  }

  // Batch similar operations: same-sized buffers are reused.
  for (int i = 0; i < 10; ++i) {
    bufferpool::AutoReleaseScope scope;
    auto step_buffer = bufferpool::autorelease(pool.get_buffer(64 * 1024));
    std::memset(step_buffer.data(), i, step_buffer.size());
  }

  // Settings for a memory-constrained machine, tuned by hand.
  bufferpool::PoolConfig constrained = bufferpool::PoolConfig::memory_constrained();
  constrained.ttl = 15s;
  constrained.memory_limit = 256 << 20;
  bufferpool::BufferPool small_pool(bufferpool::make_host_backend(), constrained);
  auto scratch = small_pool.get_buffer(100'000);

  // Monitoring.
  const auto metrics = pool.metrics();
  std::printf("hit rate: %.2f%%\n", 100.0 * metrics.hit_rate());
  std::printf("memory held: %.2f MiB (peak %.2f MiB)\n",
              static_cast<double>(metrics.current_bytes_allocated) / (1 << 20),
              static_cast<double>(metrics.peak_bytes_allocated) / (1 << 20));
  std::printf("%s\n", metrics.to_json().c_str());
  return 0;
}
