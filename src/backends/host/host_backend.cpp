#include <bufferpool/errors.hpp>
#include <bufferpool/host_backend.hpp>

#include <cstdlib>
#include <limits>
#include <memory>
#include <new>
#include <string>

namespace bufferpool {
namespace {

class HostBackend final : public Backend {
 public:
  explicit HostBackend(HostBackendOptions options) : alignment_bytes_(options.alignment_bytes) {
    if (alignment_bytes_ < alignof(std::max_align_t) ||
        (alignment_bytes_ & (alignment_bytes_ - 1)) != 0) {
      throw ConfigError(
          "bufferpool: HostBackendOptions::alignment_bytes must be a power of two >= " +
          std::to_string(alignof(std::max_align_t)) + ", got " + std::to_string(alignment_bytes_));
    }
  }

  Allocation allocate(std::size_t size_bytes) override {
    // aligned_alloc wants a multiple of the alignment.
    const std::size_t rounded =
        (size_bytes + alignment_bytes_ - 1) / alignment_bytes_ * alignment_bytes_;
    void* memory = rounded < size_bytes ? nullptr : std::aligned_alloc(alignment_bytes_, rounded);
    if (memory == nullptr) {
      throw OutOfMemoryError("bufferpool: host backend: aligned_alloc of " +
                                 std::to_string(size_bytes) + " bytes failed",
                             size_bytes, 0, 0);
    }
    return Allocation{reinterpret_cast<std::uint64_t>(memory), static_cast<std::byte*>(memory),
                      size_bytes};
  }

  void deallocate(const Allocation& allocation) noexcept override {
    // aligned_alloc's pair; the pool owns the memory through the Allocation.
    // NOLINTNEXTLINE(cppcoreguidelines-no-malloc,cppcoreguidelines-owning-memory)
    std::free(allocation.host_ptr);
  }

  [[nodiscard]] std::uint64_t completed_timeline() const noexcept override {
    return std::numeric_limits<std::uint64_t>::max();
  }

  void wait_for_timeline(std::uint64_t /*value*/) const noexcept override {}

  [[nodiscard]] std::size_t max_allocation_bytes() const noexcept override {
    return std::numeric_limits<std::ptrdiff_t>::max() - alignment_bytes_;
  }

  [[nodiscard]] std::size_t buffer_alignment_bytes() const noexcept override {
    return alignment_bytes_;
  }

  [[nodiscard]] std::string name() const override { return "host"; }

 private:
  std::size_t alignment_bytes_;
};

}  // namespace

std::shared_ptr<Backend> make_host_backend(HostBackendOptions options) {
  return std::make_shared<HostBackend>(options);
}

}  // namespace bufferpool
