// Followed: mlx/backend/metal/allocator.cpp of ml-explore/mlx (the 2024
// MetalAllocator with BufferCache):
//
//   malloc(size):
//     if (size > vm_page_size) size = vm_page_size * ceil(size / vm_page_size)
//     buf = buffer_cache_.reuse_from_cache(size)
//       // it = buffer_pool_.lower_bound(size); take it while
//       // it->first < std::min(2 * size, size + 2 * vm_page_size)
//     if (!buf) { if (mem_required >= gc_limit_) release_cached_buffers(...);
//                 buf = device_->newBuffer(size, ...) }
//     if (get_cache_memory() >= max_pool_size_)
//       release_cached_buffers(get_cache_memory() - max_pool_size_)
//   free(buf):
//     if (get_cache_memory() < max_pool_size_) recycle_to_cache(buf)
//     else buf->release()
//
// max_pool_size_ (the cache limit) and gc_limit_ default to the memory
// limit; with none, only an explicit cache limit trims the cache.
#include "replay/mlx_policy.hpp"

#include <algorithm>
#include <stdexcept>

namespace bufferpool::bench {

MlxBufferCachePolicy::MlxBufferCachePolicy(std::size_t cache_limit_bytes)
    : cache_limit_bytes_(cache_limit_bytes) {}

std::size_t MlxBufferCachePolicy::rounded_size(std::size_t size_bytes) {
  if (size_bytes <= kPageBytes) return size_bytes;
  return (size_bytes + kPageBytes - 1) / kPageBytes * kPageBytes;
}

MlxBufferCachePolicy::BufferId MlxBufferCachePolicy::new_buffer(std::size_t length_bytes) {
  BufferId id = kNone;
  if (unused_ids_.empty()) {
    buffers_.emplace_back();
    id = static_cast<BufferId>(buffers_.size() - 1);
  } else {
    id = unused_ids_.back();
    unused_ids_.pop_back();
    buffers_[id] = Buffer{};
  }
  buffers_[id].length_bytes = length_bytes;
  ++stats_.device_allocations;
  ++stats_.live_buffers;
  stats_.peak_live_buffers = std::max(stats_.peak_live_buffers, stats_.live_buffers);
  return id;
}

void MlxBufferCachePolicy::release(BufferId buffer) {
  ++stats_.device_frees;
  --stats_.live_buffers;
  buffers_[buffer] = Buffer{};
  unused_ids_.push_back(buffer);
}

void MlxBufferCachePolicy::note_held() {
  stats_.peak_held_bytes =
      std::max(stats_.peak_held_bytes, stats_.active_bytes + stats_.cache_bytes);
}

MlxBufferCachePolicy::BufferId MlxBufferCachePolicy::allocate(std::size_t size_bytes) {
  if (size_bytes == 0) throw std::invalid_argument("MlxBufferCachePolicy: a 0-byte request");
  ++stats_.requests;
  const std::size_t size = rounded_size(size_bytes);

  // reuse_from_cache: the smallest cached length >= size, if it is under
  // the window; a larger one would be further out of it.
  BufferId buffer = kNone;
  const auto fit = cache_.lower_bound(size);
  if (fit != cache_.end() && fit->first < std::min(2 * size, size + 2 * kPageBytes)) {
    buffer = fit->second;
    uncache(buffer);
    ++stats_.requests_from_cache;
  } else {
    buffer = new_buffer(size);
  }
  stats_.active_bytes += buffers_[buffer].length_bytes;
  note_held();

  // Keep the cache under its limit.
  if (stats_.cache_bytes >= cache_limit_bytes_) {
    release_cached(stats_.cache_bytes - cache_limit_bytes_);
  }
  return buffer;
}

void MlxBufferCachePolicy::free(BufferId buffer) {
  if (buffer >= buffers_.size() || buffers_[buffer].length_bytes == 0 || buffers_[buffer].cached) {
    throw std::invalid_argument("MlxBufferCachePolicy: free of a buffer not allocated");
  }
  stats_.active_bytes -= buffers_[buffer].length_bytes;
  if (stats_.cache_bytes < cache_limit_bytes_) {
    recycle(buffer);
  } else {
    release(buffer);
  }
}

void MlxBufferCachePolicy::recycle(BufferId buffer) {
  Buffer& entry = buffers_[buffer];
  entry.cached = true;
  // add_at_head: the most recently freed buffer is at the head.
  entry.newer = kNone;
  entry.older = newest_;
  if (newest_ != kNone) buffers_[newest_].newer = buffer;
  newest_ = buffer;
  if (oldest_ == kNone) oldest_ = buffer;
  // multimap::insert puts an equal key after the others: the oldest of a
  // length is found first, as in MLX's buffer_pool_.
  entry.in_cache = cache_.insert({entry.length_bytes, buffer});
  stats_.cache_bytes += entry.length_bytes;
}

void MlxBufferCachePolicy::uncache(BufferId buffer) {
  Buffer& entry = buffers_[buffer];
  cache_.erase(entry.in_cache);
  if (entry.newer != kNone) {
    buffers_[entry.newer].older = entry.older;
  } else {
    newest_ = entry.older;
  }
  if (entry.older != kNone) {
    buffers_[entry.older].newer = entry.newer;
  } else {
    oldest_ = entry.newer;
  }
  entry.cached = false;
  entry.newer = kNone;
  entry.older = kNone;
  stats_.cache_bytes -= entry.length_bytes;
}

void MlxBufferCachePolicy::release_cached(std::size_t min_bytes) {
  if (static_cast<double>(min_bytes) >= 0.9 * static_cast<double>(stats_.cache_bytes)) {
    while (oldest_ != kNone) {
      const BufferId victim = oldest_;
      uncache(victim);
      release(victim);
    }
    return;
  }
  std::size_t freed_bytes = 0;
  while (oldest_ != kNone && freed_bytes < min_bytes) {
    const BufferId victim = oldest_;
    freed_bytes += buffers_[victim].length_bytes;
    uncache(victim);
    release(victim);
  }
}

}  // namespace bufferpool::bench
