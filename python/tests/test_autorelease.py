"""autoreleasepool(): the design's context manager."""

import pytest

import bufferpool


@pytest.fixture
def pool():
    return bufferpool.BufferPool()


def test_buffers_added_are_released_when_the_block_ends(pool):
    with bufferpool.autoreleasepool() as scope:
        first = scope.add(pool.get_buffer(1024))
        second = pool.get_buffer(2048)
        scope.add(second)
        assert len(scope) == 2
        assert first.ref_count == 1 and pool.metrics()["buffers_in_use"] == 2
    assert first.released and second.released
    assert pool.metrics()["buffers_in_use"] == 0
    assert len(scope) == 0


def test_an_exception_releases_too_and_propagates(pool):
    with pytest.raises(KeyError):
        with bufferpool.autoreleasepool() as scope:
            buffer = scope.add(pool.get_buffer(64))
            raise KeyError("boom")
    assert buffer.released
    assert pool.metrics()["buffers_in_use"] == 0


def test_pools_nest(pool):
    with bufferpool.autoreleasepool() as outer:
        kept = outer.add(pool.get_buffer(64))
        with bufferpool.autoreleasepool() as inner:
            step = inner.add(pool.get_buffer(64))
        assert step.released and not kept.released
    assert kept.released


def test_add_hands_over_one_reference(pool):
    buffer = pool.get_buffer(64)
    buffer.increment()  # the caller keeps one past the block
    with bufferpool.autoreleasepool() as scope:
        scope.add(buffer)
    assert not buffer.released and buffer.ref_count == 1
    buffer.decrement()
    assert pool.metrics()["buffers_in_use"] == 0


def test_drain_releases_now_and_the_pool_stays_open(pool):
    with bufferpool.autoreleasepool() as scope:
        first = scope.add(pool.get_buffer(64))
        scope.drain()
        assert first.released
        second = scope.add(pool.get_buffer(64))
    assert second.released


def test_a_buffer_released_before_the_end_is_a_double_release(pool):
    with pytest.raises(bufferpool.UsageError, match="1 buffer"):
        with bufferpool.autoreleasepool() as scope:
            early = scope.add(pool.get_buffer(64))
            other = scope.add(pool.get_buffer(64))
            early.release()
    assert other.released  # the rest are still dropped
    assert pool.metrics()["buffers_in_use"] == 0


def test_add_refuses_what_is_not_a_live_buffer(pool):
    with bufferpool.autoreleasepool() as scope:
        with pytest.raises(bufferpool.InvalidArgumentError):
            scope.add("a buffer")
        released = pool.get_buffer(64)
        released.release()
        with pytest.raises(bufferpool.UsageError):
            scope.add(released)
