"""The C++ errors as Python exceptions."""

import pytest

import bufferpool


@pytest.mark.parametrize("name, bases", [
    ("Error", (Exception,)),
    ("ConfigError", (bufferpool.Error, ValueError)),
    ("InvalidArgumentError", (bufferpool.Error, ValueError)),
    ("UsageError", (bufferpool.Error,)),
    ("OutOfMemoryError", (bufferpool.Error, MemoryError)),
    ("BackendError", (bufferpool.Error,)),
    ("NoVulkanDeviceError", (bufferpool.BackendError,)),
    ("ShaderCompileError", (bufferpool.BackendError,)),
])
def test_hierarchy(name, bases):
    error_class = getattr(bufferpool, name)
    assert error_class.__module__ == "bufferpool"
    for base in bases:
        assert issubclass(error_class, base)
    assert error_class.__doc__


def test_each_cxx_error_arrives_as_its_class():
    with pytest.raises(bufferpool.ConfigError):
        bufferpool.BufferPool(size_classes=[])
    with pytest.raises(bufferpool.InvalidArgumentError):
        bufferpool.BufferPool().get_buffer(0)
    released = bufferpool.BufferPool().get_buffer(8)
    released.release()
    with pytest.raises(bufferpool.UsageError):
        released.decrement()
    with pytest.raises(bufferpool.OutOfMemoryError):
        bufferpool.BufferPool(memory_limit=4096).get_buffer(8192)


def test_the_whole_family_is_caught_by_error():
    with pytest.raises(bufferpool.Error):
        bufferpool.BufferPool(memory_limit=4096).get_buffer(8192)


def test_messages_say_what_was_asked_and_what_to_do():
    with pytest.raises(bufferpool.OutOfMemoryError) as caught:
        bufferpool.BufferPool(memory_limit=1 << 20).get_buffer(2 << 20)
    message = str(caught.value)
    assert "2097152" in message and "memory_limit is 1 MiB" in message
