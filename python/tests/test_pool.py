"""BufferPool: hits and misses, limits, TTL cleanup on a manual clock,
metrics, sources."""

import gc

import numpy
import pytest

import bufferpool

METRIC_KEYS = {
    "hits", "hits_reused", "hits_carved", "misses", "hit_rate", "allocations", "deallocations",
    "evictions", "expirations", "failed_allocations", "bytes_requested", "bytes_granted",
    "current_bytes_allocated", "peak_bytes_allocated", "bytes_in_use", "buffers_in_use",
    "bytes_cached", "buffers_cached", "bytes_pending_gpu", "buffers_pending_gpu", "segments",
    "empty_segments", "bytes_free_in_segments", "largest_free_block_bytes", "size_classes",
}


def test_first_request_misses_and_reuse_hits():
    pool = bufferpool.BufferPool()
    pool.get_buffer(1000).release()
    pool.get_buffer(1000).release()
    pool.get_buffer(900).release()
    metrics = pool.metrics()
    assert (metrics["misses"], metrics["hits"], metrics["hits_reused"]) == (1, 2, 2)
    assert metrics["hit_rate"] == pytest.approx(2 / 3)
    assert metrics["allocations"] == 1 and metrics["segments"] == 1


def test_metrics_have_the_keys_of_pool_metrics_json():
    metrics = bufferpool.BufferPool().metrics()
    assert METRIC_KEYS <= set(metrics)
    classes = metrics["size_classes"]
    assert [c["capacity_bytes"] for c in classes[:-1]] == bufferpool.default_size_classes()
    assert classes[-1]["oversize"] is True


def test_per_class_counts():
    pool = bufferpool.BufferPool(size_classes=[1024, 4096])
    held = [pool.get_buffer(1000), pool.get_buffer(3000), pool.get_buffer(10_000)]
    classes = pool.metrics()["size_classes"]
    assert [c["buffers_in_use"] for c in classes] == [1, 1, 1]
    assert [c["capacity_bytes"] for c in classes] == [1024, 4096, 0]
    for buffer in held:
        buffer.release()
    assert [c["buffers_cached"] for c in pool.metrics()["size_classes"]] == [1, 1, 1]


def test_max_pool_size_evicts_the_oldest_idle_buffer():
    pool = bufferpool.BufferPool(max_pool_size=2)
    buffers = [pool.get_buffer(256 * (i + 1)) for i in range(3)]
    for buffer in buffers:
        buffer.release()
    metrics = pool.metrics()
    assert metrics["buffers_cached"] == 2 and metrics["evictions"] == 1


def test_ttl_expires_idle_buffers_at_cleanup():
    clock = bufferpool.ManualClock()
    pool = bufferpool.BufferPool(ttl=15.0, cleanup_interval=30.0, clock=clock)
    pool.get_buffer(4096).release()
    clock.advance(10.0)
    assert pool.cleanup() == 0
    clock.advance(6.0)
    assert pool.cleanup() == 1
    metrics = pool.metrics()
    assert metrics["expirations"] == 1 and metrics["buffers_cached"] == 0


def test_lazy_cleanup_runs_on_release_after_the_interval():
    clock = bufferpool.ManualClock()
    pool = bufferpool.BufferPool(ttl=1.0, cleanup_interval=5.0, clock=clock)
    pool.get_buffer(4096).release()
    clock.advance(2.0)
    other = pool.get_buffer(100_000)  # a carve: the idle one is not reused
    other.release()
    clock.advance(4.0)  # past the interval: the next release cleans up
    pool.get_buffer(200_000).release()
    assert pool.metrics()["expirations"] >= 1


def test_clear_frees_every_idle_buffer():
    pool = bufferpool.BufferPool()
    buffers = [pool.get_buffer(1 << k) for k in range(8, 16)]
    for buffer in buffers:
        buffer.release()
    assert pool.clear() == 8
    assert pool.metrics()["buffers_cached"] == 0


def test_memory_limit_raises_out_of_memory_with_figures():
    pool = bufferpool.BufferPool(memory_limit=1 << 20)
    held = pool.get_buffer(512 << 10)
    with pytest.raises(bufferpool.OutOfMemoryError) as caught:
        pool.get_buffer(1 << 20)
    error = caught.value
    assert isinstance(error, MemoryError) and isinstance(error, bufferpool.Error)
    assert error.limit_bytes == 1 << 20
    assert error.requested_bytes >= 1 << 20
    assert error.in_use_bytes >= 512 << 10
    assert isinstance(error.details, dict) and "free_bytes_in_segments" in error.details
    assert "memory_limit" in str(error)
    assert pool.metrics()["failed_allocations"] == 1
    held.release()


def test_peak_and_reset_peak():
    pool = bufferpool.BufferPool()
    big = pool.get_buffer(8 << 20)
    peak = pool.metrics()["peak_bytes_allocated"]
    assert peak >= 8 << 20
    big.release()
    pool.clear()
    assert pool.metrics()["peak_bytes_allocated"] == peak
    pool.reset_peak()
    assert pool.metrics()["peak_bytes_allocated"] == pool.metrics()["current_bytes_allocated"]


def test_zero_on_reuse_hands_out_zeros():
    pool = bufferpool.BufferPool(zero_on_reuse=True)
    buffer = pool.get_buffer(4096)
    numpy.frombuffer(buffer, numpy.uint8)[:] = 0xFF
    buffer.release()
    again = pool.get_buffer(4096)
    assert pool.metrics()["hits_reused"] == 1
    assert not numpy.frombuffer(again, numpy.uint8).any()


@pytest.mark.parametrize("size", [0, -1, 1 << 62])
def test_bad_sizes_raise_invalid_argument(size):
    with pytest.raises(bufferpool.InvalidArgumentError) as caught:
        bufferpool.BufferPool().get_buffer(size)
    assert isinstance(caught.value, ValueError)


def test_get_buffer_arguments():
    pool = bufferpool.BufferPool()
    assert pool.get_buffer(size_bytes=64).size == 64
    with pytest.raises(TypeError):
        pool.get_buffer("64")
    with pytest.raises(TypeError):
        pool.get_buffer()
    with pytest.raises(TypeError):
        pool.get_buffer(64, 64)
    with pytest.raises(TypeError):
        pool.get_buffer(True)
    assert pool.get_buffer(numpy.int64(64)).size == 64  # numpy integers are sizes too


def test_a_pool_whose_init_never_ran_refuses_requests():
    pool = bufferpool.BufferPool.__new__(bufferpool.BufferPool)
    with pytest.raises(TypeError):
        pool.get_buffer(64)


@pytest.mark.parametrize("source", [None, "host", bufferpool.host_backend()])
def test_host_sources(source):
    pool = bufferpool.BufferPool(source)
    assert pool.backend_name == "host"
    assert pool.get_buffer(10).host_visible


def test_an_unknown_source_is_refused():
    with pytest.raises(bufferpool.InvalidArgumentError, match="BufferPool\\(source\\)"):
        bufferpool.BufferPool(object())


def test_nothing_leaks_once_everything_is_released():
    backend = bufferpool.CountingBackend(bufferpool.host_backend())
    pool = bufferpool.BufferPool(backend, max_pool_size=4)
    buffers = [pool.get_buffer(size) for size in (100, 5000, 3 << 20, 30 << 20)]
    assert backend.live_allocations >= 2
    for buffer in buffers:
        buffer.release()
    del pool
    gc.collect()
    assert backend.live_allocations == 0
    assert backend.total_allocations == backend.total_frees


def test_capacity_for_and_check_segments():
    pool = bufferpool.BufferPool()
    assert pool.capacity_for(1000) == 1024
    buffers = [pool.get_buffer(n) for n in (100, 2000, 30_000)]
    buffers[1].release()
    assert pool.check_segments() == ""


def test_config_is_the_pools():
    pool = bufferpool.BufferPool(max_pool_size=32, ttl=15.0, cleanup_interval=30.0)
    config = pool.config
    assert (config.max_pool_size, config.ttl, config.cleanup_interval) == (32, 15.0, 30.0)
    base = bufferpool.PoolConfig.memory_constrained()
    pool = bufferpool.BufferPool(config=base, ttl=5.0)
    assert pool.config.ttl == 5.0 and pool.config.max_cached_bytes == base.max_cached_bytes


def test_an_invalid_config_fails_at_construction_naming_the_setting():
    with pytest.raises(bufferpool.ConfigError, match="size_classes"):
        bufferpool.BufferPool(size_classes=[4096, 1024])
