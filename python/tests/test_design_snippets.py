"""Every Python snippet of the design document (the seed's "Memory Management
in Crystalline Consciousness AI"), as written there, with its Metal names
swapped for this module's: `metal_autoreleasepool` is `autoreleasepool` and
`metal_manager` (or `manager`) a ComputeManager on the Vulkan device. Each
test asserts what its snippet says happens.

Where a snippet elides arguments (`manager.execute_shader(...)`), the test
fills them in with a real dispatch, and says so.
"""

import contextlib
import io
import re

import numpy
import pytest

import bufferpool
from conftest import saxpy_params

# The Metal names of the design, and this module's.
RENAMES = {
    "metal_autoreleasepool": "autoreleasepool",
    "metal_manager": "manager",
}


def ported(snippet, **fill_ins):
    """The snippet with the Metal names swapped and elisions filled in."""
    for metal, ours in RENAMES.items():
        snippet = snippet.replace(metal, ours)
    for elided, code in fill_ins.items():
        assert elided in snippet, elided
        snippet = snippet.replace(elided, code)
    return snippet


def namespace(manager, **names):
    return {"manager": manager, "BufferPool": bufferpool.BufferPool,
            "autoreleasepool": bufferpool.autoreleasepool, **names}


REFERENCE_COUNTING = """\
# Example of reference counting
buffer = buffer_pool.get_buffer(1024)  # ref_count = 1
buffer.increment()  # ref_count = 2
buffer.decrement()  # ref_count = 1
buffer.decrement()  # ref_count = 0, buffer returned to pool
"""

AUTO_RELEASE_POOL = """\
with metal_autoreleasepool() as pool:
    buffer1 = manager.create_buffer(data1)
    pool.add(buffer1)
    buffer2 = manager.create_buffer(data2)
    pool.add(buffer2)
    # Use buffers...
# Buffers are automatically released when the context is exited
"""

TTL = """\
# Configure TTL when creating the buffer pool
buffer_pool = BufferPool(metal_manager, ttl=60.0)  # 60 seconds TTL
"""

USE_AUTO_RELEASE_POOLS = """\
with metal_autoreleasepool() as pool:
    # Create and use buffers
    input_buffer = manager.create_buffer(input_data)
    output_buffer = manager.create_buffer(output_data)
    pool.add(input_buffer)
    pool.add(output_buffer)
    
    # Execute Metal operations
    manager.execute_shader(...)
"""

BATCH_SIMILAR_OPERATIONS = """\
# Good: Group similar operations
with metal_autoreleasepool() as pool:
    for i in range(10):
        # Process 10 inputs of the same size sequentially
        buffer = manager.create_buffer(data[i])
        pool.add(buffer)
        process(buffer)
"""

MONITOR_METRICS = """\
metrics = manager.get_performance_metrics()
print(f"Hit rate: {metrics['buffer_pool']['hits'] / (metrics['buffer_pool']['hits'] + metrics['buffer_pool']['misses']):.2%}")
print(f"Memory usage: {metrics['buffer_pool']['current_bytes_allocated'] / (1024*1024):.2f} MB")
"""

CONFIGURE_POOL = """\
# For memory-constrained environments:
buffer_pool = BufferPool(
    metal_manager,
    max_pool_size=32,  # Limit pool size
    ttl=15.0,  # Shorter TTL
    cleanup_interval=30.0  # More frequent cleanup
)

# For performance-critical applications:
buffer_pool = BufferPool(
    metal_manager,
    max_pool_size=128,  # Larger pool size
    ttl=60.0,  # Longer TTL
    cleanup_interval=120.0  # Less frequent cleanup
)
"""


def test_reference_counting(manager):
    names = namespace(manager, buffer_pool=bufferpool.BufferPool(manager))
    # Line by line, checking each "# ref_count = n" the snippet states.
    for line in ported(REFERENCE_COUNTING).splitlines():
        exec(line, names)
        stated = re.search(r"ref_count = (\d+)", line)
        if stated:
            assert names["buffer"].ref_count == int(stated.group(1)), line
    metrics = names["buffer_pool"].metrics()
    assert metrics["buffers_in_use"] == 0 and metrics["buffers_cached"] == 1  # returned to pool


def test_auto_release_pool(manager):
    in_use = manager.pool.metrics()["buffers_in_use"]
    names = namespace(manager, data1=numpy.ones(256, numpy.float32),
                      data2=numpy.arange(1024, dtype=numpy.float32))
    exec(ported(AUTO_RELEASE_POOL), names)
    assert names["buffer1"].released and names["buffer2"].released
    assert manager.pool.metrics()["buffers_in_use"] == in_use


def test_ttl():
    clock = bufferpool.ManualClock()
    manager = bufferpool.ComputeManager(backend="vulkan")
    names = namespace(manager)
    # The design's pool, on a manual clock so that the test need not wait 60 s.
    names["BufferPool"] = lambda *args, **settings: bufferpool.BufferPool(
        *args, clock=clock, cleanup_interval=1.0, **settings)
    exec(ported(TTL), names)
    buffer_pool = names["buffer_pool"]
    assert buffer_pool.config.ttl == 60.0
    buffer_pool.get_buffer(4096).release()
    clock.advance(59.0)
    assert buffer_pool.cleanup() == 0
    clock.advance(2.0)  # "not used for longer than the TTL are removed during cleanup"
    assert buffer_pool.cleanup() == 1


def test_use_auto_release_pools(manager):
    n = 1024
    dispatches = manager.get_performance_metrics()["dispatches"]
    names = namespace(manager, input_data=numpy.ones(n, numpy.float32),
                      output_data=numpy.zeros(n, numpy.float32), params=saxpy_params(n, 2.0),
                      n=n)
    # "manager.execute_shader(...)" elides its arguments: saxpy of the input.
    code = ported(USE_AUTO_RELEASE_POOLS, **{
        "manager.execute_shader(...)":
            "manager.execute_shader('saxpy', [input_buffer, input_buffer], [output_buffer], "
            "total_threads=n, push_constants=params)\n"
            "    result = manager.get_buffer_data(output_buffer)"})
    exec(code, names)
    assert manager.get_performance_metrics()["dispatches"] == dispatches + 1
    assert (names["result"] == 3.0).all()
    assert names["input_buffer"].released and names["output_buffer"].released


def test_batch_similar_operations(manager):
    n = 4096
    results = []

    def process(buffer):
        out = manager.create_buffer(n * 4)
        manager.execute_shader("saxpy", [buffer, buffer], [out], total_threads=n,
                               push_constants=saxpy_params(n, 1.0))
        results.append(manager.get_buffer_data(out, count=1)[0])
        out.release()

    data = [numpy.full(n, float(i), numpy.float32) for i in range(10)]
    before = manager.pool.metrics()
    names = namespace(manager, data=data, process=process)
    exec(ported(BATCH_SIMILAR_OPERATIONS), names)
    after = manager.pool.metrics()
    assert results == [2.0 * i for i in range(10)]
    # Ten buffers of one size, and ten outputs: at most one new segment.
    assert after["misses"] - before["misses"] <= 1
    assert after["hits"] - before["hits"] >= 19
    assert after["buffers_in_use"] == before["buffers_in_use"]


def test_monitor_performance_metrics(manager):
    manager.create_buffer(1024).release()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(ported(MONITOR_METRICS), namespace(manager))
    pool = manager.get_performance_metrics()["buffer_pool"]
    hit_line, memory_line = printed.getvalue().splitlines()
    assert hit_line == f"Hit rate: {pool['hit_rate']:.2%}"
    assert memory_line == f"Memory usage: {pool['current_bytes_allocated'] / 1048576:.2f} MB"
    assert pool["current_bytes_allocated"] > 0


def test_configure_pool_parameters(manager):
    names = namespace(manager)
    code = ported(CONFIGURE_POOL)
    constrained_code, fast_code = code.split("# For performance-critical applications:")
    exec(constrained_code, names)
    constrained = names["buffer_pool"].config
    assert (constrained.max_pool_size, constrained.ttl, constrained.cleanup_interval) == \
        (32, 15.0, 30.0)
    exec(fast_code, names)
    fast = names["buffer_pool"]
    assert (fast.config.max_pool_size, fast.config.ttl, fast.config.cleanup_interval) == \
        (128, 60.0, 120.0)
    assert fast.backend_name == manager.backend_name  # on the manager's device



def python_blocks(markdown, heading=None):
    """The ```python blocks of a markdown file, or of its section `heading`."""
    if heading is not None:
        start = markdown.index(heading)
        end = markdown.find("\n## ", start + len(heading))
        markdown = markdown[start:end if end != -1 else None]
    return re.findall(r"```python\n(.*?)```", markdown, re.S)


@pytest.mark.parametrize("document, heading", [("README.md", "## Python"),
                                               ("docs/python.md", None)])
def test_the_documented_examples_run(document, heading):
    from conftest import SOURCE_DIR
    blocks = python_blocks((SOURCE_DIR / document).read_text(), heading)
    assert blocks, f"no Python examples in {document}"
    names = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        for block in blocks:
            exec(block, names)
    assert re.search(r"Hit rate: \d+\.\d\d%", printed.getvalue())
    assert isinstance(names["result"], numpy.ndarray)
