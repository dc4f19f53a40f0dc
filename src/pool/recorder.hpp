// TraceRecorder: writes a pool's requests and releases as RMM's
// logging_resource_adaptor CSV, from a bounded buffer that a writer thread
// empties, so that the threads being recorded never wait for the disk unless
// the writer falls a whole buffer behind.
#pragma once

#include <bufferpool/pool_events.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace bufferpool::detail {

class TraceRecorder final : public PoolObserver {
 public:
  /// Events buffered before a recorded thread waits for the writer: 64 Ki
  /// events of 56 bytes, two buffers (the one filled, the one written).
  static constexpr std::size_t kBufferedEvents = std::size_t{1} << 16;
  /// How often the writer looks for events when nobody wakes it.
  static constexpr std::chrono::milliseconds kWriterPeriod{20};

  /// Opens `path` (truncating it) and writes the header. `now` is the pool's
  /// clock at the start, which ties the pool's times to the time of day that
  /// the CSV's Time column holds. Throws ConfigError when the file cannot be
  /// opened.
  TraceRecorder(const std::filesystem::path& path, std::chrono::nanoseconds now);
  /// Writes what is buffered and closes the file.
  ~TraceRecorder() override;
  TraceRecorder(const TraceRecorder&) = delete;
  TraceRecorder& operator=(const TraceRecorder&) = delete;
  TraceRecorder(TraceRecorder&&) = delete;
  TraceRecorder& operator=(TraceRecorder&&) = delete;

  void on_event(const PoolEvent& event) noexcept override;

  [[nodiscard]] std::uint64_t recorded_events() const noexcept;
  [[nodiscard]] std::uint64_t waits() const noexcept;
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

 private:
  void run_writer();
  void write_events(const std::vector<PoolEvent>& events);

  std::filesystem::path path_;
  struct FileCloser {
    void operator()(std::FILE* file) const noexcept {
      std::fclose(file);  // NOLINT(cppcoreguidelines-owning-memory): the unique_ptr owns it
    }
  };
  std::unique_ptr<std::FILE, FileCloser> file_;
  /// Added to a pool time to get nanoseconds since midnight; a whole number
  /// of microseconds, so that the microseconds written differ exactly as the
  /// pool's times do.
  std::int64_t time_of_day_offset_ns_ = 0;

  mutable std::mutex mutex_;
  std::condition_variable filled_;   // the writer waits for events
  std::condition_variable drained_;  // a full buffer waits for the writer
  std::vector<PoolEvent> filling_;
  bool stopping_ = false;
  bool write_failed_ = false;
  std::uint64_t recorded_ = 0;
  std::uint64_t waits_ = 0;
  std::thread writer_;
};

}  // namespace bufferpool::detail
