// A writer of Python pickles (protocol 4) restricted to the opcodes that
// PyTorch's memory viewer unpickles in JavaScript (torch/utils/viz/
// MemoryViz.js): dicts, lists, unicode strings, non-negative ints, bools and
// the memo. Python's own pickler would add opcodes that reader throws on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace bufferpool::detail {

/// Builds one pickled value in memory:
///
///     PickleWriter pickle;
///     pickle.begin_dict();
///     pickle.key("segments");
///     pickle.begin_list();
///     pickle.end_list();
///     pickle.end_dict();
///     std::string bytes = pickle.finish();
///
/// Containers are filled in batches of kBatchItems (MARK ... APPENDS or
/// SETITEMS), as Python's pickler does: the viewer appends a batch with one
/// spread call, which a list of a million entries in one batch would overflow.
/// Misuse (a value where a dict expects a key, a container left open, two
/// top-level values) throws std::logic_error: it is a bug in the caller.
class PickleWriter {
 public:
  static constexpr std::size_t kBatchItems = 1000;

  PickleWriter();

  void begin_dict();
  void end_dict();
  void begin_list();
  void end_list();

  /// A dict key; repeated keys are written once and then fetched from the memo.
  void key(std::string_view name);
  /// A string value that recurs (an action, a state): memoized as keys are.
  void symbol(std::string_view text);
  /// A string value written out in full every time.
  void value(std::string_view text);
  void value(std::uint64_t number);
  void value(bool flag);

  /// Ends the pickle (STOP) and returns its bytes; the writer then starts a
  /// new one.
  [[nodiscard]] std::string finish();

 private:
  enum class ContainerKind : std::uint8_t { list, dict };
  struct Container {
    ContainerKind kind;
    std::size_t items_in_batch = 0;
    bool expecting_value = false;  // dict only: a key was written, its value comes next
  };

  void before_item(bool is_key);
  void after_item();
  void write_string(std::string_view text);
  void write_memoized_string(std::string_view text);

  std::string bytes_;
  std::vector<Container> open_;
  std::unordered_map<std::string, std::uint8_t> memo_index_;
  std::size_t memo_entries_ = 0;
  bool has_top_value_ = false;
};

}  // namespace bufferpool::detail
