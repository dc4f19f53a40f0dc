// StreamId: an order of device work, named to the pool so that a buffer freed
// early in the order can serve a request made later in it without waiting for
// the device.
#pragma once

#include <cstdint>

namespace bufferpool {

/// A stream of a BufferPool (BufferPool::open_stream()): work that the device
/// runs in the order it was recorded, each piece after the ones before it
/// have finished with their buffers. A recorded Sequence is one; so is a CUDA
/// stream. The order makes stream-ordered reuse safe: a buffer whose last use
/// comes early in the stream may serve a request made later in the same
/// stream, because the device cannot reach the later use before it has
/// finished the earlier one. To everything outside the stream, such a buffer
/// stays in use until the stream is closed and the device timeline has passed
/// the work that used it.
///
/// The pool knows nothing of the device: whoever records the stream puts the
/// ordering in it (a barrier between dispatches), tells the pool which
/// releases belong to the stream (BufferPool::release_to_stream) and which
/// requests (BufferPool::get_buffer(size_bytes, stream)), marks the buffers
/// with the timeline value of each submission (BufferRef::mark_used_until),
/// and closes the stream when no more requests will be made for it.
///
/// A plain value: `StreamId::none` is no stream.
enum class StreamId : std::uint64_t { none = 0 };

}  // namespace bufferpool
