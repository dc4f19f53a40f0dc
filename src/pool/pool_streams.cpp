// Streams: buffers released inside an order of device work, kept for later
// requests of that order (see StreamId).
#include "pool/pool_core.hpp"
#include "pool/scope_budget.hpp"

#include <bufferpool/errors.hpp>

#include <string>
#include <utility>

namespace bufferpool::detail {
namespace {

std::string describe(StreamId stream) {
  return "stream " + std::to_string(static_cast<std::uint64_t>(stream));
}

[[noreturn]] void throw_not_open(StreamId stream, const char* call) {
  throw UsageError("bufferpool: BufferPool::" + std::string(call) + " names " + describe(stream) +
                   ", which is not open: open it with open_stream(), and make no request or "
                   "release for it after close_stream()");
}

}  // namespace

StreamId PoolCore::open_stream() {
  const std::lock_guard lock(streams_mutex_);
  const std::uint64_t id = next_stream_id_++;
  streams_.emplace(id, BlockList{});
  return StreamId{id};
}

BufferRef PoolCore::get_for_stream(std::size_t size_bytes, StreamId stream) {
  if (stream == StreamId::none) return get(size_bytes);
  const unsigned class_index = checked_class_index(size_bytes);
  if (budgeted_scopes_open != 0) [[unlikely]]
    check_scope_budgets(size_bytes);
  Block* block = nullptr;
  {
    const std::lock_guard lock(streams_mutex_);
    const auto found = streams_.find(static_cast<std::uint64_t>(stream));
    if (found == streams_.end()) throw_not_open(stream, "get_buffer(size_bytes, stream)");
    BlockList& kept = found->second;
    Block* candidate = kept.back();
    for (unsigned looked = 0; candidate != nullptr && looked < kReuseCandidates; ++looked) {
      if (reusable_for(candidate->capacity_bytes(), size_bytes, granule_bytes_)) {
        kept.remove(candidate);
        candidate->start_use(size_bytes, class_index);
        block = candidate;
        break;
      }
      candidate = candidate->prev;
    }
  }
  if (block == nullptr) return get(size_bytes);
  kept_buffers_.fetch_sub(1, std::memory_order_relaxed);
  kept_bytes_.fetch_sub(block->capacity_bytes(), std::memory_order_relaxed);
  stream_reuses_.fetch_add(1, std::memory_order_relaxed);
  count_stream_reuse(class_index, size_bytes, block->capacity_bytes());
  if (observers_.active()) emit_handout(*block, size_bytes, class_index, Source::reused);
  // Not hand_out(): the block keeps its stamp, the device work that last used
  // it. The stream orders its next device use after that work; its release,
  // and anything outside the stream, must still wait for it.
  BufferRef buffer(this, block);
  if (config_.zero_on_reuse) {
    // A fill from the host must not race the device work that still uses it.
    const std::uint64_t device_use = block->stamp.load(std::memory_order_relaxed);
    if (device_use != 0 && !timeline_reached(device_use)) backend_->wait_for_timeline(device_use);
    backend_->fill_zero(block->segment->allocation, block->offset_bytes(), block->capacity_bytes());
  }
  return buffer;
}

void PoolCore::release_to_stream(BufferRef& buffer, StreamId stream) {
  if (!buffer) return;
  if (buffer.core_ != this) {
    throw UsageError(
        "bufferpool: BufferPool::release_to_stream() got a buffer of another pool; release it "
        "to a stream of the pool it came from");
  }
  if (stream == StreamId::none) {
    buffer.reset();
    return;
  }
  {
    const std::lock_guard lock(streams_mutex_);
    if (!streams_.contains(static_cast<std::uint64_t>(stream))) {
      throw_not_open(stream, "release_to_stream()");
    }
  }
  Block* block = std::exchange(buffer.block_, nullptr);
  buffer.core_ = nullptr;
  if (block->drop_one_reference()) keep_for_stream(block, stream);
}

void PoolCore::keep_for_stream(Block* block, StreamId stream) noexcept {
  bool kept = false;
  {
    Shard& shard = calling_thread_shard();
    const std::lock_guard shard_lock(shard.lock);
    const std::lock_guard lock(streams_mutex_);
    const auto found = streams_.find(static_cast<std::uint64_t>(stream));
    // A pool closing, or a stream another thread closed after the check in
    // release_to_stream(): an ordinary release.
    if (!closing_ && found != streams_.end()) {
      shard.count_in_use(block->class_index(), block->capacity_bytes(), -1);
      block->mark_released(Block::Released::from_use);
      found->second.push_back(block);
      kept = true;
    }
  }
  if (!kept) {
    release(block);
    return;
  }
  kept_buffers_.fetch_add(1, std::memory_order_relaxed);
  kept_bytes_.fetch_add(block->capacity_bytes(), std::memory_order_relaxed);
  // Announced as a release that others must wait for: from here the buffer
  // is the stream's, and a later reuse is a new request.
  if (observers_.active()) emit_block_event(PoolEventKind::free, *block, true);
}

void PoolCore::close_stream(StreamId stream, std::uint64_t used_until_timeline) noexcept {
  BlockList kept;
  {
    const std::lock_guard lock(streams_mutex_);
    const auto found = streams_.find(static_cast<std::uint64_t>(stream));
    if (found == streams_.end()) return;
    while (Block* block = found->second.pop_front()) kept.push_back(block);
    streams_.erase(found);
  }
  while (Block* block = kept.pop_front()) {
    kept_buffers_.fetch_sub(1, std::memory_order_relaxed);
    kept_bytes_.fetch_sub(block->capacity_bytes(), std::memory_order_relaxed);
    if (block->stamp.load(std::memory_order_relaxed) < used_until_timeline) {
      block->stamp.store(used_until_timeline, std::memory_order_relaxed);
    }
    {
      // release_block() counts the buffer out of use again.
      Shard& shard = calling_thread_shard();
      const std::lock_guard lock(shard.lock);
      shard.count_in_use(block->class_index(), block->capacity_bytes(), 1);
    }
    release_unannounced(block);
  }
}

void PoolCore::take_every_kept(BlockList& leaving) noexcept {
  const std::lock_guard lock(streams_mutex_);
  for (auto& [id, kept] : streams_) {
    while (Block* block = kept.pop_front()) leaving.push_back(block);
  }
  streams_.clear();
  kept_buffers_.store(0, std::memory_order_relaxed);
  kept_bytes_.store(0, std::memory_order_relaxed);
}

}  // namespace bufferpool::detail
