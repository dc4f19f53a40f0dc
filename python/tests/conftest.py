"""Fixtures shared by the Python tests.

Tests that need a GPU run on a real Vulkan device (lavapipe in CI: nothing is
mocked) with the validation layer on; any validation message fails them.
"""

import os
import pathlib

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
    import numpy
    return numpy.array((n, a), dtype=[("n", "<u4"), ("a", "<f4")])
