"""Numbers a service chose: "unlimited" limits and out-of-range figures.

Each target kind is served for real on loopback. A limit of -1, 0, NaN or Inf is
"no limit" (no percent against it, never a negative percent shown as excellent);
one out-of-range figure (401 digits, 1e303, +Inf, NaN, a negative size) drops
that figure and the rest of the answer is read.
"""

from __future__ import annotations

import json

import pytest
from flask import Flask, Response

from memdash.config import TargetConfig
from memdash.levels import Level, Thresholds
from memdash.sources.remote import TargetPoller

from .servers import wsgi_server

MIB = 1024 * 1024
BIG = "9" * 401  # a 401-digit integer: valid JSON, and Prometheus reads it as +Inf


def serve(body: str, content_type: str) -> Flask:
    app = Flask("numbers")

    @app.get("/m")
    def m():  # type: ignore[no-untyped-def]
        return Response(body, content_type=content_type)

    return app


async def poll(body: str, content_type: str, kind: str, **target: object):  # type: ignore[no-untyped-def]
    with wsgi_server(serve(body, content_type)) as base:
        t = TargetConfig(name="t", url=base + "/m", kind=kind, timeout=2.0, **target)  # type: ignore[arg-type]
        async with TargetPoller([t], Thresholds()) as poller:
            (sample,) = await poller.poll_once()
    return sample


def probe_doc(memory: str, gc: str = "null", caches: str = "[]") -> str:
    # Written as text: json.dumps cannot write a 401-digit number beside NaN the way a service might.
    return (
        '{"schema": 1, "probe": "memdash.probe", "pid": 4242, "memory": ' + memory
        + ', "gc": ' + gc + ', "caches": ' + caches + ', "actions": ["gc"]}'
    )


UNLIMITED_JSON = ["-1", "0", "NaN", "Infinity", "-Infinity", "1e400", BIG]


@pytest.mark.parametrize("limit", UNLIMITED_JSON)
async def test_probe_unlimited_limit_is_no_limit(limit: str) -> None:
    s = await poll(probe_doc('{"rss_bytes": 104857600, "limit_bytes": ' + limit + ', "percent": -390000}'),
                   "application/json", "probe")
    assert s.ok, s.error
    assert s.rss_bytes == 100 * MIB
    assert s.limit_bytes is None and s.percent is None
    assert s.level is Level.UNKNOWN  # no figure, never "excellent" from a negative percent


@pytest.mark.parametrize("limit", ["-1", "0", "NaN", "+Inf", "-Inf"])
async def test_prometheus_unlimited_limit_is_no_limit(limit: str) -> None:
    text = (
        "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 104857600\n"
        f"# TYPE memdash_process_memory_limit_bytes gauge\nmemdash_process_memory_limit_bytes {limit}\n"
    )
    s = await poll(text, "text/plain; version=0.0.4", "prometheus")
    assert s.ok, s.error
    assert s.rss_bytes == 100 * MIB and s.limit_bytes is None and s.percent is None


@pytest.mark.parametrize("limit", ["-1", "0", "NaN", "Infinity", BIG])
async def test_json_unlimited_limit_is_no_limit(limit: str) -> None:
    s = await poll('{"rss_mb": 100, "limit_mb": ' + limit + ', "requests": 7}', "application/json", "json")
    assert s.ok, s.error
    assert s.rss_bytes == 100 * MIB and s.limit_bytes is None and s.percent is None
    assert s.metrics == {"requests": 7.0}  # the limit's path is not an extra metric either


async def test_config_limit_applies_when_the_service_says_unlimited() -> None:
    s = await poll('{"rss_mb": 100, "limit_mb": -1}', "application/json", "json", limit_mb=400)
    assert s.limit_bytes == 400 * MIB and s.percent == pytest.approx(25.0)
    assert s.level is Level.EXCELLENT


@pytest.mark.parametrize("bad", [BIG, "1e303", "Infinity", "NaN", "-5"])
async def test_probe_one_bad_figure_drops_that_field(bad: str) -> None:
    gc = ('{"generations": [{"generation": 0, "count": ' + bad + ', "collections": 12},'
          ' {"generation": 1, "count": 3, "collections": ' + bad + '}], "pause_total_seconds": ' + bad + '}')
    caches = '[{"name": "users", "hits": ' + bad + ', "misses": 10, "size_bytes": ' + bad + ', "size": 5}]'
    s = await poll(probe_doc('{"rss_bytes": ' + bad + ', "vms_bytes": 4096, "limit_bytes": 209715200}', gc, caches),
                   "application/json", "probe")
    assert s.ok, s.error
    assert s.rss_bytes is None and s.limit_bytes == 200 * MIB and s.pid == 4242
    assert s.metrics["memory.vms_bytes"] == 4096
    g0, g1 = s.gc.generations
    assert (g0.count, g0.collections, g1.count, g1.collections) == (None, 12, 3, None)
    assert s.gc.pause_total_seconds is None
    (cache,) = s.caches
    assert (cache.name, cache.hits, cache.misses, cache.size, cache.size_bytes) == ("users", None, 10, 5, None)
    assert s.actions == ("gc",)


@pytest.mark.parametrize("bad", ["+Inf", "NaN", "-Inf", "1e303", BIG])
async def test_prometheus_one_bad_figure_drops_that_field(bad: str) -> None:
    text = "\n".join([
        "# TYPE process_resident_memory_bytes gauge",
        f"process_resident_memory_bytes {bad}",
        "# TYPE python_gc_collections counter",
        f'python_gc_collections_total{{generation="0"}} {bad}',
        'python_gc_collections_total{generation="1"} 5',
        "# TYPE memdash_cache_hits counter",
        f'memdash_cache_hits_total{{cache="users"}} {bad}',
        "# TYPE memdash_cache_misses counter",
        'memdash_cache_misses_total{cache="users"} 10',
        "# TYPE process_open_fds gauge",
        "process_open_fds 12",
        "",
    ])
    s = await poll(text, "text/plain; version=0.0.4", "prometheus")
    assert s.ok, s.error
    assert s.rss_bytes is None  # 1e303 bytes is no size either
    gens = {g.generation: g.collections for g in s.gc.generations}
    assert gens.get(1) == 5 and gens.get(0) is None
    (cache,) = s.caches
    assert cache.misses == 10 and cache.hits is None
    assert s.metrics["process_open_fds"] == 12


@pytest.mark.parametrize("bad", [BIG, "1e303", "Infinity", "NaN", "-5"])
async def test_json_one_bad_figure_drops_that_field(bad: str) -> None:
    doc = ('{"rss_mb": ' + bad + ', "memory_percent": 40, "gc_counts": [' + bad + ', 3, 1],'
           ' "cache": {"hits": ' + bad + ', "misses": 4, "cache_items": 6, "cache_size_mb": ' + bad + '},'
           ' "gpu": {"allocated_mb": ' + bad + ', "reserved_mb": 512}, "queue_depth": 9}')
    s = await poll(doc, "application/json", "json")
    assert s.ok, s.error
    assert s.rss_bytes is None and s.percent == 40
    assert [g.count for g in s.gc.generations] == [None, 3, 1]
    (cache,) = s.caches
    assert cache.misses == 4 and cache.size == 6 and cache.size_bytes is None and cache.hits is None
    (device,) = s.gpu
    assert device.allocated_bytes is None and device.reserved_bytes == 512 * MIB
    assert s.metrics["queue_depth"] == 9


async def test_json_cleanup_figures_past_any_size_are_ignored() -> None:
    app = Flask("cleanup")

    @app.get("/m")
    def m():  # type: ignore[no-untyped-def]
        return Response('{"rss_mb": 100}', content_type="application/json")

    @app.post("/gc")
    def gc():  # type: ignore[no-untyped-def]
        return Response('{"ram_before_mb": 1e303, "ram_after_mb": 90, "collected": 12}',
                        content_type="application/json")

    with wsgi_server(app) as base:
        t = TargetConfig(name="t", url=base + "/m", kind="json", actions={"gc": "POST /gc"})
        async with TargetPoller([t], Thresholds()) as poller:
            result = await poller.cleanup("t", "gc")
    assert result.ok, result.error
    assert result.rss_after_bytes == 90 * MIB and result.collected == 12
    assert result.rss_before_bytes == 100 * MIB  # memdash's own poll, not 1e303 MB
    json.dumps(result.raw)  # the receipt is still a plain document


@pytest.mark.parametrize("as_bytes", [True, False])
def test_json_reader_drops_overlong_integers_whether_or_not_the_fast_path_is_taken(as_bytes):
    """An answer with no run of 40 digits is read by the C scanner alone; one with
    such a run goes through the guarded path. Both read the same document the same."""
    from memdash.sources.transport import loads

    ok40 = "1" + "0" * 39  # 40 digits: kept
    cases = [
        ('{"rss": 123, "neg": -7, "f": 1.5, "s": "12345"}', {"rss": 123, "neg": -7, "f": 1.5, "s": "12345"}),
        (f'{{"a": {ok40}, "b": 1}}', {"a": int(ok40), "b": 1}),
        (f'{{"a": {ok40}0, "b": 1}}', {"a": None, "b": 1}),  # 41 digits: dropped, the rest read
        (f'{{"a": -{ok40}, "b": 2}}', {"a": None, "b": 2}),  # sign included: past 40 characters
        (f'{{"a": {"9" * 5000}, "b": 3}}', {"a": None, "b": 3}),  # past int()'s own limit: no ValueError
        (f'{{"id": "{"7" * 64}", "n": 4}}', {"id": "7" * 64, "n": 4}),  # digits in a string stay a string
        ('{"x": NaN, "y": Infinity, "z": 5}', {"x": None, "y": None, "z": 5}),
    ]
    for text, want in cases:
        assert loads(text.encode() if as_bytes else text) == want


def test_json_reader_drops_overlong_integers_in_utf16_too():
    from memdash.sources.transport import loads

    assert loads(f'{{"a": {"9" * 5000}, "b": 3}}'.encode("utf-16")) == {"a": None, "b": 3}
