// The README's ComputeManager snippet, runnable: saxpy on the default device.
#include <bufferpool/bufferpool.hpp>
#include <bufferpool/manager.hpp>

#include <cstdint>
#include <cstdio>
#include <vector>

struct Saxpy {
  std::uint32_t n;
  float a;
};

int main() {
  bufferpool::ComputeManager manager;
  std::printf("device: %s\n", manager.backend_name().c_str());
  if (!manager.can_execute_shaders()) {
    std::printf("no Vulkan device: shaders need one (apt-get install mesa-vulkan-drivers)\n");
    return 1;
  }
  manager.load_shader_library(BUFFERPOOL_SHADER_DIR "/saxpy.comp", "kernels");
  manager.create_compute_pipeline("kernels", "saxpy", "saxpy");

  const std::vector<float> xs(1000, 1.5F);
  const std::vector<float> ys(1000, 0.25F);
  const auto n = static_cast<std::uint32_t>(xs.size());

  bufferpool::AutoReleaseScope scope;
  auto x = bufferpool::autorelease(manager.create_buffer(std::span<const float>(xs)));
  auto y = bufferpool::autorelease(manager.create_buffer(std::span<const float>(ys)));
  auto out = bufferpool::autorelease(manager.create_buffer(xs.size() * sizeof(float)));

  manager.execute_shader("saxpy", {x, y}, {out}, bufferpool::ThreadGroups{(n + 63) / 64},
                         bufferpool::ThreadsPerGroup{64}, Saxpy{n, 2.0F});
  manager.execute_shader("saxpy", {x, y}, {out}, bufferpool::TotalThreads{n}, Saxpy{n, 2.0F});
  auto pending =
      manager.submit("saxpy", {x, y}, {out}, bufferpool::TotalThreads{n}, Saxpy{n, 2.0F});
  pending.wait();

  const auto result = manager.get_buffer_data<float>(out);
  bool correct = true;
  for (const float value : result) correct = correct && value == 2.0F * 1.5F + 0.25F;
  std::printf("saxpy over %u floats: %s\n", n, correct ? "correct" : "WRONG");
  std::printf("%s\n", manager.get_performance_metrics().to_json().c_str());
  return correct ? 0 : 1;
}
