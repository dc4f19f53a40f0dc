// The ComputeManager: GPU safety of released buffers, shader loading and its
// errors, device choice, the host backend, and metrics.
#include "vulkan_test_support.hpp"

#include <bufferpool/manager.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <locale>
#include <string>
#include <type_traits>
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

// A dispatch's size is named by its type: what each call accepts, checked
// where it is decided, at compile time. Templated on the manager so that a
// call that does not compile makes the concept false instead of the file
// fail.
template <typename Manager, typename... Sizes>
concept dispatches_with = requires(Manager& manager, const Sizes&... sizes) {
  manager.execute_shader("p", BufferList{}, BufferList{}, sizes...);
};
template <typename Manager>
concept takes_a_braced_size = requires(Manager& manager) {
  manager.execute_shader("p", BufferList{}, BufferList{}, {4U, 1U, 1U});
};
static_assert(dispatches_with<ComputeManager, ThreadGroups>);
static_assert(dispatches_with<ComputeManager, TotalThreads>);
static_assert(dispatches_with<ComputeManager, ThreadGroups, ThreadsPerGroup>);
static_assert(dispatches_with<ComputeManager, TotalThreads, ThreadsPerGroup, SaxpyParams>);
static_assert(!dispatches_with<ComputeManager, std::size_t>, "a bare number has no meaning");
static_assert(!dispatches_with<ComputeManager, int>);
static_assert(!dispatches_with<ComputeManager, Extent3D>);
static_assert(!takes_a_braced_size<ComputeManager>);
static_assert(!dispatches_with<ComputeManager, ThreadsPerGroup>, "a group size is not a grid");
static_assert(!dispatches_with<ComputeManager, TotalThreads, TotalThreads>,
              "a size is not a push constant block");
static_assert(!dispatches_with<ComputeManager, ThreadGroups, Extent3D>);
static_assert(!std::is_convertible_v<std::size_t, ThreadGroups>);
static_assert(!std::is_convertible_v<ThreadGroups, TotalThreads>);
static_assert(!std::is_convertible_v<TotalThreads, ThreadsPerGroup>);
static_assert(!std::is_constructible_v<DispatchGrid, ThreadsPerGroup>);

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
  const Submission work = manager.submit("matmul", {a_buffer, b_buffer}, {out},
                                         TotalThreads{params.columns, params.rows}, params);
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
    submissions.push_back(manager.submit("saxpy", {x, y}, {outputs.back()}, TotalThreads{n},
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
  manager.execute_shader("saxpy", {x, y}, {out}, ThreadGroups{1}, ThreadsPerGroup{64},
                         SaxpyParams{3, 2.0F});
  EXPECT_EQ(manager.get_buffer_data<float>(out), (std::vector<float>{12, 24, 36}));
  manager.create_compute_pipeline("from_files", "fill_index", "fill_index");
  auto values = manager.create_buffer(100 * sizeof(std::uint32_t));
  manager.execute_shader("fill_index", {}, {values}, ThreadGroups{4});
  const auto indices = manager.get_buffer_data<std::uint32_t>(values);
  for (std::uint32_t i = 0; i < 100; ++i) ASSERT_EQ(indices[i], i);
  std::filesystem::remove_all(folder);
}

std::vector<std::uint32_t> read_words(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::uint32_t> words(bytes.size() / sizeof(std::uint32_t));
  std::memcpy(words.data(), bytes.data(), words.size() * sizeof(std::uint32_t));
  return words;
}

void write_words(const std::filesystem::path& path, const std::vector<std::uint32_t>& words) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(words.data()),
             static_cast<std::streamsize>(words.size() * sizeof(std::uint32_t)));
}

// Damage that the reflection's own walk over the instructions does not see
// reaches the validator, which refuses the file before any driver gets it.
TEST(VulkanManager, ADamagedSpirvFileIsRefusedWithTheValidatorsMessage) {
  ComputeManager manager(validated_manager_options());
  const auto folder = temporary_folder("damaged_spirv");
  const auto good = read_words(BUFFERPOOL_TEST_SPIRV_FILE);
  ASSERT_GT(good.size(), 5U);

  // Word 3 is the id bound: 1 leaves every id the module uses out of range.
  auto bad_bound = good;
  bad_bound[3] = 1;
  write_words(folder / "bad_bound.spv", bad_bound);
  // An instruction's opcode replaced by one that SPIR-V does not define,
  // keeping its word count, so the walk over instructions still lines up.
  auto bad_opcode = good;
  std::size_t at = 5;
  for (int instruction = 0; instruction < 3; ++instruction) at += good[at] >> 16U;
  bad_opcode[at] = (good[at] & 0xFFFF0000U) | 0xFFFFU;
  write_words(folder / "bad_opcode.spv", bad_opcode);

  for (const char* name : {"bad_bound.spv", "bad_opcode.spv"}) {
    try {
      manager.load_shader_library(folder / name, "damaged");
      ADD_FAILURE() << name << " was loaded";
    } catch (const InvalidArgumentError& error) {
      EXPECT_THAT(error.what(), HasSubstr(name));
      EXPECT_THAT(error.what(), HasSubstr("is not valid SPIR-V for Vulkan 1.2"));
      EXPECT_THAT(error.what(), HasSubstr("word ")) << "the validator says where";
    }
  }
  EXPECT_THROW((void)manager.shader_functions("damaged"), InvalidArgumentError)
      << "nothing was loaded";
  // The intact file loads: the check refuses damage, not the module.
  write_words(folder / "intact.spv", good);
  manager.load_shader_library(folder / "intact.spv", "intact");
  EXPECT_EQ(manager.shader_functions("intact"), std::vector<std::string>{"intact"});
  std::filesystem::remove_all(folder);
}

TEST(VulkanManager, AShaderWithAFixedGroupSizeKeepsIt) {
  ComputeManager manager(validated_manager_options());
  manager.load_shader_library_from_source(kFixedSizeShader, "fixed");
  manager.create_compute_pipeline("fixed", "main", "fixed");
  EXPECT_EQ(manager.threads_per_group("fixed", TotalThreads{1000}), ThreadsPerGroup{32});
  auto values = manager.create_buffer(64 * sizeof(std::uint32_t));
  manager.execute_shader("fixed", {values}, {}, ThreadGroups{2});
  const auto result = manager.get_buffer_data<std::uint32_t>(values);
  for (std::uint32_t i = 0; i < 64; ++i) ASSERT_EQ(result[i], i);
  EXPECT_THROW(manager.execute_shader("fixed", {values}, {}, ThreadGroups{1}, ThreadsPerGroup{64}),
               InvalidArgumentError);
}

TEST(VulkanManager, MisuseIsReportedClearly) {
  ComputeManager manager(validated_manager_options());
  manager.load_builtin_shader_library("kernels");
  manager.create_compute_pipeline("kernels", "saxpy", "saxpy");
  auto x = manager.create_buffer(std::vector<float>(16, 1.0F));
  try {
    manager.execute_shader("saxpy", {x}, {x}, TotalThreads{16}, SaxpyParams{16, 1.0F});
    FAIL();
  } catch (const InvalidArgumentError& error) {
    EXPECT_THAT(error.what(), HasSubstr("binds 3 buffers"));
  }
  EXPECT_THROW(manager.execute_shader("nope", {x}, {x}, TotalThreads{16}), InvalidArgumentError);
  EXPECT_THROW(manager.create_compute_pipeline("kernels", "nope", "p"), InvalidArgumentError);
  EXPECT_THROW(manager.create_compute_pipeline("nope", "saxpy", "p"), InvalidArgumentError);
  EXPECT_THROW(manager.create_compute_pipeline("kernels", "saxpy", "saxpy"), InvalidArgumentError);
  EXPECT_THROW(manager.execute_shader("saxpy", {x, x}, {x}, ThreadGroups{1}, ThreadsPerGroup{2048}),
               InvalidArgumentError);
  EXPECT_THROW((void)manager.get_buffer_data<float>(x, 17), InvalidArgumentError);
  EXPECT_THROW(manager.execute_shader("saxpy", {x, x}, {BufferRef{}}, TotalThreads{16}),
               UsageError);
  ComputeManager other(validated_manager_options());
  auto foreign = other.create_buffer(64);
  EXPECT_THROW(manager.execute_shader("saxpy", {x, x}, {foreign}, TotalThreads{16}), UsageError);
}

TEST(VulkanManager, ABufferAboveMaxStorageBufferRangeIsRefusedAtDispatch) {
  ComputeManager manager(validated_manager_options());
  manager.load_builtin_shader_library("kernels");
  manager.create_compute_pipeline("kernels", "saxpy", "saxpy");
  auto small = manager.create_buffer(64);
  auto huge = manager.create_buffer(std::size_t{128} * 1024 * 1024 + 4);  // lavapipe: 128 MiB
  try {
    manager.execute_shader("saxpy", {small, small}, {huge}, TotalThreads{16});
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
    manager.execute_shader("saxpy", {x, y}, {out}, TotalThreads{256}, SaxpyParams{256, 1.0F});
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
  const auto json = nlohmann::json::parse(metrics.to_json());
  EXPECT_EQ(json["backend"].get<std::string>(), metrics.backend);
  EXPECT_EQ(json["dispatches"].get<std::uint64_t>(), 3U);
  EXPECT_EQ(json["buffers_created"].get<std::uint64_t>(), 9U);
  EXPECT_EQ(json["gpu_time_ns"].get<std::uint64_t>(), metrics.gpu_time_ns);
  EXPECT_EQ(json["buffer_pool"], nlohmann::json::parse(metrics.buffer_pool.to_json()));
  EXPECT_EQ(json["buffer_pool"]["hits"].get<std::uint64_t>(), 8U);
}

// Every field with a value of its own, so that one written from the wrong
// member fails; counters past 2^53, which a double would round; a name with
// quotes, a backslash and control characters; and a locale that writes
// "0,5", which must not reach the nested pool metrics.
TEST(PerformanceMetricsJson, CarriesEveryFieldExactlyAndEscapesTheBackendName) {
  struct NumpunctWithComma : std::numpunct<char> {
    [[nodiscard]] char do_decimal_point() const override { return ','; }
  };
  constexpr std::uint64_t kBig = (std::uint64_t{1} << 60) + 1;
  PerformanceMetrics metrics;
  metrics.backend = "vulkan: \"odd\" \\ name\x01\n\t";
  metrics.dispatches = kBig + 1;
  metrics.buffers_created = kBig + 2;
  metrics.bytes_uploaded = kBig + 3;
  metrics.bytes_downloaded = kBig + 4;
  metrics.staging_copies = kBig + 5;
  metrics.shader_libraries = kBig + 6;
  metrics.pipelines = kBig + 7;
  metrics.gpu_time_ns = kBig + 8;
  metrics.wait_time_ns = std::numeric_limits<std::uint64_t>::max();
  metrics.buffer_pool.hits = 1;
  metrics.buffer_pool.misses = 1;
  const std::locale previous =
      std::locale::global(std::locale(std::locale::classic(), new NumpunctWithComma));
  const std::string text = metrics.to_json();
  std::locale::global(previous);

  EXPECT_EQ(text.find('\x01'), std::string::npos) << "a raw control character in the JSON";
  const auto json = nlohmann::json::parse(text);
  const std::vector<std::pair<std::string, std::uint64_t>> counters = {
      {"dispatches", metrics.dispatches},         {"buffers_created", metrics.buffers_created},
      {"bytes_uploaded", metrics.bytes_uploaded}, {"bytes_downloaded", metrics.bytes_downloaded},
      {"staging_copies", metrics.staging_copies}, {"shader_libraries", metrics.shader_libraries},
      {"pipelines", metrics.pipelines},           {"gpu_time_ns", metrics.gpu_time_ns},
      {"wait_time_ns", metrics.wait_time_ns},
  };
  ASSERT_EQ(json.size(), counters.size() + 2)
      << "a field without a check, or one missing: " << text;
  EXPECT_EQ(json["backend"].get<std::string>(), metrics.backend);
  for (const auto& [field, value] : counters) {
    ASSERT_TRUE(json.contains(field)) << field;
    ASSERT_TRUE(json[field].is_number_unsigned()) << field << " is not an integer: " << text;
    EXPECT_EQ(json[field].get<std::uint64_t>(), value) << field;
  }
  EXPECT_EQ(json["buffer_pool"], nlohmann::json::parse(metrics.buffer_pool.to_json()));
  EXPECT_DOUBLE_EQ(json["buffer_pool"]["hit_rate"].get<double>(), 0.5);
}

TEST(VulkanManager, TheHostBackendMakesBuffersButRefusesShaders) {
  ManagerOptions options;
  options.backend = ManagerBackend::host;
  ComputeManager manager(options);
  EXPECT_EQ(manager.backend_name(), "host");
  EXPECT_FALSE(manager.can_execute_shaders());
  auto buffer = manager.create_buffer(std::vector<int>{1, 2, 3});
  EXPECT_EQ(manager.get_buffer_data<int>(buffer), (std::vector<int>{1, 2, 3}));
  manager.load_builtin_shader_library("kernels");
  manager.create_compute_pipeline("kernels", "saxpy", "saxpy");
  try {
    manager.execute_shader("saxpy", {buffer, buffer}, {buffer}, TotalThreads{3});
    FAIL();
  } catch (const BackendError& error) {
    EXPECT_THAT(error.what(), HasSubstr("needs the Vulkan backend"));
  }
}

TEST(ManagerBackendNames, EachNameParsesToItsBackendAndAnUnknownOneListsTheNames) {
  EXPECT_EQ(to_string(ManagerBackend::automatic), "auto");
  EXPECT_EQ(to_string(ManagerBackend::vulkan), "vulkan");
  EXPECT_EQ(to_string(ManagerBackend::host), "host");
  for (const ManagerBackend backend :
       {ManagerBackend::automatic, ManagerBackend::vulkan, ManagerBackend::host}) {
    EXPECT_EQ(parse_manager_backend(to_string(backend)), backend) << to_string(backend);
  }
  try {
    (void)parse_manager_backend("cuda");
    FAIL() << "parsed cuda";
  } catch (const ConfigError& error) {
    EXPECT_THAT(error.what(), HasSubstr("\"cuda\""));
    EXPECT_THAT(error.what(), HasSubstr("\"auto\""));
    EXPECT_THAT(error.what(), HasSubstr("\"vulkan\""));
    EXPECT_THAT(error.what(), HasSubstr("\"host\""));
  }
  EXPECT_THROW((void)parse_manager_backend("Vulkan"), ConfigError) << "names are exact";
  EXPECT_THROW((void)parse_manager_backend(""), ConfigError);
}

TEST(VulkanManager, ABackendValueOutsideTheEnumIsAConfigError) {
  ManagerOptions options;
  options.backend = static_cast<ManagerBackend>(7);
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
  options.backend = ManagerBackend::vulkan;
  EXPECT_THROW(ComputeManager{options}, NoVulkanDeviceError);
  options.backend = ManagerBackend::automatic;
  ComputeManager manager(options);
  EXPECT_EQ(manager.backend_name(), "host");
}

}  // namespace
}  // namespace bufferpool::testing
