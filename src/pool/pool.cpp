#include "pool/pool_core.hpp"

#include "pool/format.hpp"
#include "pool/scope_budget.hpp"

#include <bufferpool/errors.hpp>
#include <bufferpool/pool.hpp>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <new>
#include <span>
#include <sstream>
#include <unordered_set>
#include <utility>

// The hit path's helpers are inlined into get() and release(): one call each.
#define BUFFERPOOL_HOT [[gnu::always_inline]] inline

namespace bufferpool {
namespace detail {
namespace {

/// A thread's ordinal, fixed for its life, picks its shard. Consecutive
/// threads land on different shards.
/// Constant-initialized, so reading it costs no TLS guard check on the hit path.
thread_local unsigned this_thread_ordinal_plus_one = 0;

unsigned this_thread_ordinal() noexcept {
  if (this_thread_ordinal_plus_one == 0) [[unlikely]] {
    static std::atomic<unsigned> next_ordinal{0};
    this_thread_ordinal_plus_one = next_ordinal.fetch_add(1, std::memory_order_relaxed) + 1;
  }
  return this_thread_ordinal_plus_one - 1;
}

std::size_t shard_count() noexcept {
  const unsigned hardware = std::max(1U, std::thread::hardware_concurrency());
  return std::clamp<std::size_t>(std::bit_ceil(2 * std::size_t{hardware}), 4, 64);
}

std::size_t to_size(std::int64_t count) noexcept {
  return count > 0 ? static_cast<std::size_t>(count) : 0;
}

std::size_t round_up(std::size_t bytes, std::size_t multiple) noexcept {
  return (bytes + multiple - 1) / multiple * multiple;
}

/// For free_empty_segments(): no bound on how many, and every empty segment.
constexpr std::size_t kAll = std::numeric_limits<std::size_t>::max();
constexpr auto any_segment = [](const Segment& /*segment*/) { return true; };

/// Priorities are fixed point: 1/capacity is 2^36 / capacity units.
constexpr std::uint64_t kPriorityOne = std::uint64_t{1} << 36;
/// The inflation is rebased before it can overflow the 48 bits a Block keeps.
constexpr std::uint64_t kInflationRebaseAt = std::uint64_t{1} << 47;

}  // namespace

std::string format_bytes(std::size_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  std::size_t unit = 0;
  auto value = static_cast<double>(bytes);
  while (value >= 1024.0 && unit + 1 < std::size(kUnits)) {
    value /= 1024.0;
    ++unit;
  }
  std::ostringstream out;
  if (unit == 0 || value == static_cast<double>(static_cast<std::uint64_t>(value))) {
    out << static_cast<std::uint64_t>(value) << ' ' << kUnits[unit];
  } else {
    out.precision(3);
    out << value << ' ' << kUnits[unit];
  }
  return out.str();
}

PoolCore::PoolCore(std::shared_ptr<Backend> backend, PoolConfig config)
    : backend_(backend ? std::move(backend)
                       : throw ConfigError("bufferpool: BufferPool needs a backend, got nullptr")),
      config_(validated(std::move(config))),
      clock_(*config_.clock),
      clock_is_coarse_monotonic_(dynamic_cast<const CoarseMonotonicClock*>(&clock_) != nullptr),
      caching_enabled_(config_.max_pool_size > 0),
      granule_bytes_(Block::kUnitBytes),
      max_request_bytes_(0),
      max_live_segments_(backend_->max_live_allocations()),
      class_capacities_(config_.size_classes),
      shards_(shard_count()),
      shard_mask_(shards_.size() - 1),
      last_cleanup_ns_(0) {
  const std::size_t alignment = backend_->buffer_alignment_bytes();
  if (alignment == 0 || !std::has_single_bit(alignment) || alignment > (std::size_t{1} << 20)) {
    throw ConfigError("bufferpool: the " + backend_->name() +
                      " backend reports a buffer alignment of " + std::to_string(alignment) +
                      " bytes; it must be a power of two of at most 1 MiB");
  }
  granule_bytes_ = std::max(granule_bytes_, alignment);
  max_request_bytes_ =
      std::min(backend_->max_allocation_bytes(), Block::kMaxSizeBytes) & ~(granule_bytes_ - 1);
  if (class_capacities_.back() > max_request_bytes_) {
    throw ConfigError("bufferpool: PoolConfig::size_classes ends at " +
                      format_bytes(class_capacities_.back()) + ", above the largest buffer the " +
                      backend_->name() + " backend can allocate (" +
                      format_bytes(max_request_bytes_) + "); drop the larger classes");
  }

  const auto class_count = static_cast<unsigned>(class_capacities_.size());
  first_class_for_width_.resize(std::numeric_limits<std::size_t>::digits + 1);
  for (unsigned width = 0; width < first_class_for_width_.size(); ++width) {
    const std::size_t above = width == 0 ? 0 : std::size_t{1} << (width - 1);
    const auto first = std::upper_bound(class_capacities_.begin(), class_capacities_.end(), above);
    first_class_for_width_[width] = first == class_capacities_.end()
                                        ? class_count
                                        : static_cast<unsigned>(first - class_capacities_.begin());
  }
  for (auto& shard : shards_) {
    shard.slots.resize(class_count + 1);
  }
  last_cleanup_ns_.store(read_clock().count(), std::memory_order_relaxed);
  if (config_.track_live_buffers || config_.record_call_stacks) {
    live_tracker_ = std::make_shared<LiveTracker>(config_.record_call_stacks);
    observers_.add(live_tracker_);
  }
  if (!config_.trace_path.empty()) {
    start_recording(config_.trace_path);
  } else if (const char* from_environment =
                 // NOLINTNEXTLINE(concurrency-mt-unsafe): read once per pool; nothing here sets it
             config_.record_from_environment ? std::getenv("BUFFERPOOL_TRACE") : nullptr;
             from_environment != nullptr && *from_environment != '\0') {
    // Each pool of the process records to a file of its own: the first to the
    // name given, the next ones with ".1", ".2", ... appended.
    static std::atomic<unsigned> pools_recording_from_environment{0};
    const unsigned ordinal = pools_recording_from_environment.fetch_add(1);
    std::string path = from_environment;
    if (ordinal > 0) {
      // Appended in two steps: GCC 12 at -O3 takes `path += "." + ...` for an
      // overlapping copy (a false -Wrestrict, an error under -Werror).
      path += '.';
      path += std::to_string(ordinal);
    }
    try {
      start_recording(path);
    } catch (const ConfigError& error) {
      throw ConfigError(std::string(error.what()) + " (set by BUFFERPOOL_TRACE)");
    }
  }
  if (config_.background_cleanup) {
    background_thread_ =
        std::jthread([this](const std::stop_token& stop) { run_background_cleanup(stop); });
  }
}

PoolConfig PoolCore::validated(PoolConfig config) {
  config.validate();
  return config;
}

PoolCore::~PoolCore() {
  // close() has given every block back by now and no buffer is outstanding,
  // so every segment is empty; free whatever is left.
  stop_background_cleanup();
  free_empty_segments(kAll, any_segment);
}

void PoolCore::stop_background_cleanup() noexcept {
  if (background_thread_.joinable()) {
    background_thread_.request_stop();
    background_wakeup_.notify_all();
    background_thread_.join();
  }
}

void PoolCore::take_every_idle(BlockList& leaving) noexcept {
  for (auto& shard : shards_) {
    for (unsigned list = 0; list < shard.list_count(); ++list) {
      while (Block* block = shard.idle(list).front()) {
        unlink_idle(shard, list, block);
        hand_over(leaving, block);
      }
    }
  }
}

void PoolCore::close(std::unique_ptr<PoolCore> core) noexcept {
  core->stop_background_cleanup();
  // A recording ends with its pool; releases after this are not recorded.
  core->stop_recording();
  if (core->live_tracker_) core->report_outstanding_buffers();
  BlockList idle;
  std::int64_t outstanding = 0;
  {
    AllShardsLock all(core->shards_);
    core->closing_ = true;
    core->take_every_idle(idle);
    for (auto& shard : core->shards_) outstanding += shard.buffers_in_use;
    // One token per outstanding buffer, plus ours: whoever drops the last one
    // destroys the core, so it cannot go while this function still uses it.
    // Stored before the shard locks open: a release that sees closing_ drops a
    // token at once, and must find the count already there.
    core->close_tokens_.store(to_size(outstanding) + 1, std::memory_order_release);
  }
  // Releases that began before closing_ may still be evicting, freeing or
  // adding to the pending list.
  while (core->releases_in_flight_.load(std::memory_order_acquire) != 0) {
    std::this_thread::yield();
  }
  BlockList pending;
  {
    const std::lock_guard lock(core->pending_lock_);
    while (Block* block = core->pending_.pop_front()) pending.push_back(block);
    core->pending_buffers_.store(0, std::memory_order_relaxed);
    core->pending_bytes_.store(0, std::memory_order_relaxed);
  }
  // Streams left open: their kept buffers go back like pending ones, after
  // the device work marked on them.
  core->take_every_kept(pending);
  core->give_back_idle(idle);
  const auto now = to_stamp(core->read_clock());
  while (Block* block = pending.pop_front()) {
    core->give_back_one(block, now, true);  // waits for its device work first
  }
  core->free_empty_segments(kAll, any_segment);
  PoolCore* raw = core.get();
  raw->self_ = std::move(core);
  raw->drop_close_token();
}

void PoolCore::drop_close_token() noexcept {
  if (close_tokens_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    // The last use: this destroys *this on leaving the block.
    const auto doomed = std::move(self_);
  }
}

BUFFERPOOL_HOT Shard& PoolCore::this_thread_shard() noexcept {
  return shards_[this_thread_ordinal() & shard_mask_];
}

BUFFERPOOL_HOT unsigned PoolCore::class_index_for(std::size_t size_bytes) const noexcept {
  const auto width = static_cast<unsigned>(std::bit_width(size_bytes - 1));
  unsigned index = first_class_for_width_[width];
  const auto class_count = class_capacities_.size();
  while (index < class_count && class_capacities_[index] < size_bytes) ++index;
  return index;
}

std::size_t PoolCore::segment_bytes_for(std::size_t capacity_bytes) const noexcept {
  const SegmentConfig& segments = config_.segments;
  std::size_t bytes = 0;
  if (capacity_bytes <= segments.small_request_max_bytes) {
    bytes = segments.small_segment_bytes;
  } else if (capacity_bytes < segments.large_request_max_bytes) {
    bytes = segments.large_segment_bytes;
  } else {
    bytes = round_up(capacity_bytes, segments.dedicated_rounding_bytes);
  }
  // Segments are granule multiples within what the backend can allocate.
  bytes = std::min(round_up(bytes, granule_bytes_), max_request_bytes_);
  return std::max(bytes, capacity_bytes);
}

BUFFERPOOL_HOT unsigned PoolCore::validated_class_index(std::size_t size_bytes) const {
  if (size_bytes - 1 < class_capacities_.back()) [[likely]] {
    return class_index_for(size_bytes);  // within the classes, which the constructor bounded
  }
  return validated_class_index_slow(size_bytes);
}

unsigned PoolCore::validated_class_index_slow(std::size_t size_bytes) const {
  if (size_bytes == 0) {
    throw InvalidArgumentError(
        "bufferpool: get_buffer(0): a buffer needs at least one byte; ask for the size you "
        "will write");
  }
  if (size_bytes > max_request_bytes_) {
    std::ostringstream message;
    message << "bufferpool: get_buffer(" << size_bytes << "): larger than the largest buffer the "
            << backend_->name() << " backend can allocate (" << format_bytes(max_request_bytes_)
            << "); split the data into smaller buffers";
    throw InvalidArgumentError(message.str());
  }
  return class_index_for(size_bytes);
}

std::size_t PoolCore::capacity_for(std::size_t size_bytes) const {
  static_cast<void>(validated_class_index(size_bytes));  // throws for a size never served
  return carve_bytes(size_bytes);
}

BUFFERPOOL_HOT Block* PoolCore::take_idle(Shard& shard, unsigned class_index,
                                          std::size_t size_bytes) noexcept {
  BlockList& list = shard.idle(class_index);
  Block* candidate = list.back();
  for (unsigned looked = 0; candidate != nullptr && looked < kReuseCandidates; ++looked) {
    if (reusable_for(candidate->capacity_bytes(), size_bytes, granule_bytes_)) {
      unlink_idle(shard, class_index, candidate);
      candidate->start_use(size_bytes, class_index);
      return candidate;
    }
    candidate = candidate->prev;
  }
  return nullptr;
}

BUFFERPOOL_HOT void PoolCore::unlink_idle(Shard& shard, unsigned list_index,
                                          Block* block) noexcept {
  shard.idle(list_index).remove(block);
  shard.idle_buffers.store(shard.idle_buffers.load(std::memory_order_relaxed) - 1,
                           std::memory_order_relaxed);
  shard.idle_bytes.store(shard.idle_bytes.load(std::memory_order_relaxed) - block->capacity_bytes(),
                         std::memory_order_relaxed);
}

BUFFERPOOL_HOT void PoolCore::push_idle(Shard& shard, Block* block,
                                        std::uint64_t release_stamp) noexcept {
  block->stamp.store(release_stamp, std::memory_order_relaxed);
  block->mark_released(Block::Released::from_idle);
  block->set_eviction_rank(config_.eviction == EvictionPolicy::size_aware
                               ? inflation_.load(std::memory_order_relaxed)
                               : ++shard.release_count);
  shard.idle(block->class_index()).push_back(block);
  shard.idle_buffers.store(shard.idle_buffers.load(std::memory_order_relaxed) + 1,
                           std::memory_order_relaxed);
  shard.idle_bytes.store(shard.idle_bytes.load(std::memory_order_relaxed) + block->capacity_bytes(),
                         std::memory_order_relaxed);
}

void PoolCore::stamp_releases(Shard& shard, std::chrono::nanoseconds now) noexcept {
  // Unstamped blocks are the newest of each list: walk from the back. Stamps
  // never decrease within a shard, so each list stays in time order.
  shard.last_release_stamp = std::max(to_stamp(now) + 1, shard.last_release_stamp);
  for (auto& slot : shard.slots) {
    for (Block* block = slot.idle.back();
         block != nullptr && block->stamp.load(std::memory_order_relaxed) == 0;
         block = block->prev) {
      block->stamp.store(shard.last_release_stamp, std::memory_order_relaxed);
    }
  }
  shard.releases_until_clock = kReleasesPerClockRead;
}

BUFFERPOOL_HOT void PoolCore::count_handout(Shard& shard, unsigned class_index,
                                            std::size_t size_bytes, std::size_t capacity_bytes,
                                            Source source) noexcept {
  ClassCounters& counters = shard.counters(class_index);
  ++(source == Source::allocated ? counters.misses : counters.hits);
  if (source == Source::carved) ++shard.hits_carved;
  ++counters.buffers_in_use;
  ++shard.buffers_in_use;
  shard.bytes_in_use += static_cast<std::int64_t>(capacity_bytes);
  shard.bytes_requested += size_bytes;
  shard.bytes_granted += capacity_bytes;
}

BUFFERPOOL_HOT BufferRef PoolCore::hand_out(Block* block) {
  block->stamp.store(0, std::memory_order_relaxed);
  BufferRef buffer(this, block);
  if (config_.zero_on_reuse) [[unlikely]] {
    // On failure the handle's destructor hands the block back.
    backend_->fill_zero(block->segment->allocation, block->offset_bytes(), block->capacity_bytes());
  }
  return buffer;
}

BufferRef PoolCore::get(std::size_t size_bytes) {
  const unsigned class_index = validated_class_index(size_bytes);
  if (budgeted_scopes_open != 0) [[unlikely]]
    check_scope_budgets(size_bytes);
  Shard& shard = this_thread_shard();
  if (caching_enabled_) {
    Block* block = nullptr;
    {
      const std::lock_guard lock(shard.lock);
      block = take_idle(shard, class_index, size_bytes);
      if (block != nullptr) {
        count_handout(shard, class_index, size_bytes, block->capacity_bytes(), Source::reused);
      }
    }
    if (block != nullptr) {
      // Told before the handle exists: should zeroing it fail, the handle's
      // release is then told too.
      if (observers_.active()) [[unlikely]] {
        emit_handout(*block, size_bytes, class_index, Source::reused);
      }
      return hand_out(block);
    }
  }
  return get_slow(shard, class_index, size_bytes);
}

BufferRef PoolCore::get_slow(Shard& shard, unsigned class_index, std::size_t size_bytes) {
  const auto now = read_clock();
  if (caching_enabled_) {
    const std::lock_guard lock(shard.lock);
    stamp_releases(shard, now);
  }
  maybe_cleanup(now);
  if (pending_buffers_.load(std::memory_order_relaxed) > 0) reclaim_completed();
  if (caching_enabled_) {
    // Another thread may have released what this one needs: look in every
    // shard, ours first (a reclaim may have refilled it), before carving.
    const std::size_t own = static_cast<std::size_t>(&shard - shards_.data());
    for (std::size_t step = 0; step < shards_.size(); ++step) {
      Shard& other = shards_[(own + step) & shard_mask_];
      if (other.idle_buffers.load(std::memory_order_relaxed) == 0) continue;
      Block* block = nullptr;
      {
        const std::lock_guard lock(other.lock);
        block = take_idle(other, class_index, size_bytes);
        if (block != nullptr) {
          count_handout(other, class_index, size_bytes, block->capacity_bytes(), Source::reused);
        }
      }
      // Handed out outside the lock: zero_on_reuse may call the device, and
      // a failed fill releases the buffer, which takes a shard lock.
      if (block != nullptr) {
        if (observers_.active()) emit_handout(*block, size_bytes, class_index, Source::reused);
        return hand_out_after_miss(shard, block);
      }
    }
  }
  const std::size_t capacity_bytes = carve_bytes(size_bytes);
  Source source = Source::carved;
  Block* block = carve_or_allocate(capacity_bytes, size_bytes, class_index, source);
  held_buffers_.fetch_add(1, std::memory_order_relaxed);
  {
    const std::lock_guard lock(shard.lock);
    count_handout(shard, class_index, size_bytes, capacity_bytes, source);
  }
  if (observers_.active()) emit_handout(*block, size_bytes, class_index, source);
  return hand_out_after_miss(shard, block);
}

BufferRef PoolCore::hand_out_after_miss(Shard& shard, Block* block) {
  if (caching_enabled_) {
    // A miss is slow anyway: its buffer's release reads the clock too, so
    // that a buffer got and released once has an exact TTL: one release of
    // this shard reading the clock is owed for each miss.
    const std::lock_guard lock(shard.lock);
    shard.clock_reads_owed = std::min(shard.clock_reads_owed + 1, kReleasesPerClockRead);
  }
  return hand_out(block);
}

Block* PoolCore::carve_or_allocate(std::size_t capacity_bytes, std::size_t size_bytes,
                                   unsigned class_index, Source& source) {
  // Caching off: every request is an allocation of its own, freed on release.
  if (!caching_enabled_) {
    source = Source::allocated;
    return allocate_segment(capacity_bytes, size_bytes, class_index, true);
  }
  const SegmentKind kind = kind_for(capacity_bytes);
  bool checked_limit = false;
  for (;;) {
    try {
      const std::lock_guard lock(heap_mutex_);
      if (Block* block = heap_.carve(kind, capacity_bytes)) {
        block->start_use(size_bytes, class_index);
        source = Source::carved;
        return block;
      }
    } catch (const std::bad_alloc&) {
      throw_bookkeeping_out_of_memory(capacity_bytes);
    }
    // No free block is large enough. Idle buffers are free space too: give
    // them back to their segments, oldest first, before asking the backend.
    // Under memory_limit, fail at once, keeping the cache, when even that
    // could not make room.
    if (!checked_limit) {
      checked_limit = true;
      if (beyond_memory_limit(capacity_bytes)) {
        throw_out_of_memory(capacity_bytes, size_bytes, nullptr);
      }
    }
    if (!evict_one(false, kind)) break;
  }
  source = Source::allocated;
  return allocate_segment(capacity_bytes, size_bytes, class_index, false);
}

bool PoolCore::beyond_memory_limit(std::size_t capacity_bytes) const noexcept {
  if (config_.memory_limit == 0) return false;
  std::size_t reclaimable = idle_bytes_estimate() + freeing_bytes_.load(std::memory_order_relaxed);
  {
    const std::lock_guard lock(heap_mutex_);
    reclaimable += heap_.free_bytes();
  }
  const std::size_t held = held_bytes_.load(std::memory_order_relaxed);
  const std::size_t live = held > reclaimable ? held - reclaimable : 0;
  return capacity_bytes > config_.memory_limit || live > config_.memory_limit - capacity_bytes;
}

void PoolCore::note_allocated() noexcept {
  allocations_.fetch_add(1, std::memory_order_relaxed);
  const std::size_t held = held_bytes_.load(std::memory_order_relaxed);
  std::size_t peak = peak_bytes_.load(std::memory_order_relaxed);
  while (held > peak && !peak_bytes_.compare_exchange_weak(peak, held, std::memory_order_relaxed)) {
  }
}

Block* PoolCore::allocate_segment(std::size_t capacity_bytes, std::size_t size_bytes,
                                  unsigned class_index, bool exact) {
  // A backend that bounds its live allocations (Vulkan's
  // maxMemoryAllocationCount) gets empty segments back before a new one.
  if (max_live_segments_ != std::numeric_limits<std::size_t>::max()) {
    for (;;) {
      std::size_t live = 0;
      {
        const std::lock_guard lock(heap_mutex_);
        live = heap_.segment_count();
      }
      if (live < max_live_segments_ || free_empty_segments(1, any_segment) == 0) break;
    }
  }
  // Empty segments of the kind could not hold the request (the carve failed):
  // they go back before a new segment comes.
  if (!exact) {
    const SegmentKind kind = kind_for(capacity_bytes);
    free_empty_segments(kAll, [kind](const Segment& segment) { return segment.kind == kind; });
  }
  std::size_t segment_bytes = exact ? capacity_bytes : segment_bytes_for(capacity_bytes);
  segment_bytes = reserve_segment_bytes(segment_bytes, capacity_bytes, size_bytes);
  // The bytes are reserved in held_bytes_ from here on; give them back on failure.
  const auto unreserve = [this](std::size_t bytes) {
    held_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
  };
  Allocation allocation;
  try {
    try {
      allocation = backend_->allocate(segment_bytes);
    } catch (const OutOfMemoryError&) {
      // The backend is out of memory (or of allocations): free every idle
      // buffer and empty segment, and retry once at the request's own size.
      if (pending_buffers_.load(std::memory_order_relaxed) > 0) reclaim_completed();
      clear();
      if (segment_bytes > capacity_bytes) {
        unreserve(segment_bytes - capacity_bytes);
        segment_bytes = capacity_bytes;
      }
      try {
        allocation = backend_->allocate(segment_bytes);
      } catch (const OutOfMemoryError&) {
        throw_out_of_memory(capacity_bytes, size_bytes, "the backend is out of memory");
      }
    }
  } catch (...) {
    unreserve(segment_bytes);
    throw;
  }
  if (allocation.size_bytes != segment_bytes) {
    const std::size_t got = allocation.size_bytes;
    backend_->deallocate(allocation);
    unreserve(segment_bytes);
    std::ostringstream message;
    message << "bufferpool: the " << backend_->name() << " backend returned an allocation of "
            << got << " bytes for a request of " << segment_bytes
            << " bytes; a backend must report the size it was asked for";
    throw BackendError(message.str());
  }
  note_allocated();
  Block* block = nullptr;
  try {
    const std::lock_guard lock(heap_mutex_);
    block = heap_.add_segment_and_carve(allocation, kind_for(capacity_bytes), capacity_bytes);
    block->start_use(size_bytes, class_index);
    block->segment->address = assign_segment_address(allocation);
  } catch (const std::bad_alloc&) {
    deallocate_segment(allocation, 0);
    throw_bookkeeping_out_of_memory(capacity_bytes);
  }
  if (observers_.active()) {
    PoolEvent event = event_now(PoolEventKind::segment_allocate);
    event.address = event.segment_address = block->segment->address;
    event.capacity_bytes = allocation.size_bytes;
    observers_.emit(event);
  }
  return block;
}

std::uint64_t PoolCore::assign_segment_address(const Allocation& allocation) noexcept {
  if (allocation.host_ptr != nullptr) return reinterpret_cast<std::uintptr_t>(allocation.host_ptr);
  // A bump through an address space of the pool's own: no two segments it
  // ever held overlap, so an address names one buffer while it lives.
  const std::uint64_t address = next_synthetic_address_;
  next_synthetic_address_ += round_up(allocation.size_bytes, std::size_t{2} << 20);
  return address;
}

std::size_t PoolCore::reserve_segment_bytes(std::size_t segment_bytes, std::size_t capacity_bytes,
                                            std::size_t size_bytes) {
  const std::size_t limit = config_.memory_limit;
  if (limit == 0) {
    held_bytes_.fetch_add(segment_bytes, std::memory_order_relaxed);
    return segment_bytes;
  }
  bool reclaimed = false;
  std::size_t held = held_bytes_.load(std::memory_order_relaxed);
  for (;;) {
    if (segment_bytes <= limit && held <= limit - segment_bytes) {
      if (held_bytes_.compare_exchange_weak(held, held + segment_bytes,
                                            std::memory_order_relaxed)) {
        return segment_bytes;
      }
      continue;
    }
    if (segment_bytes > capacity_bytes) {
      // Near the limit a segment is only as large as the request.
      segment_bytes = capacity_bytes;
    } else if (free_empty_segments(1, any_segment) == 0) {
      if (!reclaimed && pending_buffers_.load(std::memory_order_relaxed) > 0) {
        reclaim_completed();
        reclaimed = true;
      } else if (!evict_one(true, SegmentKind::small)) {
        // Idle buffers of either kind may empty a segment; with none left,
        // room can only come from bytes another thread is freeing now.
        if (freeing_bytes_.load(std::memory_order_relaxed) == 0 &&
            held_bytes_.load(std::memory_order_relaxed) == held) {
          throw_out_of_memory(capacity_bytes, size_bytes, nullptr);
        }
        std::this_thread::yield();
      }
    }
    held = held_bytes_.load(std::memory_order_relaxed);
  }
}

void PoolCore::throw_bookkeeping_out_of_memory(std::size_t capacity_bytes) {
  failed_allocations_.fetch_add(1, std::memory_order_relaxed);
  if (observers_.active()) emit_failure(capacity_bytes, capacity_bytes);
  throw OutOfMemoryError("bufferpool: out of host memory for the pool's bookkeeping of a " +
                             format_bytes(capacity_bytes) + " buffer",
                         capacity_bytes, 0, 0);
}

void PoolCore::throw_out_of_memory(std::size_t capacity_bytes, std::size_t size_bytes,
                                   const char* cause) {
  failed_allocations_.fetch_add(1, std::memory_order_relaxed);
  if (observers_.active()) emit_failure(size_bytes, capacity_bytes);
  OutOfMemoryDetails details = out_of_memory_details();
  // After a backend failure (cause != nullptr) the request's own bytes are still
  // reserved in held_bytes_; they are not held by any live buffer.
  const std::size_t reserved = cause == nullptr ? 0 : capacity_bytes;
  const std::size_t held = held_bytes_.load(std::memory_order_relaxed) - reserved;
  const std::size_t idle = idle_bytes_estimate() + freeing_bytes_.load(std::memory_order_relaxed);
  SegmentHeapStats heap;
  {
    const std::lock_guard lock(heap_mutex_);
    heap = heap_.stats();
  }
  const std::size_t pending = pending_bytes_.load(std::memory_order_relaxed);
  // In use: by live handles, or by device work still running on released buffers.
  const std::size_t unused = idle + heap.free_bytes;
  const std::size_t in_use = held > unused ? held - unused : 0;
  std::ostringstream message;
  message << "bufferpool: cannot allocate " << format_bytes(capacity_bytes) << " for a request of "
          << size_bytes << " bytes: ";
  const auto describe_held = [&] {
    message << format_bytes(in_use) << " are in use (" << format_bytes(pending)
            << " of them released but still used by device work), " << format_bytes(idle)
            << " idle, " << format_bytes(heap.free_bytes) << " free in " << heap.segments
            << " segments (largest free block " << format_bytes(heap.largest_free_block_bytes)
            << "), " << format_bytes(details.rounding_padding_bytes)
            << " of padding in live buffers; " << details.device_allocations
            << " device allocations held";
    if (details.device_allocation_limit != std::numeric_limits<std::size_t>::max()) {
      message << " of at most " << details.device_allocation_limit;
    }
    if (details.device_budget_bytes) {
      message << "; the device's budget is " << format_bytes(*details.device_budget_bytes)
              << ", of which " << format_bytes(details.device_usage_bytes.value_or(0))
              << " is used";
    }
  };
  if (cause == nullptr) {
    message << "PoolConfig::memory_limit is " << format_bytes(config_.memory_limit) << " and ";
    describe_held();
    message << ". Release buffers sooner (AutoReleaseScope) or raise memory_limit";
    throw OutOfMemoryError(message.str(), capacity_bytes, config_.memory_limit, in_use,
                           std::move(details));
  }
  message << cause << " (" << backend_->name() << "), even after freeing every idle buffer; ";
  describe_held();
  message << ". Release buffers sooner or set PoolConfig::memory_limit below the device's memory";
  throw OutOfMemoryError(message.str(), capacity_bytes, 0, in_use, std::move(details));
}

void PoolCore::deallocate_segment(const Allocation& allocation,
                                  std::uint64_t segment_address) noexcept {
  if (segment_address != 0 && observers_.active()) {
    PoolEvent event = event_now(PoolEventKind::segment_free);
    event.address = event.segment_address = segment_address;
    event.capacity_bytes = allocation.size_bytes;
    observers_.emit(event);
  }
  backend_->deallocate(allocation);
  // Only now is the memory gone, so only now may another allocation take its
  // place under memory_limit.
  held_bytes_.fetch_sub(allocation.size_bytes, std::memory_order_relaxed);
  deallocations_.fetch_add(1, std::memory_order_relaxed);
}

void PoolCore::give_back_one(Block* block, std::uint64_t unused_since_ns, bool free_empty,
                             PoolEventKind reason) noexcept {
  // Device work may still use a pending block: its memory is not free until
  // the work is done.
  const std::uint64_t device_use = block->stamp.load(std::memory_order_relaxed);
  if (device_use != 0 && !timeline_reached(device_use)) backend_->wait_for_timeline(device_use);
  if (observers_.active()) {
    if (device_use != 0) emit_block_event(PoolEventKind::free_completed, *block, false);
    emit_block_event(reason, *block, false);
  }
  Allocation emptied;
  std::uint64_t emptied_address = 0;
  bool free_segment = false;
  {
    const std::lock_guard lock(heap_mutex_);
    Segment* empty = heap_.give_back(block, unused_since_ns);
    if (empty != nullptr && free_empty) {
      emptied_address = empty->address;
      emptied = heap_.remove_empty(empty);
      free_segment = true;
    }
  }
  held_buffers_.fetch_sub(1, std::memory_order_relaxed);
  if (free_segment) deallocate_segment(emptied, emptied_address);
}

void PoolCore::give_back_idle(BlockList& blocks, PoolEventKind reason) noexcept {
  const std::uint64_t now_stamp = blocks.empty() ? 0 : to_stamp(read_clock());
  while (Block* block = blocks.pop_front()) {
    // An idle block's stamp is its release time plus one (0: released after
    // its shard last read the clock, so no earlier than that).
    const std::uint64_t stamp = block->stamp.exchange(0, std::memory_order_relaxed);
    const std::size_t capacity_bytes = block->capacity_bytes();
    // Empty segments stay: while the pool closes, close() frees them after
    // every release in flight is done (closing_ is not this thread's to read).
    give_back_one(block, stamp != 0 ? stamp - 1 : now_stamp, false, reason);
    freeing_bytes_.fetch_sub(capacity_bytes, std::memory_order_relaxed);
  }
}

void PoolCore::hand_over(BlockList& leaving, Block* block) noexcept {
  freeing_bytes_.fetch_add(block->capacity_bytes(), std::memory_order_relaxed);
  leaving.push_back(block);
}

template <typename Predicate>
std::size_t PoolCore::free_empty_segments(std::size_t most, Predicate frees) noexcept {
  std::size_t freed = 0;
  while (freed < most) {
    Allocation allocation;
    std::uint64_t address = 0;
    {
      const std::lock_guard lock(heap_mutex_);
      Segment* segment = heap_.oldest_empty();
      while (segment != nullptr && !frees(*segment)) segment = segment->next;
      if (segment == nullptr) break;
      address = segment->address;
      allocation = heap_.remove_empty(segment);
    }
    deallocate_segment(allocation, address);
    ++freed;
  }
  return freed;
}

void PoolCore::release(Block* block) noexcept { release_block(block, true); }

BUFFERPOOL_HOT void PoolCore::release_block(Block* block, bool announce) noexcept {
  const std::uint64_t device_use = block->stamp.load(std::memory_order_relaxed);
  const bool device_busy = device_use != 0 && !timeline_reached(device_use);
  const std::size_t capacity_bytes = block->capacity_bytes();
  if (announce && observers_.active()) [[unlikely]] {
    emit_block_event(PoolEventKind::free, *block, device_busy);
  }
  std::chrono::nanoseconds now{0};
  bool read_the_clock = false;
  BlockList evicted;
  Shard& shard = this_thread_shard();
  enum class Outcome { cached, cached_then_maintain, pending, freed, freed_after_close } outcome{};
  {
    const std::lock_guard lock(shard.lock);
    shard.count_in_use(block->class_index(), capacity_bytes, -1);
    // Pending, freed or cached, it is no longer live; until it reaches a
    // list or free space, an inspection shows it as released.
    block->mark_released(Block::Released::from_use);
    if (closing_) {
      outcome = Outcome::freed_after_close;
    } else if (device_busy) {
      outcome = Outcome::pending;
    } else if (!caching_enabled_) {
      outcome = Outcome::freed;
    } else {
      // The release time is read from the clock only every few releases; the
      // blocks released since are stamped with that reading (see
      // stamp_releases), so most releases read no clock.
      push_idle(shard, block, 0);
      if (shard.clock_reads_owed > 0 || --shard.releases_until_clock == 0) [[unlikely]] {
        if (shard.clock_reads_owed > 0) --shard.clock_reads_owed;
        now = read_clock();
        read_the_clock = true;
        stamp_releases(shard, now);
      }
      // Held counts live buffers too, so it settles most releases without
      // reading the other shards; the idle counts decide the rest. Past a
      // cap, the releasing thread's own oldest idle buffers go, under the
      // lock it holds; only when it has none left are the others' looked at.
      bool over = over_caps(held_buffers_.load(std::memory_order_relaxed),
                            held_bytes_.load(std::memory_order_relaxed)) &&
                  over_caps(idle_buffers_estimate(), idle_bytes_estimate());
      while (over) {
        Block* victim = unlink_eviction_victim({&shard, 1}, true, SegmentKind::small);
        if (victim == nullptr) break;
        hand_over(evicted, victim);
        over = over_caps(idle_buffers_estimate(), idle_bytes_estimate());
      }
      outcome = over || !evicted.empty() || (read_the_clock && cleanup_due(now))
                    ? Outcome::cached_then_maintain
                    : Outcome::cached;
    }
    // Work after the lock that uses the pool must finish before the pool can
    // go: close() waits for these, and it cannot start one itself, since it
    // sets closing_ under this same lock.
    if (outcome != Outcome::cached && outcome != Outcome::freed_after_close) {
      releases_in_flight_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  switch (outcome) {
    case Outcome::cached:
      break;
    case Outcome::pending: {
      {
        const std::lock_guard lock(pending_lock_);
        pending_.push_back(block);
      }
      pending_buffers_.fetch_add(1, std::memory_order_relaxed);
      pending_bytes_.fetch_add(capacity_bytes, std::memory_order_relaxed);
      releases_in_flight_.fetch_sub(1, std::memory_order_release);
      break;
    }
    case Outcome::cached_then_maintain:
      evictions_.fetch_add(evicted.size(), std::memory_order_relaxed);
      give_back_idle(evicted);
      // Still over: other threads' idle buffers (rechecked under every shard lock).
      if (over_caps(idle_buffers_estimate(), idle_bytes_estimate())) {
        evict_over_caps();
      } else if (inflation_.load(std::memory_order_relaxed) >= kInflationRebaseAt) {
        const AllShardsLock all(shards_);
        rebase_inflation_if_due();
      }
      if (read_the_clock) maybe_cleanup(now);
      releases_in_flight_.fetch_sub(1, std::memory_order_release);
      break;
    case Outcome::freed:
      // Device work that used it is done: nothing to wait for, and nothing
      // pending for observers to see complete.
      block->stamp.store(0, std::memory_order_relaxed);
      give_back_one(block, 0, true);
      releases_in_flight_.fetch_sub(1, std::memory_order_release);
      break;
    case Outcome::freed_after_close:
      if (!device_busy) block->stamp.store(0, std::memory_order_relaxed);
      give_back_one(block, 0, true);
      drop_close_token();  // may destroy *this: nothing may follow
      break;
  }
}

// Out-of-line doors to the inlined hit-path helpers, for pool_streams.cpp.
unsigned PoolCore::checked_class_index(std::size_t size_bytes) const {
  return validated_class_index(size_bytes);
}
Shard& PoolCore::calling_thread_shard() noexcept { return this_thread_shard(); }
void PoolCore::count_stream_reuse(unsigned class_index, std::size_t size_bytes,
                                  std::size_t capacity_bytes) noexcept {
  Shard& shard = this_thread_shard();
  const std::lock_guard lock(shard.lock);
  count_handout(shard, class_index, size_bytes, capacity_bytes, Source::reused);
}
void PoolCore::release_unannounced(Block* block) noexcept { release_block(block, false); }

bool PoolCore::over_caps(std::size_t idle_buffers, std::size_t idle_bytes) const noexcept {
  return idle_buffers > config_.max_pool_size ||
         (config_.max_cached_bytes != 0 && idle_bytes > config_.max_cached_bytes);
}

std::size_t PoolCore::idle_buffers_estimate() const noexcept {
  std::size_t total = 0;
  for (const auto& shard : shards_) total += shard.idle_buffers.load(std::memory_order_relaxed);
  return total;
}

std::size_t PoolCore::idle_bytes_estimate() const noexcept {
  std::size_t total = 0;
  for (const auto& shard : shards_) total += shard.idle_bytes.load(std::memory_order_relaxed);
  return total;
}

std::uint64_t PoolCore::size_aware_priority(const Block& block) noexcept {
  return block.eviction_rank() + kPriorityOne / block.capacity_bytes();
}

Block* PoolCore::unlink_eviction_victim(std::span<Shard> shards, bool any_kind,
                                        SegmentKind kind) noexcept {
  // Within a class list blocks are in release order, and under size_aware
  // share a capacity to within an eighth, so the list's first block of the
  // kind asked for is its candidate.
  const bool size_aware = config_.eviction == EvictionPolicy::size_aware;
  Shard* victim_shard = nullptr;
  unsigned victim_list = 0;
  Block* victim = nullptr;
  // oldest_first: (release time, release count); size_aware: (priority, release time).
  std::pair<std::uint64_t, std::uint64_t> victim_key;
  for (auto& shard : shards) {
    for (unsigned list = 0; list < shard.list_count(); ++list) {
      // Above the largest class capacities differ, so under size_aware every
      // block of that list is a candidate (the list is short: large buffers).
      const bool whole_list = size_aware && list + 1 == shard.list_count();
      for (Block* block = shard.idle(list).front(); block != nullptr; block = block->next) {
        if (!any_kind && block->segment->kind != kind) continue;
        // Unstamped: released after its shard last read the clock, the newest.
        const std::uint64_t stamp = block->stamp.load(std::memory_order_relaxed);
        const std::uint64_t released =
            stamp == 0 ? std::numeric_limits<std::uint64_t>::max() : stamp;
        const auto key = size_aware ? std::pair{size_aware_priority(*block), released}
                                    : std::pair{released, block->eviction_rank()};
        if (victim == nullptr || key < victim_key) {
          victim = block;
          victim_key = key;
          victim_shard = &shard;
          victim_list = list;
        }
        if (!whole_list) break;
      }
    }
  }
  if (victim == nullptr) return nullptr;
  unlink_idle(*victim_shard, victim_list, victim);
  const std::uint64_t priority = victim_key.first;
  if (size_aware && priority > inflation_.load(std::memory_order_relaxed)) {
    inflation_.store(priority, std::memory_order_relaxed);
  }
  return victim;
}

void PoolCore::rebase_inflation_if_due() noexcept {
  if (inflation_.load(std::memory_order_relaxed) >= kInflationRebaseAt) rebase_inflation();
}

void PoolCore::rebase_inflation() noexcept {
  // Under every shard lock: shift every idle priority and the inflation down
  // by the smallest inflation an idle block holds, which keeps their order.
  std::uint64_t base = inflation_.load(std::memory_order_relaxed);
  for (auto& shard : shards_) {
    for (auto& slot : shard.slots) {
      if (const Block* front = slot.idle.front()) base = std::min(base, front->eviction_rank());
    }
  }
  for (auto& shard : shards_) {
    for (auto& slot : shard.slots) {
      for (Block* block = slot.idle.front(); block != nullptr; block = block->next) {
        block->set_eviction_rank(block->eviction_rank() - base);
      }
    }
  }
  inflation_.store(inflation_.load(std::memory_order_relaxed) - base, std::memory_order_relaxed);
}

void PoolCore::evict_over_caps() noexcept {
  BlockList victims;
  {
    AllShardsLock all(shards_);
    rebase_inflation_if_due();
    std::size_t idle_buffers = idle_buffers_estimate();
    std::size_t idle_bytes = idle_bytes_estimate();
    while (over_caps(idle_buffers, idle_bytes)) {
      Block* block = unlink_eviction_victim(shards_, true, SegmentKind::small);
      if (block == nullptr) break;
      --idle_buffers;
      idle_bytes -= block->capacity_bytes();
      hand_over(victims, block);
    }
  }
  evictions_.fetch_add(victims.size(), std::memory_order_relaxed);
  give_back_idle(victims);
}

bool PoolCore::evict_one(bool any_kind, SegmentKind kind) noexcept {
  BlockList victims;
  {
    AllShardsLock all(shards_);
    rebase_inflation_if_due();
    if (Block* block = unlink_eviction_victim(shards_, any_kind, kind)) {
      hand_over(victims, block);
    }
  }
  const bool evicted = !victims.empty();
  evictions_.fetch_add(victims.size(), std::memory_order_relaxed);
  give_back_idle(victims);
  return evicted;
}

bool PoolCore::cleanup_due(std::chrono::nanoseconds now) const noexcept {
  return !config_.background_cleanup &&
         now.count() - last_cleanup_ns_.load(std::memory_order_relaxed) >=
             config_.cleanup_interval.count();
}

void PoolCore::maybe_cleanup(std::chrono::nanoseconds now) noexcept {
  if (config_.background_cleanup) return;
  std::int64_t last = last_cleanup_ns_.load(std::memory_order_relaxed);
  if (now.count() - last < config_.cleanup_interval.count()) return;
  // One thread wins the interval; the others go on.
  if (last_cleanup_ns_.compare_exchange_strong(last, now.count(), std::memory_order_relaxed)) {
    expire(now);
  }
}

std::size_t PoolCore::cleanup() {
  const auto now = read_clock();
  last_cleanup_ns_.store(now.count(), std::memory_order_relaxed);
  if (pending_buffers_.load(std::memory_order_relaxed) > 0) reclaim_completed();
  return expire(now);
}

std::size_t PoolCore::expire(std::chrono::nanoseconds now) noexcept {
  BlockList victims;
  const auto ttl_ns = config_.ttl.count();
  {
    AllShardsLock all(shards_);
    for (auto& shard : shards_) {
      // Blocks released since the shard last read the clock are younger than
      // now: they get now as their release time, and stay.
      stamp_releases(shard, now);
      for (unsigned list = 0; list < shard.list_count(); ++list) {
        while (Block* front = shard.idle(list).front()) {
          const auto released_ns =
              static_cast<std::int64_t>(front->stamp.load(std::memory_order_relaxed) - 1);
          if (now.count() - released_ns < ttl_ns) break;
          unlink_idle(shard, list, front);
          hand_over(victims, front);
        }
      }
    }
  }
  const std::size_t expired = victims.size();
  expirations_.fetch_add(expired, std::memory_order_relaxed);
  give_back_idle(victims, PoolEventKind::expire);
  // A segment goes back to the backend once all of it has been unused a TTL.
  const std::int64_t unused_before = now.count() - ttl_ns;
  if (unused_before >= 0) {
    free_empty_segments(kAll, [unused_before](const Segment& segment) {
      return segment.unused_since_ns <= static_cast<std::uint64_t>(unused_before);
    });
  }
  return expired;
}

std::size_t PoolCore::clear() noexcept {
  BlockList victims;
  {
    AllShardsLock all(shards_);
    take_every_idle(victims);
  }
  const std::size_t cleared = victims.size();
  give_back_idle(victims);
  free_empty_segments(kAll, any_segment);
  return cleared;
}

bool PoolCore::timeline_reached(std::uint64_t value) const noexcept {
  return value <= completed_timeline_.load(std::memory_order_relaxed) ||
         value <= refresh_completed_timeline();
}

std::uint64_t PoolCore::refresh_completed_timeline() const noexcept {
  const std::uint64_t completed = backend_->completed_timeline();
  std::uint64_t known = completed_timeline_.load(std::memory_order_relaxed);
  while (completed > known &&
         !completed_timeline_.compare_exchange_weak(known, completed, std::memory_order_relaxed)) {
  }
  return std::max(known, completed);
}

void PoolCore::reclaim_completed() noexcept {
  // Ask the device once, before taking the lock: a driver call under it
  // would stall every thread that releases device buffers.
  const std::uint64_t completed = refresh_completed_timeline();
  BlockList reclaimed;
  std::size_t reclaimed_bytes = 0;
  {
    const std::lock_guard lock(pending_lock_);
    for (Block* block = pending_.front(); block != nullptr;) {
      Block* next = block->next;
      if (block->stamp.load(std::memory_order_relaxed) <= completed) {
        pending_.remove(block);
        reclaimed_bytes += block->capacity_bytes();
        reclaimed.push_back(block);
      }
      block = next;
    }
  }
  if (reclaimed.empty()) return;
  pending_buffers_.fetch_sub(reclaimed.size(), std::memory_order_relaxed);
  pending_bytes_.fetch_sub(reclaimed_bytes, std::memory_order_relaxed);
  if (!caching_enabled_) {
    while (Block* block = reclaimed.pop_front()) give_back_one(block, 0, true);
    return;
  }
  const auto now = read_clock();
  Shard& shard = this_thread_shard();
  {
    const std::lock_guard lock(shard.lock);
    stamp_releases(shard, now);
    while (Block* block = reclaimed.pop_front()) {
      if (observers_.active()) emit_block_event(PoolEventKind::free_completed, *block, false);
      push_idle(shard, block, shard.last_release_stamp);
    }
  }
  if (over_caps(idle_buffers_estimate(), idle_bytes_estimate())) evict_over_caps();
}

PoolEvent PoolCore::event_now(PoolEventKind kind) const noexcept {
  PoolEvent event;
  event.kind = kind;
  event.thread = this_thread_ordinal();
  event.time_ns = to_stamp(read_clock());
  return event;
}

void PoolCore::emit_handout(const Block& block, std::size_t size_bytes, unsigned class_index,
                            Source source) const noexcept {
  PoolEvent event = event_now(PoolEventKind::allocate);
  event.hit = source != Source::allocated;
  event.reused = source == Source::reused;
  event.class_index = static_cast<std::uint16_t>(class_index);
  event.segment_address = block.segment->address;
  event.address = event.segment_address + block.offset_bytes();
  event.size_bytes = size_bytes;
  event.capacity_bytes = block.capacity_bytes();
  observers_.emit(event);
}

void PoolCore::emit_block_event(PoolEventKind kind, const Block& block,
                                bool pending) const noexcept {
  PoolEvent event = event_now(kind);
  event.pending = pending;
  event.class_index = static_cast<std::uint16_t>(block.class_index());
  event.segment_address = block.segment->address;
  event.address = event.segment_address + block.offset_bytes();
  // An idle block keeps its eviction rank where a live one keeps its size.
  const bool was_idle = kind == PoolEventKind::evict || kind == PoolEventKind::expire;
  event.size_bytes = was_idle ? 0 : block.size_bytes();
  event.capacity_bytes = block.capacity_bytes();
  observers_.emit(event);
}

void PoolCore::emit_failure(std::size_t size_bytes, std::size_t capacity_bytes) const noexcept {
  PoolEvent event = event_now(PoolEventKind::allocate_failure);
  event.class_index =
      static_cast<std::uint16_t>(class_index_for(std::max<std::size_t>(size_bytes, 1)));
  event.size_bytes = size_bytes;
  event.capacity_bytes = capacity_bytes;
  observers_.emit(event);
}

PoolMetrics PoolCore::metrics() const {
  PoolMetrics result;
  const auto class_count = class_capacities_.size();
  result.size_classes.resize(class_count + 1);
  for (std::size_t index = 0; index <= class_count; ++index) {
    auto& entry = result.size_classes[index];
    entry.oversize = index == class_count;
    entry.capacity_bytes = entry.oversize ? 0 : class_capacities_[index];
  }
  std::vector<std::int64_t> class_in_use(class_count + 1, 0);
  std::int64_t buffers_in_use = 0;
  std::int64_t bytes_in_use = 0;
  for (const auto& shard : shards_) {
    const std::lock_guard guard(shard.lock);
    for (std::size_t index = 0; index <= class_count; ++index) {
      auto& entry = result.size_classes[index];
      entry.hits += shard.counters(index).hits;
      entry.misses += shard.counters(index).misses;
      entry.buffers_cached += shard.idle(index).size();
      class_in_use[index] += shard.counters(index).buffers_in_use;
      result.hits += shard.counters(index).hits;
      result.misses += shard.counters(index).misses;
    }
    result.hits_carved += shard.hits_carved;
    buffers_in_use += shard.buffers_in_use;
    bytes_in_use += shard.bytes_in_use;
    result.bytes_requested += shard.bytes_requested;
    result.bytes_granted += shard.bytes_granted;
    result.buffers_cached += shard.idle_buffers.load(std::memory_order_relaxed);
    result.bytes_cached += shard.idle_bytes.load(std::memory_order_relaxed);
  }
  result.hits_reused = result.hits - result.hits_carved;
  for (std::size_t index = 0; index <= class_count; ++index) {
    result.size_classes[index].buffers_in_use = to_size(class_in_use[index]);
  }
  result.buffers_in_use = to_size(buffers_in_use);
  result.bytes_in_use = to_size(bytes_in_use);
  result.buffers_pending_gpu = pending_buffers_.load(std::memory_order_relaxed);
  result.bytes_pending_gpu = pending_bytes_.load(std::memory_order_relaxed);
  result.buffers_kept_for_streams = kept_buffers_.load(std::memory_order_relaxed);
  result.bytes_kept_for_streams = kept_bytes_.load(std::memory_order_relaxed);
  result.stream_reuses = stream_reuses_.load(std::memory_order_relaxed);
  {
    const std::lock_guard lock(streams_mutex_);
    result.open_streams = streams_.size();
  }
  {
    const std::lock_guard lock(heap_mutex_);
    const SegmentHeapStats heap = heap_.stats();
    result.segments = heap.segments;
    result.empty_segments = heap.empty_segments;
    result.bytes_free_in_segments = heap.free_bytes;
    result.largest_free_block_bytes = heap.largest_free_block_bytes;
  }
  result.allocations = allocations_.load(std::memory_order_relaxed);
  result.deallocations = deallocations_.load(std::memory_order_relaxed);
  result.evictions = evictions_.load(std::memory_order_relaxed);
  result.expirations = expirations_.load(std::memory_order_relaxed);
  result.failed_allocations = failed_allocations_.load(std::memory_order_relaxed);
  result.current_bytes_allocated = held_bytes_.load(std::memory_order_relaxed);
  result.peak_bytes_allocated =
      std::max(peak_bytes_.load(std::memory_order_relaxed), result.current_bytes_allocated);
  {
    const std::lock_guard lock(scopes_mutex_);
    result.scopes.reserve(scopes_.size());
    for (const auto& entry : scopes_) result.scopes.push_back(entry.second);
  }
  {
    const std::lock_guard lock(recording_mutex_);
    result.recorded_events = stopped_recorded_events_;
    result.recording_waits = stopped_recording_waits_;
    if (recorder_) {
      result.recorded_events += recorder_->recorded_events();
      result.recording_waits += recorder_->waits();
    }
  }
  return result;
}

void PoolCore::reset_peak() noexcept {
  peak_bytes_.store(held_bytes_.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

void PoolCore::run_background_cleanup(const std::stop_token& stop) {
  std::unique_lock lock(background_mutex_);
  while (!stop.stop_requested()) {
    // An interval of "never" (nanoseconds::max()) would overflow the deadline
    // and spin; a year is never enough.
    const auto interval =
        std::min<std::chrono::nanoseconds>(config_.cleanup_interval, std::chrono::hours{24 * 365});
    background_wakeup_.wait_for(lock, stop, interval, [] { return false; });
    if (stop.stop_requested()) break;
    lock.unlock();
    cleanup();
    lock.lock();
  }
}

}  // namespace detail

BufferPool::BufferPool(std::shared_ptr<Backend> backend, PoolConfig config)
    : core_(std::make_unique<detail::PoolCore>(std::move(backend), std::move(config))) {}

BufferPool::~BufferPool() { detail::PoolCore::close(std::move(core_)); }

BufferRef BufferPool::get_buffer(std::size_t size_bytes) { return core_->get(size_bytes); }
StreamId BufferPool::open_stream() { return core_->open_stream(); }
BufferRef BufferPool::get_buffer(std::size_t size_bytes, StreamId stream) {
  return core_->get_for_stream(size_bytes, stream);
}
void BufferPool::release_to_stream(BufferRef& buffer, StreamId stream) {
  core_->release_to_stream(buffer, stream);
}
void BufferPool::close_stream(StreamId stream, std::uint64_t used_until_timeline) noexcept {
  core_->close_stream(stream, used_until_timeline);
}
std::size_t BufferPool::cleanup() { return core_->cleanup(); }
std::size_t BufferPool::clear() { return core_->clear(); }
PoolMetrics BufferPool::metrics() const { return core_->metrics(); }
void BufferPool::reset_peak() noexcept { core_->reset_peak(); }
std::size_t BufferPool::capacity_for(std::size_t size_bytes) const {
  return core_->capacity_for(size_bytes);
}
std::string BufferPool::check_segments() const { return core_->check_segments(); }
MemorySnapshot BufferPool::snapshot() const { return core_->snapshot(); }
std::vector<LiveBuffer> BufferPool::live_buffers() const { return core_->live_buffers(); }
void BufferPool::add_observer(std::shared_ptr<PoolObserver> observer) {
  if (!observer) throw UsageError("bufferpool: BufferPool::add_observer(nullptr)");
  core_->add_observer(std::move(observer));
}
void BufferPool::remove_observer(const PoolObserver& observer) noexcept {
  core_->remove_observer(observer);
}
void BufferPool::start_recording(const std::filesystem::path& path) {
  core_->start_recording(path);
}
void BufferPool::stop_recording() noexcept { core_->stop_recording(); }
bool BufferPool::recording() const noexcept { return core_->recording(); }
const PoolConfig& BufferPool::config() const noexcept { return core_->config(); }
Backend& BufferPool::backend() const noexcept { return core_->backend(); }

}  // namespace bufferpool
