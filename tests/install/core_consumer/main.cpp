// The core API from an installed package: a pool on host memory, a hit, a
// scope, and the metrics as JSON.
#include <bufferpool/bufferpool.hpp>

#include <cstdio>
#include <cstring>
#include <string>

int main() {
  bufferpool::BufferPool pool(bufferpool::make_host_backend());
  pool.get_buffer(1000).reset();
  bool same_bytes = false;
  {
    bufferpool::AutoReleaseScope scope;
    auto again = bufferpool::autorelease(pool.get_buffer(1000));
    std::memset(again.data(), 0x5A, again.size());
    same_bytes = again.bytes()[999] == std::byte{0x5A};
  }
  const bufferpool::PoolMetrics metrics = pool.metrics();
  const bool ok = metrics.hits == 1 && metrics.misses == 1 && metrics.buffers_in_use == 0 &&
                  same_bytes && metrics.to_json().find("\"hits\":1") != std::string::npos;
  std::printf("core consumer: %s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
