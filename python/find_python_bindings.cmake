# Finds what the Python module (python/) needs: a Python 3 interpreter with its
# headers (Debian: python3-dev) and pybind11 (Debian: pybind11-dev). Sets
# BUFFERPOOL_PYTHON_FOUND, and BUFFERPOOL_PYTHON_MISSING to what is not there,
# for the top-level option's default and python/CMakeLists.txt's error.
#
# Debian's own interpreter comes first: its dist-packages is where the module
# installs, and its packages (python3-numpy, python3-pytest, python3-nbclient)
# are what the tests import. Another interpreter found earlier on PATH (pyenv,
# a virtual environment) would lack them. -DPython3_EXECUTABLE=... picks another.
if(NOT DEFINED Python3_EXECUTABLE AND EXISTS /usr/bin/python3)
  set(Python3_EXECUTABLE /usr/bin/python3 CACHE FILEPATH "Python interpreter the module is built for")
endif()
find_package(Python3 3.8 QUIET COMPONENTS Interpreter Development.Module)
set(BUFFERPOOL_PYTHON_MISSING "")
if(NOT Python3_Interpreter_FOUND OR NOT Python3_Development.Module_FOUND)
  list(APPEND BUFFERPOOL_PYTHON_MISSING "Python 3 with its headers (apt-get install python3-dev)")
else()
  # With Python3 found first, pybind11 builds against that interpreter
  # (its FindPython mode) instead of searching again.
  find_package(pybind11 2.6 CONFIG QUIET)
  if(NOT pybind11_FOUND)
    list(APPEND BUFFERPOOL_PYTHON_MISSING "pybind11 (apt-get install pybind11-dev)")
  endif()
endif()
if(BUFFERPOOL_PYTHON_MISSING STREQUAL "")
  set(BUFFERPOOL_PYTHON_FOUND ON)
else()
  set(BUFFERPOOL_PYTHON_FOUND OFF)
endif()
