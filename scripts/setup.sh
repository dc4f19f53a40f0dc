#!/usr/bin/env bash
# Installs, from Debian's packages, whatever this project needs and the
# machine lacks; installs nothing when everything is there. Safe to rerun.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git  # compiler and build
  ccache                                  # rebuilds: objects compiled before are reused
  nlohmann-json3-dev                      # JSON: metrics, benchmark reports
  libcli11-dev                            # the bufferpool command's subcommands, options, help
  libgtest-dev libgmock-dev               # tests
  libbenchmark-dev                        # micro-benchmarks
  mesa-vulkan-drivers                     # lavapipe: a Vulkan device on the CPU
  libvulkan-dev vulkan-validationlayers   # Vulkan loader, headers, validation
  libshaderc-dev glslang-tools            # GLSL -> SPIR-V at run time
  vulkan-validationlayers-dev             # vk_enum_string_helper.h: VkResult names
  spirv-headers spirv-tools               # SPIR-V opcodes; validating .spv files
  libmimalloc-dev libjemalloc-dev         # allocators the benchmarks compare against
  python3 python3-matplotlib              # benchmark plots; the notebooks' plots
  python3-dev pybind11-dev                # building the Python module
  python3-numpy python3-pytest            # the Python module's arrays; its tests
  python3-nbclient python3-ipykernel      # executing the notebooks in CI
  clang libclang-rt-14-dev llvm           # sanitizers and libFuzzer
  clang-format clang-tidy                 # style checks
  valgrind                                # leak check of the examples
)

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$package")
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
sudo=()
if ((EUID != 0)); then
  command -v sudo >/dev/null || { echo "setup: run as root or install sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
