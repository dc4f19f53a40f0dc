// PoolConfig, SegmentConfig and clocks in Python: settings by keyword, times in
// seconds as floats (the design's `ttl=15.0`), and ManualClock for tests that
// drive TTL without sleeping.
#include "bindings.hpp"

#include <bufferpool/clock.hpp>
#include <bufferpool/config.hpp>
#include <bufferpool/errors.hpp>

#include <pybind11/stl.h>

#include <Python.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <sstream>

namespace bufferpool::python {
namespace {

[[noreturn]] void bad_setting(const std::string& name, const std::string& expected,
                              const py::handle& value) {
  throw ConfigError("bufferpool: PoolConfig setting '" + name + "' must be " + expected + ", got " +
                    py::repr(value).cast<std::string>());
}

std::size_t to_size(const std::string& name, const py::handle& value) {
  // bool is an int in Python; `max_pool_size=True` is a mistake, not a 1.
  const py::object integer = integer_of(value);
  if (integer.is_none()) bad_setting(name, "an int >= 0", value);
  const unsigned long long converted = PyLong_AsUnsignedLongLong(integer.ptr());
  if (converted == static_cast<unsigned long long>(-1) && PyErr_Occurred() != nullptr) {
    PyErr_Clear();
    bad_setting(name, "an int in 0..2**64-1", value);
  }
  return static_cast<std::size_t>(converted);
}

bool to_bool(const std::string& name, const py::handle& value) {
  if (!PyBool_Check(value.ptr())) bad_setting(name, "True or False", value);
  return value.ptr() == Py_True;
}

double seconds_of(const std::chrono::nanoseconds duration) {
  return std::chrono::duration<double>(duration).count();
}

std::chrono::nanoseconds to_duration(const std::string& name, const py::handle& value) {
  double seconds = 0.0;
  if (py::hasattr(value, "total_seconds")) {  // datetime.timedelta
    seconds = value.attr("total_seconds")().cast<double>();
  } else if ((PyFloat_Check(value.ptr()) || PyLong_Check(value.ptr())) &&
             !PyBool_Check(value.ptr())) {
    seconds = PyFloat_AsDouble(value.ptr());
  } else {
    bad_setting(name, "a number of seconds (float) or a datetime.timedelta", value);
  }
  // Beyond about 292 years the nanosecond count would overflow.
  constexpr double kMaxSeconds = 9.2e9;
  if (!std::isfinite(seconds) || seconds < 0.0 || seconds > kMaxSeconds) {
    bad_setting(name, "a finite number of seconds in 0..9.2e9", value);
  }
  return std::chrono::nanoseconds{std::llround(seconds * 1e9)};
}

std::vector<std::size_t> to_sizes(const std::string& name, const py::handle& value) {
  if (value.is_none()) return default_size_classes();
  if (!PySequence_Check(value.ptr()) || PyUnicode_Check(value.ptr()) ||
      PyBytes_Check(value.ptr())) {
    bad_setting(name, "a list of ints (bytes), or None for the defaults", value);
  }
  std::vector<std::size_t> sizes;
  for (const py::handle item : py::reinterpret_borrow<py::sequence>(value)) {
    sizes.push_back(to_size(name, item));
  }
  return sizes;
}

EvictionPolicy to_eviction(const std::string& name, const py::handle& value) {
  if (py::isinstance<py::str>(value)) {
    const auto text = value.cast<std::string>();
    if (text == "oldest_first") return EvictionPolicy::oldest_first;
    if (text == "size_aware") return EvictionPolicy::size_aware;
  }
  bad_setting(name, "'oldest_first' or 'size_aware'", value);
}

const char* eviction_name(const EvictionPolicy policy) {
  return policy == EvictionPolicy::size_aware ? "size_aware" : "oldest_first";
}

struct SegmentSetting {
  const char* name;
  std::size_t SegmentConfig::*field;
};

constexpr SegmentSetting kSegmentSettings[] = {
    {"small_request_max_bytes", &SegmentConfig::small_request_max_bytes},
    {"small_segment_bytes", &SegmentConfig::small_segment_bytes},
    {"large_request_max_bytes", &SegmentConfig::large_request_max_bytes},
    {"large_segment_bytes", &SegmentConfig::large_segment_bytes},
    {"dedicated_rounding_bytes", &SegmentConfig::dedicated_rounding_bytes},
};

SegmentConfig to_segments(const std::string& name, const py::handle& value) {
  if (py::isinstance<SegmentConfig>(value)) return value.cast<SegmentConfig>();
  if (!py::isinstance<py::dict>(value)) {
    bad_setting(name, "a SegmentConfig or a dict of its fields", value);
  }
  SegmentConfig segments;
  for (const auto& [key, item] : py::reinterpret_borrow<py::dict>(value)) {
    const auto field = py::str(key).cast<std::string>();
    bool known = false;
    for (const SegmentSetting& setting : kSegmentSettings) {
      if (field == setting.name) {
        std::string qualified = name;
        qualified += '.';
        qualified += field;
        segments.*setting.field = to_size(qualified, item);
        known = true;
      }
    }
    if (!known) {
      throw ConfigError("bufferpool: SegmentConfig has no field '" + field +
                        "'; its fields are small_request_max_bytes, small_segment_bytes, "
                        "large_request_max_bytes, large_segment_bytes, dedicated_rounding_bytes");
    }
  }
  return segments;
}

py::dict segments_as_dict(const SegmentConfig& segments) {
  py::dict result;
  for (const SegmentSetting& setting : kSegmentSettings)
    result[setting.name] = segments.*setting.field;
  return result;
}

/// One setting of PoolConfig as Python reads and writes it: `get` gives the
/// value to_dict() writes.
struct Setting {
  const char* name;
  const char* doc;
  std::function<py::object(const PoolConfig&)> get;
  std::function<void(PoolConfig&, const std::string&, const py::handle&)> set;
};

const std::vector<Setting>& settings() {
  // Built once, never changed: the table of PoolConfig's fields.
  static const std::vector<Setting> table = {
      {"size_classes",
       "Capacities of the size classes in bytes, strictly increasing (None: 256 B, 1 KiB, "
       "... 64 MiB). They organise the ready cache and the per-class metrics.",
       [](const PoolConfig& c) { return py::cast(c.size_classes); },
       [](PoolConfig& c, const std::string& n, const py::handle& v) {
         c.size_classes = to_sizes(n, v);
       }},
      {"max_pool_size", "Most idle buffers kept; 0 turns caching off.",
       [](const PoolConfig& c) { return py::cast(c.max_pool_size); },
       [](PoolConfig& c, const std::string& n, const py::handle& v) {
         c.max_pool_size = to_size(n, v);
       }},
      {"max_cached_bytes", "Most bytes kept in idle buffers; 0 = no cap.",
       [](const PoolConfig& c) { return py::cast(c.max_cached_bytes); },
       [](PoolConfig& c, const std::string& n, const py::handle& v) {
         c.max_cached_bytes = to_size(n, v);
       }},
      {"eviction", "Which idle buffer a cap frees first: 'oldest_first' or 'size_aware'.",
       [](const PoolConfig& c) { return py::cast(eviction_name(c.eviction)); },
       [](PoolConfig& c, const std::string& n, const py::handle& v) {
         c.eviction = to_eviction(n, v);
       }},
      {"memory_limit", "Most bytes held from the backend, live plus idle; 0 = no limit.",
       [](const PoolConfig& c) { return py::cast(c.memory_limit); },
       [](PoolConfig& c, const std::string& n, const py::handle& v) {
         c.memory_limit = to_size(n, v);
       }},
      {"ttl", "Seconds an idle buffer is kept before the next cleanup frees it.",
       [](const PoolConfig& c) { return py::cast(seconds_of(c.ttl)); },
       [](PoolConfig& c, const std::string& n, const py::handle& v) { c.ttl = to_duration(n, v); }},
      {"cleanup_interval", "Seconds between cleanups (lazy, or on the background thread).",
       [](const PoolConfig& c) { return py::cast(seconds_of(c.cleanup_interval)); },
       [](PoolConfig& c, const std::string& n, const py::handle& v) {
         c.cleanup_interval = to_duration(n, v);
       }},
      {"background_cleanup", "Run cleanup on a thread every cleanup_interval.",
       [](const PoolConfig& c) { return py::cast(c.background_cleanup); },
       [](PoolConfig& c, const std::string& n, const py::handle& v) {
         c.background_cleanup = to_bool(n, v);
       }},
      {"segments", "Segment sizes (a SegmentConfig, or a dict of its fields).",
       [](const PoolConfig& c) { return segments_as_dict(c.segments); },
       [](PoolConfig& c, const std::string& n, const py::handle& v) {
         c.segments = to_segments(n, v);
       }},
      {"zero_on_reuse", "Zero every buffer before it is handed out.",
       [](const PoolConfig& c) { return py::cast(c.zero_on_reuse); },
       [](PoolConfig& c, const std::string& n, const py::handle& v) {
         c.zero_on_reuse = to_bool(n, v);
       }},
      {"trace_path",
       "Record every request and release to this file (RMM's log CSV) from construction on; "
       "'' = do not (unless BUFFERPOOL_TRACE names a file).",
       [](const PoolConfig& c) { return py::cast(c.trace_path); },
       [](PoolConfig& c, const std::string& n, const py::handle& v) {
         if (!py::isinstance<py::str>(v) && !py::hasattr(v, "__fspath__")) {
           bad_setting(n, "a path (str or os.PathLike)", v);
         }
         c.trace_path = py::str(py::module_::import("os").attr("fspath")(v)).cast<std::string>();
       }},
      {"record_from_environment",
       "Whether BUFFERPOOL_TRACE may start a recording; replay() and tune() turn it off for "
       "the pools they make.",
       [](const PoolConfig& c) { return py::cast(c.record_from_environment); },
       [](PoolConfig& c, const std::string& n, const py::handle& v) {
         c.record_from_environment = to_bool(n, v);
       }},
      {"track_live_buffers",
       "Remember when each live buffer was handed out, for live_buffers() and the report of "
       "a pool destroyed with buffers out.",
       [](const PoolConfig& c) { return py::cast(c.track_live_buffers); },
       [](PoolConfig& c, const std::string& n, const py::handle& v) {
         c.track_live_buffers = to_bool(n, v);
       }},
      {"record_call_stacks",
       "Also remember each request's call stack (implies track_live_buffers).",
       [](const PoolConfig& c) { return py::cast(c.record_call_stacks); },
       [](PoolConfig& c, const std::string& n, const py::handle& v) {
         c.record_call_stacks = to_bool(n, v);
       }},
      {"clock", "Where the pool reads time: the steady clock, or a ManualClock in tests.",
       [](const PoolConfig& c) { return py::cast(c.clock); },
       [](PoolConfig& c, const std::string& n, const py::handle& v) {
         if (!py::isinstance<Clock>(v)) bad_setting(n, "a bufferpool.Clock (ManualClock)", v);
         c.clock = v.cast<std::shared_ptr<Clock>>();
       }},
  };
  return table;
}

std::string setting_names() {
  std::string names;
  for (const Setting& setting : settings()) {
    if (!names.empty()) names += ", ";
    names += setting.name;
  }
  return names;
}

PoolConfig config_with(PoolConfig config, const py::kwargs& settings_given) {
  apply_pool_settings(config, settings_given);
  return config;
}

py::dict config_as_dict(const PoolConfig& config) {
  py::dict result;
  for (const Setting& setting : settings()) {
    if (std::string_view(setting.name) != "clock") result[setting.name] = setting.get(config);
  }
  return result;
}

}  // namespace

py::object integer_of(const py::handle& value) {
  if (PyBool_Check(value.ptr())) return py::none();
  if (PyLong_Check(value.ptr())) return py::reinterpret_borrow<py::object>(value);
  if (PyIndex_Check(value.ptr()) == 0) return py::none();
  // numpy's integer scalars; a numpy not yet imported has made none.
  PyObject* numpy = PyImport_GetModule(py::str("numpy").ptr());
  if (numpy == nullptr) {
    PyErr_Clear();
    return py::none();
  }
  const auto module = py::reinterpret_steal<py::object>(numpy);
  if (!py::isinstance(value, module.attr("integer"))) return py::none();
  return py::reinterpret_steal<py::object>(PyNumber_Index(value.ptr()));
}

void apply_pool_settings(PoolConfig& config, const py::dict& settings_given) {
  for (const auto& [key, value] : settings_given) {
    const auto name = py::str(key).cast<std::string>();
    const Setting* found = nullptr;
    for (const Setting& setting : settings()) {
      if (name == setting.name) found = &setting;
    }
    if (found == nullptr) {
      throw ConfigError("bufferpool: PoolConfig has no setting '" + name + "'; its settings are " +
                        setting_names());
    }
    found->set(config, name, value);
  }
}

PoolConfig pool_config_from(const py::handle& value) {
  if (value.is_none()) return PoolConfig{};
  if (py::isinstance<PoolConfig>(value)) return value.cast<PoolConfig>();
  if (py::isinstance<py::dict>(value)) {
    PoolConfig config;
    apply_pool_settings(config, py::reinterpret_borrow<py::dict>(value));
    return config;
  }
  throw ConfigError("bufferpool: a pool's settings must be a PoolConfig or a dict of settings (" +
                    setting_names() + "), got " + py::repr(value).cast<std::string>());
}

py::dict json_to_dict(const std::string& json) {
  return py::module_::import("json").attr("loads")(json);
}

void bind_config(py::module_& module) {
  py::class_<Clock, std::shared_ptr<Clock>>(
      module, "Clock", "Where a pool reads time. The default is the system's monotonic clock.")
      .def_property_readonly(
          "now", [](const Clock& clock) { return seconds_of(clock.now()); },
          "Seconds since the clock's epoch.");
  module.def(
      "steady_clock", [] { return make_steady_clock(); },
      "The default clock: the system's coarse monotonic clock.");

  py::class_<ManualClock, Clock, std::shared_ptr<ManualClock>>(
      module, "ManualClock",
      "A clock that moves only when told to, so that tests drive TTL and cleanup without "
      "sleeping:\n\n"
      "    clock = bufferpool.ManualClock()\n"
      "    pool = bufferpool.BufferPool(ttl=15.0, cleanup_interval=1.0, clock=clock)\n"
      "    clock.advance(16.0)")
      .def(py::init([](const py::handle& start) {
             return std::make_shared<ManualClock>(to_duration("start", start));
           }),
           py::arg("start") = 0.0, "A clock reading `start` seconds.")
      .def(
          "advance",
          [](ManualClock& clock, const py::handle& seconds) {
            clock.advance(to_duration("seconds", seconds));
          },
          py::arg("seconds"), "Moves the clock forward by `seconds` (a float or timedelta).");

  py::class_<SegmentConfig>(module, "SegmentConfig",
                            "Segment sizes: where buffers are carved from (see PoolConfig).")
      .def(py::init([](const py::kwargs& fields) { return to_segments("segments", fields); }),
           "SegmentConfig(small_segment_bytes=..., ...): unnamed fields keep their defaults.")
      .def_readwrite("small_request_max_bytes", &SegmentConfig::small_request_max_bytes)
      .def_readwrite("small_segment_bytes", &SegmentConfig::small_segment_bytes)
      .def_readwrite("large_request_max_bytes", &SegmentConfig::large_request_max_bytes)
      .def_readwrite("large_segment_bytes", &SegmentConfig::large_segment_bytes)
      .def_readwrite("dedicated_rounding_bytes", &SegmentConfig::dedicated_rounding_bytes)
      .def("to_dict", &segments_as_dict)
      .def("__eq__",
           [](const SegmentConfig& a, const py::handle& b) {
             if (!py::isinstance<SegmentConfig>(b)) return false;
             const auto& other = b.cast<const SegmentConfig&>();
             bool equal = true;
             for (const SegmentSetting& setting : kSegmentSettings) {
               equal = equal && a.*setting.field == other.*setting.field;
             }
             return equal;
           })
      .def("__repr__", [](const SegmentConfig& segments) {
        std::ostringstream text;
        text << "SegmentConfig(";
        const char* separator = "";
        for (const SegmentSetting& setting : kSegmentSettings) {
          text << separator << setting.name << "=" << segments.*setting.field;
          separator = ", ";
        }
        text << ")";
        return text.str();
      });

  auto config =
      py::class_<PoolConfig>(
          module, "PoolConfig",
          "Every setting of a BufferPool. Times are seconds (floats).\n\n"
          "    config = bufferpool.PoolConfig(max_pool_size=32, ttl=15.0)\n"
          "    config = bufferpool.PoolConfig.memory_constrained(ttl=15.0)\n\n"
          "Unnamed settings keep their defaults; an unknown name or a value of the wrong type "
          "raises ConfigError. The pool validates the whole config when it is made.")
          .def(py::init([](const py::kwargs& settings_given) {
                 return config_with(PoolConfig{}, settings_given);
               }),
               "PoolConfig(**settings)")
          .def_static(
              "memory_constrained",
              [](const py::kwargs& overrides) {
                return config_with(PoolConfig::memory_constrained(), overrides);
              },
              "The design's setting for memory-constrained machines, with `overrides` applied.")
          .def_static(
              "performance_critical",
              [](const py::kwargs& overrides) {
                return config_with(PoolConfig::performance_critical(), overrides);
              },
              "The design's setting for performance-critical work, with `overrides` applied.")
          .def("validate", &PoolConfig::validate,
               "Raises ConfigError naming the first setting that makes no sense.")
          .def("to_dict", &config_as_dict, "Every setting but the clock, as a dict.")
          .def("to_json", &PoolConfig::to_json,
               "The settings as JSON, every field named as in C++ (times in seconds); the "
               "clock is not written.")
          .def_static("from_json", &PoolConfig::from_json, py::arg("json"),
                      "Reads what to_json() writes; fields left out keep their defaults. "
                      "Raises ConfigError naming a field that is unknown or wrong.")
          .def("copy", [](const PoolConfig& c) { return c; })
          .def("__copy__", [](const PoolConfig& c) { return c; })
          .def("__repr__", [](const PoolConfig& c) {
            std::string text = "PoolConfig(";
            const char* separator = "";
            for (const auto& [key, value] : config_as_dict(c)) {
              text += separator + py::str(key).cast<std::string>() + "=" +
                      py::repr(value).cast<std::string>();
              separator = ", ";
            }
            return text + ")";
          });
  for (const Setting& setting : settings()) {
    const std::string name = setting.name;
    if (name == "segments") {
      // An object, so that config.segments.small_segment_bytes = n changes
      // this config's, not a copy's.
      config.def_property(
          setting.name, [](PoolConfig& c) -> SegmentConfig& { return c.segments; },
          [set = setting.set, name](PoolConfig& c, const py::handle& v) { set(c, name, v); },
          py::return_value_policy::reference_internal, setting.doc);
      continue;
    }
    config.def_property(
        setting.name, [get = setting.get](const PoolConfig& c) { return get(c); },
        [set = setting.set, name](PoolConfig& c, const py::handle& v) { set(c, name, v); },
        setting.doc);
  }

  module.def("default_size_classes", &default_size_classes,
             "The design's size classes: 256 B, 1 KiB, 4 KiB, ... 64 MiB.");
  module.def("geometric_size_classes", &geometric_size_classes, py::arg("min_bytes"),
             py::arg("max_bytes"), py::arg("classes_per_doubling"),
             "A geometric series of classes, classes_per_doubling per power of two; four per "
             "doubling waste at most about 20% to rounding.");
}

}  // namespace bufferpool::python
