#include "pool/block.hpp"
#include "pool/format.hpp"

#include <bufferpool/config.hpp>
#include <bufferpool/errors.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string_view>

namespace bufferpool {
namespace {

[[noreturn]] void fail(const std::string& message) {
  throw ConfigError("bufferpool: PoolConfig::" + message);
}

}  // namespace

std::vector<std::size_t> default_size_classes() {
  std::vector<std::size_t> classes;
  for (std::size_t capacity = 256; capacity <= std::size_t{64} << 20; capacity *= 4) {
    classes.push_back(capacity);
  }
  return classes;
}

std::vector<std::size_t> geometric_size_classes(std::size_t min_bytes, std::size_t max_bytes,
                                                unsigned classes_per_doubling) {
  if (min_bytes == 0)
    throw ConfigError("bufferpool: geometric_size_classes: min_bytes must be > 0");
  if (max_bytes < min_bytes) {
    throw ConfigError("bufferpool: geometric_size_classes: max_bytes (" +
                      std::to_string(max_bytes) + ") must be >= min_bytes (" +
                      std::to_string(min_bytes) + ")");
  }
  if (max_bytes > detail::Block::kMaxSizeBytes) {
    throw ConfigError("bufferpool: geometric_size_classes: max_bytes (" +
                      std::to_string(max_bytes) +
                      ") is above the largest buffer the pool can track (128 GiB - 64 B)");
  }
  if (classes_per_doubling == 0 || classes_per_doubling > 64) {
    throw ConfigError(
        "bufferpool: geometric_size_classes: classes_per_doubling must be in 1..64, got " +
        std::to_string(classes_per_doubling));
  }
  std::vector<std::size_t> classes;
  const double ratio = std::exp2(1.0 / classes_per_doubling);
  for (double exact = static_cast<double>(min_bytes);; exact *= ratio) {
    auto capacity = static_cast<std::size_t>(std::ceil(exact));
    // Round to 1/64 of the power of two below (16 bytes at least): aligned
    // buffers, and at most 1.6% added to the series' own rounding waste.
    const std::size_t granule = std::max<std::size_t>(16, std::bit_floor(capacity) / 64);
    capacity = (capacity + granule - 1) / granule * granule;
    if (capacity >= max_bytes) break;
    if (classes.empty() || capacity > classes.back()) classes.push_back(capacity);
  }
  if (classes.empty() || classes.back() < max_bytes) classes.push_back(max_bytes);
  return classes;
}

PoolConfig PoolConfig::memory_constrained() {
  PoolConfig config;
  // Memory over device allocations. Requests above 1 MiB get a segment of
  // their own, rounded to 64 KiB, instead of sharing 20 MiB segments: a large
  // segment's tail is the biggest slack a small model pays for (20 MiB held
  // for one 1.5 MiB weight), and a freed one still serves later requests by
  // carving. Replayed real model traces (docs/benchmarks.md) hold 1.08-1.46x
  // their peak live bytes this way, against 1.18-8.85x with the default
  // segments, for up to twice the device allocations. A 48 MiB cap bounds the
  // idle bytes, and size-aware eviction spends that cap on many small buffers
  // rather than a few large ones (on the benchmark's random workload it kept
  // 88% hits where oldest-first kept 56%). A shorter TTL gives unused
  // segments back sooner.
  config.size_classes = geometric_size_classes(256, std::size_t{64} << 20, 2);
  config.max_cached_bytes = std::size_t{48} << 20;
  config.max_pool_size = 128;
  config.eviction = EvictionPolicy::size_aware;
  config.ttl = std::chrono::seconds{15};
  config.cleanup_interval = std::chrono::seconds{30};
  config.segments.large_request_max_bytes = config.segments.small_request_max_bytes;
  config.segments.large_segment_bytes = config.segments.small_request_max_bytes;
  config.segments.dedicated_rounding_bytes = std::size_t{64} << 10;
  return config;
}

PoolConfig PoolConfig::performance_critical() {
  PoolConfig config;
  config.max_pool_size = 128;
  config.ttl = std::chrono::seconds{60};
  config.cleanup_interval = std::chrono::seconds{120};
  return config;
}

void PoolConfig::validate() const {
  if (size_classes.empty()) {
    fail("size_classes is empty; give at least one capacity, or keep the default");
  }
  for (std::size_t index = 0; index < size_classes.size(); ++index) {
    const std::size_t capacity = size_classes[index];
    if (capacity == 0)
      fail("size_classes[" + std::to_string(index) + "] is 0; classes hold >= 1 byte");
    if (capacity > detail::Block::kMaxSizeBytes) {
      fail("size_classes[" + std::to_string(index) + "] is " + std::to_string(capacity) +
           " bytes, above the largest buffer the pool can track (128 GiB - 64 B)");
    }
    if (index > 0 && capacity <= size_classes[index - 1]) {
      fail("size_classes must be strictly increasing: size_classes[" + std::to_string(index) +
           "] = " + std::to_string(capacity) + " follows " +
           std::to_string(size_classes[index - 1]));
    }
  }
  if (size_classes.size() > 1024) {
    fail("size_classes has " + std::to_string(size_classes.size()) +
         " classes; at most 1024 are supported");
  }
  if (ttl.count() < 0) fail("ttl is negative; use a duration >= 0");
  if (cleanup_interval.count() < 0) fail("cleanup_interval is negative; use a duration >= 0");
  if (background_cleanup && cleanup_interval.count() == 0) {
    fail(
        "cleanup_interval is 0 with background_cleanup on, which would spin a core; give an "
        "interval of at least a millisecond");
  }
  if (!clock) fail("clock is null; keep the default or pass a ManualClock");
  const auto positive = [](std::size_t bytes, const char* name) {
    if (bytes == 0) fail(std::string("segments.") + name + " is 0; give a size in bytes");
  };
  positive(segments.small_request_max_bytes, "small_request_max_bytes");
  positive(segments.small_segment_bytes, "small_segment_bytes");
  positive(segments.large_request_max_bytes, "large_request_max_bytes");
  positive(segments.large_segment_bytes, "large_segment_bytes");
  positive(segments.dedicated_rounding_bytes, "dedicated_rounding_bytes");
  if (segments.small_segment_bytes < segments.small_request_max_bytes) {
    fail("segments.small_segment_bytes (" + detail::format_bytes(segments.small_segment_bytes) +
         ") is below segments.small_request_max_bytes (" +
         detail::format_bytes(segments.small_request_max_bytes) +
         "): a small request must fit in a small segment");
  }
  if (segments.large_request_max_bytes < segments.small_request_max_bytes) {
    fail("segments.large_request_max_bytes (" +
         detail::format_bytes(segments.large_request_max_bytes) +
         ") is below segments.small_request_max_bytes (" +
         detail::format_bytes(segments.small_request_max_bytes) + ")");
  }
  if (segments.large_segment_bytes < segments.large_request_max_bytes) {
    fail("segments.large_segment_bytes (" + detail::format_bytes(segments.large_segment_bytes) +
         ") is below segments.large_request_max_bytes (" +
         detail::format_bytes(segments.large_request_max_bytes) +
         "): a large request must fit in a large segment");
  }
  if (memory_limit != 0 && memory_limit < size_classes.front()) {
    fail("memory_limit (" + detail::format_bytes(memory_limit) +
         ") is smaller than the smallest size class (" +
         detail::format_bytes(size_classes.front()) + "), so no buffer could ever be allocated");
  }
}

// ---- JSON ----

namespace {

using Json = nlohmann::json;

constexpr double kNsPerSecond = 1e9;

const char* eviction_name(EvictionPolicy policy) {
  switch (policy) {
    case EvictionPolicy::oldest_first:
      return "oldest_first";
    case EvictionPolicy::size_aware:
      return "size_aware";
  }
  return "oldest_first";
}

double to_seconds(std::chrono::nanoseconds duration) {
  return static_cast<double>(duration.count()) / kNsPerSecond;
}

[[noreturn]] void fail_field(const std::string& field, const std::string& message) {
  throw ConfigError("bufferpool: PoolConfig::from_json: field '" + field + "' " + message);
}

std::string type_of(const Json& value) { return value.type_name(); }

/// `what` is what the number counts: "bytes", "buffers".
std::size_t read_count(const Json& value, const std::string& field, const char* what) {
  if (value.is_number_unsigned()) return value.get<std::size_t>();
  if (value.is_number_integer()) {
    fail_field(field, "is " + value.dump() + "; give a number of " + what + ", an integer >= 0");
  }
  fail_field(field, "is a " + type_of(value) + " (" + value.dump() + "); give a number of " + what +
                        ", an integer >= 0");
}

std::size_t read_bytes(const Json& value, const std::string& field) {
  return read_count(value, field, "bytes");
}

bool read_bool(const Json& value, const std::string& field) {
  if (!value.is_boolean()) {
    fail_field(field, "is a " + type_of(value) + " (" + value.dump() + "); give true or false");
  }
  return value.get<bool>();
}

std::chrono::nanoseconds read_seconds(const Json& value, const std::string& field) {
  if (!value.is_number()) {
    fail_field(field, "is a " + type_of(value) + " (" + value.dump() +
                          "); give a duration in seconds, a number such as 60 or 0.5");
  }
  const double seconds = value.get<double>();
  // Durations are held as int64 nanoseconds: about 292 years.
  constexpr double kMaxSeconds =
      static_cast<double>(std::numeric_limits<std::int64_t>::max()) / kNsPerSecond / 2;
  if (!std::isfinite(seconds) || seconds < 0 || seconds > kMaxSeconds) {
    fail_field(field, "is " + value.dump() + " seconds; give a duration from 0 to " +
                          std::to_string(static_cast<std::int64_t>(kMaxSeconds)) + " seconds");
  }
  return std::chrono::nanoseconds{std::llround(seconds * kNsPerSecond)};
}

std::string read_string(const Json& value, const std::string& field) {
  if (!value.is_string()) {
    fail_field(field, "is a " + type_of(value) + " (" + value.dump() + "); give a string");
  }
  return value.get<std::string>();
}

/// The byte fields of SegmentConfig, once: to_json() writes and from_json()
/// reads them from this list.
struct SegmentField {
  const char* name;
  std::size_t SegmentConfig::*member;
};
constexpr SegmentField kSegmentFields[] = {
    {"small_request_max_bytes", &SegmentConfig::small_request_max_bytes},
    {"small_segment_bytes", &SegmentConfig::small_segment_bytes},
    {"large_request_max_bytes", &SegmentConfig::large_request_max_bytes},
    {"large_segment_bytes", &SegmentConfig::large_segment_bytes},
    {"dedicated_rounding_bytes", &SegmentConfig::dedicated_rounding_bytes},
};

/// The field of `fields` named `name`, or nullptr.
template <typename Field, std::size_t count>
const Field* find_field(const Field (&fields)[count], const std::string& name) {
  const auto* found = std::find_if(std::begin(fields), std::end(fields),
                                   [&name](const Field& known) { return name == known.name; });
  return found == std::end(fields) ? nullptr : found;
}

template <typename Field, std::size_t count>
[[noreturn]] void fail_unknown(const std::string& field, const Field (&fields)[count]) {
  std::string names;
  for (const Field& known : fields) {
    if (!names.empty()) names += ", ";
    names += known.name;
  }
  throw ConfigError("bufferpool: PoolConfig::from_json: unknown field '" + field +
                    "'; the fields are " + names);
}

nlohmann::ordered_json write_segments(const SegmentConfig& segments) {
  nlohmann::ordered_json json = nlohmann::ordered_json::object();
  for (const SegmentField& field : kSegmentFields) json[field.name] = segments.*field.member;
  return json;
}

SegmentConfig read_segments(const Json& value) {
  if (!value.is_object()) {
    fail_field("segments", "is a " + type_of(value) + " (" + value.dump() +
                               "); give an object such as {\"small_segment_bytes\": 2097152}");
  }
  SegmentConfig segments;
  for (const auto& [key, item] : value.items()) {
    const std::string field = "segments." + key;
    const SegmentField* found = find_field(kSegmentFields, key);
    if (found == nullptr) fail_unknown(field, kSegmentFields);
    segments.*found->member = read_bytes(item, field);
  }
  return segments;
}

std::vector<std::size_t> read_size_classes(const Json& value, const std::string& field) {
  if (!value.is_array()) {
    fail_field(field, "is a " + type_of(value) + " (" + value.dump() +
                          "); give an array of capacities in bytes, such as [256, 1024]");
  }
  std::vector<std::size_t> classes;
  for (std::size_t index = 0; index < value.size(); ++index) {
    classes.push_back(read_bytes(value[index], field + "[" + std::to_string(index) + "]"));
  }
  return classes;
}

EvictionPolicy read_eviction(const Json& value, const std::string& field) {
  const std::string name = read_string(value, field);
  if (name == "oldest_first") return EvictionPolicy::oldest_first;
  if (name == "size_aware") return EvictionPolicy::size_aware;
  fail_field(field, "is \"" + name + "\"; give \"oldest_first\" or \"size_aware\"");
}

/// Every field of PoolConfig as JSON, once, in to_json()'s order: its name,
/// how it is written, and how from_json() reads it.
struct ConfigField {
  const char* name;
  nlohmann::ordered_json (*write)(const PoolConfig& config);
  void (*read)(PoolConfig& config, const Json& value, const std::string& field);
};
using OrderedJson = nlohmann::ordered_json;
constexpr ConfigField kConfigFields[] = {
    {"size_classes", [](const PoolConfig& c) { return OrderedJson(c.size_classes); },
     [](PoolConfig& c, const Json& v, const std::string& f) {
       c.size_classes = read_size_classes(v, f);
     }},
    {"max_pool_size", [](const PoolConfig& c) { return OrderedJson(c.max_pool_size); },
     [](PoolConfig& c, const Json& v, const std::string& f) {
       c.max_pool_size = read_count(v, f, "buffers");
     }},
    {"max_cached_bytes", [](const PoolConfig& c) { return OrderedJson(c.max_cached_bytes); },
     [](PoolConfig& c, const Json& v, const std::string& f) {
       c.max_cached_bytes = read_bytes(v, f);
     }},
    {"eviction", [](const PoolConfig& c) { return OrderedJson(eviction_name(c.eviction)); },
     [](PoolConfig& c, const Json& v, const std::string& f) { c.eviction = read_eviction(v, f); }},
    {"memory_limit", [](const PoolConfig& c) { return OrderedJson(c.memory_limit); },
     [](PoolConfig& c, const Json& v, const std::string& f) { c.memory_limit = read_bytes(v, f); }},
    {"ttl", [](const PoolConfig& c) { return OrderedJson(to_seconds(c.ttl)); },
     [](PoolConfig& c, const Json& v, const std::string& f) { c.ttl = read_seconds(v, f); }},
    {"cleanup_interval",
     [](const PoolConfig& c) { return OrderedJson(to_seconds(c.cleanup_interval)); },
     [](PoolConfig& c, const Json& v, const std::string& f) {
       c.cleanup_interval = read_seconds(v, f);
     }},
    {"background_cleanup", [](const PoolConfig& c) { return OrderedJson(c.background_cleanup); },
     [](PoolConfig& c, const Json& v, const std::string& f) {
       c.background_cleanup = read_bool(v, f);
     }},
    {"segments", [](const PoolConfig& c) { return write_segments(c.segments); },
     [](PoolConfig& c, const Json& v, const std::string& /*field*/) {
       c.segments = read_segments(v);
     }},
    {"zero_on_reuse", [](const PoolConfig& c) { return OrderedJson(c.zero_on_reuse); },
     [](PoolConfig& c, const Json& v, const std::string& f) { c.zero_on_reuse = read_bool(v, f); }},
    {"trace_path", [](const PoolConfig& c) { return OrderedJson(c.trace_path); },
     [](PoolConfig& c, const Json& v, const std::string& f) { c.trace_path = read_string(v, f); }},
    {"record_from_environment",
     [](const PoolConfig& c) { return OrderedJson(c.record_from_environment); },
     [](PoolConfig& c, const Json& v, const std::string& f) {
       c.record_from_environment = read_bool(v, f);
     }},
    {"track_live_buffers", [](const PoolConfig& c) { return OrderedJson(c.track_live_buffers); },
     [](PoolConfig& c, const Json& v, const std::string& f) {
       c.track_live_buffers = read_bool(v, f);
     }},
    {"record_call_stacks", [](const PoolConfig& c) { return OrderedJson(c.record_call_stacks); },
     [](PoolConfig& c, const Json& v, const std::string& f) {
       c.record_call_stacks = read_bool(v, f);
     }},
};

/// Follows the object keys while nlohmann parses, so that a syntax error can
/// be told in terms of the field it is in.
class FieldTracker final : public nlohmann::json_sax<Json> {
 public:
  [[nodiscard]] std::string field() const {
    std::string path;
    for (const std::string& key : keys_) {
      if (key.empty()) continue;
      if (!path.empty()) path += ".";
      path += key;
    }
    return path;
  }
  [[nodiscard]] const std::string& error() const { return error_; }
  [[nodiscard]] std::size_t error_byte() const { return error_byte_; }

  bool null() override { return true; }
  bool boolean(bool /*value*/) override { return true; }
  bool number_integer(number_integer_t /*value*/) override { return true; }
  bool number_unsigned(number_unsigned_t /*value*/) override { return true; }
  bool number_float(number_float_t /*value*/, const string_t& /*text*/) override { return true; }
  bool string(string_t& /*value*/) override { return true; }
  bool binary(binary_t& /*value*/) override { return true; }
  bool start_object(std::size_t /*elements*/) override {
    keys_.emplace_back();
    return true;
  }
  bool key(string_t& value) override {
    if (!keys_.empty()) keys_.back() = value;
    return true;
  }
  bool end_object() override {
    if (!keys_.empty()) keys_.pop_back();
    return true;
  }
  bool start_array(std::size_t /*elements*/) override {
    keys_.emplace_back();
    return true;
  }
  bool end_array() override {
    if (!keys_.empty()) keys_.pop_back();
    return true;
  }
  bool parse_error(std::size_t position, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& error) override {
    error_byte_ = position;
    error_ = error.what();
    return false;
  }

 private:
  std::vector<std::string> keys_;
  std::string error_;
  std::size_t error_byte_ = 0;
};

[[noreturn]] void fail_malformed(std::string_view text) {
  FieldTracker tracker;
  (void)Json::sax_parse(text, &tracker);
  const std::string field = tracker.field();
  throw ConfigError("bufferpool: PoolConfig::from_json: malformed JSON at byte " +
                    std::to_string(tracker.error_byte()) +
                    (field.empty() ? std::string() : " (in field '" + field + "')") + ": " +
                    tracker.error() + "; give one JSON object, as PoolConfig::to_json() writes");
}

}  // namespace

std::string PoolConfig::to_json() const {
  nlohmann::ordered_json json = nlohmann::ordered_json::object();
  for (const ConfigField& field : kConfigFields) json[field.name] = field.write(*this);
  return json.dump(2);
}

PoolConfig PoolConfig::from_json(std::string_view json) {
  Json document;
  try {
    document = Json::parse(json);
  } catch (const Json::parse_error&) {
    fail_malformed(json);
  }
  if (!document.is_object()) {
    throw ConfigError("bufferpool: PoolConfig::from_json: the document is a " + type_of(document) +
                      ", not an object; give one JSON object, as PoolConfig::to_json() writes");
  }
  PoolConfig config;
  for (const auto& [key, value] : document.items()) {
    const ConfigField* found = find_field(kConfigFields, key);
    if (found == nullptr) fail_unknown(key, kConfigFields);
    found->read(config, value, key);
  }
  config.validate();
  return config;
}

}  // namespace bufferpool
