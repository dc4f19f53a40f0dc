// SequenceHost: what a Sequence needs of its ComputeManager, and
// Sequence::State, what it holds. ComputeManager::Impl is the one host.
#pragma once

#include "backends/vulkan/recorded_commands.hpp"

#include <bufferpool/buffer.hpp>
#include <bufferpool/buffer_list.hpp>
#include <bufferpool/dispatch_size.hpp>
#include <bufferpool/pool.hpp>
#include <bufferpool/push_constants.hpp>
#include <bufferpool/sequence.hpp>
#include <bufferpool/stream.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace bufferpool {
namespace manager_detail {

/// A recorded command buffer and the pipelines it uses, destroyed once the
/// device is past `last_submission`.
struct RetiredRecording {
  std::unique_ptr<vulkan_detail::RecordedCommands> recorded;
  std::vector<std::shared_ptr<const void>> pipelines;
  std::uint64_t last_submission = 0;
};

class SequenceHost {
 public:
  virtual ~SequenceHost() = default;
  [[nodiscard]] virtual BufferPool& device_pool() = 0;
  /// Host-visible buffers for uploads: the staging pool where device
  /// buffers are not mapped, else the device pool.
  [[nodiscard]] virtual BufferPool& upload_pool() = 0;
  [[nodiscard]] virtual std::shared_ptr<vulkan_detail::VulkanDevice> device() = 0;
  /// Checks a dispatch as execute_shader does and returns it, with the
  /// pipeline to keep alive while it is recorded. Without
  /// `threads_per_group`, the manager's choice for `grid`.
  [[nodiscard]] virtual vulkan_detail::SequenceCommand prepare_dispatch(
      const std::string& pipeline_name, const BufferList& inputs, const BufferList& outputs,
      const DispatchGrid& grid, const std::optional<ThreadsPerGroup>& threads_per_group,
      const PushConstants& push_constants, std::shared_ptr<const void>& pipeline) = 0;
  [[nodiscard]] virtual vulkan_detail::CopyCommand prepare_copy(const BufferRef& source,
                                                                const BufferRef& destination,
                                                                std::size_t size_bytes) = 0;
  /// Counts a submitted sequence's commands in the manager's metrics.
  virtual void count_submission(std::size_t dispatches, std::size_t copies,
                                std::size_t upload_bytes) = 0;
  /// The backend whose timeline numbers submissions.
  [[nodiscard]] virtual std::shared_ptr<const Backend> timeline_backend() = 0;
  /// Keeps `recording` until the device is past its last submission.
  virtual void retire(RetiredRecording recording) = 0;
};

}  // namespace manager_detail

struct Sequence::State {
  /// Null once the manager is gone.
  manager_detail::SequenceHost* host = nullptr;
  StreamId stream = StreamId::none;
  std::vector<vulkan_detail::SequenceCommand> commands;
  std::vector<std::shared_ptr<const void>> pipelines;
  /// One reference to each buffer recorded, to each staging buffer, and to
  /// each buffer create_buffer() made (scratch: the sequence's to reuse once
  /// it holds the last reference).
  struct HeldBuffer {
    BufferRef buffer;
    bool scratch = false;
  };
  std::vector<HeldBuffer> held;
  std::unique_ptr<vulkan_detail::RecordedCommands> recorded;
  std::uint64_t last_submission = 0;
  std::size_t dispatches = 0;
  std::size_t copies = 0;
  std::size_t upload_bytes = 0;

  /// Gives everything back: the recording to the host (or, with
  /// `device_idle`, destroyed now), the references dropped, the stream closed.
  void close(bool device_idle) noexcept;
};

}  // namespace bufferpool
