// ThreadGroups, ThreadsPerGroup, TotalThreads and DispatchGrid: the sizes a
// dispatch is given in, each its own type, so that a count of threads can
// never be read as a count of groups.
#pragma once

#include <bufferpool/extent.hpp>

#include <type_traits>

namespace bufferpool {

/// The shape the three dispatch sizes share: an Extent3D made only by
/// naming its kind (`ThreadGroups{n}`, `TotalThreads{width, height}`), so
/// that neither a bare number nor a braced list chooses a meaning through
/// an overload, and sizes of different kinds never convert into each other.
/// Value types: every call is cheap and may run on any thread.
template <typename Kind>
class DispatchSize {
 public:
  /// Throws InvalidArgumentError for a size above 2^32 - 1, as Extent3D.
  explicit DispatchSize(std::size_t size_x, std::size_t size_y = 1, std::size_t size_z = 1)
      : extent_(size_x, size_y, size_z) {}
  explicit DispatchSize(const Extent3D& extent) noexcept : extent_(extent) {}

  [[nodiscard]] const Extent3D& extent() const noexcept { return extent_; }
  friend bool operator==(const DispatchSize&, const DispatchSize&) = default;

 private:
  Extent3D extent_;
};

/// Thread groups in a dispatch: vkCmdDispatch's group counts.
struct ThreadGroups final : DispatchSize<ThreadGroups> {
  using DispatchSize::DispatchSize;
};

/// Threads in one group: the shader's local size. Vulkan bounds it per
/// dimension (maxComputeWorkGroupSize) and in all
/// (maxComputeWorkGroupInvocations); a shader with a fixed local_size takes
/// only that one.
struct ThreadsPerGroup final : DispatchSize<ThreadsPerGroup> {
  using DispatchSize::DispatchSize;
};

/// Threads in all. The manager runs the fewest whole groups that cover them
/// in each dimension, so the last group may run past the end: kernels
/// bounds-check their index.
struct TotalThreads final : DispatchSize<TotalThreads> {
  using DispatchSize::DispatchSize;
};

/// What a dispatch covers: a number of thread groups, or a number of threads
/// that the manager covers with whole groups. Made from either without a
/// cast, so that one call takes both, and from nothing else.
class DispatchGrid {
 public:
  // NOLINTNEXTLINE(google-explicit-constructor): the kind is named by the argument's type
  DispatchGrid(const ThreadGroups& thread_groups) noexcept
      : extent_(thread_groups.extent()), counts_threads_(false) {}
  // NOLINTNEXTLINE(google-explicit-constructor): as above
  DispatchGrid(const TotalThreads& total_threads) noexcept
      : extent_(total_threads.extent()), counts_threads_(true) {}

  /// True for TotalThreads, false for ThreadGroups.
  [[nodiscard]] bool counts_threads() const noexcept { return counts_threads_; }
  /// The groups or threads, as given.
  [[nodiscard]] const Extent3D& extent() const noexcept { return extent_; }

 private:
  Extent3D extent_;
  bool counts_threads_;
};

/// True for the types above and Extent3D: sizes, which PushConstants refuses
/// so that a size passed one argument too late does not compile as a kernel
/// parameter.
template <typename T>
inline constexpr bool is_dispatch_size_v =
    std::is_same_v<T, Extent3D> || std::is_same_v<T, ThreadGroups> ||
    std::is_same_v<T, ThreadsPerGroup> || std::is_same_v<T, TotalThreads> ||
    std::is_same_v<T, DispatchGrid>;

}  // namespace bufferpool
