"""The module from several Python threads at once: a shared pool, and buffers
handed between threads. (Dispatches from several threads: test_manager.py.)"""

import queue
import random
import threading

import numpy

import bufferpool

THREADS = 6


def run_threads(target, count=THREADS):
    errors = []

    def guarded(index):
        try:
            target(index)
        except BaseException as error:  # reported on the main thread
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_a_shared_pool_hands_each_thread_its_own_memory():
    pool = bufferpool.BufferPool(max_pool_size=16)

    def work(index):
        generator = random.Random(index)
        for step in range(1500):
            with bufferpool.autoreleasepool() as scope:
                held = [scope.add(pool.get_buffer(generator.choice((256, 1000, 4096, 70_000))))
                        for _ in range(3)]
                for buffer in held:
                    numpy.frombuffer(buffer, numpy.uint8)[:] = (index * 31 + step) % 251
                for buffer in held:
                    view = numpy.frombuffer(buffer, numpy.uint8)
                    assert (view == (index * 31 + step) % 251).all()
                    del view

    run_threads(work)
    metrics = pool.metrics()
    assert metrics["buffers_in_use"] == 0
    assert metrics["hits"] + metrics["misses"] == THREADS * 1500 * 3
    assert pool.check_segments() == ""


def test_buffers_released_on_another_thread():
    pool = bufferpool.BufferPool()
    handoff = queue.Queue(maxsize=64)
    count = 3000

    def produce():
        for step in range(count):
            buffer = pool.get_buffer(512)
            numpy.frombuffer(buffer, numpy.uint32)[0] = step
            handoff.put((step, buffer))
        handoff.put(None)

    def consume():
        while (item := handoff.get()) is not None:
            step, buffer = item
            assert numpy.frombuffer(buffer, numpy.uint32)[0] == step
            buffer.decrement()

    producer = threading.Thread(target=produce)
    consumer = threading.Thread(target=consume)
    producer.start()
    consumer.start()
    producer.join()
    consumer.join()
    assert pool.metrics()["buffers_in_use"] == 0

