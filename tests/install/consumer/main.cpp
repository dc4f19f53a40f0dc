#include <bufferpool/bufferpool.hpp>
#include <bufferpool/manager.hpp>

#include <cstdio>
#include <vector>

int main() {
  bufferpool::BufferPool pool(bufferpool::make_host_backend());
  pool.get_buffer(1000).reset();
  auto again = pool.get_buffer(1000);

  bufferpool::ComputeManager manager({.backend = bufferpool::ManagerBackend::host});
  const std::vector<float> data = {1.0F, 2.0F, 3.0F};
  auto buffer = manager.create_buffer(std::span<const float>(data));
  const auto back = manager.get_buffer_data<float>(buffer);
  const bool ok = pool.metrics().hits == 1 && back == data;
  std::printf("consumer: %s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
