#include "observe/pickle_writer.hpp"

#include <limits>
#include <stdexcept>

namespace bufferpool::detail {
namespace {

// Opcodes (Python's Lib/pickle.py names); MemoryViz.js reads each of them.
constexpr char kProto = '\x80';
constexpr char kStop = '.';
constexpr char kMark = '(';
constexpr char kEmptyDict = '}';
constexpr char kSetItems = 'u';
constexpr char kEmptyList = ']';
constexpr char kAppends = 'e';
constexpr char kShortBinUnicode = '\x8c';
constexpr char kBinUnicode = 'X';
constexpr char kBinInt1 = 'K';
constexpr char kBinInt2 = 'M';
constexpr char kBinInt = 'J';
constexpr char kLong1 = '\x8a';
constexpr char kNewTrue = '\x88';
constexpr char kNewFalse = '\x89';
constexpr char kMemoize = '\x94';
constexpr char kBinGet = 'h';

// BINGET takes a one-byte memo index.
constexpr std::size_t kMaxMemoEntries = 256;

void append_little_endian(std::string& out, std::uint64_t number, std::size_t byte_count) {
  for (std::size_t i = 0; i < byte_count; ++i) {
    out.push_back(static_cast<char>(static_cast<std::uint8_t>(number >> (8 * i))));
  }
}

}  // namespace

PickleWriter::PickleWriter() {
  bytes_.push_back(kProto);
  bytes_.push_back('\x04');
}

void PickleWriter::before_item(bool is_key) {
  if (open_.empty()) {
    if (has_top_value_) throw std::logic_error("PickleWriter: a second top-level value");
    has_top_value_ = true;
    return;
  }
  Container& container = open_.back();
  if (container.kind == ContainerKind::dict && is_key == container.expecting_value) {
    throw std::logic_error(is_key ? "PickleWriter: a key where a dict expects a value"
                                  : "PickleWriter: a value where a dict expects a key");
  }
  if (container.kind == ContainerKind::list && is_key) {
    throw std::logic_error("PickleWriter: a key inside a list");
  }
  const bool starts_batch_item = container.kind == ContainerKind::list || is_key;
  if (starts_batch_item && container.items_in_batch == 0) bytes_.push_back(kMark);
}

void PickleWriter::after_item() {
  if (open_.empty()) return;
  Container& container = open_.back();
  if (container.kind == ContainerKind::dict && !container.expecting_value) {
    container.expecting_value = true;  // that was the key
    return;
  }
  container.expecting_value = false;
  if (++container.items_in_batch == kBatchItems) {
    bytes_.push_back(container.kind == ContainerKind::list ? kAppends : kSetItems);
    container.items_in_batch = 0;
  }
}

void PickleWriter::begin_dict() {
  before_item(false);
  bytes_.push_back(kEmptyDict);
  open_.push_back({ContainerKind::dict});
}

void PickleWriter::end_dict() {
  if (open_.empty() || open_.back().kind != ContainerKind::dict || open_.back().expecting_value) {
    throw std::logic_error("PickleWriter: end_dict without an open dict ending on a value");
  }
  if (open_.back().items_in_batch > 0) bytes_.push_back(kSetItems);
  open_.pop_back();
  after_item();
}

void PickleWriter::begin_list() {
  before_item(false);
  bytes_.push_back(kEmptyList);
  open_.push_back({ContainerKind::list});
}

void PickleWriter::end_list() {
  if (open_.empty() || open_.back().kind != ContainerKind::list) {
    throw std::logic_error("PickleWriter: end_list without an open list");
  }
  if (open_.back().items_in_batch > 0) bytes_.push_back(kAppends);
  open_.pop_back();
  after_item();
}

void PickleWriter::key(std::string_view name) {
  before_item(true);
  write_memoized_string(name);
  after_item();
}

void PickleWriter::symbol(std::string_view text) {
  before_item(false);
  write_memoized_string(text);
  after_item();
}

void PickleWriter::value(std::string_view text) {
  before_item(false);
  write_string(text);
  after_item();
}

void PickleWriter::value(std::uint64_t number) {
  before_item(false);
  // The smallest encoding, as Python's pickler chooses it.
  if (number <= 0xff) {
    bytes_.push_back(kBinInt1);
    append_little_endian(bytes_, number, 1);
  } else if (number <= 0xffff) {
    bytes_.push_back(kBinInt2);
    append_little_endian(bytes_, number, 2);
  } else if (number <= static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max())) {
    bytes_.push_back(kBinInt);
    append_little_endian(bytes_, number, 4);
  } else {
    // LONG1: two's complement, little-endian, with room for a zero sign bit
    // (Python's encode_long: bit_length / 8 + 1 bytes).
    std::size_t bit_length = 0;
    for (std::uint64_t rest = number; rest != 0; rest >>= 1) ++bit_length;
    const std::size_t byte_count = bit_length / 8 + 1;
    bytes_.push_back(kLong1);
    bytes_.push_back(static_cast<char>(byte_count));
    append_little_endian(bytes_, number, byte_count > 8 ? 8 : byte_count);
    if (byte_count > 8) bytes_.push_back('\0');
  }
  after_item();
}

void PickleWriter::value(bool flag) {
  before_item(false);
  bytes_.push_back(flag ? kNewTrue : kNewFalse);
  after_item();
}

std::string PickleWriter::finish() {
  if (!open_.empty()) throw std::logic_error("PickleWriter: finish with a container open");
  if (!has_top_value_) throw std::logic_error("PickleWriter: finish before any value");
  bytes_.push_back(kStop);
  std::string result = std::move(bytes_);
  *this = PickleWriter();
  return result;
}

void PickleWriter::write_string(std::string_view text) {
  if (text.size() <= 0xff) {
    bytes_.push_back(kShortBinUnicode);
    append_little_endian(bytes_, text.size(), 1);
  } else {
    if (text.size() > std::numeric_limits<std::uint32_t>::max()) {
      throw std::length_error("PickleWriter: a string longer than 4 GiB");
    }
    bytes_.push_back(kBinUnicode);
    append_little_endian(bytes_, text.size(), 4);
  }
  bytes_.append(text);
}

void PickleWriter::write_memoized_string(std::string_view text) {
  const std::string text_key(text);
  if (const auto found = memo_index_.find(text_key); found != memo_index_.end()) {
    bytes_.push_back(kBinGet);
    bytes_.push_back(static_cast<char>(found->second));
    return;
  }
  write_string(text);
  if (memo_entries_ < kMaxMemoEntries) {
    bytes_.push_back(kMemoize);
    memo_index_.emplace(text_key, static_cast<std::uint8_t>(memo_entries_));
    ++memo_entries_;
  }
}

}  // namespace bufferpool::detail
