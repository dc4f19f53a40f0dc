# What the Vulkan backend, the ComputeManager and their shaders need, looked
# for without failing: BUFFERPOOL_VULKAN_FOUND says whether everything is
# there (the default of BUFFERPOOL_WITH_VULKAN), BUFFERPOOL_VULKAN_MISSING
# lists what is not, each with the Debian package that has it.
set(BUFFERPOOL_VULKAN_MISSING "")

find_package(Vulkan QUIET)
if(NOT Vulkan_FOUND)
  list(APPEND BUFFERPOOL_VULKAN_MISSING "the Vulkan loader and headers (libvulkan-dev)")
endif()

# Header-only parts: result names generated from the Vulkan registry, the
# SPIR-V opcodes, the SPIR-V validator's interface, shaderc's interface.
foreach(_bp_header_and_package IN ITEMS
        "vulkan/vk_enum_string_helper.h|vulkan-validationlayers-dev"
        "spirv/unified1/spirv.hpp|spirv-headers"
        "spirv-tools/libspirv.hpp|spirv-tools"
        "shaderc/shaderc.hpp|libshaderc-dev")
  string(REPLACE "|" ";" _bp_pair "${_bp_header_and_package}")
  list(GET _bp_pair 0 _bp_header)
  list(GET _bp_pair 1 _bp_package)
  string(MAKE_C_IDENTIFIER "${_bp_header}" _bp_variable)
  find_path(BUFFERPOOL_INCLUDE_${_bp_variable} ${_bp_header})
  if(NOT BUFFERPOOL_INCLUDE_${_bp_variable})
    list(APPEND BUFFERPOOL_VULKAN_MISSING "${_bp_header} (${_bp_package})")
  endif()
endforeach()

# Debian 12's libshaderc.so is underlinked; the static shaderc_combined needs
# glslang and SPIRV-Tools after it, in this order.
set(BUFFERPOOL_SHADERC_LIBRARIES shaderc_combined glslang MachineIndependent OSDependent
                                 OGLCompiler GenericCodeGen SPIRV SPIRV-Tools-opt SPIRV-Tools)
set(BUFFERPOOL_SHADERC_PATHS "")
foreach(_bp_library IN LISTS BUFFERPOOL_SHADERC_LIBRARIES)
  find_library(BUFFERPOOL_LIB_${_bp_library} NAMES lib${_bp_library}.a ${_bp_library})
  if(BUFFERPOOL_LIB_${_bp_library})
    list(APPEND BUFFERPOOL_SHADERC_PATHS ${BUFFERPOOL_LIB_${_bp_library}})
  else()
    list(APPEND BUFFERPOOL_VULKAN_MISSING
         "lib${_bp_library}.a (libshaderc-dev, glslang-dev, spirv-tools)")
  endif()
endforeach()

if(BUFFERPOOL_VULKAN_MISSING)
  set(BUFFERPOOL_VULKAN_FOUND OFF)
else()
  set(BUFFERPOOL_VULKAN_FOUND ON)
endif()
