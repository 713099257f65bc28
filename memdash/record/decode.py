"""A recorded frame back into samples: the ``snapshot --json`` document as a
:class:`~memdash.model.Snapshot`, so a replay shows it with the dashboard's own
widgets. The inverse of :func:`memdash.report.snapshot_json`; times in the
document are ISO to the second, so the frame's stored time is passed in.

Recorded documents are data from disk: a missing or mistyped key becomes
``None``/empty, never an exception.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Mapping

from memdash.levels import Level
from memdash.model import (
    CacheStats,
    CgroupMemory,
    GcGeneration,
    GcStats,
    GpuDevice,
    GpuProcess,
    GpuStatus,
    MemoryBreakdown,
    MemoryPressure,
    OomKills,
    ProcessMemory,
    PythonMemory,
    ServiceMemory,
    ServiceWorker,
    Snapshot,
    SystemMemory,
    TargetSample,
    TorchDevice,
)

_LEVELS = {lv.label: lv for lv in Level if lv is not Level.UNKNOWN}


def _level(v: Any) -> Level:
    return _LEVELS.get(v, Level.UNKNOWN) if isinstance(v, str) else Level.UNKNOWN


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def _map(v: Any) -> Mapping[str, Any]:
    return v if isinstance(v, dict) else {}


def _list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def _when(v: Any) -> float | None:
    if not isinstance(v, str):
        return None
    try:
        return _dt.datetime.fromisoformat(v).timestamp()
    except ValueError:
        return None


def system_from_json(d: Any) -> SystemMemory | None:
    if not isinstance(d, dict):
        return None
    cg = d.get("cgroup")
    return SystemMemory(
        total_bytes=_int(d.get("total_bytes")) or 0,
        available_bytes=_int(d.get("available_bytes")) or 0,
        used_bytes=_int(d.get("used_bytes")) or 0,
        percent=_num(d.get("percent")) or 0.0,
        swap_total_bytes=_int(d.get("swap_total_bytes")) or 0,
        swap_used_bytes=_int(d.get("swap_used_bytes")) or 0,
        limit_bytes=_int(d.get("limit_bytes")),
        cgroup=None if not isinstance(cg, dict) else CgroupMemory(
            path=_str(cg.get("path")) or "", version=_int(cg.get("version")) or 0,
            usage_bytes=_int(cg.get("usage_bytes")), limit_bytes=_int(cg.get("limit_bytes"))),
        level=_level(d.get("level")),
    )


def process_from_json(p: Mapping[str, Any]) -> ProcessMemory:
    return ProcessMemory(
        pid=_int(p.get("pid")) or 0, ppid=_int(p.get("ppid")), name=_str(p.get("name")) or "",
        cmdline=_str(p.get("cmdline")) or "", user=_str(p.get("user")), rss_bytes=_int(p.get("rss_bytes")) or 0,
        uss_bytes=_int(p.get("uss_bytes")), pss_bytes=_int(p.get("pss_bytes")), swap_bytes=_int(p.get("swap_bytes")),
        limit_bytes=_int(p.get("limit_bytes")) or 0, percent=_num(p.get("percent")) or 0.0,
        growth_bytes_per_min=_num(p.get("growth_bytes_per_min")), gpu_bytes=_int(p.get("gpu_bytes")),
        level=_level(p.get("level")),
    )


def gpus_from_json(g: Any) -> GpuStatus:
    g = _map(g)
    return GpuStatus(
        available=bool(g.get("available")), reason=_str(g.get("reason")), driver=_str(g.get("driver")),
        devices=tuple(
            GpuDevice(
                index=_int(d.get("index")) or 0, name=_str(d.get("name")) or "", uuid=_str(d.get("uuid")),
                total_bytes=_int(d.get("total_bytes")), used_bytes=_int(d.get("used_bytes")),
                free_bytes=_int(d.get("free_bytes")), percent=_num(d.get("percent")),
                utilization=_num(d.get("utilization")), temperature=_num(d.get("temperature")),
                processes=tuple(GpuProcess(pid=_int(p.get("pid")) or 0, used_bytes=_int(p.get("used_bytes")))
                                for p in _list(d.get("processes")) if isinstance(p, dict)),
                level=_level(d.get("level")),
            )
            for d in _list(g.get("devices")) if isinstance(d, dict)
        ),
    )


def _gc(d: Any) -> GcStats | None:
    if not isinstance(d, dict):
        return None
    return GcStats(
        generations=tuple(
            GcGeneration(generation=_int(x.get("generation")) or 0, count=_int(x.get("count")),
                         threshold=_int(x.get("threshold")), collections=_int(x.get("collections")),
                         collected=_int(x.get("collected")), uncollectable=_int(x.get("uncollectable")),
                         pause_total_seconds=_num(x.get("pause_total_seconds")),
                         pause_max_seconds=_num(x.get("pause_max_seconds")))
            for x in _list(d.get("generations")) if isinstance(x, dict)
        ),
        enabled=d.get("enabled") if isinstance(d.get("enabled"), bool) else None,
        pause_total_seconds=_num(d.get("pause_total_seconds")), pause_last_seconds=_num(d.get("pause_last_seconds")),
        pause_max_seconds=_num(d.get("pause_max_seconds")), garbage=_int(d.get("garbage")),
    )


def _python_memory(d: Any) -> PythonMemory | None:
    """A target's ``python_memory`` (memdash.report.python_memory_json) back."""
    if not isinstance(d, dict):
        return None
    pred = _map(d.get("predict"))
    return PythonMemory(
        rss_bytes=_int(d.get("rss_bytes")), live_python_bytes=_int(d.get("live_python_bytes")),
        pymalloc_free_bytes=_int(d.get("pymalloc_free_bytes")), malloc_free_bytes=_int(d.get("malloc_free_bytes")),
        trimmable_bytes=_int(d.get("trimmable_bytes")), native_other_bytes=_int(d.get("native_other_bytes")),
        methods={str(k): v for k, v in _map(d.get("methods")).items() if isinstance(v, str)},
        allocator=_str(d.get("allocator")), gc_flavour=_str(d.get("gc_flavour")),
        malloc_allocator=_str(d.get("malloc_allocator")), malloc_arenas=_int(d.get("malloc_arenas")),
        malloc_arena_max=_int(d.get("malloc_arena_max")), allocated_blocks=_int(d.get("allocated_blocks")),
        tracked_objects=tuple(_int(x) for x in _list(d.get("tracked_objects"))),
        predict_gc_objects=_int(pred.get("gc_collectable_objects")), predict_trim_bytes=_int(pred.get("trim_bytes")),
    )


def target_from_json(t: Mapping[str, Any], time: float) -> TargetSample:
    gpu = t.get("gpu")
    return TargetSample(
        name=_str(t.get("name")) or "?", url=_str(t.get("url")) or "", kind=_str(t.get("kind")) or "auto",
        ok=bool(t.get("ok")), error=_str(t.get("error")), time=time, last_ok=_when(t.get("last_ok")),
        pid=_int(t.get("pid")), rss_bytes=_int(t.get("rss_bytes")), percent=_num(t.get("percent")),
        limit_bytes=_int(t.get("limit_bytes")), gc=_gc(t.get("gc")),
        caches=tuple(
            CacheStats(name=_str(c.get("name")) or "", hits=_int(c.get("hits")), misses=_int(c.get("misses")),
                       hit_rate=_num(c.get("hit_rate")), size=_int(c.get("size")), maxsize=_int(c.get("maxsize")),
                       size_bytes=_int(c.get("size_bytes")), evictions=_int(c.get("evictions")))
            for c in _list(t.get("caches")) if isinstance(c, dict)
        ),
        gpu=None if not isinstance(gpu, list) else tuple(
            TorchDevice(device=_int(d.get("device")) or 0, name=_str(d.get("name")),
                        allocated_bytes=_int(d.get("allocated_bytes")), reserved_bytes=_int(d.get("reserved_bytes")),
                        max_allocated_bytes=_int(d.get("max_allocated_bytes")))
            for d in gpu if isinstance(d, dict)
        ),
        metrics={str(k): float(v) for k, v in _map(t.get("metrics")).items() if _num(v) is not None},
        actions=tuple(a for a in _list(t.get("actions")) if isinstance(a, str)),
        level=_level(t.get("level")),
        python_memory=_python_memory(t.get("python_memory")),
    )


def _pressure(d: Any) -> MemoryPressure | None:
    if not isinstance(d, dict):
        return None
    return MemoryPressure(some_avg10=_num(d.get("some_avg10")), full_avg10=_num(d.get("full_avg10")))


def _oom(d: Any) -> OomKills | None:
    if not isinstance(d, dict):
        return None
    return OomKills(count=_int(d.get("count")), rose_at=_when(d.get("rose_at")), recent=bool(d.get("recent")))


def service_from_json(d: Mapping[str, Any]) -> ServiceMemory:
    b = d.get("breakdown")
    return ServiceMemory(
        key=_str(d.get("key")) or "", name=_str(d.get("name")) or "", kind=_str(d.get("kind")) or "",
        program=_str(d.get("program")), cgroup_path=_str(d.get("cgroup")), cgroup_version=_int(d.get("cgroup_version")),
        container_id=_str(d.get("container_id")), master_pid=_int(d.get("master_pid")),
        worker_count=_int(d.get("worker_count")) or 0, process_count=_int(d.get("process_count")) or 0,
        workers=tuple(
            ServiceWorker(pid=_int(w.get("pid")) or 0, ppid=_int(w.get("ppid")), name=_str(w.get("name")) or "",
                          cmdline=_str(w.get("cmdline")) or "", role=_str(w.get("role")) or "",
                          rss_bytes=_int(w.get("rss_bytes")) or 0, pss_bytes=_int(w.get("pss_bytes")),
                          uss_bytes=_int(w.get("uss_bytes")), swap_bytes=_int(w.get("swap_bytes")),
                          growth_bytes_per_min=_num(w.get("growth_bytes_per_min")))
            for w in _list(d.get("workers")) if isinstance(w, dict)
        ),
        rss_bytes=_int(d.get("rss_bytes")) or 0, pss_bytes=_int(d.get("pss_bytes")), uss_bytes=_int(d.get("uss_bytes")),
        swap_bytes=_int(d.get("swap_bytes")), usage_bytes=_int(d.get("usage_bytes")),
        limit_bytes=_int(d.get("limit_bytes")), limit_source=_str(d.get("limit_source")),
        high_bytes=_int(d.get("high_bytes")), working_set_bytes=_int(d.get("working_set_bytes")),
        percent=_num(d.get("percent")),
        breakdown=None if not isinstance(b, dict) else MemoryBreakdown(**{
            k: _int(b.get(k)) for k in ("anon_bytes", "file_bytes", "kernel_bytes", "slab_bytes", "shmem_bytes",
                                        "sock_bytes", "inactive_file_bytes")}),
        pressure=_pressure(d.get("pressure")), oom_kills=_oom(d.get("oom_kills")) or OomKills(),
        growth_bytes_per_min=_num(d.get("growth_bytes_per_min")), oom_eta_seconds=_num(d.get("oom_eta_seconds")),
        growing_after_gc=bool(d.get("growing_after_gc")),
        reasons=tuple(r for r in _list(d.get("reasons")) if isinstance(r, str)), level=_level(d.get("level")),
    )


def snapshot_from_json(doc: Mapping[str, Any], time: float) -> Snapshot:
    """The :class:`Snapshot` a recorded document was made from (``time``: the frame's stored time)."""
    return Snapshot(
        host=_str(doc.get("host")) or "",
        time=time,
        system=system_from_json(doc.get("system")),
        processes=tuple(process_from_json(p) for p in _list(doc.get("processes")) if isinstance(p, dict)),
        process_count=_int(doc.get("process_count")) or 0,
        gpus=gpus_from_json(doc.get("gpus")),
        targets=tuple(target_from_json(t, time) for t in _list(doc.get("targets")) if isinstance(t, dict)),
        errors=tuple(e for e in _list(doc.get("errors")) if isinstance(e, str)),
        level=_level(doc.get("level")),
        services=tuple(service_from_json(x) for x in _list(doc.get("services")) if isinstance(x, dict)),
        host_oom=_oom(doc.get("host_oom_kills")),
        host_pressure=_pressure(doc.get("host_pressure")),
    )
