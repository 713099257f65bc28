"""The demo scene: a fixed box for README screenshots and their snapshot tests.

A 16 GiB box running a gunicorn API, a Celery worker that leaks into its 1.5 GiB
cgroup limit, Redis, Postgres, a Node front end and a training job on a GPU;
four targets (the Celery worker's probe on its Unix socket, the API's probe, a
Redis, and a remote service that stopped answering). Nothing in it comes from
the machine that renders it: processes, services, targets, the GPU, five
minutes of history and the clock are all the scene's, so the same scene draws
the same screen anywhere.

:class:`SceneEngine` is the real :class:`~memdash.engine.Engine` (its local
thread, its target join, its frames) over a :class:`SceneCollector`; it only
stamps each frame with the scene's clock and its history.
``docs/screenshots.py`` renders the README's screenshots from it with
:func:`shoot`; ``tests/tui/test_screenshots.py`` renders them again and
compares, so they cannot go stale.
"""

from __future__ import annotations

import dataclasses
import math
import re
import zlib
from typing import Any, Callable

from memdash.history import service_series_key
from memdash.config import Config
from memdash.engine import Engine, Frame, SeriesView, target_runtime_keys, target_series_keys
from memdash.levels import Level, Thresholds
from memdash.model import (
    CacheStats, CgroupMemory, GcGeneration, GcStats, GpuDevice, GpuProcess, GpuStatus, MemoryBreakdown,
    MemoryPressure, OomKills, ProcessMemory, PythonMemory, Runtime, ServiceMemory, ServiceWorker, Snapshot,
    SystemMemory, TargetSample,
)

MiB = 1024 * 1024
GiB = 1024 * MiB
#: The scene's "now" (2026-11-29 14:00:00 UTC): every figure and age is relative to it.
NOW = 1_795_960_800.0
RAM = 16 * GiB
CELERY_LIMIT = 1536 * MiB
REDIS_LIMIT = 512 * MiB
THRESHOLDS = Thresholds()
#: Seconds of history each series holds, a point every STEP seconds.
SPAN, STEP = 300, 5

#: pid, ppid, name, command line, user, RSS MiB, USS, PSS, swap, growth MiB/min,
#: USS/PSS read this many seconds before RSS, limit, GPU MiB
_PROCS: tuple[tuple[Any, ...], ...] = (
    (4200, 1, "celery", "/opt/venv/bin/python3 -m celery -A tasks worker --concurrency 2", "app",
     820, 790, 801, 0, 3.1, 0, CELERY_LIMIT, None),
    (4201, 4200, "celery", "/opt/venv/bin/python3 -m celery -A tasks worker --concurrency 2", "app",
     371, 340, 352, 0, 0.4, 6, CELERY_LIMIT, None),
    (2210, 1, "python3", "/opt/venv/bin/python3 train.py --model resnet50 --epochs 90", "ml",
     640, 610, 622, 0, 0.0, 0, RAM, 14_200),
    (3101, 3100, "gunicorn", "gunicorn: worker [api]", "app", 412, 371, 384, 0, 0.9, 4, RAM, None),
    (3102, 3100, "gunicorn", "gunicorn: worker [api]", "app", 398, 360, 372, 0, 0.1, 0, RAM, None),
    (3103, 3100, "gunicorn", "gunicorn: worker [api]", "app", 377, 339, 351, 0, 0.0, 0, RAM, None),
    (5300, 1, "postgres", "/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main", "postgres",
     244, 38, 96, 0, 0.0, 0, RAM, None),
    (6379, 1, "redis-server", "/usr/bin/redis-server 127.0.0.1:6379", "redis", 183, 180, 181, 0, 0.2, 0,
     REDIS_LIMIT, None),
    (7001, 1, "node", "node /srv/web/server.js --port 3000", "app", 146, 131, 137, 0, 0.0, 0, RAM, None),
    (3100, 1, "gunicorn", "gunicorn: master [api]", "app", 61, 22, 31, 0, 0.0, 0, RAM, None),
    (5310, 5300, "postgres", "postgres: 15/main: checkpointer", "postgres", 52, 3, 12, 0, 0.0, 0, RAM, None),
    (812, 1, "sshd", "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups", "root", 9, 2, 4, 0, 0.0, 0,
     RAM, None),
    (1, 0, "systemd", "/sbin/init", "root", 12, None, None, None, 0.0, 0, RAM, None),
)


def _process(row: tuple[Any, ...]) -> ProcessMemory:
    pid, ppid, name, cmd, user, rss, uss, pss, swap, growth, smaps_age, limit, gpu = row
    percent = 100.0 * rss * MiB / limit

    def mib(v: int | None) -> int | None:
        return None if v is None else v * MiB

    return ProcessMemory(
        pid=pid, ppid=ppid, name=name, cmdline=cmd, user=user, rss_bytes=rss * MiB, uss_bytes=mib(uss),
        pss_bytes=mib(pss), swap_bytes=mib(swap), smaps_time=None if uss is None else NOW - smaps_age,
        limit_bytes=limit, percent=percent, growth_bytes_per_min=growth * MiB, gpu_bytes=mib(gpu),
        level=THRESHOLDS.classify(percent),
    )


def _worker(p: ProcessMemory, role: str) -> ServiceWorker:
    return ServiceWorker(pid=p.pid, ppid=p.ppid, name=p.name, cmdline=p.cmdline, role=role, rss_bytes=p.rss_bytes,
                         pss_bytes=p.pss_bytes, uss_bytes=p.uss_bytes, swap_bytes=p.swap_bytes,
                         growth_bytes_per_min=p.growth_bytes_per_min)


def _services(procs: dict[int, ProcessMemory]) -> tuple[ServiceMemory, ...]:
    def total(pids: tuple[int, ...], field: str) -> int:
        return sum(getattr(procs[p], field) or 0 for p in pids)

    celery_ws = 1_214 * MiB
    celery_growth = 3.5 * MiB
    celery_pct = 100.0 * celery_ws / CELERY_LIMIT
    api = (3100, 3101, 3102, 3103)
    api_rss = total(api, "rss_bytes")
    redis_ws = 190 * MiB
    return (
        ServiceMemory(
            key="cgroup:/system.slice/celery.service", name="celery.service", kind="cgroup", program="celery",
            cgroup_path="/system.slice/celery.service", cgroup_version=2, worker_count=2, process_count=2,
            workers=(_worker(procs[4200], "master"), _worker(procs[4201], "worker")),
            rss_bytes=total((4200, 4201), "rss_bytes"), pss_bytes=total((4200, 4201), "pss_bytes"),
            uss_bytes=total((4200, 4201), "uss_bytes"), swap_bytes=0, usage_bytes=1_342 * MiB,
            limit_bytes=CELERY_LIMIT, limit_source="cgroup", working_set_bytes=celery_ws, percent=celery_pct,
            breakdown=MemoryBreakdown(anon_bytes=1_150 * MiB, file_bytes=161 * MiB, kernel_bytes=27 * MiB,
                                      slab_bytes=19 * MiB, shmem_bytes=4 * MiB, sock_bytes=2 * MiB,
                                      inactive_file_bytes=128 * MiB),
            pressure=MemoryPressure(some_avg10=0.4, full_avg10=0.0), oom_kills=OomKills(count=0),
            growth_bytes_per_min=celery_growth, oom_eta_seconds=(CELERY_LIMIT - celery_ws) / celery_growth * 60,
            growing_after_gc=True, reasons=("working set 79% of its limit", "growing after GC"),
            level=THRESHOLDS.classify(celery_pct),
        ),
        ServiceMemory(
            key="prefork:3100:1795950000", name="gunicorn [3100]", kind="prefork", program="gunicorn",
            master_pid=3100, worker_count=3, process_count=4,
            workers=(_worker(procs[3100], "master"), *(_worker(procs[p], "worker") for p in api[1:])),
            rss_bytes=api_rss, pss_bytes=total(api, "pss_bytes"), uss_bytes=total(api, "uss_bytes"), swap_bytes=0,
            limit_bytes=RAM, limit_source="host", working_set_bytes=api_rss, percent=100.0 * api_rss / RAM,
            growth_bytes_per_min=1.0 * MiB, level=THRESHOLDS.classify(100.0 * api_rss / RAM),
        ),
        ServiceMemory(
            key="cgroup:/system.slice/redis-server.service", name="redis-server.service", kind="cgroup",
            program="redis-server", cgroup_path="/system.slice/redis-server.service", cgroup_version=2,
            worker_count=1, process_count=1, workers=(_worker(procs[6379], "process"),),
            rss_bytes=procs[6379].rss_bytes, usage_bytes=201 * MiB, limit_bytes=REDIS_LIMIT, limit_source="cgroup",
            working_set_bytes=redis_ws, percent=100.0 * redis_ws / REDIS_LIMIT, oom_kills=OomKills(count=0),
            breakdown=MemoryBreakdown(anon_bytes=181 * MiB, file_bytes=14 * MiB, kernel_bytes=5 * MiB),
            growth_bytes_per_min=0.2 * MiB, level=THRESHOLDS.classify(100.0 * redis_ws / REDIS_LIMIT),
        ),
    )


def _gc(collections: tuple[int, int, int]) -> GcStats:
    gens = tuple(
        GcGeneration(generation=i, count=count, threshold=threshold, collections=n, collected=collected,
                     uncollectable=0, pause_max_seconds=pause)
        for i, (count, threshold, n, collected, pause) in enumerate(zip(
            (412, 7, 3), (700, 10, 10), collections, (1_902_311, 210_422, 48_120), (0.0009, 0.004, 0.061)))
    )
    return GcStats(generations=gens, enabled=True, pause_total_seconds=4.82, pause_last_seconds=0.0006,
                   pause_max_seconds=0.061, garbage=0)


def _targets() -> tuple[TargetSample, ...]:
    seen = NOW - 1
    celery_rss = 820 * MiB
    return (
        TargetSample(
            name="celery", url="unix:/run/memdash/4200.sock", kind="probe", ok=True, time=seen, last_ok=seen,
            pid=4200, rss_bytes=celery_rss, limit_bytes=CELERY_LIMIT, percent=100.0 * celery_rss / CELERY_LIMIT,
            gc=_gc((88_412, 8_031, 702)),
            caches=(
                CacheStats(name="tasks.lookup_customer", hits=182_330, misses=9_204, hit_rate=182_330 / 191_534,
                           size=4096, maxsize=4096),
                CacheStats(name="tasks.render_invoice", hits=4_870, misses=3_911, hit_rate=4_870 / 8_781,
                           size=512, maxsize=512),
                CacheStats(name="results (unbounded)", hits=0, misses=61_422, hit_rate=0.0, size=61_422,
                           maxsize=None, size_bytes=402 * MiB),
            ),
            actions=("gc", "caches", "trim", "all"),
            python_memory=PythonMemory(
                rss_bytes=celery_rss, live_python_bytes=523 * MiB, pymalloc_free_bytes=41 * MiB,
                malloc_free_bytes=96 * MiB, trimmable_bytes=71 * MiB, native_other_bytes=160 * MiB,
                methods={"live_python_bytes": "pymalloc blocks in use", "pymalloc_free_bytes": "_debugmallocstats",
                         "malloc_free_bytes": "mallinfo2", "native_other_bytes": "RSS minus the above"},
                allocator="pymalloc", gc_flavour="generational", malloc_allocator="glibc 2.36", malloc_arenas=4,
                malloc_arena_max=16, tracked_objects=(412, 3_204, 1_882_114), predict_gc_objects=48_000,
            ),
            level=THRESHOLDS.classify(100.0 * celery_rss / CELERY_LIMIT),
        ),
        TargetSample(
            name="api", url="http://127.0.0.1:8000/memdash", kind="probe", ok=True, time=seen, last_ok=seen,
            pid=3101, rss_bytes=412 * MiB, limit_bytes=None, percent=100.0 * 412 * MiB / RAM,
            gc=_gc((41_200, 3_950, 301)),
            caches=(CacheStats(name="users.lookup_user", hits=90_210, misses=1_210, hit_rate=90_210 / 91_420,
                               size=256, maxsize=256),),
            actions=("gc", "caches", "trim", "all"), level=Level.EXCELLENT,
        ),
        TargetSample(
            name="billing", url="http://10.0.3.7:8000/memdash", kind="probe", ok=False,
            error="connect: connection refused (10.0.3.7:8000)", time=NOW - 1, last_ok=NOW - 95,
            rss_bytes=None, level=Level.UNKNOWN,
        ),
        TargetSample(
            name="redis", url="redis://127.0.0.1:6379", kind="redis", ok=True, time=seen, last_ok=seen, pid=6379,
            rss_bytes=183 * MiB, limit_bytes=REDIS_LIMIT, percent=100.0 * 183 * MiB / REDIS_LIMIT,
            runtime=Runtime(kind="redis", figures={"used_memory_bytes": 171 * MiB, "maxmemory_bytes": 256 * MiB,
                                                   "keys": 1_204_331, "evicted_keys": 0}),
            caches=(CacheStats(name="keyspace", hits=4_411_020, misses=212_300,
                               hit_rate=4_411_020 / 4_623_320, size=1_204_331, maxsize=None),),
            level=THRESHOLDS.classify(100.0 * 183 * MiB / REDIS_LIMIT),
        ),
    )


GPU = GpuDevice(
    index=0, name="NVIDIA A100-SXM4-40GB", uuid="GPU-5c1e0000-0000-0000-0000-000000000000",
    total_bytes=40 * GiB, used_bytes=15 * GiB, free_bytes=25 * GiB, percent=37.5, utilization=82.0,
    temperature=61.0, processes=(GpuProcess(pid=2210, used_bytes=14_200 * MiB),), level=Level.EXCELLENT,
)


def scene_snapshot() -> Snapshot:
    """The box at :data:`NOW`."""
    procs = tuple(_process(r) for r in _PROCS)
    used = int(9.6 * GiB)
    system = SystemMemory(total_bytes=RAM, available_bytes=RAM - used, used_bytes=used, percent=100.0 * used / RAM,
                          swap_total_bytes=2 * GiB, swap_used_bytes=0, limit_bytes=None,
                          cgroup=CgroupMemory(path="/", version=2, usage_bytes=None, limit_bytes=None),
                          level=THRESHOLDS.classify(100.0 * used / RAM))
    services = _services({p.pid: p for p in procs})
    levels = [system.level, *(p.level for p in procs), *(s.level for s in services)]
    return Snapshot(
        host="demo-box", time=NOW, uptime_seconds=12 * 86400 + 4 * 3600, system=system, processes=procs,
        process_count=214, gpus=GpuStatus(available=True, driver="550.54.15", devices=(GPU,)), services=services,
        host_oom=OomKills(count=0), host_pressure=MemoryPressure(some_avg10=0.1, full_avg10=0.0),
        level=max(levels),
    )


def _series(fn: Callable[[float], float], step: int = STEP) -> SeriesView:
    """A point every ``step`` seconds over the last SPAN, ``fn`` of the seconds before NOW."""
    times = tuple(NOW - s for s in range(SPAN, -1, -step))
    return SeriesView(times, tuple(fn(NOW - t) for t in times))


def scene_series() -> dict[str, SeriesView]:
    """Five minutes of every series the scene's screens chart."""
    celery_rss, _ = target_series_keys("celery")
    gc_key, pause_key, hits_key, lookups_key = target_runtime_keys("celery")
    api_rss, _ = target_series_keys("api")
    api_gc, api_pause, api_hits, api_lookups = target_runtime_keys("api")
    redis_rss, _ = target_series_keys("redis")

    def wave(ago: float, period: float, size: float) -> float:
        return size * math.sin(ago / period * 2 * math.pi)

    def cumulative(rate_per_s: float, start: float, swing: float = 0.2) -> Callable[[float], float]:
        # a counter that rose at about rate_per_s (busier and quieter stretches)
        return lambda ago: start - rate_per_s * ago + swing * rate_per_s * 60 * math.cos(ago / 45)

    celery_pct = service_series_key("cgroup:/system.slice/celery.service")
    return {
        "system.used": _series(lambda ago: 9.6 * GiB - ago / SPAN * 0.35 * GiB + wave(ago, 70, 0.05 * GiB)),
        "system.percent": _series(lambda ago: 100 * (9.6 * GiB - ago / SPAN * 0.35 * GiB) / RAM),
        f"gpu.{GPU.uuid}.percent": _series(lambda ago: 37.5 + wave(ago, 40, 2.5)),
        # Targets are charted as the engine records them: joined to their service
        # (celery.service's two processes, gunicorn's master and three workers).
        celery_rss: _series(lambda ago: 1_191 * MiB - ago / 60 * 3.5 * MiB + wave(ago, 33, 1.5 * MiB)),
        gc_key: _series(cumulative(2.4, 97_145)),
        pause_key: _series(cumulative(0.0011, 4.82)),
        hits_key: _series(cumulative(260, 187_200)),
        lookups_key: _series(lambda ago: (187_200 - 260 * ago + 52 * 60 * math.cos(ago / 45)) / 0.95
                             + 120 * math.sin(ago / 50)),
        api_rss: _series(lambda ago: 1_248 * MiB - ago / 60 * 1.0 * MiB),
        api_gc: _series(cumulative(1.1, 45_451)),
        api_pause: _series(cumulative(0.0004, 2.1)),
        api_hits: _series(cumulative(80, 90_210)),
        api_lookups: _series(cumulative(81, 91_420)),
        redis_rss: _series(lambda ago: 183 * MiB - ago / 60 * 0.2 * MiB),
        # a point a refresh (1 s): the service view charts the last points at the refresh interval
        celery_pct: _series(lambda ago: 100 * (1_214 * MiB - ago / 60 * 3.5 * MiB + wave(ago, 33, 5 * MiB))
                            / CELERY_LIMIT, step=1),
    }


class SceneCollector:
    """Hands the engine the scene's box on every poll."""

    def __init__(self) -> None:
        self.snapshot = scene_snapshot()

    def poll(self, **_: object) -> Snapshot:
        return self.snapshot

    def close(self) -> None:
        pass


def scene_config() -> Config:
    """The config the scene is drawn under (the defaults, a 1 s refresh)."""
    return Config(thresholds=THRESHOLDS, discover=False)


class SceneEngine(Engine):
    """The real engine over the scene: its targets arrive as if polled, and each
    frame carries the scene's clock (``published``, for ages) and history."""

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config or scene_config(), collector=SceneCollector(), gpu=False, discover=False,
                         poll_targets=False, running=False)
        self._series = scene_series()

    def start(self) -> None:
        for sample in _targets():
            self._on_sample(sample)
        super().start()

    def _stamp(self, frame: Frame) -> Frame:
        return dataclasses.replace(frame, published=NOW, series={**frame.series, **self._series})

    def subscribe(self, callback: Callable[[Frame], None],
                  on_close: Callable[[], None] | None = None) -> Callable[[], None]:
        return super().subscribe(lambda frame: callback(self._stamp(frame)), on_close)


#: The README's screenshots: file name -> (view, terminal size).
SHOTS: dict[str, tuple[str, tuple[int, int]]] = {
    "main-120x40.svg": ("main", (120, 40)),
    "main-80x24.svg": ("main", (80, 24)),
    "target-120x40.svg": ("target", (120, 40)),
    "target-80x24.svg": ("target", (80, 24)),
    "target-200x50.svg": ("target", (200, 50)),
    "service-120x40.svg": ("service", (120, 40)),
}


async def shoot(view: str, size: tuple[int, int]) -> str:
    """An SVG of ``view`` (``main``, ``target`` or ``service``) over the scene."""
    from memdash.tui.app import MemdashApp
    from memdash.tui.widgets.memory import HistoryChart
    from memdash.tui.widgets.process_table import ProcessTable

    app = MemdashApp(scene_config(), engine=SceneEngine())
    async with app.run_test(size=size) as pilot:

        async def until(ready: Callable[[], bool]) -> None:
            for _ in range(400):  # bounded: 20 s on a loaded machine
                if ready():
                    return
                await pilot.pause(0.05)
            raise TimeoutError(f"the scene's {view} view did not draw")

        await until(lambda: app.frame is not None and bool(app.frame.targets)
                    and app.query_one(ProcessTable).row_count > 0)
        if view == "target":
            app.open_target("celery")
        elif view == "service":
            app.open_service("cgroup:/system.slice/celery.service")
        await pilot.pause(0.3)
        await until(lambda: all(chart._last for chart in app.screen.query(HistoryChart)))
        await pilot.wait_for_scheduled_animations()
        await pilot.pause(0.5)
        svg = app.export_screenshot(title=f"memdash · {view}")
    # Rich names the SVG's CSS classes after a hash that changes with
    # PYTHONHASHSEED; name them after the picture instead, so the same screen is
    # the same file in every process.
    plain = re.sub(r"terminal-\d+", "terminal", svg)
    return re.sub(r"terminal-\d+", f"terminal-{zlib.crc32(plain.encode()):d}", svg)
