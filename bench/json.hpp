// A small JSON value for benchmark reports: numbers, strings, booleans,
// arrays and objects (keys kept in insertion order), written with stable
// formatting so that reports diff cleanly.
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <ostream>
#include <sstream>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace bufferpool::bench {

class Json {
 public:
  using Array = std::vector<Json>;
  using Object = std::vector<std::pair<std::string, Json>>;

  Json() = default;
  Json(std::nullptr_t) {}                                    // NOLINT(google-explicit-constructor)
  Json(bool value) : value_(value) {}                        // NOLINT(google-explicit-constructor)
  Json(double value) : value_(value) {}                      // NOLINT(google-explicit-constructor)
  Json(int value) : value_(static_cast<double>(value)) {}    // NOLINT(google-explicit-constructor)
  Json(unsigned value) : value_(static_cast<double>(value)) {}  // NOLINT
  Json(std::int64_t value) : value_(static_cast<double>(value)) {}   // NOLINT
  Json(std::uint64_t value) : value_(static_cast<double>(value)) {}  // NOLINT
  Json(const char* value) : value_(std::string(value)) {}            // NOLINT
  Json(std::string value) : value_(std::move(value)) {}              // NOLINT
  Json(Array value) : value_(std::move(value)) {}                    // NOLINT
  Json(Object value) : value_(std::move(value)) {}                   // NOLINT

  [[nodiscard]] static Json array() { return Json(Array{}); }
  [[nodiscard]] static Json object() { return Json(Object{}); }

  /// Object member access; adds the key (as null) when it is missing.
  Json& operator[](const std::string& key) {
    if (std::holds_alternative<std::monostate>(value_)) value_ = Object{};
    auto& members = std::get<Object>(value_);
    for (auto& [name, member] : members) {
      if (name == key) return member;
    }
    members.emplace_back(key, Json{});
    return members.back().second;
  }

  /// Appends to an array.
  void push_back(Json element) {
    if (std::holds_alternative<std::monostate>(value_)) value_ = Array{};
    std::get<Array>(value_).push_back(std::move(element));
  }

  void write(std::ostream& out, int indent = 0) const {
    const std::string pad(static_cast<std::size_t>(indent) + 2, ' ');
    const std::string close_pad(static_cast<std::size_t>(indent), ' ');
    if (std::holds_alternative<std::monostate>(value_)) {
      out << "null";
    } else if (const bool* flag = std::get_if<bool>(&value_)) {
      out << (*flag ? "true" : "false");
    } else if (const double* number = std::get_if<double>(&value_)) {
      write_number(out, *number);
    } else if (const std::string* text = std::get_if<std::string>(&value_)) {
      write_string(out, *text);
    } else if (const Array* elements = std::get_if<Array>(&value_)) {
      const bool flat = all_scalars(*elements);
      out << '[';
      for (std::size_t index = 0; index < elements->size(); ++index) {
        if (index > 0) out << ',';
        if (!flat) out << '\n' << pad;
        (*elements)[index].write(out, indent + 2);
      }
      if (!flat && !elements->empty()) out << '\n' << close_pad;
      out << ']';
    } else {
      const auto& members = std::get<Object>(value_);
      out << '{';
      for (std::size_t index = 0; index < members.size(); ++index) {
        out << (index > 0 ? ",\n" : "\n") << pad;
        write_string(out, members[index].first);
        out << ": ";
        members[index].second.write(out, indent + 2);
      }
      if (!members.empty()) out << '\n' << close_pad;
      out << '}';
    }
  }

  [[nodiscard]] std::string dump() const {
    std::ostringstream out;
    write(out);
    out << '\n';
    return out.str();
  }

 private:
  static bool all_scalars(const Array& elements) {
    for (const auto& element : elements) {
      if (std::holds_alternative<Array>(element.value_) ||
          std::holds_alternative<Object>(element.value_)) {
        return false;
      }
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

  std::variant<std::monostate, bool, double, std::string, Array, Object> value_;
};

}  // namespace bufferpool::bench
