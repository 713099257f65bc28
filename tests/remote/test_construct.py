"""memdash.sources.construct: the fast builders give exactly what the dataclasses give."""

from __future__ import annotations

import dataclasses

import pytest

from memdash.levels import Level
from memdash.model import (CacheStats, GcGeneration, GcStats, PythonMemory, TargetSample, TorchDevice)
from memdash.sources.construct import evolver, maker

FULL_SAMPLE = dict(
    name="api", url="http://127.0.0.1:1/", kind="probe", ok=True, error=None, time=12.5, last_ok=12.0, pid=42,
    rss_bytes=1 << 30, percent=12.5, limit_bytes=8 << 30,
    gc=GcStats(generations=(GcGeneration(generation=0, count=1, threshold=700, collections=3, collected=4,
                                         uncollectable=0),), enabled=True, garbage=0),
    caches=(CacheStats(name="c", hits=9, misses=1, hit_rate=0.9, size=3, maxsize=8),),
    gpu=(TorchDevice(device=0, allocated_bytes=1, reserved_bytes=2, max_allocated_bytes=3),),
    metrics={"uptime_seconds": 3.0}, actions=("gc", "trim"), level=Level.WARNING,
    python_memory=PythonMemory(rss_bytes=5, methods={"rss_bytes": "statm"}, tracked_objects=(1, 2, None)),
    workers=3, workers_seen=True, service="gunicorn",
)


@pytest.mark.parametrize("kwargs", [
    dict(name="a", url="u", kind="probe", ok=False),  # every default
    FULL_SAMPLE,
])
def test_sample_built_is_the_dataclass_one(kwargs: dict) -> None:
    made = maker(TargetSample)(**kwargs)
    expected = TargetSample(**kwargs)
    assert type(made) is TargetSample
    assert made == expected
    assert {f.name: getattr(made, f.name) for f in dataclasses.fields(TargetSample)} == \
        {f.name: getattr(expected, f.name) for f in dataclasses.fields(TargetSample)}
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.rss_bytes = 1  # type: ignore[misc]


def test_default_factories_give_each_object_its_own() -> None:
    make = maker(TargetSample)
    a, b = make(name="a", url="u", kind="probe", ok=True), make(name="b", url="u", kind="probe", ok=True)
    assert a.metrics == {} and a.metrics is not b.metrics
    assert maker(PythonMemory)().methods == {}


def test_arguments_as_the_class_takes_them() -> None:
    make = maker(GcGeneration)
    with pytest.raises(TypeError):
        make(generation=0)  # the required fields stay required
    with pytest.raises(TypeError):
        make(0, 1, 2, 3, 4, 5)  # keyword-only, as the class
    with pytest.raises(TypeError):
        make(generation=0, count=1, threshold=2, collections=3, collected=4, uncollectable=5, colour="red")


@pytest.mark.parametrize("cls, kwargs", [
    (GcGeneration, dict(generation=2, count=None, threshold=10, collections=1, collected=0, uncollectable=0,
                        pause_max_seconds=0.5)),
    (GcStats, dict(generations=())),
    (CacheStats, dict(name="x", hits=None, misses=None, hit_rate=None, size=None, maxsize=None, evictions=4)),
    (TorchDevice, dict(device=1, allocated_bytes=None, reserved_bytes=9, max_allocated_bytes=None, name="A100")),
    (PythonMemory, dict(allocator="pymalloc", tracked_objects=(1,))),
])
def test_each_probe_model_type(cls: type, kwargs: dict) -> None:
    assert maker(cls)(**kwargs) == cls(**kwargs)


def test_evolve_is_replace() -> None:
    sample = TargetSample(**FULL_SAMPLE)
    evolve = evolver(TargetSample, ("percent", "limit_bytes", "level", "actions"))
    changes = dict(percent=None, limit_bytes=None, level=Level.CRITICAL, actions=())
    out = evolve(sample, **changes)
    assert out == dataclasses.replace(sample, **changes)
    assert sample.level is Level.WARNING  # the original is untouched
    assert out.gc is sample.gc and out.metrics is sample.metrics  # unchanged fields are shared, as replace does


def test_classes_it_cannot_build_get_their_own_init() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        n: int

        def __post_init__(self) -> None:
            if self.n < 0:
                raise ValueError("negative")

    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        n: int

    assert maker(Checked) is Checked
    with pytest.raises(ValueError):
        maker(Checked)(n=-1)
    assert maker(NoSlots) is NoSlots
    assert evolver(NoSlots, ("n",))(NoSlots(n=1), n=2) == NoSlots(n=2)
