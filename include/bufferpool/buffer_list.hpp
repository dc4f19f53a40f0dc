// BufferList: the buffers a dispatch binds, in order.
#pragma once

#include <bufferpool/buffer.hpp>

#include <cstddef>
#include <initializer_list>
#include <span>
#include <vector>

namespace bufferpool {

/// The buffers of a dispatch, bound in order; a braced list `{x, y}`, or a
/// span or vector of BufferRef. A view: it holds no references of its own,
/// so the buffers it names must outlive the call it is passed to (a braced
/// list's temporaries do). Copying one copies a pointer and a size.
class BufferList {
 public:
  BufferList(std::initializer_list<BufferRef> buffers) noexcept
      : buffers_(buffers.begin(), buffers.size()) {}
  BufferList(std::span<const BufferRef> buffers) noexcept : buffers_(buffers) {}
  BufferList(const std::vector<BufferRef>& buffers) noexcept : buffers_(buffers) {}

  [[nodiscard]] std::span<const BufferRef> buffers() const noexcept { return buffers_; }
  [[nodiscard]] std::size_t size() const noexcept { return buffers_.size(); }

 private:
  std::span<const BufferRef> buffers_;
};

}  // namespace bufferpool
