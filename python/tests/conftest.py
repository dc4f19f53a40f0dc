"""Fixtures shared by the Python tests.

Tests that need a GPU run on a real Vulkan device (lavapipe in CI: nothing is
mocked) with the validation layer on; any validation message fails them.
"""

import os
import pathlib

import numpy
import pytest

import bufferpool

SOURCE_DIR = pathlib.Path(
    os.environ.get("BUFFERPOOL_SOURCE_DIR", pathlib.Path(__file__).resolve().parents[2]))
SHADER_DIR = SOURCE_DIR / "shaders"


@pytest.fixture(scope="module")
def manager():
    """A ComputeManager on the Vulkan device, validated, with the built-in
    kernels loaded as library "kernels" and a "saxpy" pipeline."""
    made = bufferpool.ComputeManager(backend="vulkan", validation=True)
    made.load_builtin_shader_library("kernels")
    made.create_compute_pipeline("kernels", "saxpy", "saxpy")
    yield made
    made.wait_idle()
    assert made.validation_messages == []


def saxpy_params(n, a):
    """The saxpy kernel's push_constant block: uint n; float a."""
    return numpy.array((n, a), dtype=[("n", "<u4"), ("a", "<f4")])


# Each invocation spins until the host writes a non-zero flag, or a bound,
# and records whether the flag was set when it stopped: a dispatch that ends
# soon only if Python code runs while it is waited for. lavapipe ends any
# invocation's loops after 65535 iterations (about 2 ms), so the dispatch has
# SPIN_GROUPS invocations: seconds of spinning unless the flag comes first.
SPIN_UNTIL_FLAG = """
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer Flag { uint flag; };
layout(set = 0, binding = 1) buffer Result { uint seen; };
layout(push_constant) uniform Params { uint max_rounds; } params;
void main() {
  uint value = atomicAdd(flag, 0u);
  for (uint round = 0u; round < params.max_rounds && value == 0u; ++round) {
    for (uint i = 0u; i < 10000u && value == 0u; ++i) value = atomicAdd(flag, 0u);
  }
  atomicMax(seen, value);
}
"""
SPIN_GROUPS = 1024


def load_spinner(manager, name):
    """Makes SPIN_UNTIL_FLAG pipeline `name` (its library has the same name)."""
    manager.load_shader_library_from_source(SPIN_UNTIL_FLAG, name)
    manager.create_compute_pipeline(name, "main", name)


def spin_buffers(manager):
    """The spinner's flag, its result, and its push constants."""
    flag = manager.create_buffer(numpy.zeros(1, numpy.uint32))
    result = manager.create_buffer(numpy.zeros(1, numpy.uint32))
    # 10^7 reads per invocation where no loop limit ends it sooner: far past
    # the host's 0.2 s pause on any device.
    params = numpy.array([1000], numpy.uint32)
    return flag, result, params
