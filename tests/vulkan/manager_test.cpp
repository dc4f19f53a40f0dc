// The ComputeManager: GPU safety of released buffers, shader loading and its
// errors, device choice, the host backend, and metrics.
#include "vulkan_test_support.hpp"

#include <bufferpool/manager.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace bufferpool::testing {
namespace {

using ::testing::HasSubstr;

struct SaxpyParams {
  std::uint32_t n;
  float a;
};
struct MatmulParams {
  std::uint32_t rows;
  std::uint32_t columns;
  std::uint32_t inner;
};

std::filesystem::path temporary_folder(const std::string& name) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("bufferpool_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(path);
  std::filesystem::create_directories(path);
  return path;
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

/// Sets an environment variable for one scope.
class ScopedEnvironment {
 public:
  ScopedEnvironment(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name); old != nullptr) old_ = old;
    ::setenv(name, value, 1);
  }
  ~ScopedEnvironment() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnvironment(const ScopedEnvironment&) = delete;
  ScopedEnvironment& operator=(const ScopedEnvironment&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

constexpr const char* kFixedSizeShader = R"(#version 450
layout(local_size_x = 32) in;
layout(set = 0, binding = 0) buffer Data { uint values[]; };
void main() { values[gl_GlobalInvocationID.x] = gl_GlobalInvocationID.x; }
)";

TEST(VulkanManager, ABufferReleasedWhileItsDispatchRunsIsNotReusedUntilItEnds) {
  ComputeManager manager(validated_manager_options());
  manager.load_builtin_shader_library("kernels");
  manager.create_compute_pipeline("kernels", "matmul", "matmul");
  // Long enough on llvmpipe to still run when the buffers are dropped.
  const MatmulParams params{96, 96, 8192};
  const std::vector<float> a(std::size_t{params.rows} * params.inner, 0.5F);
  const std::vector<float> b(std::size_t{params.inner} * params.columns, 0.25F);
  const std::size_t out_bytes = std::size_t{params.rows} * params.columns * sizeof(float);

  auto a_buffer = manager.create_buffer(a);
  auto b_buffer = manager.create_buffer(b);
  auto out = manager.create_buffer(out_bytes);
  // Buffers share segments: a buffer is its segment and its offset in it.
  const auto place_of = [](const BufferRef& buffer) {
    return std::pair(buffer.native_handle(), buffer.offset_bytes());
  };
  const auto out_place = place_of(out);
  const Submission work = manager.submit_over("matmul", {a_buffer, b_buffer}, {out},
                                              {params.columns, params.rows}, params);
  a_buffer.reset();
  b_buffer.reset();
  out.reset();
  if (work.done()) GTEST_SKIP() << "the dispatch ended before the buffers were dropped";

  EXPECT_GE(manager.pool().metrics().buffers_pending_gpu, 3U);
  // Same size class, asked for while the dispatch runs: a different buffer,
  // and filling it does not touch the dispatch's output.
  auto during = manager.create_buffer(std::vector<float>(out_bytes / sizeof(float), -1.0F));
  EXPECT_NE(place_of(during), out_place);
  EXPECT_FALSE(work.done()) << "the test needs a dispatch that outlives these steps";

  work.wait();
  during.reset();
  // Now the pool may hand the output's buffer out again: it holds the result.
  std::vector<BufferRef> later;
  bool found = false;
  for (int i = 0; i < 4 && !found; ++i) {
    later.push_back(manager.create_buffer(out_bytes));
    if (place_of(later.back()) != out_place) continue;
    found = true;
    const auto values = manager.get_buffer_data<float>(later.back());
    for (const float value : values) ASSERT_FLOAT_EQ(value, 0.5F * 0.25F * float(params.inner));
  }
  EXPECT_TRUE(found) << "the released output buffer came back to the pool";
  EXPECT_EQ(manager.pool().metrics().buffers_pending_gpu, 0U);
}

TEST(VulkanManager, SubmitReturnsAtOnceAndWaitGivesTheResult) {
  ComputeManager manager(validated_manager_options());
  manager.load_builtin_shader_library("kernels");
  manager.create_compute_pipeline("kernels", "saxpy", "saxpy");
  const std::size_t n = 300;
  std::vector<Submission> submissions;
  std::vector<BufferRef> outputs;
  for (int i = 0; i < 5; ++i) {
    auto x = manager.create_buffer(std::vector<float>(n, float(i)));
    auto y = manager.create_buffer(std::vector<float>(n, 1.0F));
    outputs.push_back(manager.create_buffer(n * sizeof(float)));
    submissions.push_back(manager.submit("saxpy", {x, y}, {outputs.back()}, n,
                                         SaxpyParams{static_cast<std::uint32_t>(n), 2.0F}));
  }
  for (const auto& submission : submissions) submission.wait();
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(submissions[static_cast<std::size_t>(i)].done());
    for (const float value : manager.get_buffer_data<float>(outputs[static_cast<std::size_t>(i)])) {
      ASSERT_FLOAT_EQ(value, 2.0F * float(i) + 1.0F);
    }
  }
}

TEST(VulkanManager, CompileErrorsCarryTheCompilersLineNumbers) {
  ComputeManager manager(validated_manager_options());
  const std::string broken =
      "#version 450\nlayout(local_size_x = 1) in;\nvoid main() {\n"
      "  float x = 1.0;\n  x = undeclared_name;\n}\n";
  try {
    manager.load_shader_library_from_source(broken, "broken");
    FAIL() << "compiled";
  } catch (const ShaderCompileError& error) {
    EXPECT_THAT(error.what(), HasSubstr("broken:5:"));
    EXPECT_THAT(error.what(), HasSubstr("undeclared_name"));
  }
  const auto folder = temporary_folder("compile_error");
  write_file(folder / "bad.comp", broken);
  try {
    manager.load_shader_library(folder / "bad.comp", "bad");
    FAIL() << "compiled";
  } catch (const ShaderCompileError& error) {
    EXPECT_THAT(error.what(), HasSubstr("bad.comp:5:"));
  }
  EXPECT_THROW(manager.load_shader_library(folder / "missing.comp", "missing"),
               InvalidArgumentError);
  std::filesystem::remove_all(folder);
}

TEST(VulkanManager, LoadsAFolderOfGlslAndSpirvFiles) {
  ComputeManager manager(validated_manager_options());
  const auto folder = temporary_folder("library");
  for (const auto& source : builtin_shader_sources()) {
    write_file(folder / (std::string(source.name) + ".comp"), std::string(source.glsl));
  }
  std::filesystem::copy_file(BUFFERPOOL_TEST_SPIRV_FILE, folder / "fill_index.spv");
  manager.load_shader_library(folder, "from_files");
  const auto functions = manager.shader_functions("from_files");
  EXPECT_THAT(functions, ::testing::IsSupersetOf({"activation", "matmul", "reduce_sum", "saxpy"}));
  manager.create_compute_pipeline("from_files", "saxpy", "saxpy");
  auto x = manager.create_buffer(std::vector<float>{1, 2, 3});
  auto y = manager.create_buffer(std::vector<float>{10, 20, 30});
  auto out = manager.create_buffer(3 * sizeof(float));
  manager.execute_shader("saxpy", {x, y}, {out}, {1, 1, 1}, {64, 1, 1}, SaxpyParams{3, 2.0F});
  EXPECT_EQ(manager.get_buffer_data<float>(out), (std::vector<float>{12, 24, 36}));
  manager.create_compute_pipeline("from_files", "fill_index", "fill_index");
  auto values = manager.create_buffer(100 * sizeof(std::uint32_t));
  manager.execute_shader("fill_index", {}, {values}, {4, 1, 1});
  const auto indices = manager.get_buffer_data<std::uint32_t>(values);
  for (std::uint32_t i = 0; i < 100; ++i) ASSERT_EQ(indices[i], i);
  std::filesystem::remove_all(folder);
}

TEST(VulkanManager, AShaderWithAFixedGroupSizeKeepsIt) {
  ComputeManager manager(validated_manager_options());
  manager.load_shader_library_from_source(kFixedSizeShader, "fixed");
  manager.create_compute_pipeline("fixed", "main", "fixed");
  EXPECT_EQ(manager.threads_per_group("fixed", {1000}), (Extent3D{32, 1, 1}));
  auto values = manager.create_buffer(64 * sizeof(std::uint32_t));
  manager.execute_shader("fixed", {values}, {}, {2, 1, 1});
  const auto result = manager.get_buffer_data<std::uint32_t>(values);
  for (std::uint32_t i = 0; i < 64; ++i) ASSERT_EQ(result[i], i);
  EXPECT_THROW(manager.execute_shader("fixed", {values}, {}, {1, 1, 1}, Extent3D{64, 1, 1}),
               InvalidArgumentError);
}

TEST(VulkanManager, MisuseIsReportedClearly) {
  ComputeManager manager(validated_manager_options());
  manager.load_builtin_shader_library("kernels");
  manager.create_compute_pipeline("kernels", "saxpy", "saxpy");
  auto x = manager.create_buffer(std::vector<float>(16, 1.0F));
  try {
    manager.execute_shader("saxpy", {x}, {x}, std::size_t{16}, SaxpyParams{16, 1.0F});
    FAIL();
  } catch (const InvalidArgumentError& error) {
    EXPECT_THAT(error.what(), HasSubstr("binds 3 buffers"));
  }
  EXPECT_THROW(manager.execute_shader("nope", {x}, {x}, std::size_t{16}), InvalidArgumentError);
  EXPECT_THROW(manager.create_compute_pipeline("kernels", "nope", "p"), InvalidArgumentError);
  EXPECT_THROW(manager.create_compute_pipeline("nope", "saxpy", "p"), InvalidArgumentError);
  EXPECT_THROW(manager.create_compute_pipeline("kernels", "saxpy", "saxpy"), InvalidArgumentError);
  EXPECT_THROW(manager.execute_shader("saxpy", {x, x}, {x}, {1, 1, 1}, Extent3D{2048, 1, 1}),
               InvalidArgumentError);
  EXPECT_THROW((void)manager.get_buffer_data<float>(x, 17), InvalidArgumentError);
  EXPECT_THROW(manager.execute_shader("saxpy", {x, x}, {BufferRef{}}, std::size_t{16}), UsageError);
  ComputeManager other(validated_manager_options());
  auto foreign = other.create_buffer(64);
  EXPECT_THROW(manager.execute_shader("saxpy", {x, x}, {foreign}, std::size_t{16}), UsageError);
}

TEST(VulkanManager, ABufferAboveMaxStorageBufferRangeIsRefusedAtDispatch) {
  ComputeManager manager(validated_manager_options());
  manager.load_builtin_shader_library("kernels");
  manager.create_compute_pipeline("kernels", "saxpy", "saxpy");
  auto small = manager.create_buffer(64);
  auto huge = manager.create_buffer(std::size_t{128} * 1024 * 1024 + 4);  // lavapipe: 128 MiB
  try {
    manager.execute_shader("saxpy", {small, small}, {huge}, std::size_t{16});
    GTEST_SKIP() << "this device binds buffers above 128 MiB";
  } catch (const InvalidArgumentError& error) {
    EXPECT_THAT(error.what(), HasSubstr("maxStorageBufferRange"));
  }
}

TEST(VulkanManager, MetricsCountTheWorkAndReadAsJson) {
  ComputeManager manager(validated_manager_options());
  manager.load_builtin_shader_library("kernels");
  manager.create_compute_pipeline("kernels", "saxpy", "saxpy");
  for (int i = 0; i < 3; ++i) {
    auto x = manager.create_buffer(std::vector<float>(256, 1.0F));
    auto y = manager.create_buffer(std::vector<float>(256, 2.0F));
    auto out = manager.create_buffer(256 * sizeof(float));
    manager.execute_shader("saxpy", {x, y}, {out}, std::size_t{256}, SaxpyParams{256, 1.0F});
    (void)manager.get_buffer_data<float>(out);
  }
  const auto metrics = manager.get_performance_metrics();
  EXPECT_EQ(metrics.dispatches, 3U);
  EXPECT_EQ(metrics.buffers_created, 9U);
  EXPECT_EQ(metrics.bytes_uploaded, 6U * 256 * sizeof(float));
  EXPECT_EQ(metrics.bytes_downloaded, 3U * 256 * sizeof(float));
  // The first buffer takes a segment (the one miss); the other two of the
  // first step are carved from it, and the later steps reuse all three.
  EXPECT_EQ(metrics.buffer_pool.misses, 1U);
  EXPECT_EQ(metrics.buffer_pool.allocations, 1U);
  EXPECT_EQ(metrics.buffer_pool.hits, 8U);
  EXPECT_EQ(metrics.buffer_pool.hits_carved, 2U);
  EXPECT_EQ(metrics.buffer_pool.hits_reused, 6U);
  EXPECT_GT(metrics.gpu_time_ns, 0U);
  EXPECT_THAT(metrics.backend, HasSubstr("vulkan"));
  const std::string json = metrics.to_json();
  EXPECT_THAT(json, HasSubstr("\"dispatches\":3"));
  EXPECT_THAT(json, HasSubstr("\"buffer_pool\":{\"hits\":8"));
}

TEST(VulkanManager, TheHostBackendMakesBuffersButRefusesShaders) {
  ManagerOptions options;
  options.backend = "host";
  ComputeManager manager(options);
  EXPECT_EQ(manager.backend_name(), "host");
  EXPECT_FALSE(manager.can_execute_shaders());
  auto buffer = manager.create_buffer(std::vector<int>{1, 2, 3});
  EXPECT_EQ(manager.get_buffer_data<int>(buffer), (std::vector<int>{1, 2, 3}));
  manager.load_builtin_shader_library("kernels");
  manager.create_compute_pipeline("kernels", "saxpy", "saxpy");
  try {
    manager.execute_shader("saxpy", {buffer, buffer}, {buffer}, std::size_t{3});
    FAIL();
  } catch (const BackendError& error) {
    EXPECT_THAT(error.what(), HasSubstr("needs the Vulkan backend"));
  }
}

TEST(VulkanManager, AnUnknownBackendNameIsAConfigError) {
  ManagerOptions options;
  options.backend = "cuda";
  EXPECT_THROW(ComputeManager{options}, ConfigError);
}

TEST(VulkanDevices, TheDeviceIsChosenByIndexOrNameAndAMissingOneIsNamed) {
  const auto devices = list_vulkan_devices();
  ASSERT_FALSE(devices.empty());
  auto options = validated_options();
  options.device = std::to_string(devices.front().index);
  EXPECT_THAT(make_vulkan_backend(options)->name(), HasSubstr(devices.front().name));
  options.device = devices.front().name.substr(0, 4);
  EXPECT_NO_THROW((void)make_vulkan_backend(options));

  options.device = "no-such-gpu-9000";
  try {
    (void)make_vulkan_backend(options);
    FAIL();
  } catch (const BackendError& error) {
    EXPECT_THAT(error.what(), HasSubstr("no-such-gpu-9000"));
    EXPECT_THAT(error.what(), HasSubstr(devices.front().name));
  }
  const ScopedEnvironment environment("BUFFERPOOL_DEVICE", "no-such-gpu-9000");
  EXPECT_THROW((void)make_vulkan_backend(validated_options()), BackendError);
  ManagerOptions manager_options;
  manager_options.vulkan = validated_options();
  EXPECT_THROW(ComputeManager{manager_options}, BackendError) << "auto does not hide a bad choice";
}

TEST(VulkanDevices, NoDriverGivesAClearErrorAndAutoFallsBackToHostMemory) {
  const ScopedEnvironment icd("VK_ICD_FILENAMES", "/nonexistent/icd.json");
  const ScopedEnvironment drivers("VK_DRIVER_FILES", "/nonexistent/icd.json");
  try {
    (void)make_vulkan_backend();
    FAIL() << "found a device with no driver";
  } catch (const NoVulkanDeviceError& error) {
    EXPECT_THAT(error.what(), HasSubstr("apt-get install mesa-vulkan-drivers"));
  }
  ManagerOptions options;
  options.backend = "vulkan";
  EXPECT_THROW(ComputeManager{options}, NoVulkanDeviceError);
  options.backend = "auto";
  ComputeManager manager(options);
  EXPECT_EQ(manager.backend_name(), "host");
}

}  // namespace
}  // namespace bufferpool::testing
