#include "pool/segment_heap.hpp"

#include <algorithm>
#include <bit>
#include <memory>
#include <sstream>

namespace bufferpool::detail {

void SegmentList::push_back(Segment* segment) noexcept {
  segment->prev = tail_;
  segment->next = nullptr;
  (tail_ != nullptr ? tail_->next : head_) = segment;
  tail_ = segment;
  ++size_;
}

void SegmentList::insert_before(Segment* position, Segment* segment) noexcept {
  segment->next = position;
  segment->prev = position->prev;
  (position->prev != nullptr ? position->prev->next : head_) = segment;
  position->prev = segment;
  ++size_;
}

void SegmentList::remove(Segment* segment) noexcept {
  (segment->prev != nullptr ? segment->prev->next : head_) = segment->next;
  (segment->next != nullptr ? segment->next->prev : tail_) = segment->prev;
  segment->prev = segment->next = nullptr;
  --size_;
}

SegmentHeap::~SegmentHeap() {
  // The pool empties the heap before it goes; the records are ours to free.
  for (const SegmentList* list : {&segments_, &empty_}) {
    for (Segment* segment = list->front(); segment != nullptr;) {
      Segment* next = segment->next;
      const std::unique_ptr<Segment> owned(segment);
      segment = next;
    }
  }
}

unsigned SegmentHeap::bin_of(std::size_t capacity_bytes) noexcept {
  // Units 1, 2, 3 have bins of their own; from 4 units on, each power of two
  // is split in four by the two bits below its top bit.
  const std::size_t units = std::max<std::size_t>(capacity_bytes >> Block::kUnitShift, 1);
  const auto width = static_cast<unsigned>(std::bit_width(units));
  if (width < 3) return static_cast<unsigned>(units) - 1;
  const unsigned top = width - 1;
  const auto quarter = static_cast<unsigned>((units >> (top - 2)) & 3U);
  return 3 + (top - 2) * 4 + quarter;
}

void SegmentHeap::insert_free(Block* block) noexcept {
  const unsigned bin = bin_of(block->capacity_bytes());
  Bins& bins = bins_[static_cast<std::size_t>(block->segment->kind)];
  bins.lists[bin].push_back(block);
  bins.non_empty[bin / 64] |= std::uint64_t{1} << (bin % 64);
}

void SegmentHeap::remove_free(Block* block) noexcept {
  const unsigned bin = bin_of(block->capacity_bytes());
  Bins& bins = bins_[static_cast<std::size_t>(block->segment->kind)];
  bins.lists[bin].remove(block);
  if (bins.lists[bin].empty()) bins.non_empty[bin / 64] &= ~(std::uint64_t{1} << (bin % 64));
}

Block* SegmentHeap::find_fit(SegmentKind kind, std::size_t capacity_bytes) const noexcept {
  const Bins& bins = bins_[static_cast<std::size_t>(kind)];
  // The request's own bin holds blocks both smaller and larger than it: the
  // best fit among them. Every block of a higher bin fits; the first non-empty
  // one gives the smallest, and its best fit.
  const auto best_in = [capacity_bytes](const BlockList& list) {
    Block* best = nullptr;
    for (Block* block = list.front(); block != nullptr; block = block->next) {
      const std::size_t capacity = block->capacity_bytes();
      if (capacity >= capacity_bytes && (best == nullptr || capacity < best->capacity_bytes())) {
        best = block;
        if (capacity == capacity_bytes) break;
      }
    }
    return best;
  };
  unsigned bin = bin_of(capacity_bytes);
  if (Block* fit = best_in(bins.lists[bin])) return fit;
  for (++bin; bin < kBinCount; bin = (bin / 64 + 1) * 64) {
    const std::uint64_t above = bins.non_empty[bin / 64] & (~std::uint64_t{0} << (bin % 64));
    if (above != 0) {
      return best_in(bins.lists[(bin / 64) * 64 + static_cast<unsigned>(std::countr_zero(above))]);
    }
  }
  return nullptr;
}

void SegmentHeap::note_taken(Segment& segment, std::size_t bytes) noexcept {
  if (segment.empty()) {
    empty_.remove(&segment);
    empty_bytes_ -= segment.size_bytes();
    segments_.push_back(&segment);
  }
  segment.free_bytes -= bytes;
  free_bytes_ -= bytes;
}

Block* SegmentHeap::split(Block* block, std::size_t capacity_bytes, Block* remainder) noexcept {
  const std::size_t rest = block->capacity_bytes() - capacity_bytes;
  note_taken(*block->segment, capacity_bytes);
  // Carved from here on: a neighbour given back before the pool hands this
  // block out must not take it for free space.
  block->mark_carved();
  if (rest == 0) return block;
  // A caller passes a remainder record whenever the block is larger than the
  // request (carve() and add_segment_and_carve() test the same sizes).
  // NOLINTNEXTLINE(clang-analyzer-core.NullDereference)
  remainder->segment = block->segment;
  remainder->set_extent(block->offset_bytes() + capacity_bytes, rest);
  remainder->mark_free();
  remainder->lower = block;
  remainder->upper = block->upper;
  if (block->upper != nullptr) block->upper->lower = remainder;
  block->upper = remainder;
  block->set_extent(block->offset_bytes(), capacity_bytes);
  insert_free(remainder);
  return block;
}

Block* SegmentHeap::carve(SegmentKind kind, std::size_t capacity_bytes) {
  Block* fit = find_fit(kind, capacity_bytes);
  if (fit == nullptr) return nullptr;
  Block* remainder = fit->capacity_bytes() == capacity_bytes ? nullptr : blocks_.make();
  remove_free(fit);
  return split(fit, capacity_bytes, remainder);
}

Block* SegmentHeap::add_segment_and_carve(const Allocation& allocation, SegmentKind kind,
                                          std::size_t capacity_bytes) {
  auto segment = std::make_unique<Segment>();
  Block* whole = blocks_.make();
  Block* remainder = nullptr;
  if (allocation.size_bytes != capacity_bytes) {
    try {
      remainder = blocks_.make();
    } catch (...) {
      blocks_.recycle(whole);
      throw;
    }
  }
  segment->allocation = allocation;
  segment->kind = kind;
  segment->free_bytes = allocation.size_bytes;
  whole->segment = segment.get();
  whole->set_extent(0, allocation.size_bytes);
  segment->first_block = whole;
  // Enters as an empty segment, and leaves that list as it is carved.
  empty_.push_back(segment.get());
  empty_bytes_ += allocation.size_bytes;
  free_bytes_ += allocation.size_bytes;
  static_cast<void>(segment.release());
  return split(whole, capacity_bytes, remainder);
}

Segment* SegmentHeap::give_back(Block* block, std::uint64_t unused_since_ns) noexcept {
  Segment& segment = *block->segment;
  const std::size_t bytes = block->capacity_bytes();
  segment.free_bytes += bytes;
  free_bytes_ += bytes;
  segment.unused_since_ns = std::max(segment.unused_since_ns, unused_since_ns);
  block->mark_free();
  block->stamp.store(0, std::memory_order_relaxed);
  if (Block* lower = block->lower; lower != nullptr && lower->is_free()) {
    remove_free(lower);
    lower->set_extent(lower->offset_bytes(), lower->capacity_bytes() + bytes);
    lower->upper = block->upper;
    if (block->upper != nullptr) block->upper->lower = lower;
    blocks_.recycle(block);
    block = lower;
  }
  if (Block* upper = block->upper; upper != nullptr && upper->is_free()) {
    remove_free(upper);
    block->set_extent(block->offset_bytes(), block->capacity_bytes() + upper->capacity_bytes());
    block->upper = upper->upper;
    if (upper->upper != nullptr) upper->upper->lower = block;
    blocks_.recycle(upper);
  }
  insert_free(block);
  if (!segment.empty()) return nullptr;
  segments_.remove(&segment);
  empty_bytes_ += segment.size_bytes();
  // Empty segments stay ordered by how long they have been unused.
  Segment* after = nullptr;
  for (Segment* other = empty_.front(); other != nullptr; other = other->next) {
    if (other->unused_since_ns > segment.unused_since_ns) {
      after = other;
      break;
    }
  }
  if (after == nullptr) {
    empty_.push_back(&segment);
  } else {
    empty_.insert_before(after, &segment);
  }
  return &segment;
}

Allocation SegmentHeap::remove_empty(Segment* segment) noexcept {
  // An empty segment is one free block spanning it: the record at offset 0,
  // which merges keep.
  Block* whole = segment->first_block;
  remove_free(whole);
  blocks_.recycle(whole);
  empty_.remove(segment);
  empty_bytes_ -= segment->size_bytes();
  free_bytes_ -= segment->size_bytes();
  const Allocation allocation = segment->allocation;
  const std::unique_ptr<Segment> owned(segment);
  return allocation;
}

SegmentHeapStats SegmentHeap::stats() const noexcept {
  SegmentHeapStats stats;
  stats.segments = segment_count();
  stats.empty_segments = empty_.size();
  stats.free_bytes = free_bytes_;
  for (const SegmentList* list : {&segments_, &empty_}) {
    for (const Segment* segment = list->front(); segment != nullptr; segment = segment->next) {
      stats.segment_bytes += segment->size_bytes();
    }
  }
  for (const Bins& bins : bins_) {
    for (unsigned bin = kBinCount; bin-- > 0;) {
      if (bins.lists[bin].empty()) continue;
      for (const Block* block = bins.lists[bin].front(); block != nullptr; block = block->next) {
        stats.largest_free_block_bytes =
            std::max(stats.largest_free_block_bytes, block->capacity_bytes());
      }
      break;
    }
  }
  return stats;
}

std::string SegmentHeap::check_invariants() const {
  std::ostringstream problem;
  std::size_t free_total = 0;
  std::size_t empty_total = 0;
  std::size_t free_blocks_in_segments = 0;
  for (const SegmentList* list : {&segments_, &empty_}) {
    const bool empties = list == &empty_;
    std::uint64_t previous_unused = 0;
    for (const Segment* segment = list->front(); segment != nullptr; segment = segment->next) {
      if (segment->empty() != empties) {
        problem << "segment " << segment->allocation.handle << " is "
                << (segment->empty() ? "empty" : "in use") << " but on the "
                << (empties ? "empty" : "in-use") << " list";
        return problem.str();
      }
      if (empties && segment->unused_since_ns < previous_unused) {
        problem << "empty segments are not in the order they became unused";
        return problem.str();
      }
      previous_unused = segment->unused_since_ns;
      // Find the block at offset 0 by walking down from any block: every
      // segment's blocks are reachable from the bins or from live handles, so
      // walk the free ones and require each chain to tile the segment.
      free_total += segment->free_bytes;
      if (empties) empty_total += segment->size_bytes();
    }
  }
  if (free_total != free_bytes_) {
    problem << "segments count " << free_total << " free bytes, the heap " << free_bytes_;
    return problem.str();
  }
  if (empty_total != empty_bytes_) {
    problem << "empty segments hold " << empty_total << " bytes, the heap counts " << empty_bytes_;
    return problem.str();
  }
  std::size_t binned_bytes = 0;
  for (std::size_t kind = 0; kind < kSegmentKinds; ++kind) {
    const Bins& bins = bins_[kind];
    for (unsigned bin = 0; bin < kBinCount; ++bin) {
      const bool marked = (bins.non_empty[bin / 64] >> (bin % 64) & 1U) != 0;
      if (marked == bins.lists[bin].empty()) {
        problem << "bin " << bin << " is " << (marked ? "marked" : "unmarked") << " but "
                << (bins.lists[bin].empty() ? "empty" : "not empty");
        return problem.str();
      }
      for (const Block* block = bins.lists[bin].front(); block != nullptr; block = block->next) {
        ++free_blocks_in_segments;
        if (!block->is_free() || bin_of(block->capacity_bytes()) != bin ||
            static_cast<std::size_t>(block->segment->kind) != kind) {
          problem << "a block in bin " << bin << " is not free, or of another size or kind";
          return problem.str();
        }
        if ((block->lower != nullptr && block->lower->is_free()) ||
            (block->upper != nullptr && block->upper->is_free())) {
          problem << "free block at offset " << block->offset_bytes() << " of segment "
                  << block->segment->allocation.handle << " has a free neighbour: not coalesced";
          return problem.str();
        }
        // Walk the whole segment from this block: the blocks tile it.
        const Block* first = block;
        while (first->lower != nullptr) {
          if (first->lower->end_bytes() != first->offset_bytes()) {
            problem << "blocks at offsets " << first->lower->offset_bytes() << " and "
                    << first->offset_bytes() << " of segment " << block->segment->allocation.handle
                    << " overlap or leave a gap";
            return problem.str();
          }
          first = first->lower;
        }
        if (first->offset_bytes() != 0) {
          problem << "the first block of segment " << block->segment->allocation.handle
                  << " starts at " << first->offset_bytes();
          return problem.str();
        }
        std::size_t end = 0;
        std::size_t free_in_segment = 0;
        for (const Block* walk = first; walk != nullptr; walk = walk->upper) {
          if (walk->segment != block->segment || walk->offset_bytes() != end) {
            problem << "segment " << block->segment->allocation.handle
                    << " is not tiled by its blocks at offset " << end;
            return problem.str();
          }
          end = walk->end_bytes();
          if (walk->is_free()) free_in_segment += walk->capacity_bytes();
        }
        if (end != block->segment->size_bytes() || free_in_segment != block->segment->free_bytes) {
          problem << "segment " << block->segment->allocation.handle << " of "
                  << block->segment->size_bytes() << " bytes: blocks end at " << end << ", "
                  << free_in_segment << " free bytes against " << block->segment->free_bytes
                  << " counted";
          return problem.str();
        }
        binned_bytes += block->capacity_bytes();
      }
    }
  }
  if (binned_bytes != free_bytes_) {
    problem << "the bins hold " << binned_bytes << " bytes, the heap counts " << free_bytes_
            << " free";
    return problem.str();
  }
  return "";
}

}  // namespace bufferpool::detail
