#include "pool/pool_core.hpp"

#include <bufferpool/buffer.hpp>
#include <bufferpool/errors.hpp>

#include <string>

namespace bufferpool {
namespace {

// Block::refs packs the references (low half) and the explicit increments
// among them (high half) into one atomic, so that decrement() can tell which
// to drop in one compare-and-swap.
constexpr std::uint64_t kOneReference = 1;
constexpr std::uint64_t kOneIncrement = std::uint64_t{1} << 32;
constexpr std::uint64_t kReferenceMask = kOneIncrement - 1;

}  // namespace

BufferRef::BufferRef(const BufferRef& other) noexcept : core_(other.core_), block_(other.block_) {
  if (block_ != nullptr) block_->refs().fetch_add(kOneReference, std::memory_order_relaxed);
}

BufferRef& BufferRef::operator=(const BufferRef& other) noexcept {
  if (this != &other) {
    BufferRef copy(other);
    *this = std::move(copy);
  }
  return *this;
}

BufferRef& BufferRef::operator=(BufferRef&& other) noexcept {
  if (this != &other) {
    reset();
    core_ = std::exchange(other.core_, nullptr);
    block_ = std::exchange(other.block_, nullptr);
  }
  return *this;
}

void BufferRef::drop_reference() noexcept {
  detail::Block* block = std::exchange(block_, nullptr);
  detail::PoolCore* core = std::exchange(core_, nullptr);
  if (block->drop_one_reference()) core->release(block);
}

void BufferRef::require_block(const char* operation) const {
  if (block_ == nullptr) {
    throw UsageError(std::string("bufferpool: BufferRef::") + operation +
                     " on an empty handle: its reference was already released (by reset(), "
                     "decrement() or a move) or it was never assigned a buffer");
  }
}

void BufferRef::increment() {
  require_block("increment()");
  block_->refs().fetch_add(kOneReference + kOneIncrement, std::memory_order_relaxed);
}

void BufferRef::decrement() {
  require_block("decrement()");
  std::uint64_t refs = block_->refs().load(std::memory_order_relaxed);
  for (;;) {
    if (refs >= kOneIncrement) {
      // Drop an outstanding increment; this handle keeps its own reference,
      // which is still counted, so the count cannot reach zero here.
      if (block_->refs().compare_exchange_weak(refs, refs - kOneIncrement - kOneReference,
                                               std::memory_order_acq_rel)) {
        return;
      }
    } else {
      drop_reference();
      return;
    }
  }
}

std::uint32_t BufferRef::ref_count() const noexcept {
  if (block_ == nullptr) return 0;
  return static_cast<std::uint32_t>(block_->refs().load(std::memory_order_relaxed) &
                                    kReferenceMask);
}

std::size_t BufferRef::size() const noexcept {
  return block_ == nullptr ? 0 : block_->size_bytes();
}

std::size_t BufferRef::capacity() const noexcept {
  return block_ == nullptr ? 0 : block_->capacity_bytes();
}

bool BufferRef::host_visible() const noexcept {
  return block_ != nullptr && block_->segment->allocation.host_ptr != nullptr;
}

std::byte* BufferRef::data() const {
  require_block("data()");
  std::byte* segment_data = block_->segment->allocation.host_ptr;
  if (segment_data == nullptr) {
    throw UsageError(
        "bufferpool: BufferRef::data() on a buffer whose memory is not host-visible "
        "(device-local); read it with ComputeManager::get_buffer_data() instead");
  }
  return segment_data + block_->offset_bytes();
}

std::uint64_t BufferRef::native_handle() const {
  require_block("native_handle()");
  return block_->segment->allocation.handle;
}

const Backend& BufferRef::backend() const {
  require_block("backend()");
  return core_->backend();
}

std::size_t BufferRef::offset_bytes() const {
  require_block("offset_bytes()");
  return block_->offset_bytes();
}

void BufferRef::mark_used_until(std::uint64_t timeline_value) {
  require_block("mark_used_until()");
  std::uint64_t current = block_->stamp.load(std::memory_order_relaxed);
  while (timeline_value > current &&
         !block_->stamp.compare_exchange_weak(current, timeline_value, std::memory_order_relaxed)) {
  }
}

}  // namespace bufferpool
