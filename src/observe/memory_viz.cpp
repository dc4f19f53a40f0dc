#include <bufferpool/errors.hpp>
#include <bufferpool/memory_viz.hpp>

#include <algorithm>
#include <fstream>

#include "observe/pickle_writer.hpp"

namespace bufferpool {
namespace {

const char* action_name(std::uint8_t action) {
  // The order of MemoryVizRecorder::Action.
  static constexpr const char* kNames[] = {"alloc",         "free_requested", "free_completed",
                                           "segment_alloc", "segment_free",   "oom"};
  return kNames[action];
}

const char* block_state_name(BlockState state) {
  switch (state) {
    case BlockState::live:
      return "active_allocated";
    case BlockState::pending:
      return "active_pending_free";
    case BlockState::idle:
    case BlockState::free:
      break;
  }
  return "inactive";
}

void write_empty_frames(detail::PickleWriter& pickle) {
  pickle.key("frames");
  pickle.begin_list();
  pickle.end_list();
}

void write_segment(detail::PickleWriter& pickle, const SnapshotSegment& segment) {
  std::uint64_t allocated_bytes = 0;
  std::uint64_t active_bytes = 0;
  std::uint64_t requested_bytes = 0;
  for (const SnapshotBlock& block : segment.blocks) {
    const bool live = block.state == BlockState::live;
    const bool active = live || block.state == BlockState::pending;
    if (live) allocated_bytes += block.size_bytes;
    if (active) {
      active_bytes += block.size_bytes;
      requested_bytes += block.requested_bytes;
    }
  }
  pickle.begin_dict();
  pickle.key("device");
  pickle.value(std::uint64_t{0});
  pickle.key("address");
  pickle.value(segment.address);
  pickle.key("total_size");
  pickle.value(std::uint64_t{segment.size_bytes});
  pickle.key("allocated_size");
  pickle.value(allocated_bytes);
  pickle.key("active_size");
  pickle.value(active_bytes);
  pickle.key("requested_size");
  pickle.value(requested_bytes);
  pickle.key("stream");
  pickle.value(std::uint64_t{0});
  pickle.key("segment_type");
  pickle.symbol(segment.large ? "large" : "small");
  pickle.key("blocks");
  pickle.begin_list();
  for (const SnapshotBlock& block : segment.blocks) {
    pickle.begin_dict();
    pickle.key("address");
    pickle.value(block.address);
    pickle.key("size");
    pickle.value(std::uint64_t{block.size_bytes});
    pickle.key("requested_size");
    pickle.value(std::uint64_t{block.requested_bytes});
    pickle.key("state");
    pickle.symbol(block_state_name(block.state));
    write_empty_frames(pickle);
    pickle.end_dict();
  }
  pickle.end_list();
  pickle.end_dict();
}

}  // namespace

MemoryVizRecorder::MemoryVizRecorder(MemoryVizOptions options) : options_(options) {
  if (options_.max_entries == 0) {
    throw InvalidArgumentError(
        "bufferpool: MemoryVizRecorder asked to keep max_entries = 0 trace entries; keep at "
        "least one (the default keeps 1048576 in 32 MiB)");
  }
  ring_.reserve(options_.max_entries);
}

void MemoryVizRecorder::push(const Entry& entry) noexcept {
  if (ring_.size() < options_.max_entries) {
    ring_.push_back(entry);  // within the capacity reserved at construction: no allocation
    return;
  }
  // A ring keeps a suffix of the history, which the viewer can replay back
  // from the snapshot as it does a truncated PyTorch trace.
  ring_[next_] = entry;
  next_ = (next_ + 1) % options_.max_entries;
  ++dropped_;
}

void MemoryVizRecorder::on_event(const PoolEvent& event) noexcept {
  Entry entry;
  entry.time_ns = event.time_ns;
  entry.address = event.address;
  entry.size_bytes = event.size_bytes;
  const std::scoped_lock lock(mutex_);
  switch (event.kind) {
    case PoolEventKind::allocate:
      entry.action = Action::alloc;
      push(entry);
      break;
    case PoolEventKind::free:
      entry.action = Action::free_requested;
      push(entry);
      if (!event.pending) {
        entry.action = Action::free_completed;
        push(entry);
      }
      break;
    case PoolEventKind::free_completed:
      entry.action = Action::free_completed;
      push(entry);
      break;
    case PoolEventKind::segment_allocate:
      held_bytes_ += event.capacity_bytes;
      entry.action = Action::segment_alloc;
      entry.size_bytes = event.capacity_bytes;
      push(entry);
      break;
    case PoolEventKind::segment_free:
      held_bytes_ -= std::min<std::uint64_t>(held_bytes_, event.capacity_bytes);
      entry.action = Action::segment_free;
      entry.size_bytes = event.capacity_bytes;
      push(entry);
      break;
    case PoolEventKind::allocate_failure:
      entry.action = Action::oom;
      entry.address =
          options_.memory_limit_bytes > held_bytes_ ? options_.memory_limit_bytes - held_bytes_ : 0;
      push(entry);
      break;
    case PoolEventKind::evict:
    case PoolEventKind::expire:
      // Idle to free space: the same drawing in the viewer (see the header).
      break;
  }
}

std::size_t MemoryVizRecorder::entries_held() const {
  const std::scoped_lock lock(mutex_);
  return ring_.size();
}

std::uint64_t MemoryVizRecorder::entries_dropped() const {
  const std::scoped_lock lock(mutex_);
  return dropped_;
}

std::string MemoryVizRecorder::to_pickle(const MemorySnapshot& snapshot) const {
  std::vector<Entry> entries;
  {
    const std::scoped_lock lock(mutex_);
    entries.reserve(ring_.size());
    entries.insert(entries.end(), ring_.begin() + static_cast<std::ptrdiff_t>(next_), ring_.end());
    entries.insert(entries.end(), ring_.begin(),
                   ring_.begin() + static_cast<std::ptrdiff_t>(next_));
  }

  detail::PickleWriter pickle;
  pickle.begin_dict();
  pickle.key("segments");
  pickle.begin_list();
  for (const SnapshotSegment& segment : snapshot.segments) write_segment(pickle, segment);
  pickle.end_list();

  pickle.key("device_traces");
  pickle.begin_list();
  pickle.begin_list();
  for (const Entry& entry : entries) {
    pickle.begin_dict();
    pickle.key("action");
    pickle.symbol(action_name(static_cast<std::uint8_t>(entry.action)));
    pickle.key("addr");
    pickle.value(entry.address);  // oom: device_free, as PyTorch writes it
    pickle.key("size");
    pickle.value(entry.size_bytes);
    if (entry.action == Action::oom) {
      pickle.key("device_free");
      pickle.value(entry.address);
    }
    pickle.key("stream");
    pickle.value(std::uint64_t{0});
    pickle.key("time_us");
    pickle.value(entry.time_ns / 1000);
    write_empty_frames(pickle);
    pickle.end_dict();
  }
  pickle.end_list();
  pickle.end_list();
  pickle.end_dict();
  return pickle.finish();
}

void MemoryVizRecorder::write(const std::filesystem::path& path,
                              const MemorySnapshot& snapshot) const {
  const std::string bytes = to_pickle(snapshot);
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) {
    throw InvalidArgumentError("bufferpool: cannot open " + path.string() +
                               " to write the memory_viz snapshot; give a path in a writable "
                               "directory that exists");
  }
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  file.close();
  if (!file) {
    throw InvalidArgumentError("bufferpool: writing the memory_viz snapshot (" +
                               std::to_string(bytes.size()) + " bytes) to " + path.string() +
                               " failed; check the disk has room");
  }
}

}  // namespace bufferpool
