#include "manager/sequence_host.hpp"

#include <bufferpool/errors.hpp>

#include <algorithm>
#include <cstring>
#include <utility>

namespace bufferpool {
namespace {

bool holds(const std::vector<Sequence::State::HeldBuffer>& held, const BufferRef& buffer) {
  return std::any_of(held.begin(), held.end(), [&](const Sequence::State::HeldBuffer& entry) {
    return entry.buffer == buffer;
  });
}

void hold(Sequence::State& state, const BufferList& list) {
  for (const BufferRef& buffer : list.buffers()) {
    if (buffer && !holds(state.held, buffer)) state.held.push_back({buffer, false});
  }
}

}  // namespace

void Sequence::State::close(bool device_idle) noexcept {
  if (host == nullptr) return;
  BufferPool& pool = host->device_pool();
  if (recorded) {
    if (device_idle) {
      recorded.reset();
    } else {
      host->retire({std::move(recorded), std::move(pipelines), last_submission});
    }
  }
  pipelines.clear();
  commands.clear();
  // Each buffer carries the mark of the last submission, so a release here
  // is pending until the device is past it.
  held.clear();
  pool.close_stream(stream, last_submission);
  host = nullptr;
}

Sequence::Sequence(std::shared_ptr<State> state) noexcept : state_(std::move(state)) {}
Sequence::Sequence(Sequence&& other) noexcept = default;
Sequence& Sequence::operator=(Sequence&& other) noexcept {
  if (this != &other) {
    if (state_) state_->close(false);
    state_ = std::move(other.state_);
  }
  return *this;
}
Sequence::~Sequence() {
  if (state_) state_->close(false);
}

Sequence::State& Sequence::live_state(const char* call) const {
  if (!state_) {
    throw UsageError(std::string("bufferpool: Sequence::") + call +
                     " on a moved-from sequence; use the sequence it was moved to");
  }
  if (state_->host == nullptr) {
    throw UsageError(std::string("bufferpool: Sequence::") + call +
                     " after its ComputeManager was destroyed; a sequence works only while its "
                     "manager lives");
  }
  return *state_;
}

Sequence::State& Sequence::recording_state(const char* call, std::string_view pipeline) const {
  State& state = live_state(call);
  if (state.recorded) {
    const std::string named = pipeline.empty() ? "" : " (\"" + std::string(pipeline) + "\")";
    throw UsageError(std::string("bufferpool: Sequence::") + call + named +
                     " after submit(): a submitted sequence is fixed; record the new work into "
                     "another sequence");
  }
  return state;
}

BufferRef Sequence::create_buffer(std::size_t size_bytes) {
  State& state = live_state("create_buffer()");
  BufferPool& pool = state.host->device_pool();
  if (state.recorded) return pool.get_buffer(size_bytes);
  // Scratch buffers that only the sequence still holds are kept for its
  // stream, so this request, and later ones, may take their memory.
  auto& held = state.held;
  for (auto& entry : held) {
    if (entry.scratch && entry.buffer.ref_count() == 1) {
      pool.release_to_stream(entry.buffer, state.stream);
    }
  }
  held.erase(std::remove_if(held.begin(), held.end(),
                            [](const State::HeldBuffer& entry) { return !entry.buffer; }),
             held.end());
  BufferRef buffer = pool.get_buffer(size_bytes, state.stream);
  held.push_back({buffer, true});
  return buffer;
}

void Sequence::record(const std::string& pipeline_name, BufferList inputs, BufferList outputs,
                      const DispatchGrid& grid, const ThreadsPerGroup& threads_per_group,
                      const PushConstants& push_constants) {
  record_dispatch(pipeline_name, inputs, outputs, grid, threads_per_group, push_constants);
}

void Sequence::record(const std::string& pipeline_name, BufferList inputs, BufferList outputs,
                      const DispatchGrid& grid, const PushConstants& push_constants) {
  record_dispatch(pipeline_name, inputs, outputs, grid, std::nullopt, push_constants);
}

void Sequence::record_dispatch(const std::string& pipeline_name, const BufferList& inputs,
                               const BufferList& outputs, const DispatchGrid& grid,
                               const std::optional<ThreadsPerGroup>& threads_per_group,
                               const PushConstants& push_constants) {
  State& state = recording_state("record()", pipeline_name);
  std::shared_ptr<const void> pipeline;
  auto command = state.host->prepare_dispatch(pipeline_name, inputs, outputs, grid,
                                              threads_per_group, push_constants, pipeline);
  state.commands.push_back(std::move(command));
  state.pipelines.push_back(std::move(pipeline));
  hold(state, inputs);
  hold(state, outputs);
  ++state.dispatches;
}

void Sequence::record_upload_bytes(const BufferRef& buffer, std::span<const std::byte> data) {
  State& state = recording_state("record_upload()");
  if (!buffer) throw UsageError("bufferpool: Sequence::record_upload() to an empty BufferRef");
  if (data.empty() || data.size() > buffer.size()) {
    throw InvalidArgumentError("bufferpool: Sequence::record_upload() of " +
                               std::to_string(data.size()) + " bytes into a buffer of " +
                               std::to_string(buffer.size()) +
                               " bytes; upload at least one byte and at most size()");
  }
  BufferRef staging = state.host->upload_pool().get_buffer(data.size());
  std::memcpy(staging.data(), data.data(), data.size());
  vulkan_detail::SequenceCommand command;
  command.kind = vulkan_detail::SequenceCommand::Kind::copy;
  command.copy = state.host->prepare_copy(staging, buffer, data.size());
  state.commands.push_back(std::move(command));
  state.held.push_back({std::move(staging), false});
  hold(state, {buffer});
  state.upload_bytes += data.size();
}

void Sequence::record_copy(const BufferRef& source, const BufferRef& destination,
                           std::size_t size_bytes) {
  State& state = recording_state("record_copy()");
  if (!source || !destination) {
    throw UsageError("bufferpool: Sequence::record_copy() with an empty BufferRef");
  }
  if (source == destination) {
    throw InvalidArgumentError(
        "bufferpool: Sequence::record_copy() from a buffer to itself: the ranges overlap, which "
        "vkCmdCopyBuffer does not allow; copy through a second buffer");
  }
  if (size_bytes == 0 || size_bytes > source.size() || size_bytes > destination.size()) {
    throw InvalidArgumentError("bufferpool: Sequence::record_copy() of " +
                               std::to_string(size_bytes) + " bytes from a buffer of " +
                               std::to_string(source.size()) + " bytes to one of " +
                               std::to_string(destination.size()) +
                               "; copy at least one byte and at most the smaller size");
  }
  vulkan_detail::SequenceCommand command;
  command.kind = vulkan_detail::SequenceCommand::Kind::copy;
  command.copy = state.host->prepare_copy(source, destination, size_bytes);
  state.commands.push_back(std::move(command));
  hold(state, {source, destination});
  ++state.copies;
}

Submission Sequence::submit() {
  State& state = live_state("submit()");
  if (state.commands.empty()) {
    throw UsageError("bufferpool: Sequence::submit() with nothing recorded; record() first");
  }
  if (!state.recorded) {
    state.recorded =
        std::make_unique<vulkan_detail::RecordedCommands>(state.host->device(), state.commands);
  }
  const std::uint64_t value = state.recorded->submit();
  state.last_submission = value;
  for (auto& entry : state.held) entry.buffer.mark_used_until(value);
  state.host->count_submission(state.dispatches, state.copies, state.upload_bytes);
  return {state.host->timeline_backend(), value};
}

void Sequence::execute() { submit().wait(); }

std::size_t Sequence::command_count() const noexcept {
  return state_ ? state_->commands.size() : 0;
}

bool Sequence::submitted() const noexcept { return state_ && state_->recorded != nullptr; }

}  // namespace bufferpool
