"""BufferRef: counting, release, and the buffer protocol (numpy views)."""

import gc

import numpy
import pytest

import bufferpool


@pytest.fixture
def pool():
    return bufferpool.BufferPool()


def test_counts_follow_increment_and_decrement(pool):
    buffer = pool.get_buffer(1024)
    assert buffer.ref_count == 1
    buffer.increment()
    assert buffer.ref_count == 2
    buffer.decrement()
    assert buffer.ref_count == 1
    assert pool.metrics()["buffers_in_use"] == 1
    buffer.decrement()
    assert buffer.ref_count == 0
    assert buffer.released and not buffer
    assert pool.metrics()["buffers_in_use"] == 0
    assert pool.metrics()["buffers_cached"] == 1


def test_decrement_drops_explicit_references_before_the_handles_own(pool):
    buffer = pool.get_buffer(100)
    buffer.increment()
    buffer.increment()
    buffer.decrement()
    buffer.decrement()
    assert not buffer.released and buffer.ref_count == 1


def test_size_and_capacity(pool):
    buffer = pool.get_buffer(1000)
    assert buffer.size == 1000 == len(buffer)
    assert buffer.capacity >= 1000 and buffer.capacity % 64 == 0
    assert buffer.host_visible
    assert "size=1000" in repr(buffer)


@pytest.mark.parametrize("use", [
    lambda b: b.size, lambda b: b.capacity, lambda b: len(b), lambda b: b.increment(),
    lambda b: b.decrement(), lambda b: memoryview(b), lambda b: numpy.frombuffer(b, numpy.uint8),
    lambda b: b.host_visible,
])
def test_a_released_handle_raises_on_use(pool, use):
    buffer = pool.get_buffer(64)
    buffer.release()
    with pytest.raises(bufferpool.UsageError, match="released BufferRef"):
        use(buffer)
    assert buffer.ref_count == 0
    assert "released" in repr(buffer)


def test_release_is_idempotent_and_leaves_explicit_references(pool):
    buffer = pool.get_buffer(64)
    buffer.increment()
    buffer.release()
    buffer.release()
    # The explicit reference still holds the buffer out of the pool.
    assert pool.metrics()["buffers_in_use"] == 1


def test_dropping_the_last_python_reference_releases_the_buffer(pool):
    buffer = pool.get_buffer(64)
    del buffer
    gc.collect()
    metrics = pool.metrics()
    assert metrics["buffers_in_use"] == 0 and metrics["buffers_cached"] == 1


def test_buffer_ref_cannot_be_made_directly():
    with pytest.raises(TypeError):
        bufferpool.BufferRef()


def test_numpy_view_is_writable_and_zero_copy(pool):
    buffer = pool.get_buffer(4096)
    floats = numpy.frombuffer(buffer, numpy.float32)
    assert floats.shape == (1024,) and floats.flags.writeable
    floats[:] = numpy.arange(1024, dtype=numpy.float32)
    # A second view sees what the first wrote: the same memory.
    again = numpy.frombuffer(buffer, numpy.float32)
    assert again[1023] == 1023.0
    view = memoryview(buffer)
    assert view.nbytes == 4096 and not view.readonly and view.format == "B"
    view[0:4] = numpy.float32(7.5).tobytes()
    assert floats[0] == 7.5
    assert view.cast("f")[1] == 1.0


def test_each_view_holds_a_reference(pool):
    buffer = pool.get_buffer(256)
    view = memoryview(buffer)
    array = numpy.frombuffer(buffer, numpy.uint8)
    assert buffer.ref_count == 3
    view.release()
    assert buffer.ref_count == 2
    del array
    gc.collect()
    assert buffer.ref_count == 1


def test_a_view_keeps_the_buffer_alive_after_the_handle_is_released(pool):
    buffer = pool.get_buffer(4096)
    array = numpy.frombuffer(buffer, numpy.uint32)
    array[:] = 0xABCD
    buffer.release()
    # The memory is still the view's: not back in the pool, not reused.
    assert pool.metrics()["buffers_in_use"] == 1
    other = pool.get_buffer(4096)
    numpy.frombuffer(other, numpy.uint32)[:] = 1
    assert (array == 0xABCD).all()
    del array
    gc.collect()
    assert pool.metrics()["buffers_in_use"] == 1  # only `other`
    other.release()
    assert pool.metrics()["buffers_in_use"] == 0


def test_released_memory_is_reused_by_the_next_request(pool):
    first = pool.get_buffer(4096)
    address = numpy.frombuffer(first, numpy.uint8).ctypes.data
    first.release()
    second = pool.get_buffer(4096)
    assert numpy.frombuffer(second, numpy.uint8).ctypes.data == address
    assert pool.metrics()["hits_reused"] == 1


def test_buffers_outlive_their_python_pool():
    backend = bufferpool.CountingBackend(bufferpool.host_backend())
    pool = bufferpool.BufferPool(backend)
    buffer = pool.get_buffer(1 << 16)
    del pool
    gc.collect()
    numpy.frombuffer(buffer, numpy.uint8)[:] = 3
    assert numpy.frombuffer(buffer, numpy.uint8).sum() == 3 << 16
    assert backend.live_allocations == 1
    buffer.release()
    assert backend.live_allocations == 0
