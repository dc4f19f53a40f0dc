"""ComputeManager on a real Vulkan device: buffers from data, shaders,
dispatches, results as numpy arrays, metrics, and the GIL let go while the
device is waited for."""

import pathlib
import threading
import time

import numpy
import pytest

import bufferpool
from conftest import SHADER_DIR, SPIN_GROUPS, load_spinner, saxpy_params, spin_buffers


def saxpy(manager, xs, ys, a):
    n = len(xs)
    x, y = manager.create_buffer(xs), manager.create_buffer(ys)
    out = manager.create_buffer(n * 4)
    manager.execute_shader("saxpy", [x, y], [out], total_threads=n,
                           push_constants=saxpy_params(n, a))
    return manager.get_buffer_data(out, numpy.float32)


def test_saxpy_matches_numpy(manager):
    xs = numpy.linspace(-1, 1, 1000, dtype=numpy.float32)
    ys = numpy.arange(1000, dtype=numpy.float32)
    numpy.testing.assert_allclose(saxpy(manager, xs, ys, 2.0), 2.0 * xs + ys, rtol=1e-6)


def test_every_dispatch_form(manager):
    n = 1000
    x = manager.create_buffer(numpy.full(n, 1.5, numpy.float32))
    y = manager.create_buffer(numpy.full(n, 0.25, numpy.float32))
    out = manager.create_buffer(n * 4)
    params = saxpy_params(n, 2.0)
    forms = [
        dict(thread_groups=((n + 63) // 64, 1, 1), threads_per_group=(64, 1, 1)),
        dict(thread_groups=(n + 63) // 64, threads_per_group=64),
        dict(thread_groups=(n + 255) // 256),  # the manager picks the group size
        dict(thread_groups=numpy.int64((n + 63) // 64), threads_per_group=numpy.uint32(64)),
        dict(total_threads=n),
        dict(total_threads=n, threads_per_group=32),
    ]
    for form in forms:
        numpy.frombuffer(out, numpy.float32)[:] = 0
        manager.execute_shader("saxpy", [x, y], [out], push_constants=params, **form)
        assert (manager.get_buffer_data(out) == 3.25).all(), form
    # Positional, as the design's signature reads.
    manager.execute_shader("saxpy", [x, y], [out], (n + 63) // 64, 64, params.tobytes())
    assert (manager.get_buffer_data(out) == 3.25).all()


def test_push_constants_as_bytes_scalar_or_array(manager):
    n = 64
    x = manager.create_buffer(numpy.ones(n, numpy.float32))
    y = manager.create_buffer(numpy.zeros(n, numpy.float32))
    out = manager.create_buffer(n * 4)
    structured = saxpy_params(n, 3.0)
    for params, a in [(structured, 3.0), (structured[()], 3.0),
                      (numpy.array([n], numpy.uint32).tobytes() + numpy.float32(4).tobytes(), 4.0),
                      (bytearray(saxpy_params(n, 5.0).tobytes()), 5.0)]:
        manager.execute_shader("saxpy", [x, y], [out], total_threads=n, push_constants=params)
        assert (manager.get_buffer_data(out) == a).all()
    with pytest.raises(bufferpool.InvalidArgumentError, match="1 to 128 bytes"):
        manager.execute_shader("saxpy", [x, y], [out], total_threads=n,
                               push_constants=bytes(129))


def test_dispatch_arguments_are_checked(manager):
    x = manager.create_buffer(16)
    with pytest.raises(bufferpool.InvalidArgumentError, match="neither"):
        manager.execute_shader("saxpy", [x, x], [x])
    with pytest.raises(bufferpool.InvalidArgumentError, match="both"):
        manager.execute_shader("saxpy", [x, x], [x], thread_groups=1, total_threads=4)
    with pytest.raises(bufferpool.InvalidArgumentError, match="binds 3 buffers"):
        manager.execute_shader("saxpy", [x], [x], thread_groups=1)
    with pytest.raises(bufferpool.InvalidArgumentError, match="thread_groups"):
        manager.execute_shader("saxpy", [x, x], [x], thread_groups=(1, 2, 3, 4))
    with pytest.raises(bufferpool.InvalidArgumentError, match="BufferRef"):
        manager.execute_shader("saxpy", [x, "y"], [x], thread_groups=1)
    released = manager.create_buffer(16)
    released.release()
    with pytest.raises(bufferpool.UsageError, match="released"):
        manager.execute_shader("saxpy", [x, released], [x], thread_groups=1)
    with pytest.raises(bufferpool.InvalidArgumentError):
        manager.execute_shader("no such pipeline", [x, x], [x], thread_groups=1)


def test_create_buffer_copies_any_buffer_protocol_object(manager):
    source = numpy.arange(64, dtype=numpy.float32)
    buffer = manager.create_buffer(source)
    source[:] = -1  # a copy, not a view
    assert (manager.get_buffer_data(buffer) == numpy.arange(64)).all()
    for data in [bytes(range(16)), bytearray(range(16)), memoryview(bytes(range(16)))]:
        assert bytes(manager.get_buffer_data(manager.create_buffer(data), numpy.uint8)) == \
            bytes(range(16))
    # A strided view is copied in C order.
    matrix = numpy.arange(12, dtype=numpy.int32).reshape(3, 4)
    strided = manager.create_buffer(matrix.T)
    assert (manager.get_buffer_data(strided, numpy.int32) == matrix.T.ravel()).all()
    assert manager.create_buffer(4096).size == 4096
    assert manager.create_buffer(numpy.int64(4096)).size == 4096  # a size, not 8 bytes of data
    with pytest.raises(bufferpool.InvalidArgumentError, match="no data"):
        manager.create_buffer(b"")
    with pytest.raises(bufferpool.InvalidArgumentError, match="buffer protocol"):
        manager.create_buffer("text")


def test_get_buffer_data_dtype_and_count(manager):
    buffer = manager.create_buffer(numpy.arange(16, dtype=numpy.uint32))
    assert manager.get_buffer_data(buffer, numpy.uint32).tolist() == list(range(16))
    assert manager.get_buffer_data(buffer, "u4", count=3).tolist() == [0, 1, 2]
    assert manager.get_buffer_data(buffer, numpy.uint8).shape == (64,)
    assert manager.get_buffer_data(buffer).dtype == numpy.float32
    with pytest.raises(bufferpool.InvalidArgumentError, match="at most size"):
        manager.get_buffer_data(buffer, numpy.uint32, count=17)
    with pytest.raises(bufferpool.InvalidArgumentError, match="Python objects"):
        manager.get_buffer_data(buffer, object)


def test_upload_and_buffer_views_agree(manager):
    buffer = manager.create_buffer(256)
    manager.upload(buffer, numpy.full(64, 9, numpy.uint32))
    assert (numpy.frombuffer(buffer, numpy.uint32) == 9).all()
    numpy.frombuffer(buffer, numpy.uint32)[:] = 4
    assert (manager.get_buffer_data(buffer, numpy.uint32) == 4).all()


def test_submit_returns_a_submission(manager):
    n = 256
    x = manager.create_buffer(numpy.ones(n, numpy.float32))
    out = manager.create_buffer(n * 4)
    submission = manager.submit("saxpy", [x, x], [out], total_threads=n,
                                push_constants=saxpy_params(n, 1.0))
    submission.wait()
    assert submission.done() and submission.timeline_value > 0
    assert (manager.get_buffer_data(out) == 2.0).all()


def test_shader_libraries_from_files_and_source(manager):
    manager.load_shader_library(SHADER_DIR / "saxpy.comp", "from_file")
    assert manager.shader_functions("from_file") == ["saxpy"]
    manager.load_shader_library(str(SHADER_DIR), "folder")
    assert set(manager.shader_functions("folder")) == {"activation", "matmul", "reduce_sum",
                                                       "saxpy"}
    assert set(manager.shader_functions("kernels")) == {"activation", "matmul", "reduce_sum",
                                                        "saxpy"}
    with pytest.raises(bufferpool.InvalidArgumentError):
        manager.load_shader_library(pathlib.Path("/no/such/shader.comp"), "missing")
    with pytest.raises(bufferpool.ShaderCompileError, match=r"broken:\d+: error"):
        manager.load_shader_library_from_source("#version 450\nvoid main() { x = 1; }", "broken")
    assert manager.threads_per_group("saxpy", 4096)[0] >= 1


def test_performance_metrics_and_the_designs_hit_rate_line(manager):
    metrics = manager.get_performance_metrics()
    pool = metrics["buffer_pool"]
    hit_rate = pool["hits"] / (pool["hits"] + pool["misses"])
    assert hit_rate == pytest.approx(pool["hit_rate"])
    assert metrics["backend"].startswith("vulkan")
    assert metrics["dispatches"] > 0 and metrics["pipelines"] > 0
    assert pool == manager.pool.metrics() or pool["hits"] <= manager.pool.metrics()["hits"]


def test_the_managers_pool_and_a_pool_on_its_device(manager):
    assert manager.pool.backend_name == manager.backend_name
    own = bufferpool.BufferPool(manager, max_pool_size=8)
    x = own.get_buffer(64 * 4)
    numpy.frombuffer(x, numpy.float32)[:] = 2.0
    out = manager.create_buffer(64 * 4)
    manager.execute_shader("saxpy", [x, x], [out], total_threads=64,
                           push_constants=saxpy_params(64, 1.0))
    assert (manager.get_buffer_data(out) == 4.0).all()
    assert own.metrics()["buffers_in_use"] == 1


def test_device_local_memory_goes_through_staging():
    manager = bufferpool.ComputeManager(backend="vulkan", placement="device_local",
                                        validation=True)
    buffer = manager.create_buffer(numpy.arange(32, dtype=numpy.float32))
    assert not buffer.host_visible
    with pytest.raises(bufferpool.UsageError, match="host-visible"):
        memoryview(buffer)
    assert (manager.get_buffer_data(buffer) == numpy.arange(32)).all()
    assert manager.get_performance_metrics()["staging_copies"] >= 2
    assert manager.validation_messages == []


def test_host_backend_has_buffers_but_no_shaders():
    manager = bufferpool.ComputeManager(backend="host", pool={"max_pool_size": 4})
    assert not manager.can_execute_shaders and manager.backend_name == "host"
    assert manager.pool.config.max_pool_size == 4
    buffer = manager.create_buffer(numpy.ones(8, numpy.float32))
    assert (manager.get_buffer_data(buffer) == 1).all()
    manager.load_builtin_shader_library()
    manager.create_compute_pipeline("builtin", "saxpy", "saxpy")
    with pytest.raises(bufferpool.BackendError, match="needs the Vulkan backend"):
        manager.execute_shader("saxpy", [buffer, buffer], [buffer], thread_groups=1)


def test_bad_manager_options():
    with pytest.raises(bufferpool.ConfigError, match="backend"):
        bufferpool.ComputeManager(backend="metal")
    with pytest.raises(bufferpool.ConfigError, match="placement"):
        bufferpool.ComputeManager(placement="somewhere")
    with pytest.raises(bufferpool.ConfigError, match="max_pool"):
        bufferpool.ComputeManager(pool={"max_pool": 1})
    with pytest.raises(bufferpool.BackendError):
        bufferpool.ComputeManager(backend="vulkan", device="no device has this name")


def test_list_vulkan_devices():
    devices = bufferpool.list_vulkan_devices()
    assert any(device["usable"] for device in devices)
    assert {"index", "name", "type", "device_local_bytes"} <= set(devices[0])


@pytest.fixture(scope="module")
def spinner(manager):
    load_spinner(manager, "spin")
    return manager


def test_submission_wait_lets_other_threads_run(spinner):
    flag, result, params = spin_buffers(spinner)
    submission = spinner.submit("spin", [flag], [result], thread_groups=SPIN_GROUPS,
                                push_constants=params)
    waiter = threading.Thread(target=submission.wait)
    waiter.start()
    time.sleep(0.2)  # the waiter is in wait() now
    # Only runs while wait() is blocked if wait() let go of the GIL.
    numpy.frombuffer(flag, numpy.uint32)[0] = 1
    waiter.join()
    assert spinner.get_buffer_data(result, numpy.uint32)[0] == 1


def test_execute_shader_lets_other_threads_run(spinner):
    flag, result, params = spin_buffers(spinner)
    worker = threading.Thread(target=spinner.execute_shader,
                              args=("spin", [flag], [result], SPIN_GROUPS, 1, params))
    worker.start()
    time.sleep(0.2)
    numpy.frombuffer(flag, numpy.uint32)[0] = 1
    worker.join()
    assert spinner.get_buffer_data(result, numpy.uint32)[0] == 1


def test_dispatches_from_several_threads(manager):
    n = 4096

    def work(index):
        xs = numpy.full(n, float(index), numpy.float32)
        ys = numpy.arange(n, dtype=numpy.float32)
        for _ in range(10):
            with bufferpool.autoreleasepool() as scope:
                x = scope.add(manager.create_buffer(xs))
                y = scope.add(manager.create_buffer(ys))
                out = scope.add(manager.create_buffer(n * 4))
                manager.execute_shader("saxpy", [x, y], [out], total_threads=n,
                                       push_constants=saxpy_params(n, 2.0))
                result = manager.get_buffer_data(out)
                numpy.testing.assert_array_equal(result, 2.0 * xs + ys)

    errors = []

    def guarded(index):
        try:
            work(index)
        except BaseException as error:  # reported on the main thread
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert manager.pool.metrics()["buffers_in_use"] == 0
