// Errors thrown by bufferpool. Every error derives from bufferpool::Error, so a
// caller can catch the whole family at once, and each message says what was
// asked, what the limit was, and what to do about it.
#pragma once

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace bufferpool {

/// Base of every exception the library throws.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A PoolConfig (or another options struct) holds a setting that makes no
/// sense. The message names the setting.
class ConfigError : public Error {
 public:
  using Error::Error;
};

/// A call received an argument it cannot serve (size 0, a size too large to
/// represent or for the device).
class InvalidArgumentError : public Error {
 public:
  using Error::Error;
};

/// The API was used in a way its contract forbids: an empty BufferRef used,
/// a decrement past zero, autorelease() with no scope, a scope used from
/// another thread.
class UsageError : public Error {
 public:
  using Error::Error;
};

/// What the pool held when a request failed: what would have had to give for
/// it to succeed.
struct OutOfMemoryDetails {
  /// Bytes in idle buffers, per size class (index as PoolConfig::size_classes,
  /// plus one entry for requests above the largest class). The pool gave
  /// them back before failing, unless a scope's budget was hit.
  std::vector<std::size_t> idle_bytes_per_class;
  /// Free bytes in the pool's segments, and the largest free range of them.
  std::size_t free_bytes_in_segments = 0;
  std::size_t largest_free_block_bytes = 0;
  /// Bytes granted to live buffers beyond what their requests asked for.
  std::size_t rounding_padding_bytes = 0;
  /// Bytes of released buffers that device work still used.
  std::size_t pending_bytes = 0;
  /// Allocations the backend holds for the pool, and the most it allows.
  std::size_t device_allocations = 0;
  std::size_t device_allocation_limit = 0;
  /// The device's memory budget and use of the heap the pool allocates from,
  /// where the backend reports them (Vulkan: VK_EXT_memory_budget).
  std::optional<std::size_t> device_budget_bytes;
  std::optional<std::size_t> device_usage_bytes;
  /// When the request would have passed an AutoReleaseScope's budget: that
  /// scope's name; else "".
  std::string scope_name;
};

/// Memory could not be had: the pool's memory_limit would be passed, the
/// backend (host or device) ran out, or a named scope's budget would be
/// passed. Backends throw it to ask the pool to free its idle buffers and
/// retry once.
class OutOfMemoryError : public Error {
 public:
  OutOfMemoryError(const std::string& message, std::size_t requested_bytes, std::size_t limit_bytes,
                   std::size_t in_use_bytes, OutOfMemoryDetails details = {})
      : Error(message),
        requested_bytes_(requested_bytes),
        limit_bytes_(limit_bytes),
        in_use_bytes_(in_use_bytes),
        details_(std::move(details)) {}

  /// Bytes the failed allocation asked the backend for.
  [[nodiscard]] std::size_t requested_bytes() const noexcept { return requested_bytes_; }
  /// The limit that was hit; 0 when the backend itself ran out.
  [[nodiscard]] std::size_t limit_bytes() const noexcept { return limit_bytes_; }
  /// Bytes in use when the allocation failed: by live buffers, and by released
  /// buffers that device work still uses.
  [[nodiscard]] std::size_t in_use_bytes() const noexcept { return in_use_bytes_; }
  /// Filled in by the pool; a backend's own error leaves it empty.
  [[nodiscard]] const OutOfMemoryDetails& details() const noexcept { return details_; }

 private:
  std::size_t requested_bytes_;
  std::size_t limit_bytes_;
  std::size_t in_use_bytes_;
  OutOfMemoryDetails details_;
};

/// A backend (driver, device, shader compiler) reported a failure that is not
/// a lack of memory.
class BackendError : public Error {
 public:
  using Error::Error;
};

}  // namespace bufferpool
