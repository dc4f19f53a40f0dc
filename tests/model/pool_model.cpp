#include "pool_model.hpp"

#include "simulated_backend.hpp"

#include <algorithm>
#include <limits>
#include <utility>

namespace bufferpool::model {
namespace {

/// The largest buffer or segment the pool can track: 2^32 - 1 units of 64 B.
constexpr std::size_t kMaxSizeBytes = ((std::size_t{1} << 31) - 1) << 6;  // Block::kMaxSizeBytes
/// Idle buffers of a class looked at, newest first, before going to the segments.
constexpr std::size_t kReuseCandidates = 8;
/// GreedyDual-Size: 1/capacity in units of 2^-36, ranks kept in 48 bits,
/// rebased before they can overflow them.
constexpr std::uint64_t kPriorityOne = std::uint64_t{1} << 36;
constexpr std::uint64_t kAll = std::numeric_limits<std::uint64_t>::max();
/// A release reads the clock once in this many.
constexpr std::uint32_t kReleasesPerClockRead = 16;

std::size_t round_up(std::size_t bytes, std::size_t multiple) {
  return (bytes + multiple - 1) / multiple * multiple;
}

std::uint64_t stamp_of(std::int64_t now) {
  return static_cast<std::uint64_t>(std::max<std::int64_t>(now, 0));
}

}  // namespace

ModelCoverage& ModelCoverage::operator+=(const ModelCoverage& other) {
  hits_reused += other.hits_reused;
  hits_carved += other.hits_carved;
  misses += other.misses;
  splits += other.splits;
  exact_carves += other.exact_carves;
  best_fit_ties += other.best_fit_ties;
  merges_lower += other.merges_lower;
  merges_upper += other.merges_upper;
  merges_both += other.merges_both;
  segments_emptied += other.segments_emptied;
  empty_freed_ttl += other.empty_freed_ttl;
  empty_freed_clear += other.empty_freed_clear;
  empty_freed_limit += other.empty_freed_limit;
  empty_freed_live_bound += other.empty_freed_live_bound;
  empty_freed_too_small += other.empty_freed_too_small;
  evictions_for_room += other.evictions_for_room;
  evictions_for_limit += other.evictions_for_limit;
  evictions_over_caps += other.evictions_over_caps;
  size_aware_evictions += other.size_aware_evictions;
  expirations += other.expirations;
  limit_shrinks += other.limit_shrinks;
  limit_refusals += other.limit_refusals;
  limit_failures += other.limit_failures;
  backend_retries += other.backend_retries;
  retry_successes += other.retry_successes;
  retry_failures += other.retry_failures;
  dedicated_segments += other.dedicated_segments;
  zero_fills += other.zero_fills;
  zero_fill_faults += other.zero_fill_faults;
  device_reclaims += other.device_reclaims;
  orphan_releases += other.orphan_releases;
  stream_keeps += other.stream_keeps;
  stream_shared_releases += other.stream_shared_releases;
  stream_reuses += other.stream_reuses;
  stream_reuses_busy += other.stream_reuses_busy;
  stream_zero_waits += other.stream_zero_waits;
  stream_lookups_missed += other.stream_lookups_missed;
  stream_lookups_capped += other.stream_lookups_capped;
  stream_closes_pending += other.stream_closes_pending;
  stream_closes_released += other.stream_closes_released;
  streams_left_open += other.streams_left_open;
  return *this;
}

std::vector<std::pair<const char*, std::uint64_t>> ModelCoverage::fields() const {
  return {{"hits_reused", hits_reused},
          {"hits_carved", hits_carved},
          {"misses", misses},
          {"splits", splits},
          {"exact_carves", exact_carves},
          {"best_fit_ties", best_fit_ties},
          {"merges_lower", merges_lower},
          {"merges_upper", merges_upper},
          {"merges_both", merges_both},
          {"segments_emptied", segments_emptied},
          {"empty_freed_ttl", empty_freed_ttl},
          {"empty_freed_clear", empty_freed_clear},
          {"empty_freed_limit", empty_freed_limit},
          {"empty_freed_live_bound", empty_freed_live_bound},
          {"empty_freed_too_small", empty_freed_too_small},
          {"evictions_for_room", evictions_for_room},
          {"evictions_for_limit", evictions_for_limit},
          {"evictions_over_caps", evictions_over_caps},
          {"size_aware_evictions", size_aware_evictions},
          {"expirations", expirations},
          {"limit_shrinks", limit_shrinks},
          {"limit_refusals", limit_refusals},
          {"limit_failures", limit_failures},
          {"backend_retries", backend_retries},
          {"retry_successes", retry_successes},
          {"retry_failures", retry_failures},
          {"dedicated_segments", dedicated_segments},
          {"zero_fills", zero_fills},
          {"zero_fill_faults", zero_fill_faults},
          {"device_reclaims", device_reclaims},
          {"orphan_releases", orphan_releases},
          {"stream_keeps", stream_keeps},
          {"stream_shared_releases", stream_shared_releases},
          {"stream_reuses", stream_reuses},
          {"stream_reuses_busy", stream_reuses_busy},
          {"stream_zero_waits", stream_zero_waits},
          {"stream_lookups_missed", stream_lookups_missed},
          {"stream_lookups_capped", stream_lookups_capped},
          {"stream_closes_pending", stream_closes_pending},
          {"stream_closes_released", stream_closes_released},
          {"streams_left_open", streams_left_open}};
}

bool ModelConfig::valid() const {
  if (size_classes.empty() || size_classes.size() > 1024) return false;
  for (std::size_t index = 0; index < size_classes.size(); ++index) {
    if (size_classes[index] == 0 || size_classes[index] > kMaxSizeBytes) return false;
    if (index > 0 && size_classes[index] <= size_classes[index - 1]) return false;
  }
  if (ttl_ns < 0 || cleanup_interval_ns < 0) return false;
  if (background_cleanup && cleanup_interval_ns == 0) return false;
  const ModelSegments& s = segments;
  if (s.small_request_max_bytes == 0 || s.small_segment_bytes == 0 ||
      s.large_request_max_bytes == 0 || s.large_segment_bytes == 0 ||
      s.dedicated_rounding_bytes == 0) {
    return false;
  }
  if (s.small_segment_bytes < s.small_request_max_bytes ||
      s.large_request_max_bytes < s.small_request_max_bytes ||
      s.large_segment_bytes < s.large_request_max_bytes) {
    return false;
  }
  if (memory_limit != 0 && memory_limit < size_classes.front()) return false;
  // A class the backend cannot allocate is refused when the pool is made.
  const std::size_t max_request =
      std::min(max_allocation_bytes, kMaxSizeBytes) & ~(PoolModel::kGranule - 1);
  return size_classes.back() <= max_request;
}

// ---- pools -------------------------------------------------------------------

void PoolModel::open_pool(const ModelConfig& config) {
  close_pool();
  config_ = config;
  ++pool_;
  open_ = true;
  last_release_stamp_ = 0;
  release_count_ = 0;
  releases_until_clock_ = 1;
  clock_reads_owed_ = 0;
  inflation_ = 0;
  last_cleanup_ = now_;
  held_bytes_ = peak_bytes_ = 0;
  allocations_ = deallocations_ = evictions_ = expirations_ = failed_allocations_ = 0;
  bytes_requested_ = bytes_granted_ = hits_carved_ = stream_reuses_ = 0;
  streams_.clear();
  next_stream_id_ = 1;
  class_hits_.assign(config_.size_classes.size() + 1, 0);
  class_misses_.assign(config_.size_classes.size() + 1, 0);
}

void PoolModel::close_pool() {
  if (!open_) return;
  // Idle buffers go back to their segments, pending ones once the device is
  // done with them; a segment goes back to the backend as soon as it is empty.
  for (const std::size_t index : idle_by_list()) {
    if (give_back(index, released_at(buffers_[index]))) free_segment(buffers_[index].segment);
  }
  for (const std::size_t index : pending_) {
    complete_device_until(buffers_[index].device_use);
    if (give_back(index, stamp_of(now_))) free_segment(buffers_[index].segment);
  }
  pending_.clear();
  // Then the buffers kept for streams left open, the same way. (The pool takes
  // the streams in no set order; the order changes nothing one can observe.)
  for (const auto& [stream, kept] : streams_) {
    for (const std::size_t index : kept) {
      ++coverage_.streams_left_open;
      complete_device_until(buffers_[index].device_use);
      if (give_back(index, stamp_of(now_))) free_segment(buffers_[index].segment);
    }
  }
  streams_.clear();
  for (std::size_t index = 0; index < segments_.size(); ++index) {
    if (current(segments_[index]) && segment_empty(segments_[index])) free_segment(index);
  }
  open_ = false;
}

std::size_t PoolModel::max_request_bytes() const {
  return std::min(config_.max_allocation_bytes, kMaxSizeBytes) & ~(kGranule - 1);
}

unsigned PoolModel::class_for(std::size_t size_bytes) const {
  const auto& classes = config_.size_classes;
  return static_cast<unsigned>(std::lower_bound(classes.begin(), classes.end(), size_bytes) -
                               classes.begin());
}

std::size_t PoolModel::carve_bytes(std::size_t size_bytes) const {
  return round_up(size_bytes, kGranule);
}

std::optional<std::size_t> PoolModel::capacity_for(std::size_t size_bytes) const {
  if (size_bytes == 0) return std::nullopt;
  if (size_bytes > config_.size_classes.back() && size_bytes > max_request_bytes()) {
    return std::nullopt;
  }
  return carve_bytes(size_bytes);
}

std::size_t PoolModel::segment_bytes_for(std::size_t capacity) const {
  const ModelSegments& s = config_.segments;
  std::size_t bytes = 0;
  if (capacity < s.large_request_max_bytes) {
    bytes = large_kind(capacity) ? s.large_segment_bytes : s.small_segment_bytes;
  } else {
    bytes = round_up(capacity, s.dedicated_rounding_bytes);
  }
  bytes = std::min(round_up(bytes, kGranule), max_request_bytes());
  return std::max(bytes, capacity);
}

// ---- the ready cache ---------------------------------------------------------

std::vector<std::size_t> PoolModel::idle_list(unsigned list) const {
  std::vector<std::size_t> idle;
  for (std::size_t index = 0; index < buffers_.size(); ++index) {
    const ModelBuffer& buffer = buffers_[index];
    if (current(buffer) && buffer.state == BufferState::idle && buffer.size_class == list) {
      idle.push_back(index);
    }
  }
  std::sort(idle.begin(), idle.end(), [this](std::size_t a, std::size_t b) {
    return buffers_[a].list_order < buffers_[b].list_order;
  });
  return idle;
}

std::vector<std::size_t> PoolModel::idle_by_list() const {
  std::vector<std::size_t> all;
  for (unsigned list = 0; list <= config_.size_classes.size(); ++list) {
    const auto idle = idle_list(list);
    all.insert(all.end(), idle.begin(), idle.end());
  }
  return all;
}

std::size_t PoolModel::idle_count() const {
  return static_cast<std::size_t>(std::count_if(
      buffers_.begin(), buffers_.end(),
      [this](const ModelBuffer& b) { return current(b) && b.state == BufferState::idle; }));
}

std::size_t PoolModel::idle_bytes() const {
  std::size_t bytes = 0;
  for (const auto& buffer : buffers_) {
    if (current(buffer) && buffer.state == BufferState::idle) bytes += buffer.capacity;
  }
  return bytes;
}

std::optional<std::size_t> PoolModel::take_idle(unsigned size_class, std::size_t size_bytes) {
  // Newest first, up to kReuseCandidates of the class list: the first that
  // the request fills to within an eighth (past the granule's rounding).
  const auto idle = idle_list(size_class);
  const std::size_t most = size_bytes + size_bytes / 8 + kGranule - 1;
  std::size_t looked = 0;
  for (auto it = idle.rbegin(); it != idle.rend() && looked < kReuseCandidates; ++it, ++looked) {
    const std::size_t capacity = buffers_[*it].capacity;
    if (capacity >= size_bytes && capacity <= most) return *it;
  }
  return std::nullopt;
}

void PoolModel::push_idle(std::size_t index, std::uint64_t stamp) {
  ModelBuffer& buffer = buffers_[index];
  buffer.state = BufferState::idle;
  buffer.stamp = stamp;
  buffer.list_order = ++next_list_order_;
  buffer.eviction_rank = config_.size_aware ? inflation_ : ++release_count_;
}

void PoolModel::stamp_releases(std::int64_t now) {
  // Stamps never decrease, so each class list stays in time order.
  last_release_stamp_ = std::max(stamp_of(now) + 1, last_release_stamp_);
  for (auto& buffer : buffers_) {
    if (current(buffer) && buffer.state == BufferState::idle && buffer.stamp == 0) {
      buffer.stamp = last_release_stamp_;
    }
  }
  releases_until_clock_ = kReleasesPerClockRead;
}

std::uint64_t PoolModel::released_at(const ModelBuffer& buffer) const {
  return buffer.stamp != 0 ? buffer.stamp - 1 : stamp_of(now_);
}

bool PoolModel::over_caps() const {
  return idle_count() > config_.max_pool_size ||
         (config_.max_cached_bytes != 0 && idle_bytes() > config_.max_cached_bytes);
}

std::optional<std::size_t> PoolModel::eviction_victim(bool any_kind, bool large) {
  // Each class list offers its oldest buffer of the kind asked for (under
  // size_aware, the list above the largest class offers every buffer); the
  // lowest key wins, the first seen on a tie.
  //   oldest_first: (release time, release count)
  //   size_aware:   (rank + 2^36 / capacity, release time)
  // where an unstamped buffer counts as released last.
  std::optional<std::size_t> victim;
  std::pair<std::uint64_t, std::uint64_t> victim_key{};
  const auto class_count = static_cast<unsigned>(config_.size_classes.size());
  for (unsigned list = 0; list <= class_count; ++list) {
    const bool whole_list = config_.size_aware && list == class_count;
    for (const std::size_t index : idle_list(list)) {
      const ModelBuffer& buffer = buffers_[index];
      if (!any_kind && segments_[buffer.segment].large != large) continue;
      const std::uint64_t released = buffer.stamp == 0 ? kAll : buffer.stamp;
      const auto key =
          config_.size_aware
              ? std::pair{buffer.eviction_rank + kPriorityOne / buffer.capacity, released}
              : std::pair{released, buffer.eviction_rank};
      if (!victim || key < victim_key) {
        victim = index;
        victim_key = key;
      }
      if (!whole_list) break;
    }
  }
  if (victim && config_.size_aware) {
    ++coverage_.size_aware_evictions;
    inflation_ = std::max(inflation_, victim_key.first);
  }
  return victim;
}

void PoolModel::evict_over_caps() {
  while (over_caps()) {
    const auto victim = eviction_victim(true, false);
    if (!victim) break;
    // The pool unlinks every victim first and then gives them back in the
    // same order; choosing a victim does not look at the segments, so giving
    // each back at once is the same.
    ++evictions_;
    ++coverage_.evictions_over_caps;
    give_back(*victim, released_at(buffers_[*victim]));
  }
}

bool PoolModel::evict_one(bool any_kind, bool large) {
  const auto victim = eviction_victim(any_kind, large);
  if (!victim) return false;
  ++evictions_;
  give_back(*victim, released_at(buffers_[*victim]));
  return true;
}

// ---- segments ------------------------------------------------------------------

std::optional<std::size_t> PoolModel::carve(bool large, std::size_t capacity) {
  // Exact best fit within the kind: the smallest free block that holds the
  // request; among equal ones, the one that entered its bin first.
  std::optional<std::size_t> best;
  std::size_t ties = 0;
  for (std::size_t index = 0; index < free_.size(); ++index) {
    const FreeBlock& block = free_[index];
    const ModelSegment& segment = segments_[block.segment];
    if (!current(segment) || segment.large != large || block.size < capacity) continue;
    if (!best || block.size < free_[*best].size) {
      best = index;
      ties = 0;
    } else if (block.size == free_[*best].size) {
      ++ties;
      if (block.entered < free_[*best].entered) best = index;
    }
  }
  if (!best) return std::nullopt;
  if (ties > 0) ++coverage_.best_fit_ties;
  return carve_from(*best, capacity);
}

std::size_t PoolModel::carve_from(std::size_t free_block, std::size_t capacity) {
  // The buffer takes the lower end of the block; the rest stays free, as a
  // block that enters its bin now.
  FreeBlock& block = free_[free_block];
  ModelSegment& segment = segments_[block.segment];
  ModelBuffer buffer;
  buffer.segment = block.segment;
  buffer.handle = segment.handle;
  buffer.offset = block.offset;
  buffer.capacity = capacity;
  buffer.pool = segment.pool;
  buffer.host_visible = segment.host_visible;
  segment.free_bytes -= capacity;
  if (block.size == capacity) {
    ++coverage_.exact_carves;
    free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(free_block));
  } else {
    ++coverage_.splits;
    block.offset += capacity;
    block.size -= capacity;
    block.entered = ++next_entered_;
  }
  buffers_.push_back(buffer);
  return buffers_.size() - 1;
}

bool PoolModel::give_back(std::size_t index, std::uint64_t unused_since_ns) {
  ModelBuffer& buffer = buffers_[index];
  ModelSegment& segment = segments_[buffer.segment];
  buffer.state = BufferState::returned;
  segment.free_bytes += buffer.capacity;
  segment.unused_since_ns = std::max(segment.unused_since_ns, unused_since_ns);
  FreeBlock merged{buffer.segment, buffer.offset, buffer.capacity, 0};
  bool lower = false;
  bool upper = false;
  for (std::size_t at = 0; at < free_.size();) {
    const FreeBlock& block = free_[at];
    if (block.segment == buffer.segment && block.offset + block.size == buffer.offset) {
      merged.offset = block.offset;
      merged.size += block.size;
      lower = true;
    } else if (block.segment == buffer.segment && block.offset == buffer.offset + buffer.capacity) {
      merged.size += block.size;
      upper = true;
    } else {
      ++at;
      continue;
    }
    free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(at));
  }
  if (lower && upper) {
    ++coverage_.merges_both;
  } else if (lower) {
    ++coverage_.merges_lower;
  } else if (upper) {
    ++coverage_.merges_upper;
  }
  merged.entered = ++next_entered_;
  free_.push_back(merged);
  if (!segment_empty(segment)) return false;
  segment.emptied_order = ++next_emptied_;
  ++coverage_.segments_emptied;
  return true;
}

std::optional<std::size_t> PoolModel::oldest_empty() const {
  std::optional<std::size_t> oldest;
  for (std::size_t index = 0; index < segments_.size(); ++index) {
    const ModelSegment& segment = segments_[index];
    if (!current(segment) || !segment_empty(segment)) continue;
    if (!oldest ||
        std::pair{segment.unused_since_ns, segment.emptied_order} <
            std::pair{segments_[*oldest].unused_since_ns, segments_[*oldest].emptied_order}) {
      oldest = index;
    }
  }
  return oldest;
}

void PoolModel::free_segment(std::size_t index) {
  ModelSegment& segment = segments_[index];
  std::erase_if(free_, [index](const FreeBlock& block) { return block.segment == index; });
  if (current(segment)) {
    held_bytes_ -= segment.size;
    ++deallocations_;
  }
  segment.freed = true;
  --backend_live_;
  backend_live_bytes_ -= segment.size;
}

std::size_t PoolModel::free_empty_segments(std::uint64_t unused_before_ns, bool just_one,
                                           FreeCause cause) {
  std::size_t freed = 0;
  for (;;) {
    const auto oldest = oldest_empty();
    if (!oldest) break;
    if (unused_before_ns != kAll && !just_one &&
        segments_[*oldest].unused_since_ns >= unused_before_ns) {
      break;
    }
    free_segment(*oldest);
    ++freed;
    switch (cause) {
      case FreeCause::ttl:
        ++coverage_.empty_freed_ttl;
        break;
      case FreeCause::clear:
        ++coverage_.empty_freed_clear;
        break;
      case FreeCause::limit:
        ++coverage_.empty_freed_limit;
        break;
      case FreeCause::live_bound:
        ++coverage_.empty_freed_live_bound;
        break;
    }
    if (just_one) break;
  }
  return freed;
}

std::size_t PoolModel::heap_free_bytes() const {
  std::size_t bytes = 0;
  for (const auto& block : free_) {
    if (current(segments_[block.segment])) bytes += block.size;
  }
  return bytes;
}

// ---- requests ------------------------------------------------------------------

GetOutcome PoolModel::get(std::size_t size_bytes) {
  GetOutcome outcome;
  if (!capacity_for(size_bytes)) {
    outcome.kind = GetOutcome::Kind::invalid_argument;
    return outcome;
  }
  const unsigned size_class = class_for(size_bytes);
  // 1. The ready cache needs nothing else.
  if (caching()) {
    if (const auto index = take_idle(size_class, size_bytes)) {
      return hand_out(*index, size_bytes, size_class, GetOutcome::Source::reused, false);
    }
  }
  // 2. A miss reads the clock: the buffers released since the last reading
  //    get their time, and once it has a buffer, one more release reads the
  //    clock (so that a buffer got and released once has an exact TTL). Then
  //    lazy cleanup, buffers the device has finished with, the cache again.
  if (caching()) stamp_releases(now_);
  maybe_cleanup(now_);
  if (any_pending()) reclaim_completed();
  if (caching()) {
    if (const auto index = take_idle(size_class, size_bytes)) {
      return hand_out(*index, size_bytes, size_class, GetOutcome::Source::reused, true);
    }
  }
  // 3. Free segment space, giving idle buffers of the kind back to make room.
  const std::size_t capacity = carve_bytes(size_bytes);
  OutOfMemory failure{};
  std::optional<std::size_t> index;
  GetOutcome::Source source = GetOutcome::Source::allocated;
  if (!caching()) {
    // Caching off: every request is a segment of its own size.
    index = allocate_segment(capacity, true, failure);
  } else {
    const bool large = large_kind(capacity);
    bool checked_limit = false;
    for (;;) {
      index = carve(large, capacity);
      if (index) {
        source = GetOutcome::Source::carved;
        break;
      }
      if (!checked_limit) {
        checked_limit = true;
        if (beyond_memory_limit(capacity)) {
          ++failed_allocations_;
          ++coverage_.limit_refusals;
          failure = {capacity, config_.memory_limit, in_use_bytes(held_bytes_)};
          break;
        }
      }
      if (!evict_one(false, large)) {
        // 4. A new segment.
        index = allocate_segment(capacity, false, failure);
        break;
      }
      ++coverage_.evictions_for_room;
    }
  }
  if (!index) {
    outcome.kind = GetOutcome::Kind::out_of_memory;
    outcome.requested_bytes = failure.requested_bytes;
    outcome.limit_bytes = failure.limit_bytes;
    outcome.in_use_bytes = failure.in_use_bytes;
    return outcome;
  }
  return hand_out(*index, size_bytes, size_class, source, true);
}

GetOutcome PoolModel::hand_out(std::size_t index, std::size_t size_bytes, unsigned size_class,
                               GetOutcome::Source source, bool after_miss, bool keeps_device_use) {
  // A buffer found on the slow path owes its shard one release that reads
  // the clock (at most kReleasesPerClockRead outstanding).
  if (after_miss && caching()) {
    clock_reads_owed_ = std::min(clock_reads_owed_ + 1, kReleasesPerClockRead);
  }
  ModelBuffer& buffer = buffers_[index];
  buffer.state = BufferState::live;
  buffer.size = size_bytes;
  buffer.size_class = size_class;
  buffer.refs = 1;
  buffer.increments = 0;
  if (!keeps_device_use) buffer.device_use = 0;
  ++(source == GetOutcome::Source::allocated ? class_misses_ : class_hits_)[size_class];
  switch (source) {
    case GetOutcome::Source::reused:
      ++coverage_.hits_reused;
      break;
    case GetOutcome::Source::carved:
      ++hits_carved_;
      ++coverage_.hits_carved;
      break;
    default:
      ++coverage_.misses;
      break;
  }
  bytes_requested_ += size_bytes;
  bytes_granted_ += buffer.capacity;
  GetOutcome outcome;
  outcome.buffer = index;
  outcome.source = source;
  if (config_.zero_on_reuse) {
    // A fill from the host waits for the device work that still uses it.
    if (keeps_device_use && buffer.device_use > device_completed_) {
      ++coverage_.stream_zero_waits;
      complete_device_until(buffer.device_use);
    }
    if (fill_fault_armed_) {
      // fill_zero throws; the handle already made gives the buffer back.
      fill_fault_armed_ = false;
      ++zero_fill_faults_;
      ++coverage_.zero_fill_faults;
      buffer.refs = 0;
      release(index);
      outcome.kind = GetOutcome::Kind::backend_error;
      return outcome;
    }
    ++zero_fills_;
    zero_fill_bytes_ += buffer.capacity;
    ++coverage_.zero_fills;
  }
  return outcome;
}

// ---- streams -------------------------------------------------------------------

std::uint64_t PoolModel::open_stream() {
  const std::uint64_t stream = next_stream_id_++;
  streams_.emplace(stream, std::vector<std::size_t>{});
  return stream;
}

GetOutcome PoolModel::get_for_stream(std::size_t size_bytes, std::uint64_t stream) {
  if (stream == 0) return get(size_bytes);
  GetOutcome outcome;
  // The size is checked before the stream.
  if (!capacity_for(size_bytes)) {
    outcome.kind = GetOutcome::Kind::invalid_argument;
    return outcome;
  }
  const auto found = streams_.find(stream);
  if (found == streams_.end()) {
    outcome.kind = GetOutcome::Kind::usage_error;
    return outcome;
  }
  // The stream's kept buffers, newest first, up to kReuseCandidates of them,
  // whatever their class: the first that the request fills to within an
  // eighth (the ready cache's rule).
  std::vector<std::size_t>& kept = found->second;
  const std::size_t most = size_bytes + size_bytes / 8 + kGranule - 1;
  const auto fits = [this, size_bytes, most](std::size_t index) {
    const std::size_t capacity = buffers_[index].capacity;
    return capacity >= size_bytes && capacity <= most;
  };
  std::optional<std::size_t> taken;
  std::size_t looked = 0;
  for (std::size_t at = kept.size(); at > 0; --at, ++looked) {
    if (looked == kReuseCandidates) {
      if (std::any_of(kept.begin(), kept.begin() + static_cast<std::ptrdiff_t>(at), fits)) {
        ++coverage_.stream_lookups_capped;
      }
      break;
    }
    if (fits(kept[at - 1])) {
      taken = kept[at - 1];
      kept.erase(kept.begin() + static_cast<std::ptrdiff_t>(at - 1));
      break;
    }
  }
  if (!taken) {
    if (!kept.empty()) ++coverage_.stream_lookups_missed;
    return get(size_bytes);
  }
  ++stream_reuses_;
  ++coverage_.stream_reuses;
  if (buffers_[*taken].device_use > device_completed_) ++coverage_.stream_reuses_busy;
  return hand_out(*taken, size_bytes, class_for(size_bytes), GetOutcome::Source::reused, false,
                  true);
}

StreamRelease PoolModel::release_to_stream(std::optional<std::size_t> index, std::uint64_t stream) {
  if (!index) return StreamRelease::nothing;
  ModelBuffer& buffer = buffers_[*index];
  if (!current(buffer)) return StreamRelease::usage_error;  // a buffer of another pool
  if (stream == 0) {
    drop_reference(*index);
    return StreamRelease::reset;
  }
  const auto found = streams_.find(stream);
  if (found == streams_.end()) return StreamRelease::usage_error;
  if (buffer.refs > 1) {
    --buffer.refs;
    ++coverage_.stream_shared_releases;
    return StreamRelease::dropped;
  }
  // Not released: no clock reading, no caps, no eviction, the device value kept.
  buffer.refs = 0;
  buffer.state = BufferState::kept;
  found->second.push_back(*index);
  ++coverage_.stream_keeps;
  return StreamRelease::kept;
}

void PoolModel::close_stream(std::uint64_t stream, std::uint64_t used_until_timeline) {
  const auto found = streams_.find(stream);
  if (found == streams_.end()) return;
  const std::vector<std::size_t> kept = std::move(found->second);
  streams_.erase(found);
  for (const std::size_t index : kept) {
    ModelBuffer& buffer = buffers_[index];
    buffer.device_use = std::max(buffer.device_use, used_until_timeline);
    buffer.state = BufferState::live;
    ++(buffer.device_use > device_completed_ ? coverage_.stream_closes_pending
                                             : coverage_.stream_closes_released);
    release(index);
  }
}

std::size_t PoolModel::in_use_bytes(std::size_t held) const {
  // Held by live handles or by device work: all that is neither idle nor free.
  const std::size_t unused = idle_bytes() + heap_free_bytes();
  return held > unused ? held - unused : 0;
}

bool PoolModel::beyond_memory_limit(std::size_t capacity) const {
  const std::size_t limit = config_.memory_limit;
  if (limit == 0) return false;
  const std::size_t live = in_use_bytes(held_bytes_);
  return capacity > limit || live > limit - capacity;
}

std::optional<std::size_t> PoolModel::allocate_segment(std::size_t capacity, bool exact,
                                                       OutOfMemory& failure) {
  // A backend that bounds its live allocations gets empty segments back first.
  if (config_.max_live_allocations != SIZE_MAX) {
    for (;;) {
      const auto live = static_cast<std::size_t>(
          std::count_if(segments_.begin(), segments_.end(),
                        [this](const ModelSegment& s) { return current(s); }));
      if (live < config_.max_live_allocations ||
          free_empty_segments(0, true, FreeCause::live_bound) == 0) {
        break;
      }
    }
  }
  if (!exact) {
    // Empty segments of the request's kind could not hold it (the carve
    // failed): they go back, oldest first, before a new segment comes.
    for (;;) {
      std::optional<std::size_t> oldest;
      for (std::size_t index = 0; index < segments_.size(); ++index) {
        const ModelSegment& segment = segments_[index];
        if (!current(segment) || !segment_empty(segment) || segment.large != large_kind(capacity)) {
          continue;
        }
        if (!oldest ||
            std::pair{segment.unused_since_ns, segment.emptied_order} <
                std::pair{segments_[*oldest].unused_since_ns, segments_[*oldest].emptied_order}) {
          oldest = index;
        }
      }
      if (!oldest) break;
      free_segment(*oldest);
      ++coverage_.empty_freed_too_small;
    }
  }
  std::size_t segment_bytes = exact ? capacity : segment_bytes_for(capacity);
  if (config_.memory_limit == 0) {
    held_bytes_ += segment_bytes;
  } else if (!reserve_segment_bytes(segment_bytes, capacity, failure)) {
    return std::nullopt;
  }
  auto handle = backend_allocate(segment_bytes);
  if (!handle) {
    // The backend is out of memory: free the cache and empty segments, retry
    // once at the request's own size.
    ++coverage_.backend_retries;
    if (any_pending()) reclaim_completed();
    clear();
    if (segment_bytes > capacity) {
      held_bytes_ -= segment_bytes - capacity;
      segment_bytes = capacity;
    }
    handle = backend_allocate(segment_bytes);
    if (!handle) {
      ++coverage_.retry_failures;
      ++failed_allocations_;
      // Neither the request's own reservation nor free space is in use.
      failure = {capacity, 0, in_use_bytes(held_bytes_ - capacity)};
      held_bytes_ -= segment_bytes;
      return std::nullopt;
    }
    ++coverage_.retry_successes;
  }
  ++allocations_;
  peak_bytes_ = std::max(peak_bytes_, held_bytes_);
  if (!exact && capacity >= config_.segments.large_request_max_bytes && large_kind(capacity)) {
    ++coverage_.dedicated_segments;
  }
  ModelSegment segment;
  segment.handle = *handle;
  segment.size = segment_bytes;
  segment.large = large_kind(capacity);
  segment.pool = pool_;
  segment.free_bytes = segment_bytes;
  segment.host_visible = segment_bytes <= SimulatedBackend::kHostVisibleLimit;
  segments_.push_back(segment);
  free_.push_back({segments_.size() - 1, 0, segment_bytes, ++next_entered_});
  return carve_from(free_.size() - 1, capacity);
}

bool PoolModel::reserve_segment_bytes(std::size_t& segment_bytes, std::size_t capacity,
                                      OutOfMemory& failure) {
  const std::size_t limit = config_.memory_limit;
  bool reclaimed = false;
  for (;;) {
    if (segment_bytes <= limit && held_bytes_ <= limit - segment_bytes) {
      held_bytes_ += segment_bytes;
      return true;
    }
    if (segment_bytes > capacity) {
      // Near the limit a segment is only as large as the request.
      segment_bytes = capacity;
      ++coverage_.limit_shrinks;
    } else if (free_empty_segments(0, true, FreeCause::limit) > 0) {
      // the oldest empty segment went
    } else if (!reclaimed && any_pending()) {
      reclaim_completed();
      reclaimed = true;
    } else if (evict_one(true, false)) {
      ++coverage_.evictions_for_limit;
    } else {
      ++failed_allocations_;
      ++coverage_.limit_failures;
      failure = {capacity, limit, in_use_bytes(held_bytes_)};
      return false;
    }
  }
}

std::optional<std::uint64_t> PoolModel::backend_allocate(std::size_t bytes) {
  bool fault = fail_all_;
  if (!fault && fault_countdown_ != 0 && --fault_countdown_ == 0) fault = true;
  if (fault) {
    ++faults_injected_;
    return std::nullopt;
  }
  if (config_.device_bytes != 0 &&
      (bytes > config_.device_bytes || backend_live_bytes_ > config_.device_bytes - bytes)) {
    return std::nullopt;
  }
  if (backend_live_ >= config_.max_live_allocations) return std::nullopt;
  ++backend_live_;
  backend_live_bytes_ += bytes;
  return next_handle_++;
}

// ---- references and release ----------------------------------------------------

void PoolModel::add_reference(std::size_t index) { ++buffers_[index].refs; }

void PoolModel::drop_reference(std::size_t index) {
  if (--buffers_[index].refs == 0) release(index);
}

void PoolModel::increment(std::size_t index) {
  ++buffers_[index].refs;
  ++buffers_[index].increments;
}

bool PoolModel::decrement(std::size_t index) {
  ModelBuffer& buffer = buffers_[index];
  if (buffer.increments > 0) {
    --buffer.increments;
    --buffer.refs;
    return true;
  }
  drop_reference(index);
  return false;
}

void PoolModel::mark_used_until(std::size_t index, std::uint64_t value) {
  buffers_[index].device_use = std::max(buffers_[index].device_use, value);
}

void PoolModel::release(std::size_t index) {
  ModelBuffer& buffer = buffers_[index];
  if (!current(buffer)) {
    // Its pool is gone: back to its segment once the device is done with it,
    // and the segment back to the backend when nothing else is carved from it.
    ++coverage_.orphan_releases;
    complete_device_until(buffer.device_use);
    if (give_back(index, 0)) free_segment(buffer.segment);
    return;
  }
  if (buffer.device_use > device_completed_) {
    buffer.state = BufferState::pending;
    pending_.push_back(index);
  } else if (!caching()) {
    if (give_back(index, 0)) free_segment(buffer.segment);
  } else {
    push_idle(index, 0);
    const bool owed = clock_reads_owed_ > 0;
    if (owed) --clock_reads_owed_;
    const bool read_the_clock = owed || --releases_until_clock_ == 0;
    if (read_the_clock) stamp_releases(now_);
    evict_over_caps();
    if (read_the_clock) maybe_cleanup(now_);
  }
}

void PoolModel::maybe_cleanup(std::int64_t now) {
  if (config_.background_cleanup) return;
  if (now - last_cleanup_ < config_.cleanup_interval_ns) return;
  last_cleanup_ = now;
  expire(now);
}

std::size_t PoolModel::expire(std::int64_t now) {
  // Buffers released since the last clock reading count as released now.
  // Then each class list from its oldest buffer while it is ttl old.
  stamp_releases(now);
  std::vector<std::size_t> victims;
  for (unsigned list = 0; list <= config_.size_classes.size(); ++list) {
    for (const std::size_t index : idle_list(list)) {
      const auto released_ns = static_cast<std::int64_t>(buffers_[index].stamp - 1);
      if (now - released_ns < config_.ttl_ns) break;
      victims.push_back(index);
    }
  }
  for (const std::size_t index : victims) {
    ++expirations_;
    ++coverage_.expirations;
    give_back(index, released_at(buffers_[index]));
  }
  // An empty segment goes back once all of it has been unused for ttl.
  const std::int64_t unused_before = now - config_.ttl_ns;
  if (unused_before >= 0) {
    free_empty_segments(static_cast<std::uint64_t>(unused_before) + 1, false, FreeCause::ttl);
  }
  return victims.size();
}

void PoolModel::reclaim_completed() {
  std::vector<std::size_t> reclaimed;
  std::vector<std::size_t> still_pending;
  for (const std::size_t index : pending_) {
    (buffers_[index].device_use > device_completed_ ? still_pending : reclaimed).push_back(index);
  }
  pending_ = std::move(still_pending);
  coverage_.device_reclaims += reclaimed.size();
  if (caching() && !reclaimed.empty()) stamp_releases(now_);
  for (const std::size_t index : reclaimed) {
    if (caching()) {
      push_idle(index, last_release_stamp_);
    } else if (give_back(index, 0)) {
      free_segment(buffers_[index].segment);
    }
  }
  if (caching() && !reclaimed.empty() && over_caps()) evict_over_caps();
}

bool PoolModel::reclaimable_pending() const {
  return std::any_of(pending_.begin(), pending_.end(), [this](std::size_t index) {
    return buffers_[index].device_use <= device_completed_;
  });
}

std::size_t PoolModel::cleanup() {
  last_cleanup_ = now_;
  if (any_pending()) reclaim_completed();
  return expire(now_);
}

std::size_t PoolModel::clear() {
  const auto idle = idle_by_list();
  for (const std::size_t index : idle) give_back(index, released_at(buffers_[index]));
  free_empty_segments(kAll, false, FreeCause::clear);
  return idle.size();
}

void PoolModel::reset_peak() { peak_bytes_ = held_bytes_; }

void PoolModel::advance_clock(std::int64_t ns) {
  if (ns > 0) now_ += ns;
}

void PoolModel::complete_device_until(std::uint64_t value) {
  device_completed_ = std::max(device_completed_, value);
}

PoolMetrics PoolModel::expected_metrics() const {
  PoolMetrics metrics;
  const std::size_t class_count = config_.size_classes.size();
  metrics.size_classes.resize(class_count + 1);
  for (std::size_t index = 0; index <= class_count; ++index) {
    auto& entry = metrics.size_classes[index];
    entry.oversize = index == class_count;
    entry.capacity_bytes = entry.oversize ? 0 : config_.size_classes[index];
    entry.hits = class_hits_[index];
    entry.misses = class_misses_[index];
    metrics.hits += entry.hits;
    metrics.misses += entry.misses;
  }
  metrics.hits_carved = hits_carved_;
  metrics.hits_reused = metrics.hits - hits_carved_;
  for (const auto& buffer : buffers_) {
    if (!current(buffer)) continue;
    auto& entry = metrics.size_classes[buffer.size_class];
    switch (buffer.state) {
      case BufferState::live:
        ++metrics.buffers_in_use;
        metrics.bytes_in_use += buffer.capacity;
        ++entry.buffers_in_use;
        break;
      case BufferState::idle:
        ++metrics.buffers_cached;
        metrics.bytes_cached += buffer.capacity;
        ++entry.buffers_cached;
        break;
      case BufferState::pending:
        ++metrics.buffers_pending_gpu;
        metrics.bytes_pending_gpu += buffer.capacity;
        break;
      case BufferState::kept:
        ++metrics.buffers_kept_for_streams;
        metrics.bytes_kept_for_streams += buffer.capacity;
        break;
      case BufferState::returned:
        break;
    }
  }
  for (const auto& segment : segments_) {
    if (!current(segment)) continue;
    ++metrics.segments;
    if (segment_empty(segment)) ++metrics.empty_segments;
  }
  for (const auto& block : free_) {
    if (!current(segments_[block.segment])) continue;
    metrics.bytes_free_in_segments += block.size;
    metrics.largest_free_block_bytes = std::max(metrics.largest_free_block_bytes, block.size);
  }
  metrics.allocations = allocations_;
  metrics.deallocations = deallocations_;
  metrics.evictions = evictions_;
  metrics.expirations = expirations_;
  metrics.failed_allocations = failed_allocations_;
  metrics.bytes_requested = bytes_requested_;
  metrics.bytes_granted = bytes_granted_;
  metrics.stream_reuses = stream_reuses_;
  metrics.open_streams = streams_.size();
  metrics.current_bytes_allocated = held_bytes_;
  metrics.peak_bytes_allocated = std::max(peak_bytes_, held_bytes_);
  return metrics;
}

}  // namespace bufferpool::model
