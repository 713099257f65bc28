"""``json`` targets end to end: Flask apps in the style of seeds 001 and 004."""

from __future__ import annotations

import gc

from flask import Flask, jsonify, request

from memdash.config import TargetConfig
from memdash.levels import Level, Thresholds
from memdash.sources.jsonmap import MIB, discover
from memdash.sources.remote import TargetPoller, supported_actions

from .servers import TOKEN, wsgi_server


def seed_001_app(calls: list[str]) -> Flask:
    """Seed 001's memory blueprint: stats with percent figures, GC and optimize routes."""
    app = Flask("seed001")
    state = {"percent": 87.3, "used": 1750.0}

    @app.get("/api/v1/memory/stats")
    def stats():  # type: ignore[no-untyped-def]
        return jsonify({
            "status": "success",
            "data": {
                "memory_percent": state["percent"],
                "memory_used_mb": state["used"],
                "memory_available_mb": 250.0,
                "memory_status": "critical",
                "cache_items": 480,
                "cache_size_mb": 24.5,
                "cache_hit_rate": 91.5,  # a percent, as seed 001 reports it
                "cache_evictions": 17,
                "gc_collections": 42,
                "gc_freed_objects": 12000,
                "gc_generation_stats": [
                    {"collections": 300, "collected": 9000, "uncollectable": 0},
                    {"collections": 27, "collected": 2500, "uncollectable": 0},
                    {"collections": 2, "collected": 500, "uncollectable": 1},
                ],
                "modules_loaded": 12,
            },
        })

    @app.post("/api/v1/memory/gc/force")
    def gc_force():  # type: ignore[no-untyped-def]
        calls.append("gc")
        state["used"] -= 100.0
        state["percent"] -= 5.0
        return jsonify({"status": "success", "objects_collected": gc.collect()})

    @app.post("/api/v1/memory/optimize/force")
    def optimize_force():  # type: ignore[no-untyped-def]
        calls.append("all")
        return jsonify({
            "status": "success",
            "before": {"memory_percent": 87.3, "memory_used_mb": 1750.0},
            "after": {"memory_percent": 71.0, "memory_used_mb": 1430.0},
            "improvement": {"percent_freed": 16.3, "memory_freed_mb": 320.0},
        })

    return app


def seed_004_app(calls: list[str]) -> Flask:
    """Seed 004's admin API: bearer-protected RAM/GPU figures and a cache-clear route."""
    app = Flask("seed004")

    def authorized() -> bool:
        return request.headers.get("Authorization") == f"Bearer {TOKEN}"

    @app.get("/api/admin/memory")
    def memory():  # type: ignore[no-untyped-def]
        if not authorized():
            return jsonify({"detail": "Not authenticated"}), 401
        return jsonify({
            "ram": {"rss_mb": 2048.5, "vms_mb": 8123.0},
            "gpu": {"allocated_mb": 512.3, "reserved_mb": 4096.0, "device_name": "Tesla T4"},
        })

    @app.post("/api/admin/diarization/cache/clear")
    def clear():  # type: ignore[no-untyped-def]
        if not authorized():
            return jsonify({"detail": "Not authenticated"}), 401
        calls.append("caches")
        return jsonify({"message": "Cache cleared", "ram_freed_mb": 1024.3, "gpu_freed_mb": 3583.5})

    return app


async def test_seed_001_discovery_and_actions() -> None:
    calls: list[str] = []
    with wsgi_server(seed_001_app(calls)) as base:
        t = TargetConfig(
            name="backend", url=base + "/api/v1/memory/stats",
            actions={"gc": "POST /api/v1/memory/gc/force", "all": "POST /api/v1/memory/optimize/force"},
        )
        async with TargetPoller([t], Thresholds()) as poller:
            (s,) = await poller.poll_once()
            assert poller.kind("backend") == "json"  # auto, decided and remembered
            gc_result = await poller.cleanup("backend", "gc")
            all_result = await poller.cleanup("backend", "all")
            unsupported = await poller.cleanup("backend", "cuda")

    assert s.ok and s.kind == "json"
    assert s.percent == 87.3 and s.level is Level.CRITICAL
    assert s.rss_bytes == int(1750.0 * MIB)
    (cache,) = s.caches
    assert cache.hit_rate == 0.915 and cache.size == 480 and cache.evictions == 17
    assert cache.size_bytes == int(24.5 * MIB)
    assert s.gc is not None and [g.collections for g in s.gc.generations] == [300, 27, 2]
    assert s.gc.generations[2].uncollectable == 1
    assert s.metrics["data.gc_collections"] == 42 and s.metrics["data.memory_available_mb"] == 250
    assert s.metrics["data.modules_loaded"] == 12
    assert supported_actions(s) == ("gc", "all")

    assert calls == ["gc", "all"]  # the mapped routes were really hit
    # gc: the service names no before/after, so memdash measured with two polls.
    assert gc_result.ok and gc_result.rss_freed_bytes == int(1750.0 * MIB) - int(1650.0 * MIB)
    assert gc_result.collected is not None
    assert gc_result.note is not None and "87.3 % -> 82.3 %" in gc_result.note
    assert "measured by memdash" in gc_result.note
    # all: the service's own before/after win.
    assert all_result.rss_before_bytes == int(1750.0 * MIB) and all_result.rss_after_bytes == int(1430.0 * MIB)
    assert all_result.note is not None and "87.3 % -> 71.0 %" in all_result.note
    assert "as the service reported" in all_result.note
    assert not unsupported.ok and unsupported.error == "this target does not support cuda"


async def test_seed_004_bearer_fields_and_cache_clear(token_env: str) -> None:
    calls: list[str] = []
    with wsgi_server(seed_004_app(calls)) as base:
        t = TargetConfig(
            name="transcriber", url=base + "/api/admin/memory", kind="json", token_env=token_env,
            limit_mb=4096, actions={"caches": "POST /api/admin/diarization/cache/clear"},
        )
        no_token = TargetConfig(name="anon", url=base + "/api/admin/memory", kind="json",
                                actions={"caches": "POST /api/admin/diarization/cache/clear"})
        async with TargetPoller([t, no_token], Thresholds()) as poller:
            s, anon = await poller.poll_once()
            result = await poller.cleanup("transcriber", "caches")
            refused = await poller.cleanup("anon", "caches")

    assert s.ok, s.error
    assert s.rss_bytes == int(2048.5 * MIB)
    assert s.limit_bytes == 4096 * MIB and abs(s.percent - 2048.5 / 4096 * 100) < 1e-9  # type: ignore[operator]
    assert s.level is Level.EXCELLENT
    (dev,) = s.gpu or ()
    assert dev.name == "Tesla T4" and dev.reserved_bytes == 4096 * MIB
    assert dev.allocated_bytes == int(512.3 * MIB)
    assert s.metrics == {"ram.vms_mb": 8123.0}
    assert supported_actions(s) == ("caches",)

    assert not anon.ok and anon.error is not None and anon.error.startswith("HTTP 401")
    assert calls == ["caches"]
    assert result.ok and result.note is not None and "freed 1024.3 MB of RAM" in result.note
    assert "freed 3583.5 MB of GPU" in result.note
    assert result.rss_before_bytes == int(2048.5 * MIB)
    assert refused.error == ("refused: the token is missing or wrong (set token_env or token_file)"
                             " (the service says: Not authenticated)")


async def test_configured_fields_override_discovery() -> None:
    app = Flask("custom")

    @app.get("/m")
    def m():  # type: ignore[no-untyped-def]
        return jsonify({"percent": 5.0, "app": {"heap": {"pct": 81.0, "resident": 300.0}}})

    with wsgi_server(app) as base:
        t = TargetConfig(name="c", url=base + "/m", kind="json",
                         fields={"percent": "app.heap.pct", "rss_mb": "app.heap.resident"})
        async with TargetPoller([t], Thresholds()) as poller:
            (s,) = await poller.poll_once()
    assert s.percent == 81.0 and s.rss_bytes == 300 * MIB and s.level is Level.WARNING
    assert s.metrics == {"percent": 5.0}


def test_discover_walks_the_whole_document() -> None:
    doc = {
        "cpu": {"percent": 90.0},
        "services": [{"worker": {"stats": {"memory_percent": 55.5, "rss_bytes": 1234}}}],
        "percent": 12.0,
    }
    paths = discover(doc)
    # the shallow "percent" wins over the deep memory_percent; the CPU's never counts.
    assert paths["percent"] == "percent"
    assert paths["rss_bytes"] == "services.0.worker.stats.rss_bytes"
    assert discover({"cpu": {"percent": 1}}) == {}


def test_seed_003_memory_usage_is_a_percent_and_the_rest_are_extras() -> None:
    from memdash.sources.jsonmap import sample_from_json

    doc = {"performance_metrics": {"requests_per_second": 12.5, "active_connections": 3,
                                   "db_connections": 20, "memory_usage": 61.0}}
    s = sample_from_json(doc, name="ippel", url="u", now=1.0)
    # issue 11: a field called memory_usage is the memory percent.
    assert s.rss_bytes is None and s.percent == 61.0
    assert "percent at performance_metrics.memory_usage" in s.recognised
    assert s.metrics == {"performance_metrics.requests_per_second": 12.5,
                         "performance_metrics.active_connections": 3.0,
                         "performance_metrics.db_connections": 20.0}


def test_metrics_are_bounded() -> None:
    from memdash.sources.jsonmap import MAX_METRICS, sample_from_json

    s = sample_from_json({f"m{i}": i for i in range(500)}, name="n", url="u", now=1.0)
    assert len(s.metrics) == MAX_METRICS


async def test_seed_001_percent_is_kept_beside_a_configured_limit() -> None:
    # Seed 001 reports the box's used memory and percent; a limit_mb in the
    # config (meant for process RSS) must not turn 87.3 % into 1750/512 = 342 %.
    with wsgi_server(seed_001_app([])) as base:
        t = TargetConfig(name="backend", url=base + "/api/v1/memory/stats", kind="json", limit_mb=512)
        async with TargetPoller([t], Thresholds()) as poller:
            (s,) = await poller.poll_once()
    assert s.ok and abs(s.percent - 87.3) < 0.01 and s.level is Level.CRITICAL  # type: ignore[operator]
    assert s.rss_bytes == int(1750.0 * MIB)
