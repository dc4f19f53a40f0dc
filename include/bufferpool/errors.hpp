// Errors thrown by bufferpool. Every error derives from bufferpool::Error, so a
// caller can catch the whole family at once, and each message says what was
// asked, what the limit was, and what to do about it.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

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

/// Memory could not be had: the pool's memory_limit would be passed, or the
/// backend (host or device) ran out. Backends throw it to ask the pool to
/// free its idle buffers and retry once.
class OutOfMemoryError : public Error {
 public:
  OutOfMemoryError(const std::string& message, std::size_t requested_bytes, std::size_t limit_bytes,
                   std::size_t in_use_bytes)
      : Error(message),
        requested_bytes_(requested_bytes),
        limit_bytes_(limit_bytes),
        in_use_bytes_(in_use_bytes) {}

  /// Bytes the failed allocation asked the backend for.
  [[nodiscard]] std::size_t requested_bytes() const noexcept { return requested_bytes_; }
  /// The limit that was hit; 0 when the backend itself ran out.
  [[nodiscard]] std::size_t limit_bytes() const noexcept { return limit_bytes_; }
  /// Bytes in use when the allocation failed: by live buffers, and by released
  /// buffers that device work still uses.
  [[nodiscard]] std::size_t in_use_bytes() const noexcept { return in_use_bytes_; }

 private:
  std::size_t requested_bytes_;
  std::size_t limit_bytes_;
  std::size_t in_use_bytes_;
};

/// A backend (driver, device, shader compiler) reported a failure that is not
/// a lack of memory.
class BackendError : public Error {
 public:
  using Error::Error;
};

}  // namespace bufferpool
