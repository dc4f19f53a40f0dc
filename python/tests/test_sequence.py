"""Sequences from Python: several dispatches, uploads and copies recorded once
into one command buffer and submitted any number of times, with
stream-ordered reuse of the buffers that die inside them. On the Vulkan
device (lavapipe where there is no GPU), validated."""

import gc
import threading
import time
import weakref

import numpy
import pytest

import bufferpool
from conftest import SPIN_GROUPS, load_spinner, saxpy_params, spin_buffers


@pytest.fixture(scope="module")
def kernels(manager):
    """The manager with pipelines for every built-in kernel."""
    for function in ("activation", "matmul", "reduce_sum"):
        manager.create_compute_pipeline("kernels", function, function)
    return manager


def matmul_params(rows, columns, inner):
    return numpy.array([rows, columns, inner], numpy.uint32)


def activation_params(batch, features, kind, alpha=0.0, scale=1.0):
    return numpy.array((batch, features, kind, alpha, scale),
                       dtype=[("batch", "<u4"), ("features", "<u4"), ("kind", "<u4"),
                              ("alpha", "<f4"), ("scale", "<f4")])


def reduce_params(n, square=0):
    return numpy.array([n, square], numpy.uint32)


def pool_metrics(manager):
    return manager.get_performance_metrics()["buffer_pool"]


def test_chain_recorded_once_executed_many_times(kernels):
    manager = kernels
    rng = numpy.random.default_rng(7)
    m, k, n = 24, 16, 40
    group = 64
    b = rng.standard_normal((k, n), dtype=numpy.float32)
    bias = rng.standard_normal(n, dtype=numpy.float32)
    z = rng.standard_normal(m * n, dtype=numpy.float32)

    a_buffer = manager.create_buffer(m * k * 4)
    b_buffer = manager.create_buffer(b)
    z_buffer = manager.create_buffer(z)
    seq = manager.sequence()
    assert not seq.submitted and seq.command_count == 0
    bias_buffer = seq.create_buffer(n * 4)
    seq.record_upload(bias_buffer, bias)  # the bytes are copied now
    recorded_bias = bias.copy()
    bias[:] = 0  # so this does not reach the device
    hidden = seq.create_buffer(m * n * 4)
    seq.record("matmul", [a_buffer, b_buffer], [hidden], total_threads=(n, m),
               push_constants=matmul_params(m, n, k))
    activated = seq.create_buffer(m * n * 4)
    seq.record("activation", [hidden, bias_buffer], [activated], total_threads=(n, m),
               push_constants=activation_params(m, n, kind=1, scale=0.5))
    out = seq.create_buffer(m * n * 4)
    seq.record("saxpy", [activated, z_buffer], [out], (m * n + group - 1) // group, group,
               saxpy_params(m * n, 3.0))
    kept = manager.create_buffer(m * n * 4)
    seq.record_copy(out, kept, m * n * 4)
    groups = (m * n + group - 1) // group
    partials = seq.create_buffer(groups * 4)
    seq.record("reduce_sum", [out], [partials], thread_groups=groups, threads_per_group=group,
               push_constants=reduce_params(m * n))
    assert seq.command_count == 6
    assert not seq.submitted

    for round_ in range(4):
        a = rng.standard_normal((m, k), dtype=numpy.float32)
        manager.upload(a_buffer, a)  # the same sequence, new data
        seq.execute()
        assert seq.submitted
        # The upload is of the bias as it was when recorded, not the zeros.
        numpy.testing.assert_array_equal(manager.get_buffer_data(bias_buffer), recorded_bias)
        expected = 3.0 * numpy.maximum((a @ b) * 0.5 + recorded_bias, 0).ravel() + z
        numpy.testing.assert_allclose(manager.get_buffer_data(out), expected, rtol=1e-4,
                                      atol=1e-4, err_msg=f"round {round_}")
        numpy.testing.assert_array_equal(manager.get_buffer_data(kept),
                                         manager.get_buffer_data(out))
        total = manager.get_buffer_data(partials).astype(numpy.float64).sum()
        assert total == pytest.approx(float(expected.astype(numpy.float64).sum()), rel=1e-4,
                                      abs=1e-2)
    assert seq.command_count == 6


def test_every_record_form(kernels):
    manager = kernels
    n = 1000
    x = manager.create_buffer(numpy.full(n, 1.5, numpy.float32))
    y = manager.create_buffer(numpy.full(n, 0.25, numpy.float32))
    params = saxpy_params(n, 2.0)
    forms = [
        dict(thread_groups=((n + 63) // 64, 1, 1), threads_per_group=(64, 1, 1)),
        dict(thread_groups=(n + 63) // 64, threads_per_group=64),
        dict(thread_groups=(n + 255) // 256),  # the manager picks the group size
        dict(thread_groups=numpy.int64((n + 63) // 64), threads_per_group=numpy.uint32(64)),
        dict(total_threads=n),
        dict(total_threads=n, threads_per_group=32),
    ]
    seq = manager.sequence()
    outs = []
    for form in forms:
        outs.append(seq.create_buffer(n * 4))
        seq.record("saxpy", [x, y], [outs[-1]], push_constants=params, **form)
    outs.append(seq.create_buffer(n * 4))
    seq.record("saxpy", [x, y], [outs[-1]], (n + 63) // 64, 64, params.tobytes())  # positional
    seq.execute()
    for form, out in zip(forms + ["positional"], outs):
        assert (manager.get_buffer_data(out) == 3.25).all(), form


def test_record_arguments_are_checked_as_execute_shader(kernels):
    manager = kernels
    x = manager.create_buffer(16)
    seq = manager.sequence()
    with pytest.raises(bufferpool.InvalidArgumentError, match=r"Sequence.record.*neither"):
        seq.record("saxpy", [x, x], [x])
    with pytest.raises(bufferpool.InvalidArgumentError, match="both"):
        seq.record("saxpy", [x, x], [x], thread_groups=1, total_threads=4)
    with pytest.raises(bufferpool.InvalidArgumentError, match="binds 3 buffers"):
        seq.record("saxpy", [x], [x], thread_groups=1)
    with pytest.raises(bufferpool.InvalidArgumentError, match="thread_groups"):
        seq.record("saxpy", [x, x], [x], thread_groups=(1, 2, 3, 4))
    with pytest.raises(bufferpool.InvalidArgumentError, match="BufferRef"):
        seq.record("saxpy", [x, "y"], [x], thread_groups=1)
    with pytest.raises(bufferpool.InvalidArgumentError, match="1 to 128 bytes"):
        seq.record("saxpy", [x, x], [x], total_threads=4, push_constants=bytes(129))
    with pytest.raises(bufferpool.InvalidArgumentError):
        seq.record("no such pipeline", [x, x], [x], thread_groups=1)
    with pytest.raises(bufferpool.InvalidArgumentError):
        seq.record_upload(x, b"")
    with pytest.raises(bufferpool.InvalidArgumentError):
        seq.record_upload(x, bytes(17))
    with pytest.raises(bufferpool.InvalidArgumentError, match="buffer protocol"):
        seq.record_upload(x, "text")
    with pytest.raises(bufferpool.InvalidArgumentError):
        seq.record_copy(x, manager.create_buffer(8), 16)
    released = manager.create_buffer(16)
    released.release()
    with pytest.raises(bufferpool.UsageError, match="released"):
        seq.record("saxpy", [x, released], [x], thread_groups=1)
    with pytest.raises(bufferpool.UsageError, match="released"):
        seq.record_copy(released, x, 16)
    assert seq.command_count == 0  # nothing failed half-way into the sequence
    with pytest.raises(bufferpool.UsageError, match="nothing recorded"):
        seq.submit()
    with pytest.raises(bufferpool.UsageError, match="nothing recorded"):
        seq.execute()


def test_submitted_sequence_refuses_record(kernels):
    manager = kernels
    n = 64
    x = manager.create_buffer(numpy.ones(n, numpy.float32))
    y = manager.create_buffer(numpy.ones(n, numpy.float32))
    seq = manager.sequence()
    out = seq.create_buffer(n * 4)
    seq.record("saxpy", [x, y], [out], total_threads=n, push_constants=saxpy_params(n, 2.0))
    seq.submit().wait()
    assert seq.submitted
    with pytest.raises(bufferpool.UsageError, match="submit"):
        seq.record("saxpy", [x, y], [out], total_threads=n, push_constants=saxpy_params(n, 1.0))
    with pytest.raises(bufferpool.UsageError, match="submit"):
        seq.record("saxpy", [x, y], [out], thread_groups=1)  # group size picked first
    with pytest.raises(bufferpool.UsageError, match="submit"):
        seq.record_upload(out, numpy.zeros(n, numpy.float32))
    with pytest.raises(bufferpool.UsageError, match="submit"):
        seq.record_copy(x, out, n * 4)
    assert seq.command_count == 1
    # Still usable: create_buffer() (from the pool now), and more submissions.
    assert seq.create_buffer(256).size == 256
    numpy.frombuffer(out, numpy.float32)[:] = 0
    seq.execute()
    assert (manager.get_buffer_data(out) == 3.0).all()


def test_stream_reuse_of_a_dropped_scratch_buffer(kernels):
    manager = kernels
    n = 4096
    xs = numpy.linspace(-1, 1, n, dtype=numpy.float32)
    ys = numpy.arange(n, dtype=numpy.float32)
    x, y = manager.create_buffer(xs), manager.create_buffer(ys)
    params = saxpy_params(n, 2.0)
    opened = pool_metrics(manager)["open_streams"]
    seq = manager.sequence()
    assert pool_metrics(manager)["open_streams"] == opened + 1
    hidden = seq.create_buffer(n * 4)
    seq.record("saxpy", [x, y], [hidden], total_threads=n, push_constants=params)
    out = seq.create_buffer(n * 4)
    seq.record("saxpy", [hidden, y], [out], total_threads=n, push_constants=params)

    # A recorded scratch buffer that Python still holds is not reused.
    before = pool_metrics(manager)
    other = seq.create_buffer(n * 4)
    assert pool_metrics(manager)["stream_reuses"] == before["stream_reuses"]
    seq.record("saxpy", [out, y], [other], total_threads=n, push_constants=params)

    hidden.release()  # dies inside the sequence: only the sequence holds it now
    before = pool_metrics(manager)
    after_drop = manager.pool.metrics()
    assert after_drop["stream_reuses"] == before["stream_reuses"]
    following = seq.create_buffer(n * 4)  # may be hidden's memory
    after = pool_metrics(manager)
    assert after["stream_reuses"] == before["stream_reuses"] + 1
    assert manager.pool.metrics()["stream_reuses"] == after["stream_reuses"]
    seq.record("saxpy", [other, y], [following], total_threads=n, push_constants=params)
    # Dropping one with `del` works as well as release().
    del other
    last = seq.create_buffer(n * 4)
    assert pool_metrics(manager)["stream_reuses"] == before["stream_reuses"] + 2
    seq.record("saxpy", [following, y], [last], total_threads=n, push_constants=params)

    for _ in range(3):
        seq.execute()
        h = 2.0 * xs + ys
        o = 2.0 * h + ys
        ot = 2.0 * o + ys
        f = 2.0 * ot + ys
        numpy.testing.assert_allclose(manager.get_buffer_data(out), o, rtol=1e-6)
        numpy.testing.assert_allclose(manager.get_buffer_data(following), f, rtol=1e-6)
        numpy.testing.assert_allclose(manager.get_buffer_data(last), 2.0 * f + ys, rtol=1e-6)
    del seq
    gc.collect()
    manager.wait_idle()
    closed = pool_metrics(manager)
    assert closed["open_streams"] == opened
    assert closed["buffers_kept_for_streams"] == 0


def test_two_submissions_in_flight_run_in_order(kernels):
    manager = kernels
    n = 2048
    xs = numpy.linspace(0, 1, n, dtype=numpy.float32)
    ys = numpy.full(n, 0.5, numpy.float32)
    acc = manager.create_buffer(xs)
    y = manager.create_buffer(ys)
    seq = manager.sequence()
    step = seq.create_buffer(n * 4)
    # acc = 2 * acc + y, once per submission.
    seq.record("saxpy", [acc, y], [step], total_threads=n, push_constants=saxpy_params(n, 2.0))
    seq.record_copy(step, acc, n * 4)
    first = seq.submit()
    second = seq.submit()  # not waited for the first
    assert isinstance(first, bufferpool.Submission)
    second.wait()
    assert first.done() and second.done()
    assert second.timeline_value > first.timeline_value
    numpy.testing.assert_allclose(manager.get_buffer_data(acc), 4.0 * xs + 3.0 * ys, rtol=1e-6)


def test_sequence_keeps_its_manager_alive():
    made = bufferpool.ComputeManager(backend="vulkan", validation=True)
    made.load_builtin_shader_library("kernels")
    made.create_compute_pipeline("kernels", "saxpy", "saxpy")
    watch = weakref.ref(made)
    n = 256
    x = made.create_buffer(numpy.ones(n, numpy.float32))
    seq = made.sequence()
    out = seq.create_buffer(n * 4)
    seq.record("saxpy", [x, x], [out], total_threads=n, push_constants=saxpy_params(n, 2.0))
    del made
    gc.collect()
    manager = watch()
    assert manager is not None  # the sequence holds it
    del manager
    seq.execute()
    assert (numpy.frombuffer(out, numpy.float32) == 3.0).all()
    messages = watch().validation_messages
    del seq, x, out
    gc.collect()
    assert watch() is None  # nothing else held it
    assert messages == []


def test_sequence_on_the_host_backend_raises():
    host = bufferpool.ComputeManager(backend="host")
    with pytest.raises(bufferpool.BackendError):
        host.sequence()


def test_execute_lets_other_threads_run(manager):
    load_spinner(manager, "seq_spin")
    flag, result, params = spin_buffers(manager)
    seq = manager.sequence()
    seq.record("seq_spin", [flag], [result], SPIN_GROUPS, 1, params)
    worker = threading.Thread(target=seq.execute)
    worker.start()
    time.sleep(0.2)  # the worker waits in execute() now
    # Only runs while execute() is blocked if it let go of the GIL.
    numpy.frombuffer(flag, numpy.uint32)[0] = 1
    worker.join()
    assert manager.get_buffer_data(result, numpy.uint32)[0] == 1


def test_sequences_on_several_threads(manager):
    n = 2048
    ys = numpy.arange(n, dtype=numpy.float32)
    errors = []

    def work(index):
        try:
            xs = numpy.full(n, float(index), numpy.float32)
            x, y = manager.create_buffer(xs), manager.create_buffer(ys)
            seq = manager.sequence()
            current = x
            for _ in range(3):
                following = seq.create_buffer(n * 4)
                seq.record("saxpy", [current, y], [following], total_threads=n,
                           push_constants=saxpy_params(n, 2.0))
                current = following
            for _ in range(5):
                seq.execute()
                numpy.testing.assert_array_equal(manager.get_buffer_data(current),
                                                 8.0 * xs + 7.0 * ys)
        except Exception as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
