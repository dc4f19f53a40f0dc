// Seeing into a pool: observers and recording, snapshots of its segments, the
// buffers still live, the figures an out-of-memory error carries, and the
// bytes of named scopes. Nothing here runs on the hit path.
#include "pool/format.hpp"
#include "pool/pool_core.hpp"
#include "pool/scope_budget.hpp"

#include <bufferpool/autorelease.hpp>
#include <bufferpool/errors.hpp>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <sstream>

namespace bufferpool::detail {

void PoolCore::add_observer(std::shared_ptr<PoolObserver> observer) {
  observers_.add(std::move(observer));
}

void PoolCore::remove_observer(const PoolObserver& observer) noexcept {
  // A recorder or tracker of the pool's own is not the caller's to remove.
  if (&observer == recorder_.get() || &observer == live_tracker_.get()) return;
  observers_.remove(observer);
}

void PoolCore::start_recording(const std::filesystem::path& path) {
  const std::lock_guard lock(recording_mutex_);
  if (recorder_) {
    throw UsageError("bufferpool: start_recording('" + path.string() +
                     "') while the pool records to '" + recorder_->path().string() +
                     "'; call stop_recording() first");
  }
  auto recorder = std::make_shared<TraceRecorder>(path, read_clock());
  observers_.add(recorder);
  recorder_ = std::move(recorder);
  recording_.store(true, std::memory_order_relaxed);
}

void PoolCore::stop_recording() noexcept {
  std::shared_ptr<TraceRecorder> stopped;
  {
    const std::lock_guard lock(recording_mutex_);
    if (!recorder_) return;
    observers_.remove(*recorder_);
    stopped_recorded_events_ += recorder_->recorded_events();
    stopped_recording_waits_ += recorder_->waits();
    stopped = std::move(recorder_);
    recording_.store(false, std::memory_order_relaxed);
  }
  stopped.reset();  // writes what is buffered and closes the file, outside the lock
}

namespace {

// What a block carries says its state: free space, or how it was last
// released (not at all: live). Idle covers a block evicted on its way to free
// space; pending, one released by another thread on its way to a list.
BlockState state_of(const Block& block) noexcept {
  if (block.is_free()) return BlockState::free;
  switch (block.released()) {
    case Block::Released::from_idle:
      return BlockState::idle;
    case Block::Released::from_use:
      return BlockState::pending;
    case Block::Released::no:
      break;
  }
  return BlockState::live;
}

}  // namespace

// Every lock, in the order that keeps the pool free of deadlock (shards, then
// streams, then pending, then the heap, which nothing holds while taking
// another): a block's size and state are written only under the lock of the
// list it leaves or joins, so each one read under all of them is exact.
struct PoolCore::EveryLock {
  explicit EveryLock(const PoolCore& core)
      : shards(core.shards_),
        streams(core.streams_mutex_),
        pending(core.pending_lock_),
        heap(core.heap_mutex_) {}
  AllShardsLock shards;
  std::lock_guard<std::mutex> streams;
  std::lock_guard<SpinLock> pending;
  std::lock_guard<std::mutex> heap;
};

template <typename Visitor>
void PoolCore::visit_blocks(Visitor&& visit) const {
  const EveryLock locks(*this);
  heap_.for_each_segment([&](const Segment& segment) {
    visit(segment, static_cast<const BlockView*>(nullptr));
    for (const Block* block = segment.first_block; block != nullptr; block = block->upper) {
      const BlockView view{block, segment.address + block->offset_bytes(), state_of(*block)};
      visit(segment, &view);
    }
  });
}

std::string PoolCore::check_segments() const {
  const EveryLock locks(*this);
  if (std::string broken = heap_.check_invariants(); !broken.empty()) return broken;
  // The inspections trust what each block carries: it must agree with the
  // list that holds it. Returns what is wrong, or "".
  const auto check_list = [](const BlockList& list, BlockState expected, const char* where) {
    for (const Block* block = list.front(); block != nullptr; block = block->next) {
      if (state_of(*block) == expected) continue;
      std::ostringstream message;
      message << "a block at offset " << block->offset_bytes() << " of a segment of "
              << block->segment->size_bytes() << " bytes is " << where
              << " but is marked as another state";
      return message.str();
    }
    return std::string{};
  };
  for (const auto& shard : shards_) {
    for (unsigned list = 0; list < shard.list_count(); ++list) {
      std::string broken = check_list(shard.idle(list), BlockState::idle, "in an idle list");
      if (!broken.empty()) return broken;
    }
  }
  for (const auto& [id, kept] : streams_) {
    std::string broken = check_list(kept, BlockState::pending, "kept for a stream");
    if (!broken.empty()) return broken;
  }
  return check_list(pending_, BlockState::pending, "pending");
}

MemorySnapshot PoolCore::snapshot() const {
  MemorySnapshot result;
  result.time = read_clock();
  visit_blocks([&](const Segment& segment, const BlockView* view) {
    if (view == nullptr) {
      result.segments.push_back(SnapshotSegment{
          segment.address, segment.size_bytes(), segment.kind == SegmentKind::large, {}});
      return;
    }
    SnapshotBlock block;
    block.address = view->address;
    block.size_bytes = view->block->capacity_bytes();
    block.state = view->state;
    if (view->state != BlockState::free) {
      // An idle block keeps its eviction rank where a live one keeps its size.
      if (view->state != BlockState::idle) block.requested_bytes = view->block->size_bytes();
      block.class_index = static_cast<std::uint16_t>(view->block->class_index());
    }
    result.segments.back().blocks.push_back(block);
  });
  std::sort(result.segments.begin(), result.segments.end(),
            [](const auto& a, const auto& b) { return a.address < b.address; });
  return result;
}

std::vector<LiveBuffer> PoolCore::live_buffers() const {
  std::vector<LiveBuffer> result;
  visit_blocks([&](const Segment& /*segment*/, const BlockView* view) {
    if (view == nullptr || view->state != BlockState::live) return;
    LiveBuffer buffer;
    buffer.address = view->address;
    buffer.size_bytes = view->block->size_bytes();
    buffer.capacity_bytes = view->block->capacity_bytes();
    buffer.class_index = static_cast<std::uint16_t>(view->block->class_index());
    // Read, not modified: const_cast only for atomic_ref's non-const API.
    buffer.ref_count = static_cast<std::uint32_t>(
        const_cast<Block*>(view->block)->refs().load(std::memory_order_relaxed));
    result.push_back(std::move(buffer));
  });
  if (live_tracker_) {
    const auto now = to_stamp(read_clock());
    for (LiveBuffer& buffer : result) {
      if (auto record = live_tracker_->find(buffer.address)) {
        buffer.age = std::chrono::nanoseconds{
            static_cast<std::int64_t>(now - std::min(now, record->requested_at_ns))};
        buffer.allocation_site = LiveTracker::symbolise(record->frames);
      }
    }
    std::stable_sort(result.begin(), result.end(), [](const auto& a, const auto& b) {
      return a.age.value_or(std::chrono::nanoseconds{0}) >
             b.age.value_or(std::chrono::nanoseconds{0});
    });
  } else {
    std::sort(result.begin(), result.end(),
              [](const auto& a, const auto& b) { return a.address < b.address; });
  }
  return result;
}

void PoolCore::report_outstanding_buffers() const {
  std::vector<LiveBuffer> live;
  try {
    live = live_buffers();
  } catch (const std::exception& error) {
    std::fprintf(stderr, "bufferpool: could not list the buffers still referenced: %s\n",
                 error.what());
    return;
  }
  if (live.empty()) return;
  std::ostringstream report;
  report << "bufferpool: a pool on the " << backend_->name() << " backend was destroyed with "
         << live.size() << " buffer" << (live.size() == 1 ? "" : "s")
         << " still referenced (they stay valid and go back when released):\n";
  for (const LiveBuffer& buffer : live) {
    report << "  " << format_bytes(buffer.capacity_bytes) << " (asked " << buffer.size_bytes
           << " B) at 0x" << std::hex << buffer.address << std::dec << ", " << buffer.ref_count
           << (buffer.ref_count == 1 ? " reference" : " references");
    if (buffer.age) {
      report << ", requested "
             << std::chrono::duration_cast<std::chrono::milliseconds>(*buffer.age).count()
             << " ms ago";
    }
    report << "\n";
    for (const std::string& frame : buffer.allocation_site) report << "      at " << frame << "\n";
  }
  std::fputs(report.str().c_str(), stderr);
}

OutOfMemoryDetails PoolCore::out_of_memory_details() const {
  OutOfMemoryDetails details;
  details.idle_bytes_per_class.assign(class_capacities_.size() + 1, 0);
  // One walk of every block, under every lock: a failing request is slow
  // anyway, and the hit path then keeps no count of padding.
  visit_blocks([&](const Segment& /*segment*/, const BlockView* view) {
    if (view == nullptr) {
      ++details.device_allocations;
      return;
    }
    const Block& block = *view->block;
    switch (view->state) {
      case BlockState::free:
        details.free_bytes_in_segments += block.capacity_bytes();
        details.largest_free_block_bytes =
            std::max(details.largest_free_block_bytes, block.capacity_bytes());
        break;
      case BlockState::idle:
        details.idle_bytes_per_class[block.class_index()] += block.capacity_bytes();
        break;
      case BlockState::live:
        details.rounding_padding_bytes += block.capacity_bytes() - block.size_bytes();
        break;
      case BlockState::pending:
        details.pending_bytes += block.capacity_bytes();
        break;
    }
  });
  details.device_allocation_limit = max_live_segments_;
  if (const auto budget = backend_->memory_budget()) {
    details.device_budget_bytes = budget->budget_bytes;
    details.device_usage_bytes = budget->usage_bytes;
  }
  return details;
}

void PoolCore::check_scope_budgets(std::size_t size_bytes) {
  const std::size_t capacity_bytes = carve_bytes(size_bytes);
  for (const AutoReleaseScope* scope = AutoReleaseScope::innermost(); scope != nullptr;
       scope = scope->enclosing()) {
    const std::size_t budget = scope->budget_bytes();
    if (budget != 0 && capacity_bytes > budget - std::min(budget, scope->held_bytes())) {
      throw_scope_budget(scope->name(), budget, scope->held_bytes(), capacity_bytes, size_bytes);
    }
  }
}

void PoolCore::throw_scope_budget(const std::string& scope_name, std::size_t budget_bytes,
                                  std::size_t held_bytes, std::size_t capacity_bytes,
                                  std::size_t size_bytes) {
  failed_allocations_.fetch_add(1, std::memory_order_relaxed);
  if (observers_.active()) emit_failure(size_bytes, capacity_bytes);
  {
    const std::lock_guard lock(scopes_mutex_);
    auto [entry, inserted] = scopes_.try_emplace(scope_name);
    if (inserted) entry->second.name = scope_name;
    entry->second.budget_bytes = budget_bytes;
    ++entry->second.budget_failures;
  }
  OutOfMemoryDetails details = out_of_memory_details();
  details.scope_name = scope_name;
  std::ostringstream message;
  message << "bufferpool: a request of " << size_bytes << " bytes (" << format_bytes(capacity_bytes)
          << " granted) would take the scope '" << scope_name << "' past its budget of "
          << format_bytes(budget_bytes) << ": it holds " << format_bytes(held_bytes)
          << ". Release what the scope holds sooner (drain()), or give it a larger budget";
  throw OutOfMemoryError(message.str(), capacity_bytes, budget_bytes, held_bytes,
                         std::move(details));
}

void PoolCore::note_scope_bytes(const std::string& name, std::size_t budget_bytes,
                                std::size_t added, std::size_t removed) noexcept {
  try {
    const std::lock_guard lock(scopes_mutex_);
    auto [entry, inserted] = scopes_.try_emplace(name);
    ScopeMetrics& scope = entry->second;
    if (inserted) scope.name = name;
    scope.budget_bytes = budget_bytes;
    scope.current_bytes =
        scope.current_bytes + added - std::min(scope.current_bytes + added, removed);
    scope.peak_bytes = std::max(scope.peak_bytes, scope.current_bytes);
  } catch (const std::bad_alloc&) {
    // No memory for the name's entry: the scope goes unreported; a release
    // path cannot throw.
  }
}

}  // namespace bufferpool::detail
