// Sizes in messages: "4 MiB", "1.5 KiB", "1000 B".
#pragma once

#include <cstddef>
#include <string>

namespace bufferpool::detail {

[[nodiscard]] std::string format_bytes(std::size_t bytes);

}  // namespace bufferpool::detail
