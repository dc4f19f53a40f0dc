"""PoolConfig and SegmentConfig: keyword settings, seconds as floats, and the
errors that name what is wrong."""

import datetime
import json

import numpy

import pytest

import bufferpool


def test_defaults():
    config = bufferpool.PoolConfig()
    assert config.max_pool_size == 64
    assert config.ttl == 60.0 and config.cleanup_interval == 60.0
    assert config.size_classes == bufferpool.default_size_classes()
    assert config.size_classes[0] == 256 and config.size_classes[-1] == 64 << 20
    assert config.eviction == "oldest_first"
    assert (config.memory_limit, config.max_cached_bytes) == (0, 0)
    assert config.background_cleanup is False and config.zero_on_reuse is False


def test_settings_by_keyword_and_attribute():
    config = bufferpool.PoolConfig(max_pool_size=32, ttl=15.0, cleanup_interval=30,
                                   eviction="size_aware", size_classes=[512, 8192])
    assert (config.max_pool_size, config.ttl, config.cleanup_interval) == (32, 15.0, 30.0)
    assert config.eviction == "size_aware" and config.size_classes == [512, 8192]
    config.ttl = datetime.timedelta(milliseconds=1500)
    assert config.ttl == 1.5
    config.size_classes = None
    assert config.size_classes == bufferpool.default_size_classes()
    config.max_pool_size = numpy.int32(4)
    assert config.max_pool_size == 4


def test_design_presets_take_overrides():
    constrained = bufferpool.PoolConfig.memory_constrained(ttl=15.0)
    assert constrained.ttl == 15.0
    assert constrained.max_cached_bytes > 0
    fast = bufferpool.PoolConfig.performance_critical()
    assert fast.max_pool_size > bufferpool.PoolConfig().max_pool_size


def test_unknown_setting_is_named_with_the_known_ones():
    with pytest.raises(bufferpool.ConfigError) as caught:
        bufferpool.PoolConfig(max_pool=3)
    assert "'max_pool'" in str(caught.value) and "max_pool_size" in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("name, value", [
    ("max_pool_size", -1), ("max_pool_size", 2.5), ("max_pool_size", True),
    ("max_pool_size", "8"), ("ttl", -1.0), ("ttl", float("nan")), ("ttl", "15"),
    ("eviction", "lru"), ("background_cleanup", 1), ("size_classes", "256"),
    ("clock", 3), ("segments", 5),
])
def test_wrong_values_are_named(name, value):
    with pytest.raises(bufferpool.ConfigError, match=f"'{name}'"):
        bufferpool.PoolConfig(**{name: value})


def test_validate_names_the_setting():
    config = bufferpool.PoolConfig(size_classes=[1024, 256])
    with pytest.raises(bufferpool.ConfigError, match="size_classes"):
        config.validate()
    bufferpool.PoolConfig().validate()


def test_to_dict_round_trips():
    config = bufferpool.PoolConfig(max_pool_size=7, ttl=2.5, memory_limit=1 << 30)
    settings = config.to_dict()
    assert "clock" not in settings
    again = bufferpool.PoolConfig(**settings)
    assert again.to_dict() == settings
    assert "max_pool_size=7" in repr(config)


def test_python_settings_are_the_json_fields():
    # The Python settings (with their docstrings and Python types) and the
    # library's JSON are two lists: a field added to one and not the other,
    # or written in other units, fails here.
    config = bufferpool.PoolConfig(max_pool_size=7, ttl=2.5, eviction="size_aware",
                                   record_from_environment=False, track_live_buffers=True,
                                   segments={"small_segment_bytes": 4 << 20})
    assert config.to_dict() == json.loads(config.to_json())
    assert bufferpool.PoolConfig.from_json(config.to_json()).to_dict() == config.to_dict()


def test_segments_by_dict_or_object():
    config = bufferpool.PoolConfig(segments={"small_segment_bytes": 4 << 20})
    assert config.segments.small_segment_bytes == 4 << 20
    assert config.segments.large_segment_bytes == 20 << 20
    segments = bufferpool.SegmentConfig(large_segment_bytes=40 << 20)
    config.segments = segments
    assert config.segments == segments
    config.segments.dedicated_rounding_bytes = 4 << 20  # the config's own, not a copy
    assert config.to_dict()["segments"]["dedicated_rounding_bytes"] == 4 << 20
    with pytest.raises(bufferpool.ConfigError, match="small_segment"):
        bufferpool.SegmentConfig(small_segment=1)


def test_geometric_size_classes():
    classes = bufferpool.geometric_size_classes(256, 1 << 20, 4)
    assert classes[0] == 256 and classes[-1] == 1 << 20
    assert all(a < b for a, b in zip(classes, classes[1:]))
    assert len(classes) == 4 * 12 + 1
    with pytest.raises(bufferpool.ConfigError):
        bufferpool.geometric_size_classes(0, 1024, 4)


def test_manual_clock():
    clock = bufferpool.ManualClock(start=2.0)
    assert clock.now == 2.0
    clock.advance(0.5)
    assert clock.now == 2.5
    config = bufferpool.PoolConfig(clock=clock)
    assert config.clock.now == 2.5
    assert bufferpool.steady_clock().now > 0
