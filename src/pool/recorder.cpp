#include "pool/recorder.hpp"

#include <bufferpool/errors.hpp>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <ctime>
#include <string>
#include <system_error>

namespace bufferpool::detail {
namespace {

constexpr std::int64_t kNanosecondsPerMicrosecond = 1000;
constexpr std::int64_t kNanosecondsPerDay = std::int64_t{86'400} * 1'000'000'000;

/// Nanoseconds since local midnight, to the microsecond, as RMM's spdlog
/// pattern %H:%M:%S.%f prints the local time.
std::int64_t local_time_of_day_ns() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  std::tm local{};
  localtime_r(&seconds, &local);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                          now.time_since_epoch() - std::chrono::seconds{seconds})
                          .count();
  return ((static_cast<std::int64_t>(local.tm_hour) * 60 + local.tm_min) * 60 + local.tm_sec) *
             1'000'000'000 +
         micros * kNanosecondsPerMicrosecond;
}

/// The actions of RMM's log are the requests a program made; what the pool
/// did about them has no line there.
const char* csv_action(PoolEventKind kind) noexcept {
  const bool request = kind == PoolEventKind::allocate || kind == PoolEventKind::allocate_failure ||
                       kind == PoolEventKind::free;
  return request ? to_string(kind) : nullptr;
}

}  // namespace

TraceRecorder::TraceRecorder(const std::filesystem::path& path, std::chrono::nanoseconds now)
    : path_(path), file_(std::fopen(path.c_str(), "w")) {
  if (!file_) {
    throw ConfigError("bufferpool: cannot record the pool's trace to '" + path.string() +
                      "': " + std::generic_category().message(errno) +
                      "; name a file in a folder that exists and is writable");
  }
  const std::int64_t now_us = now.count() / kNanosecondsPerMicrosecond;
  time_of_day_offset_ns_ = local_time_of_day_ns() - now_us * kNanosecondsPerMicrosecond;
  std::fputs("Thread,Time,Action,Pointer,Size,Stream\n", file_.get());
  filling_.reserve(kBufferedEvents);
  writer_ = std::thread([this] { run_writer(); });
}

TraceRecorder::~TraceRecorder() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  filled_.notify_one();
  writer_.join();
  std::fflush(file_.get());
}

void TraceRecorder::on_event(const PoolEvent& event) noexcept {
  if (csv_action(event.kind) == nullptr) return;
  std::unique_lock lock(mutex_);
  if (filling_.size() == kBufferedEvents) {
    ++waits_;
    filled_.notify_one();
    drained_.wait(lock, [this] { return filling_.size() < kBufferedEvents; });
  }
  filling_.push_back(event);
  ++recorded_;
  // The writer wakes by itself every kWriterPeriod; waking it for each event
  // would cost a system call per event. Half full, it is woken early.
  const bool wake_writer = filling_.size() == kBufferedEvents / 2;
  lock.unlock();
  if (wake_writer) filled_.notify_one();
}

std::uint64_t TraceRecorder::recorded_events() const noexcept {
  const std::lock_guard lock(mutex_);
  return recorded_;
}

std::uint64_t TraceRecorder::waits() const noexcept {
  const std::lock_guard lock(mutex_);
  return waits_;
}

void TraceRecorder::run_writer() {
  std::vector<PoolEvent> writing;
  writing.reserve(kBufferedEvents);
  std::unique_lock lock(mutex_);
  for (;;) {
    filled_.wait_for(lock, kWriterPeriod,
                     [this] { return stopping_ || filling_.size() >= kBufferedEvents / 2; });
    if (filling_.empty()) {
      if (stopping_) break;
      continue;
    }
    writing.swap(filling_);
    lock.unlock();
    drained_.notify_all();
    write_events(writing);
    writing.clear();
    lock.lock();
  }
}

void TraceRecorder::write_events(const std::vector<PoolEvent>& events) {
  // std::to_chars, not printf: formatting is most of the writer's work.
  std::string text;
  text.reserve(events.size() * 64);
  char number[24];
  const auto append_number = [&](std::uint64_t value, int base) {
    const auto end = std::to_chars(number, number + sizeof number, value, base).ptr;
    text.append(number, end);
  };
  const auto append_two_digits = [&](std::int64_t value) {
    text.push_back(static_cast<char>('0' + value / 10));
    text.push_back(static_cast<char>('0' + value % 10));
  };
  for (const PoolEvent& event : events) {
    std::int64_t of_day =
        (static_cast<std::int64_t>(event.time_ns) + time_of_day_offset_ns_) % kNanosecondsPerDay;
    if (of_day < 0) of_day += kNanosecondsPerDay;
    const std::int64_t micros = of_day / kNanosecondsPerMicrosecond;
    append_number(event.thread, 10);
    text.push_back(',');
    append_two_digits(micros / 3'600'000'000);
    text.push_back(':');
    append_two_digits(micros / 60'000'000 % 60);
    text.push_back(':');
    append_two_digits(micros / 1'000'000 % 60);
    text.push_back('.');
    // Six digits with leading zeros: the digits of 1dddddd after the 1.
    const auto fraction_end =
        std::to_chars(number, number + sizeof number, 1'000'000 + micros % 1'000'000).ptr;
    text.append(number + 1, fraction_end);
    text.push_back(',');
    text.append(csv_action(event.kind));
    text.append(",0x");
    append_number(event.address, 16);
    text.push_back(',');
    append_number(event.size_bytes, 10);
    text.append(",0x0\n");
  }
  if (std::fwrite(text.data(), 1, text.size(), file_.get()) != text.size() ||
      std::fflush(file_.get()) != 0) {
    if (!write_failed_) {
      write_failed_ = true;
      std::fprintf(stderr, "bufferpool: writing the trace to '%s' failed: %s\n", path_.c_str(),
                   std::generic_category().message(errno).c_str());
    }
  }
}

}  // namespace bufferpool::detail
