#!/usr/bin/env bash
# Checks that the core library needs nothing of Vulkan, shaderc or SPIR-V:
# no symbol of theirs is undefined in it, and no core header includes theirs.
# Usage: check_core_is_standalone.sh LIBBUFFERPOOL.a INCLUDE_DIR VULKAN_HEADER...
# (the VULKAN_HEADERs are the file names of bufferpool::vulkan's headers,
# which may include Vulkan's).
set -euo pipefail
library=$1 include_dir=$2
shift 2
vulkan_headers=" $* "
status=0

foreign=$(nm --undefined-only --demangle "$library" |
          grep -E ' (vk[A-Z][A-Za-z0-9]*|shaderc[_:].*|spv[A-Z_:].*|spvtools::.*|glslang::.*)$' |
          sort -u || true)
if [[ -n "$foreign" ]]; then
  echo "core_needs_no_vulkan: $library uses symbols of the Vulkan side:" >&2
  echo "$foreign" >&2
  status=1
fi

core_headers=0
for header in "$include_dir"/*.hpp; do
  name=$(basename "$header")
  [[ "$vulkan_headers" == *" $name "* ]] && continue
  core_headers=$((core_headers + 1))
  if grep -nE '#include[[:space:]]*[<"](vulkan/|shaderc/|spirv/|spirv-tools/|glslang/)' "$header" >&2; then
    echo "core_needs_no_vulkan: the core header $name includes a Vulkan-side header" >&2
    status=1
  fi
  for included in $(sed -nE 's|^#include <bufferpool/([a-z0-9_]+\.hpp)>.*|\1|p' "$header"); do
    if [[ "$vulkan_headers" == *" $included "* ]]; then
      echo "core_needs_no_vulkan: the core header $name includes bufferpool/$included," \
           "which is bufferpool::vulkan's" >&2
      status=1
    fi
  done
done
symbols=$(nm --defined-only "$library" | wc -l)
if ((status == 0)); then
  echo "core_needs_no_vulkan: $core_headers core headers and $symbols defined symbols of" \
       "$(basename "$library"), none reaching for Vulkan, shaderc or SPIR-V"
fi
exit $status
