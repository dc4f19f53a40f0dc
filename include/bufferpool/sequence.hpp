// Sequence: many dispatches, uploads and copies in one submission, recorded
// once and submitted any number of times, with stream-ordered reuse of the
// buffers that die inside it.
//
// Part of the bufferpool::vulkan target.
#pragma once

#include <bufferpool/buffer.hpp>
#include <bufferpool/buffer_list.hpp>
#include <bufferpool/dispatch_size.hpp>
#include <bufferpool/push_constants.hpp>
#include <bufferpool/submission.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace bufferpool {

class ComputeManager;

/// Work recorded into one command buffer (Kompute's Sequence): each command
/// runs after the ones recorded before it have finished and sees their
/// writes, and the whole list costs one submission instead of one each.
///
///     auto step = manager.sequence();
///     auto hidden = step.create_buffer(bytes);
///     step.record("relu", {input}, {hidden}, n);
///     auto output = step.create_buffer(bytes);
///     step.record("scale", {hidden}, {output}, n, Scale{2.0f});
///     hidden.reset();                          // dies inside the step
///     auto next = step.create_buffer(bytes);   // may be hidden's memory again
///     step.record("relu", {output}, {next}, n);
///     step.execute();                          // one submission, waited for
///
/// Stream-ordered reuse: the sequence is a stream of its manager's pool
/// (StreamId). A buffer recorded into the sequence whose other references
/// are all gone is kept for it, and create_buffer() of the same sequence may
/// hand its memory out again: the barrier between commands orders the new
/// use after the old one, so nothing waits for the device. Nothing outside
/// the sequence gets that memory until the sequence is destroyed and the
/// device has finished its last submission.
///
/// Recording: the commands are checked when recorded (the same checks and
/// errors as ComputeManager::execute_shader) and written into the command
/// buffer at the first submit(); from then the sequence is fixed, and
/// record() throws UsageError. A sequence holds a reference to every buffer
/// it records until it is destroyed, and marks each with every submission.
///
/// Threads: a Sequence is used by one thread at a time (like a handle);
/// different sequences of one manager may be recorded and submitted on
/// different threads at once. A sequence may outlive its manager: every call
/// then throws UsageError, and its buffers went back with the manager.
class Sequence {
 public:
  Sequence(Sequence&& other) noexcept;
  Sequence& operator=(Sequence&& other) noexcept;
  Sequence(const Sequence&) = delete;
  Sequence& operator=(const Sequence&) = delete;
  /// Drops the sequence's references and closes its stream: buffers kept
  /// for it go back to the pool, pending until its last submission is done.
  /// Never waits for the device.
  ~Sequence();

  /// A buffer of size_bytes for this sequence: while recording, a buffer
  /// kept for the sequence (recorded, with no reference left outside it)
  /// that the request fills to within an eighth, else a request as
  /// ComputeManager::create_buffer. After the first submit(), always the
  /// latter. Its contents are unspecified. Throws as
  /// ComputeManager::create_buffer, and UsageError when the manager is gone.
  [[nodiscard]] BufferRef create_buffer(std::size_t size_bytes);

  /// Records `pipeline_name` over `grid` in groups of `threads_per_group`
  /// threads, as ComputeManager::execute_shader with the same arguments
  /// would run it, and throws as it does; UsageError once submitted.
  void record(const std::string& pipeline_name, BufferList inputs, BufferList outputs,
              const DispatchGrid& grid, const ThreadsPerGroup& threads_per_group,
              const PushConstants& push_constants = {});
  /// As above, in groups of ComputeManager::threads_per_group(pipeline_name, grid).
  void record(const std::string& pipeline_name, BufferList inputs, BufferList outputs,
              const DispatchGrid& grid, const PushConstants& push_constants = {});

  /// Records a copy of `data` into the start of `buffer`: the bytes are
  /// copied now into a host-visible staging buffer that the sequence keeps,
  /// and from there into `buffer` at each submission. Throws UsageError for
  /// an empty handle, InvalidArgumentError when `data` is empty or larger
  /// than the buffer.
  template <typename T>
  requires std::is_trivially_copyable_v<T>
  void record_upload(const BufferRef& buffer, std::span<const T> data) {
    record_upload_bytes(buffer, std::as_bytes(data));
  }
  template <typename T>
  requires std::is_trivially_copyable_v<T>
  void record_upload(const BufferRef& buffer, const std::vector<T>& data) {
    record_upload(buffer, std::span<const T>(data));
  }
  /// Records a copy of the first size_bytes of `source` to the start of
  /// `destination`. Throws UsageError for an empty handle or once submitted,
  /// InvalidArgumentError when either buffer is smaller than size_bytes or
  /// both are the same buffer (vkCmdCopyBuffer's ranges may not overlap).
  void record_copy(const BufferRef& source, const BufferRef& destination, std::size_t size_bytes);

  /// Submits the recorded commands (recording them into the command buffer
  /// the first time) and returns at once. May be called again while an
  /// earlier submission runs: the device runs them one after the other.
  /// Throws UsageError for a sequence with nothing recorded.
  ///
  /// Cost, the first time: a command pool, a command buffer and a descriptor
  /// pool made, one descriptor set written per dispatch. Every time: one
  /// vkQueueSubmit and a mark on each buffer the sequence holds.
  [[nodiscard]] Submission submit();
  /// submit(), then waits for it.
  void execute();

  /// Commands recorded (dispatches, uploads and copies).
  [[nodiscard]] std::size_t command_count() const noexcept;
  /// Whether submit() was called: the sequence is then fixed.
  [[nodiscard]] bool submitted() const noexcept;

  struct State;

 private:
  friend class ComputeManager;
  explicit Sequence(std::shared_ptr<State> state) noexcept;
  void record_upload_bytes(const BufferRef& buffer, std::span<const std::byte> data);
  void record_dispatch(const std::string& pipeline_name, const BufferList& inputs,
                       const BufferList& outputs, const DispatchGrid& grid,
                       const std::optional<ThreadsPerGroup>& threads_per_group,
                       const PushConstants& push_constants);
  [[nodiscard]] State& live_state(const char* call) const;
  /// live_state(), and UsageError once submitted: `call` records no more.
  [[nodiscard]] State& recording_state(const char* call, std::string_view pipeline = {}) const;

  std::shared_ptr<State> state_;
};

}  // namespace bufferpool
