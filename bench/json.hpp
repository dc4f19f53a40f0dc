// The benchmark report's JSON: nlohmann-json, with object keys kept in the
// order they are added so that reports read top to bottom as the table does
// and diff cleanly between runs. Integers stay integers (64-bit counters are
// exact), strings are escaped as JSON requires, and numbers are written
// without the global locale.
#pragma once

#include <nlohmann/json.hpp>

namespace bufferpool::bench {

using Json = nlohmann::ordered_json;

}  // namespace bufferpool::bench
