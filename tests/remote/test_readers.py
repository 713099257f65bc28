"""Issue 11: pages read as they are. Recorded Go (etcd) and JVM (Micrometer) pages,
a /federate page with two instances, a Flower/uWSGI-shaped JSON, a page past the
body cap, Prometheus ``fields``, and the service's own reason on a refusal. All
over real loopback HTTP servers through the real poller."""

from __future__ import annotations

import json
import math
from pathlib import Path

from flask import Flask, Response, jsonify

from memdash.config import FieldSpec, TargetConfig, config_from_mapping
from memdash.levels import Thresholds
from memdash.report import target_json
from memdash.sources.remote import TargetPoller

from .servers import wsgi_server

DATA = Path(__file__).parent / "data"
PROM = "text/plain; version=0.0.4; charset=utf-8"


def page_app(body: str | bytes, content_type: str = PROM) -> Flask:
    app = Flask("page")

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(body, content_type=content_type)

    return app


async def poll(t: TargetConfig):  # type: ignore[no-untyped-def]
    async with TargetPoller([t], Thresholds()) as poller:
        (s,) = await poller.poll_once()
    return s


async def test_go_page_from_etcd_is_the_go_runtime_and_keeps_every_series() -> None:
    with wsgi_server(page_app((DATA / "go_etcd.prom").read_text())) as base:
        s = await poll(TargetConfig(name="etcd", url=base + "/metrics"))
    assert s.ok and s.kind == "prometheus"
    assert s.rss_bytes == 110592000
    rt = s.runtime
    assert rt is not None and rt.kind == "go"
    f = rt.figures
    assert f["heap_alloc_bytes"] == 41943392 and f["heap_inuse_bytes"] == 45785088
    assert f["heap_idle_bytes"] == 32350208 and f["heap_released_bytes"] == 23068672
    assert f["heap_sys_bytes"] == 78135296 and f["next_gc_bytes"] == 67108864
    assert f["gogc_percent"] == 100 and f["gomemlimit_bytes"] == 536870912
    assert f["gc_count"] == 3817
    assert f["gc_pause_p50_seconds"] == 7.9e-05 and f["gc_pause_max_seconds"] == 0.003821
    assert rt.labels["version"] == "go1.22.8"
    assert "go runtime" in s.recognised
    # Nothing is cut at 50 any more: every go_memstats_* series is there, and the
    # memory families come before the rest.
    keys = list(s.metrics)
    assert len(keys) > 50
    assert all(f"go_memstats_{n}" in s.metrics for n in ("heap_alloc_bytes", "sys_bytes", "next_gc_bytes"))
    assert keys.index("go_memstats_sys_bytes") < keys.index("etcd_server_has_leader")
    # labelled series keep their labels, each its own key
    assert s.metrics['grpc_server_handled_total{grpc_code="OK",grpc_method="Put",grpc_service="etcdserverpb.KV",'
                     'grpc_type="unary"}'] == 2
    doc = json.loads(json.dumps(target_json(s), allow_nan=False))
    assert doc["runtime"]["kind"] == "go" and doc["runtime"]["gomemlimit_bytes"] == 536870912


async def test_jvm_page_from_micrometer() -> None:
    with wsgi_server(page_app((DATA / "jvm_micrometer.prom").read_text())) as base:
        s = await poll(TargetConfig(name="orders", url=base + "/metrics"))
    rt = s.runtime
    assert rt is not None and rt.kind == "jvm" and "jvm runtime" in s.recognised
    f = rt.figures
    assert f["heap_used_bytes"] == 3847120 + 62914568 + 33554432
    assert f["heap_committed_bytes"] == 4194304 + 117440512 + 83886080
    assert f["heap_max_bytes"] == 536870912  # -1 ("undefined") pools do not count
    assert f["nonheap_used_bytes"] == 74130104 + 19873408 + 9442376
    assert f["gc_count"] == 215 and math.isclose(f["gc_pause_total_seconds"], 1.874 + 0.031 + 0.097)
    assert f["gc_pause_max_seconds"] == 0.097
    # Micrometer's page has no process RSS: the heap stands in, against -Xmx, and says so
    assert s.rss_bytes == f["heap_used_bytes"] and s.limit_bytes == 536870912
    assert s.percent is not None and 18 < s.percent < 19
    assert any(r.startswith("memory: the JVM heap used") for r in s.recognised)
    pools = rt.groups["pools"]
    assert pools["G1 Old Gen"] == {"used_bytes": 62914568, "committed_bytes": 117440512, "max_bytes": 536870912}
    collectors = rt.groups["collectors"]
    assert collectors["G1 Young Generation"]["count"] == 214
    assert collectors["G1 Old Generation"]["max_seconds"] == 0.097


async def test_federate_page_with_two_instances_keeps_both() -> None:
    with wsgi_server(page_app((DATA / "federate_two.prom").read_text())) as base:
        s = await poll(TargetConfig(name="prom", url=base + "/metrics"))
    assert s.ok
    rows = {i.labels: i.rss_bytes for i in s.instances}
    assert rows == {'instance="api-1:8000",job="api"': 123731968, 'instance="api-2:8000",job="api"': 98304000}
    assert {i.runtime for i in s.instances} == {"python"}
    # never one silently overwriting the other: the total, said so
    assert s.rss_bytes == 123731968 + 98304000
    assert any("2 instances" in w for w in s.warnings)
    assert s.gc is None  # two processes' generations do not add up
    assert s.metrics['process_virtual_memory_bytes{instance="api-1:8000",job="api"}'] == 1002504192
    assert s.metrics['process_virtual_memory_bytes{instance="api-2:8000",job="api"}'] == 987037696


async def test_page_past_max_body_is_read_up_to_the_cap() -> None:
    head = (DATA / "go_etcd.prom").read_text()
    filler = "".join(f'app_requests_total{{route="/r{i}",code="200"}} {i}\n' for i in range(60_000))
    body = head + "# TYPE app_requests_total counter\n" + filler
    assert len(body) > 2 * 1024 * 1024
    with wsgi_server(page_app(body)) as base:
        s = await poll(TargetConfig(name="big", url=base + "/metrics", max_body=1024 * 1024, timeout=10))
        whole = await poll(TargetConfig(name="whole", url=base + "/metrics", max_body=8 * 1024 * 1024, timeout=10))
    assert s.ok and s.rss_bytes == 110592000 and s.runtime is not None and s.runtime.kind == "go"
    assert any(w.startswith("page larger than 1 MB: read ") for w in s.warnings)
    assert whole.ok and not whole.warnings


def test_max_body_in_config() -> None:
    cfg = config_from_mapping({"targets": [{"name": "a", "url": "http://127.0.0.1:1/", "max_body": "4 MB"}]})
    assert cfg.targets[0].max_body == 4 * 1024 * 1024


async def test_fields_on_a_prometheus_target_and_what_is_missing() -> None:
    body = ('# TYPE app_memory_bytes gauge\napp_memory_bytes{kind="rss"} 5.24288e+07\n'
            'app_memory_bytes{kind="heap"} 1.048576e+07\n# TYPE app_memory_limit_mib gauge\napp_memory_limit_mib 200\n')
    fields = {"rss": 'app_memory_bytes{kind="rss"}', "limit": FieldSpec("app_memory_limit_mib", "MiB"),
              "percent": "app_memory_percent"}
    with wsgi_server(page_app(body)) as base:
        s = await poll(TargetConfig(name="app", url=base + "/metrics", kind="prometheus", fields=fields))
    assert s.rss_bytes == 52428800 and s.limit_bytes == 200 * 1024 * 1024
    assert s.percent == 25.0
    assert s.warnings == ("fields.percent: no series app_memory_percent on the page",)


FLOWER = {
    "celery@worker1.example.com": {
        "pid": "4242",
        "rusage": {"maxrss": 59664, "utime": 12.5},
        "pool": {"max-concurrency": 4, "processes": [4250, 4251]},
    },
}
UWSGI = {"version": "2.0.24", "workers": [{"id": 1, "pid": 101, "rss": 41943040}, {"id": 2, "pid": 102, "rss": "52428800"}]}


async def test_flower_json_in_kib_with_dotted_keys_and_a_missing_path() -> None:
    app = Flask("flower")
    app.get("/api/workers")(lambda: jsonify(FLOWER))
    fields = {"rss": FieldSpec("/celery@worker1.example.com/rusage/maxrss", "KiB"),
              "pid": "/celery@worker1.example.com/pid",
              "limit": "/celery@worker1.example.com/limits/memory"}
    with wsgi_server(app) as base:
        s = await poll(TargetConfig(name="flower", url=base + "/api/workers", kind="json", fields=fields,
                                    limit_mb=1024))
    assert s.ok
    assert s.rss_bytes == 59664 * 1024  # 58 MiB, not 57 GiB
    assert s.percent is not None and 5.6 < s.percent < 5.8
    assert s.pid == 4242  # a number written as a string
    assert s.warnings == ("fields.limit: /celery@worker1.example.com/limits/memory resolves to nothing",)
    assert "RSS at /celery@worker1.example.com/rusage/maxrss (KiB)" in s.recognised
    doc = json.loads(json.dumps(target_json(s), allow_nan=False))
    assert doc["warnings"] == ["fields.limit: /celery@worker1.example.com/limits/memory resolves to nothing"]


async def test_uwsgi_workers_wildcard_sums_and_lists() -> None:
    app = Flask("uwsgi")
    app.get("/")(lambda: jsonify(UWSGI))
    with wsgi_server(app) as base:
        found = await poll(TargetConfig(name="discovered", url=base + "/", kind="json"))
        mapped = await poll(TargetConfig(name="mapped", url=base + "/", kind="json",
                                         fields={"rss": "workers/*/rss", "version": "version"}))
    for s in (found, mapped):
        assert s.rss_bytes == 41943040 + 52428800
        assert [(i.labels, i.rss_bytes) for i in s.instances][1][1] == 52428800
        assert len(s.instances) == 2
    assert found.instances[0].labels == "workers.0.rss"
    assert mapped.instances[0].labels == "/workers/0/rss"
    assert mapped.warnings == ('fields.version: version is a string (\'2.0.24\'), not a number',)


def test_discovery_finds_the_common_shapes() -> None:
    from memdash.sources.jsonmap import sample_from_json

    express = sample_from_json({"mem": {"rss": 61100032, "heapTotal": 30000000}, "uptime": 12}, name="e", url="u", now=1)
    assert express.rss_bytes == 61100032
    actuator = sample_from_json({"name": "jvm.memory.used", "baseUnit": "bytes",
                                 "measurements": [{"statistic": "VALUE", "value": 2.5e8}]}, name="a", url="u", now=1)
    assert actuator.rss_bytes == 250000000
    expvar = sample_from_json({"cmdline": ["/srv/app"], "memstats": {"Alloc": 1, "HeapAlloc": 7340032, "Sys": 23068672,
                                                                    "NumGC": 41, "NextGC": 8388608}}, name="g", url="u", now=1)
    assert expvar.runtime is not None and expvar.runtime.kind == "go"
    assert expvar.runtime.figures["gc_count"] == 41 and expvar.rss_bytes == 23068672
    seed0 = sample_from_json({"memory_mb": 15.2, "gc": {"threshold": [50, 2, 2], "count": [12, 1, 0]}}, name="s",
                             url="u", now=1)
    assert seed0.gc is not None
    assert [(g.count, g.threshold) for g in seed0.gc.generations] == [(12, 50), (1, 2), (0, 2)]
    string_number = sample_from_json({"rss_bytes": "61100032"}, name="s", url="u", now=1)
    assert string_number.rss_bytes == 61100032


async def test_refusal_shows_the_services_own_reason() -> None:
    app = Flask("flower")
    app.add_url_rule("/api/workers", "workers", lambda: jsonify(FLOWER))
    app.add_url_rule("/api/worker/pool/restart/<name>", "restart",
                     lambda name: Response("Pool restarts not enabled\n<br>more", 403), methods=["POST"])
    with wsgi_server(app) as base:
        t = TargetConfig(name="flower", url=base + "/api/workers", kind="json",
                         actions={"gc": "POST /api/worker/pool/restart/celery@worker1.example.com"})
        async with TargetPoller([t], Thresholds()) as poller:
            await poller.poll_once()
            result = await poller.cleanup("flower", "gc")
    assert not result.ok and result.error == "refused: Pool restarts not enabled (HTTP 403)"


async def test_a_reason_with_terminal_bytes_is_cut_and_shown_escaped() -> None:
    from memdash.textsafe import printable

    reason = "\x1b]2;pwn\x07 no " + "x" * 400
    app = Flask("bad")
    app.get("/")(lambda: Response(reason + "\nsecond line", 503))
    with wsgi_server(app) as base:
        s = await poll(TargetConfig(name="bad", url=base + "/"))
    # the sample keeps the service's words (JSON output is exact), its first line, cut to 200 characters...
    said = s.error.split("(the service says: ", 1)[1][:-1]
    assert said == reason[:199] + "…"
    # ...and every display escapes them
    shown = printable(s.error)
    assert shown.startswith("HTTP 503 SERVICE UNAVAILABLE (the service says: \\e]2;pwn\\x07 no x")
    assert "\x1b" not in shown and "\x07" not in shown and "second line" not in shown


async def test_redis_exporter_page_is_redis_and_its_own_rss_apart() -> None:
    with wsgi_server(page_app((DATA / "redis_exporter.prom").read_text())) as base:
        s = await poll(TargetConfig(name="cache", url=base + "/metrics"))
    assert s.recognised == ("redis_exporter: Redis's memory (the exporter's own RSS apart)",)
    assert s.rss_bytes == 67032064 and s.limit_bytes == 67108864  # used_memory against maxmemory
    assert s.exporter_rss_bytes == 16277504  # the exporter's 16 MB, not Redis's
    rt = s.runtime
    assert rt is not None and rt.kind == "redis"
    assert rt.figures["rss_bytes"] == 76357632 and rt.figures["fragmentation_ratio"] == 1.14
    assert rt.labels == {"maxmemory_policy": "allkeys-lru", "redis_version": "7.2.5"}
    (cache,) = s.caches
    assert cache.name == "keyspace" and cache.evictions == 48113 and cache.size == 47890
    assert math.isclose(cache.hit_rate or 0, 182311 / (182311 + 20257))
