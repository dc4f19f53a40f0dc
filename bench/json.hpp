// A small JSON value for benchmark reports: numbers, strings, booleans,
// arrays and objects (keys kept in insertion order), written with stable
// formatting so that reports diff cleanly.
#pragma once

#include <cmath>
#include <cstdint>
#include <ostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace bufferpool::bench {

class Json {
 public:
  Json() = default;
  Json(std::nullptr_t) {}                                                    // NOLINT
  Json(bool value) : kind_(Kind::boolean), flag_(value) {}                   // NOLINT
  Json(double value) : kind_(Kind::number), number_(value) {}                // NOLINT
  Json(int value) : Json(static_cast<double>(value)) {}                      // NOLINT
  Json(unsigned value) : Json(static_cast<double>(value)) {}                 // NOLINT
  Json(std::int64_t value) : Json(static_cast<double>(value)) {}             // NOLINT
  Json(std::uint64_t value) : Json(static_cast<double>(value)) {}            // NOLINT
  Json(const char* value) : kind_(Kind::string), text_(value) {}             // NOLINT
  Json(std::string value) : kind_(Kind::string), text_(std::move(value)) {}  // NOLINT

  [[nodiscard]] static Json array() {
    Json json;
    json.kind_ = Kind::array;
    return json;
  }
  [[nodiscard]] static Json object() {
    Json json;
    json.kind_ = Kind::object;
    return json;
  }

  /// Object member access; adds the key (as null) when it is missing.
  Json& operator[](const std::string& key) {
    if (kind_ == Kind::null) kind_ = Kind::object;
    for (std::size_t index = 0; index < keys_.size(); ++index) {
      if (keys_[index] == key) return values_[index];
    }
    keys_.push_back(key);
    values_.emplace_back();
    return values_.back();
  }

  /// Appends to an array.
  void push_back(Json element) {
    if (kind_ == Kind::null) kind_ = Kind::array;
    values_.push_back(std::move(element));
  }

  void write(std::ostream& out, int indent = 0) const {
    const std::string pad(static_cast<std::size_t>(indent) + 2, ' ');
    const std::string close_pad(static_cast<std::size_t>(indent), ' ');
    switch (kind_) {
      case Kind::null:
        out << "null";
        return;
      case Kind::boolean:
        out << (flag_ ? "true" : "false");
        return;
      case Kind::number:
        write_number(out, number_);
        return;
      case Kind::string:
        write_string(out, text_);
        return;
      case Kind::array: {
        const bool flat = all_scalars();
        out << '[';
        for (std::size_t index = 0; index < values_.size(); ++index) {
          if (index > 0) out << ',';
          if (!flat) out << '\n' << pad;
          values_[index].write(out, indent + 2);
        }
        if (!flat && !values_.empty()) out << '\n' << close_pad;
        out << ']';
        return;
      }
      case Kind::object:
        out << '{';
        for (std::size_t index = 0; index < keys_.size(); ++index) {
          out << (index > 0 ? ",\n" : "\n") << pad;
          write_string(out, keys_[index]);
          out << ": ";
          values_[index].write(out, indent + 2);
        }
        if (!keys_.empty()) out << '\n' << close_pad;
        out << '}';
        return;
    }
  }

  [[nodiscard]] std::string dump() const {
    std::ostringstream out;
    write(out);
    out << '\n';
    return out.str();
  }

 private:
  enum class Kind : std::uint8_t { null, boolean, number, string, array, object };

  [[nodiscard]] bool all_scalars() const {
    for (const auto& element : values_) {
      if (element.kind_ == Kind::array || element.kind_ == Kind::object) return false;
    }
    return true;
  }

  static void write_number(std::ostream& out, double number) {
    if (!std::isfinite(number)) {
      out << "null";
      return;
    }
    if (number == std::floor(number) && std::fabs(number) < 9.0e15) {
      out << static_cast<std::int64_t>(number);
      return;
    }
    std::ostringstream text;
    text.precision(6);
    text << number;
    out << text.str();
  }

  static void write_string(std::ostream& out, const std::string& text) {
    out << '"';
    for (const char character : text) {
      switch (character) {
        case '"':
          out << "\\\"";
          break;
        case '\\':
          out << "\\\\";
          break;
        case '\n':
          out << "\\n";
          break;
        default:
          if (static_cast<unsigned char>(character) < 0x20) {
            out << ' ';
          } else {
            out << character;
          }
      }
    }
    out << '"';
  }

  Kind kind_ = Kind::null;
  bool flag_ = false;
  double number_ = 0.0;
  std::string text_;
  std::vector<std::string> keys_;  // objects: member names, in insertion order
  std::vector<Json> values_;       // arrays: elements; objects: member values
};

}  // namespace bufferpool::bench
