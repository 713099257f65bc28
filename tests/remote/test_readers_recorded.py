"""The three readers driven by tables of documents as real endpoints write
them, with the exact figures a user would read off the targets table.

- JSON: documents in the shape of the seeds' endpoints (seed 001's
  ``/api/v1/memory/stats`` with ``memory_percent`` beside ``memory_used_mb``
  and a hit rate in percent; bytes, ratios, hits/misses, list paths, NaN).
- Prometheus: pages written by the real ``prometheus_client`` (text 0.0.4 and
  OpenMetrics) and by memdash.probe's own ``/metrics`` for a pre-fork group.
- Probe wire: a snapshot recorded from a real probed child over HTTP.
"""

from __future__ import annotations

import json
import math

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OM_TYPE
from prometheus_client.openmetrics.exposition import generate_latest as om_generate_latest

from memdash.sources.jsonmap import sample_from_json
from memdash.sources.probe_wire import sample_from_probe
from memdash.sources.prom import sample_from_prometheus

MB = 1024 * 1024
TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


# -- JSON -------------------------------------------------------------------

SEED_001 = {
    "status": "success",
    "data": {
        "memory_percent": 87.5, "memory_used_mb": 1750.0, "memory_available_mb": 250.0,
        "memory_status": "critical", "cache_items": 480, "cache_size_mb": 24.5, "cache_hit_rate": 91.5,
        "cache_evictions": 17, "gc_collections": 42, "gc_freed_objects": 12000,
        "gc_generation_stats": [
            {"collections": 300, "collected": 9000, "uncollectable": 0},
            {"collections": 27, "collected": 2500, "uncollectable": 0},
            {"collections": 2, "collected": 500, "uncollectable": 1},
        ],
    },
}


def _json(doc, fields=None):
    return sample_from_json(doc, name="t", url="http://127.0.0.1/x", now=1000.0, fields=fields)


def test_seed_001_stats_page() -> None:
    s = _json(SEED_001)
    assert s.rss_bytes == 1750 * MB
    assert s.percent == 87.5
    # the box's used memory is 87.5 % of its limit: 2000 MiB, derived, not 16 TB
    assert s.limit_bytes == 2000 * MB
    (cache,) = s.caches
    assert cache.hit_rate == pytest.approx(0.915)   # 91.5 was a percent
    assert cache.size == 480 and cache.size_bytes == int(24.5 * MB) and cache.evictions == 17
    assert [(g.generation, g.collections, g.collected, g.uncollectable) for g in s.gc.generations] == \
        [(0, 300, 9000, 0), (1, 27, 2500, 0), (2, 2, 500, 1)]


@pytest.mark.parametrize("doc,rss,limit", [
    ({"rss_bytes": 123456789}, 123456789, None),
    ({"rss_mb": 300}, 300 * MB, None),
    ({"rss_bytes": 10 * MB, "limit_bytes": 40 * MB}, 10 * MB, 40 * MB),
    ({"rss_mb": 10, "limit_mb": 64}, 10 * MB, 64 * MB),
    ({"memory": {"rss_bytes": 5000, "limit_bytes": 20000}}, 5000, 20000),
    ({"used_mb": 500, "percent": 25.0}, 500 * MB, 2000 * MB),
    ({"rss_bytes": 500, "memory_percent": 25.0}, 500, None),  # a process's RSS does not imply the box's limit
    ({"rss_bytes": float("nan")}, None, None),
    ({"rss_bytes": "12"}, 12, None),  # issue 11: a number written as a string is a number
    ({"rss_bytes": "12 MB"}, None, None),
    ({"rss_bytes": True}, None, None),
    ({"rss_bytes": float("inf"), "limit_bytes": 100}, None, 100),
])
def test_json_memory_figures(doc, rss, limit) -> None:
    s = _json(doc)
    assert (s.rss_bytes, s.limit_bytes) == (rss, limit)


@pytest.mark.parametrize("cache,hit_rate", [
    ({"hit_rate": 1.0}, 1.0),          # a ratio of 1 is 100 %, not 1 %
    ({"hit_rate": 0.25}, 0.25),
    ({"hit_rate": 100}, 1.0),
    ({"hit_rate": 37.5}, 0.375),
    ({"hit_rate": 0}, 0.0),
    ({"hit_rate": -3}, None),
    ({"hit_rate": float("nan")}, None),
    ({"hits": 900, "misses": 100}, 0.9),
    ({"hits": 0, "misses": 50}, 0.0),
    ({"hits": 900000, "misses": 0}, 1.0),
])
def test_json_hit_rates(cache, hit_rate) -> None:
    s = _json({"rss_bytes": 1, "cache": cache})
    if hit_rate is None:  # nothing readable: no rate (and no cache at all when it was the only figure)
        assert all(c.hit_rate is None for c in s.caches)
    else:
        (c,) = s.caches
        assert c.hit_rate == pytest.approx(hit_rate)
        assert 0.0 <= c.hit_rate <= 1.0


def test_json_configured_list_paths() -> None:
    doc = {"workers": [{"rss_mb": 100}, {"rss_mb": 250, "limit_mb": 1000}]}
    s = _json(doc, fields={"rss_mb": "workers.1.rss_mb", "limit_mb": "workers.1.limit_mb"})
    assert (s.rss_bytes, s.limit_bytes) == (250 * MB, 1000 * MB)
    s = _json(doc, fields={"rss_mb": "workers.0.rss_mb"})
    assert s.rss_bytes == 100 * MB
    s = _json(doc, fields={"rss_mb": "workers.5.rss_mb"})
    assert s.rss_bytes is None


# -- Prometheus -----------------------------------------------------------------

class _Service:
    """What a service's /metrics registry holds: GC, RSS, a limit and a cache."""

    def __init__(self, rss: float = 200 * MB, nan_first: bool = False) -> None:
        self.rss = rss
        self.nan_first = nan_first

    def collect(self):
        for name, values in [("python_gc_collections", (512, 46, 4)),
                             ("python_gc_objects_collected", (9000, 2500, 700)),
                             ("python_gc_objects_uncollectable", (0, 0, 3))]:
            fam = CounterMetricFamily(name, "gc", labels=["generation"])
            for gen, v in enumerate(values):
                fam.add_metric([str(gen)], v)
            yield fam
        if self.nan_first:
            yield GaugeMetricFamily("process_open_fds", "fds", value=float("nan"))
        yield GaugeMetricFamily("process_resident_memory_bytes", "rss", value=self.rss)
        yield GaugeMetricFamily("memdash_process_memory_limit_bytes", "limit", value=1024 * MB)
        for suffix, v in [("hits", 300), ("misses", 100)]:
            fam = CounterMetricFamily(f"memdash_cache_{suffix}", suffix, labels=["cache"])
            fam.add_metric(["users"], v)
            yield fam
        yield GaugeMetricFamily("process_max_fds", "max fds", value=1024)


def _page(collector, openmetrics: bool) -> tuple[str, str]:
    reg = CollectorRegistry()
    reg.register(collector)
    if openmetrics:
        return om_generate_latest(reg).decode(), OM_TYPE
    return generate_latest(reg).decode(), TEXT_TYPE


def _prom(text: str, ctype: str):
    return sample_from_prometheus(text, ctype, name="p", url="http://127.0.0.1/metrics", now=1.0)


@pytest.mark.parametrize("openmetrics", [False, True])
def test_prometheus_client_page(openmetrics: bool) -> None:
    s = _prom(*_page(_Service(), openmetrics))
    assert s.rss_bytes == 200 * MB
    assert s.limit_bytes == 1024 * MB
    assert [(g.generation, g.collections, g.collected, g.uncollectable) for g in s.gc.generations] == \
        [(0, 512, 9000, 0), (1, 46, 2500, 0), (2, 4, 700, 3)]
    (cache,) = s.caches
    assert (cache.name, cache.hits, cache.misses) == ("users", 300, 100)
    assert cache.hit_rate == pytest.approx(0.75)
    assert s.metrics["process_max_fds"] == 1024.0


@pytest.mark.parametrize("openmetrics", [False, True])
def test_a_nan_sample_drops_only_itself(openmetrics: bool) -> None:
    s = _prom(*_page(_Service(nan_first=True), openmetrics))
    assert "process_open_fds" not in s.metrics
    assert s.rss_bytes == 200 * MB and s.limit_bytes == 1024 * MB
    assert s.metrics["process_max_fds"] == 1024.0
    assert s.caches[0].hits == 300


def test_prefork_group_page_reads_the_group_pss() -> None:
    """memdash.probe's /metrics for a pre-fork group: two workers of 100 MB RSS
    each sharing most pages; the group's PSS (120 MB) is the figure, not 200 MB."""
    from memdash.probe import collect, metrics

    workers = []
    for pid in (4101, 4102):
        doc = collect()
        doc = dict(doc, pid=pid, memory=dict(doc["memory"], rss_bytes=100 * MB))
        workers.append(doc)
    text = metrics.render(workers, per_pid=True, group={"pss_bytes": 120 * MB, "rss_bytes": 200 * MB,
                                                        "workers": 2})
    s = _prom(text, metrics.CONTENT_TYPE)
    assert s.rss_bytes == 120 * MB
    assert s.pid is None  # a group, not one process


def test_prefork_group_without_pss_adds_the_workers() -> None:
    text = ('process_resident_memory_bytes{pid="11"} 1.0e+08\n'
            'process_resident_memory_bytes{pid="12"} 5.0e+07\n')
    s = _prom(text, TEXT_TYPE)
    assert s.rss_bytes == 150_000_000 and s.pid is None
    s = _prom('process_resident_memory_bytes{pid="11"} 1.0e+08\n', TEXT_TYPE)
    assert s.rss_bytes == 100_000_000 and s.pid == 11


# -- the probe's own wire format ----------------------------------------------

def test_probe_document_recorded_from_a_real_service(gc_service) -> None:
    r = httpx.get(gc_service.url, headers={"Authorization": f"Bearer {gc_service.token}"}, timeout=30)
    assert r.status_code == 200
    doc = r.json()
    s = sample_from_probe(doc, name="svc", url=gc_service.url, now=5.0)
    assert s.pid == doc["pid"]
    assert s.rss_bytes == doc["memory"]["rss_bytes"] > 0
    assert s.limit_bytes == doc["memory"].get("limit_bytes")
    gens = doc["gc"]["generations"] if isinstance(doc["gc"], dict) else doc["gc"]
    assert [g.generation for g in s.gc.generations] == list(range(len(gens)))
    for g, raw in zip(s.gc.generations, gens):
        assert g.collections == raw["collections"] and g.collected == raw["collected"]
        assert g.uncollectable == raw["uncollectable"]
        assert g.count == raw["count"] and g.threshold == raw["threshold"]
        for key in ("pause_total_seconds", "pause_last_seconds", "pause_max_seconds"):
            assert getattr(g, key) == raw.get(key)
    assert s.gc.enabled is doc["gc"]["enabled"] is False  # the service runs with gc disabled
    assert s.gc.garbage == doc["gc"].get("garbage")
    for key in ("pause_total_seconds", "pause_last_seconds", "pause_max_seconds"):
        assert getattr(s.gc, key) == doc["gc"].get(key)
    # the held cycles show as objects waiting in the oldest generation: gc is off in the service
    assert s.gc.generations[0].count + s.gc.generations[-1].count > 0
    assert set(s.actions) >= {"gc"}
    json.dumps(doc, allow_nan=False)
    assert not any(isinstance(v, float) and math.isnan(v) for v in doc["memory"].values())


# -- every name docs/targets.md promises is understood ---------------------------

JSON_NAMES = [  # (document, figure, expected), one row per documented name
    *[({n: 42.5, "rss_bytes": 1}, "percent", 42.5)
      for n in ("memory_percent", "percent_of_limit", "mem_percent", "memory_usage_percent", "percent")],
    *[({n: 1234}, "rss_bytes", 1234) for n in ("rss_bytes", "memory_rss_bytes", "resident_bytes")],
    *[({n: 3}, "rss_bytes", 3 * MB) for n in ("rss_mb", "memory_rss_mb", "resident_mb", "memory_mb")],
    *[({n: 7}, "rss_bytes", 7 * MB) for n in ("memory_used_mb", "used_mb")],
    *[({n: 777}, "rss_bytes", 777) for n in ("memory_used_bytes", "used_bytes")],
    *[({"rss_bytes": 1, n: 4096}, "limit_bytes", 4096) for n in ("limit_bytes", "memory_limit_bytes")],
    *[({"rss_bytes": 1, n: 16}, "limit_bytes", 16 * MB)
      for n in ("limit_mb", "memory_limit_mb", "memory_total_mb", "total_mb")],
    ({"rss_bytes": 1, "pid": 4321}, "pid", 4321),
]


@pytest.mark.parametrize("doc,figure,expected", JSON_NAMES, ids=lambda v: next(iter(v)) if isinstance(v, dict) else None)
def test_json_documented_memory_names(doc, figure, expected) -> None:
    assert getattr(_json(doc), figure) == expected


CACHE_NAMES = [
    *[({n: 0.5}, "hit_rate", 0.5) for n in ("cache_hit_rate", "hit_rate", "hit_ratio", "cache_hit_ratio")],
    *[({n: 11}, "hits", 11) for n in ("cache_hits", "hits")],
    *[({n: 12}, "misses", 12) for n in ("cache_misses", "misses")],
    *[({n: 13}, "size", 13) for n in ("cache_items", "cache_size", "currsize")],
    *[({n: 14}, "maxsize", 14) for n in ("cache_maxsize", "maxsize", "cache_max_items")],
    *[({n: 2}, "size_bytes", 2 * MB) for n in ("cache_size_mb", "cache_memory_mb")],
    *[({n: 2048}, "size_bytes", 2048) for n in ("cache_size_bytes", "cache_memory_bytes")],
    *[({n: 15}, "evictions", 15) for n in ("cache_evictions", "evictions", "evictions_count")],
]


@pytest.mark.parametrize("cache,figure,expected", CACHE_NAMES, ids=lambda v: next(iter(v)) if isinstance(v, dict) else None)
def test_json_documented_cache_names(cache, figure, expected) -> None:
    # an object is a cache once it holds a hit rate, hits, items or a size: give it one
    base = {"currsize": 3} if figure == "hit_rate" else {"hit_rate": 0.9}
    (c,) = _json({"rss_bytes": 1, "caches": {"users": {**base, **cache}}}).caches
    # flat "cache_*" names are a general stats object's, so the cache is not named for its parent
    assert c.name == ("cache" if next(iter(cache)).startswith("cache") else "users")
    assert getattr(c, figure) == pytest.approx(expected)


@pytest.mark.parametrize("name", ["gc_generation_stats", "gc_stats", "generation_stats"])
def test_json_documented_gc_names(name) -> None:
    s = _json({"rss_bytes": 1, name: [{"collections": 5, "collected": 6, "uncollectable": 0},
                                      {"collections": 2, "collected": 1, "uncollectable": 0}]})
    assert [(g.collections, g.collected) for g in s.gc.generations] == [(5, 6), (2, 1)]


@pytest.mark.parametrize("suffix,figure,expected", [
    ("hits_total", "hits", 30), ("misses_total", "misses", 10), ("evictions_total", "evictions", 4),
    ("size", "size", 50), ("currsize", "size", 50), ("items", "size", 50), ("maxsize", "maxsize", 100),
    ("size_bytes", "size_bytes", 65536), ("hit_ratio", "hit_rate", 0.25), ("hit_rate", "hit_rate", 0.25),
])
def test_prometheus_documented_cache_series(suffix, figure, expected) -> None:
    values = {"hits_total": 30, "misses_total": 10, "evictions_total": 4, "size": 50, "currsize": 50, "items": 50,
              "maxsize": 100, "size_bytes": 65536, "hit_ratio": 0.25, "hit_rate": 0.25}
    text = f'memdash_cache_{suffix}{{cache="users"}} {values[suffix]}\nprocess_resident_memory_bytes 5\n'
    (c,) = _prom(text, TEXT_TYPE).caches
    assert c.name == "users"
    assert getattr(c, figure) == pytest.approx(expected)


@pytest.mark.parametrize("name", ["memdash_process_memory_limit_bytes", "memdash_memory_limit_bytes"])
def test_prometheus_documented_limit_series(name) -> None:
    assert _prom(f"process_resident_memory_bytes 5\n{name} 8.589934592e+09\n", TEXT_TYPE).limit_bytes == 8 * 1024 ** 3


def test_prometheus_cache_series_of_workers_add_up() -> None:
    text = ('memdash_cache_hits_total{cache="u",pid="1"} 30\nmemdash_cache_hits_total{cache="u",pid="2"} 10\n'
            'memdash_cache_misses_total{cache="u",pid="1"} 40\nmemdash_cache_misses_total{cache="u",pid="2"} 20\n'
            'memdash_cache_hit_rate{cache="v",pid="1"} 0.5\n')
    caches = {c.name: c for c in _prom(text, TEXT_TYPE).caches}
    assert (caches["u"].hits, caches["u"].misses) == (40, 60)
    assert caches["u"].hit_rate == pytest.approx(0.4)
    assert caches["v"].hit_rate == pytest.approx(0.5)


def test_probe_document_with_a_tracked_cache() -> None:
    """A snapshot the real probe writes for a service with an lru_cache tracked."""
    import functools

    from memdash import probe
    from memdash.probe.caches import REGISTRY

    @functools.lru_cache(maxsize=64)
    def square(n: int) -> int:
        return n * n

    REGISTRY.untrack_all()
    probe.track_cache(square, name="squares")
    try:
        for n in (1, 2, 1, 1, 2):  # 2 misses, 3 hits
            square(n)
        doc = json.loads(json.dumps(probe.collect()))  # as it crosses the wire
    finally:
        REGISTRY.untrack_all()
    s = sample_from_probe(doc, name="svc", url="unix:/x", now=1.0)
    (c,) = s.caches
    assert (c.name, c.hits, c.misses, c.size, c.maxsize) == ("squares", 3, 2, 2, 64)
    assert c.hit_rate == pytest.approx(0.6)
    assert "caches" in s.actions and s.actions.index("gc") < s.actions.index("caches")
    assert s.metrics["memory.vms_bytes"] == doc["memory"]["vms_bytes"]
    assert s.metrics["uptime_seconds"] == doc["uptime_seconds"]


BASE_DOC = {"schema": 1, "pid": 77, "memory": {"rss_bytes": 200 * MB, "percent": 12.5, "limit_bytes": 1600 * MB,
                                               "uss_bytes": 150 * MB, "vms_bytes": 900 * MB},
            "gc": None, "caches": [], "torch": None, "actions": ["trim", "gc"]}


@pytest.mark.parametrize("group,rss", [
    ({"pss_bytes": 120 * MB, "rss_bytes": 300 * MB, "workers": 3}, 120 * MB),  # shared pages once
    ({"pss_bytes": None, "rss_bytes": 300 * MB, "workers": 3}, 300 * MB),      # no PSS readable
    ({"pss_bytes": 0, "rss_bytes": 300 * MB, "workers": 3}, 300 * MB),
    ({}, 200 * MB),                                                              # not a group
])
def test_probe_group_memory(group, rss) -> None:
    s = sample_from_probe(dict(BASE_DOC, group=group), name="g", url="u", now=1.0)
    assert s.rss_bytes == rss
    assert (s.pid, s.percent, s.limit_bytes) == (77, 12.5, 1600 * MB)
    assert s.actions == ("gc", "trim")  # in memdash's order, whatever the probe's
    assert (s.metrics["memory.uss_bytes"], s.metrics["memory.vms_bytes"]) == (150 * MB, 900 * MB)
    if group:
        assert s.metrics["group.workers"] == 3 and s.metrics["group.rss_bytes"] == 300 * MB


@pytest.mark.parametrize("rate,expected", [(0.25, 0.25), (1.0, 1.0), (1.7, 1.0), (-0.2, 0.0), (None, None),
                                           ("0.5", None), (float("nan"), None)])
def test_probe_cache_hit_rate_is_a_ratio(rate, expected) -> None:
    doc = dict(BASE_DOC, caches=[{"name": "c", "hits": 5, "misses": 1, "hit_rate": rate}, "junk"])
    (c,) = sample_from_probe(doc, name="g", url="u", now=1.0).caches
    assert c.hit_rate == expected and (c.hits, c.misses) == (5, 1)


def test_probe_torch_devices() -> None:
    doc = dict(BASE_DOC, torch={"devices": [
        {"device": 3, "allocated_bytes": 5 * MB, "reserved_bytes": 8 * MB, "max_allocated_bytes": 6 * MB,
         "name": "NVIDIA H100"},
        {"allocated_bytes": 1, "name": 12},
        "junk",
    ]})
    gpu = sample_from_probe(doc, name="g", url="u", now=1.0).gpu
    assert [(d.device, d.allocated_bytes, d.reserved_bytes, d.max_allocated_bytes, d.name) for d in gpu] == \
        [(3, 5 * MB, 8 * MB, 6 * MB, "NVIDIA H100"), (1, 1, None, None, None)]
    assert sample_from_probe(BASE_DOC, name="g", url="u", now=1.0).gpu is None


@pytest.mark.parametrize("doc,figure,expected", [
    ({"cpu": {"percent": 90.0}, "memory_percent": 40.0, "rss_bytes": 1}, "percent", 40.0),
    ({"cpu": {"percent": 90.0}, "rss_bytes": 1}, "percent", None),          # a CPU's percent is not memory's
    ({"disk": {"used_mb": 900}, "rss_mb": 2}, "rss_bytes", 2 * MB),
    ({"swap": {"rss_bytes": 900}}, "rss_bytes", None),
    ({"percent": 10.0, "data": {"memory_percent": 50.0}, "rss_bytes": 1}, "percent", 10.0),  # shallowest wins
    ({"percent": 10.0, "memory_percent": 50.0, "rss_bytes": 1}, "percent", 50.0),  # then the better name
    ({"memory_percent": "high", "percent": 30.0, "rss_bytes": 1}, "percent", 30.0),  # not a number: skipped
    ({"gc_stats": 5, "rss_bytes": 10}, "rss_bytes", 10),                    # a bad field stops nothing
    ({"device_name": 5, "rss_bytes": 10}, "rss_bytes", 10),
    ({"Memory_Percent": 33.0, "RSS_BYTES": 10}, "percent", 33.0),          # names are case-blind
])
def test_json_discovery_rules(doc, figure, expected) -> None:
    assert getattr(_json(doc), figure) == expected


def test_json_gc_stats_that_are_not_a_list_do_not_hide_later_ones() -> None:
    s = _json({"gc_stats": 5, "data": {"gc_stats": [{"collections": 1, "collected": 2, "uncollectable": 0}]},
               "rss_bytes": 1})
    assert [(g.collections, g.collected) for g in s.gc.generations] == [(1, 2)]


@pytest.mark.parametrize("gpu,expected", [
    ({"gpu_allocated_mb": 512.5, "gpu_reserved_mb": 1024, "gpu_name": "NVIDIA A10"},
     (int(512.5 * MB), 1024 * MB, None, "NVIDIA A10")),
    ({"cuda_allocated_bytes": 100, "cuda_reserved_bytes": 200, "gpu_max_allocated_mb": 1, "device_name": "X"},
     (100, 200, MB, "X")),
    ({"allocated_mb": 1, "device_name": 7}, (MB, None, None, None)),
])
def test_json_gpu_figures(gpu, expected) -> None:
    (dev,) = _json({"rss_bytes": 1, "gpu": gpu}).gpu
    assert (dev.allocated_bytes, dev.reserved_bytes, dev.max_allocated_bytes, dev.name) == expected


def test_json_configured_cache_fields() -> None:
    doc = {"stats": {"ratio": 0.8, "n": 12, "cap": 100}}
    s = _json(doc, fields={"rss_bytes": "stats.n", "hit_rate": "stats.ratio", "cache_items": "stats.n",
                           "cache_maxsize": "stats.cap"})
    (c,) = s.caches
    assert (c.name, c.hit_rate, c.size, c.maxsize) == ("cache", 0.8, 12, 100)


@pytest.mark.parametrize("answer,expected", [
    ({"before": {"memory_used_mb": 1750.0, "memory_percent": 87.3},
      "after": {"memory_used_mb": 1430.0, "memory_percent": 71.0}, "gc_collected": 1200},
     {"rss_before": 1750 * MB, "rss_after": 1430 * MB, "percent_before": 87.3, "percent_after": 71.0,
      "collected": 1200}),
    ({"ram_freed_mb": 12, "gpu": {"reserved_before_bytes": 4096, "reserved_after_bytes": 1024}},
     {"rss_freed": 12 * MB, "gpu_before": 4096, "gpu_after": 1024}),
    ({"before_bytes": 300, "after_gb": 1, "freed_percent": 5, "cpu_percent_before": 9},
     {"rss_before": 300, "rss_after": 1024 * MB}),
    ({"before": {"available_mb": 5, "swap_mb": 6, "count": 7}}, {}),
])
def test_json_cleanup_answers(answer, expected) -> None:
    from memdash.sources.jsonmap import cleanup_figures

    assert cleanup_figures(answer) == expected


def test_prometheus_cache_without_a_name_is_called_cache() -> None:
    (c,) = _prom("memdash_cache_hits_total 5\nmemdash_cache_misses_total 5\n", TEXT_TYPE).caches
    assert (c.name, c.hits, c.misses, c.hit_rate) == ("cache", 5, 5, 0.5)
    (c,) = _prom('memdash_cache_hits_total{name="pages"} 5\n', TEXT_TYPE).caches
    assert c.name == "pages"


def test_probe_cache_from_a_stats_object_with_evictions() -> None:
    from memdash import probe
    from memdash.probe.caches import REGISTRY

    class Store:
        def stats(self):
            return {"hits": 8, "misses": 2, "size": 5, "maxsize": 10, "evictions": 3, "size_bytes": 4096}

        def clear(self):
            pass

    REGISTRY.untrack_all()
    store = Store()  # the registry holds caches weakly: the service keeps its own
    probe.track_cache(store, name="store")
    try:
        doc = json.loads(json.dumps(probe.collect()))
    finally:
        REGISTRY.untrack_all()
    (c,) = sample_from_probe(doc, name="svc", url="u", now=1.0).caches
    assert (c.name, c.hits, c.misses, c.size, c.maxsize, c.evictions, c.size_bytes) == \
        ("store", 8, 2, 5, 10, 3, 4096)
    assert c.hit_rate == pytest.approx(0.8)
    uss = doc["memory"].get("uss_bytes")
    s = sample_from_probe(doc, name="svc", url="u", now=1.0)
    assert s.metrics.get("memory.uss_bytes") == (None if uss is None else float(uss))


def test_receipt_of_a_real_cleanup() -> None:
    from memdash import probe
    from memdash.sources.probe_wire import result_from_receipt

    receipt = json.loads(json.dumps(probe.cleanup("gc")))
    r = result_from_receipt(receipt, target="svc", action="all", status=200)
    assert (r.target, r.action, r.ok, r.status) == ("svc", "gc", True, 200)  # the receipt's own action wins
    assert (r.rss_before_bytes, r.rss_after_bytes, r.collected) == \
        (receipt["rss_before_bytes"], receipt["rss_after_bytes"], receipt["collected"])
    assert r.note == receipt["note"]
    noted = dict(receipt, note="RSS did not drop: try trim")
    assert result_from_receipt(noted, target="svc", action="gc", status=200).note == "RSS did not drop: try trim"


def test_receipt_of_a_prefork_group_adds_up_the_workers() -> None:
    from memdash.sources.probe_wire import result_from_receipt

    workers = [{"pid": 1, "rss_before_bytes": 100, "rss_after_bytes": 90, "collected": 5, "note": "b"},
               {"pid": 2, "rss_before_bytes": 200, "rss_after_bytes": 150, "collected": None, "note": "a"},
               {"pid": 3, "note": "a"}]
    r = result_from_receipt({"action": "gc", "ok": True, "workers": workers}, target="g", action="gc", status=200)
    assert (r.rss_before_bytes, r.rss_after_bytes, r.collected) == (300, 240, 5)
    assert r.note == "a; b"
    r = result_from_receipt({"ok": False, "error": "refused", "rss_before_bytes": 7, "workers": workers},
                            target="g", action="trim", status=429)
    assert (r.action, r.ok, r.error, r.rss_before_bytes) == ("trim", False, "refused", 7)


def test_probe_gc_pauses_per_generation() -> None:
    gens = [{"generation": 0, "count": 5, "threshold": 700, "collections": 9, "collected": 1, "uncollectable": 0,
             "pause_total_seconds": 0.5, "pause_last_seconds": 0.001, "pause_max_seconds": 0.01},
            {"count": 1, "threshold": 10, "collections": 2, "collected": 0, "uncollectable": 0,
             "pause_last_seconds": "x"}]
    doc = dict(BASE_DOC, gc={"enabled": True, "generations": gens, "garbage": 0, "pause_total_seconds": 0.5,
                             "pause_last_seconds": 0.001, "pause_max_seconds": 0.01})
    gc = sample_from_probe(doc, name="g", url="u", now=1.0).gc
    assert [(g.generation, g.pause_total_seconds, g.pause_last_seconds, g.pause_max_seconds) for g in gc.generations] \
        == [(0, 0.5, 0.001, 0.01), (1, None, None, None)]
    assert (gc.enabled, gc.garbage, gc.pause_total_seconds, gc.pause_last_seconds, gc.pause_max_seconds) == \
        (True, 0, 0.5, 0.001, 0.01)
    assert sample_from_probe(dict(BASE_DOC, gc={"enabled": "yes", "generations": []}), name="g", url="u",
                             now=1.0).gc.enabled is None
