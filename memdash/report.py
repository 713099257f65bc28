"""``memdash snapshot``: a Snapshot as JSON (schema 1) or as a readable table, and
the exit status that monitoring plugins expect.

Exit status (Nagios/monitoring-plugin convention):

====  =====================================================================
0     the worst level is excellent or good
1     warning
2     critical
3     something could not be read (system memory, or a target), unless a
      level is already critical
====  =====================================================================

The JSON document is documented in ``docs/snapshot.md``. It is strict JSON
(:func:`dumps`): a number that is not finite is written ``null``, never the
bare ``NaN``/``Infinity`` that ``jq`` and strict parsers reject. The text
report shows every string from outside (host, command lines, users, GPU and
target names, errors) through :func:`memdash.textsafe.printable`: one line,
no terminal control bytes.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from typing import Any

from memdash.levels import Level
from memdash.model import (
    CacheStats,
    GcStats,
    Runtime,
    GpuStatus,
    MemoryPressure,
    OomKills,
    ProcessMemory,
    PythonMemory,
    ServiceMemory,
    Snapshot,
    SystemMemory,
    TargetSample,
    TorchDevice,
)
from memdash.textsafe import command_line, printable
from memdash.units import human_bytes, human_duration, human_percent, human_rate

SCHEMA = 1

EXIT_OK = 0
EXIT_WARNING = 1
EXIT_CRITICAL = 2
EXIT_UNKNOWN = 3


def exit_status(snap: Snapshot) -> int:
    """The monitoring-plugin exit status for ``snap``."""
    if snap.level >= Level.CRITICAL:
        return EXIT_CRITICAL
    # A target that yields no memory figure is unknown, never healthy.
    unreadable = snap.system is None or bool(snap.errors) or any(not t.ok or t.rss_bytes is None for t in snap.targets)
    if unreadable:
        return EXIT_UNKNOWN
    if snap.level >= Level.WARNING:
        return EXIT_WARNING
    return EXIT_OK


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).astimezone().isoformat(timespec="seconds")


def _level(level: Level) -> str | None:
    return None if level is Level.UNKNOWN else level.label


def system_json(s: SystemMemory | None) -> dict[str, Any] | None:
    """``system`` in the snapshot document."""
    if s is None:
        return None
    return {
        "total_bytes": s.total_bytes,
        "available_bytes": s.available_bytes,
        "used_bytes": s.used_bytes,
        "percent": round(s.percent, 2),
        "swap_total_bytes": s.swap_total_bytes,
        "swap_used_bytes": s.swap_used_bytes,
        "limit_bytes": s.limit_bytes,
        "cgroup": None
        if s.cgroup is None
        else {
            "path": s.cgroup.path,
            "version": s.cgroup.version,
            "usage_bytes": s.cgroup.usage_bytes,
            "limit_bytes": s.cgroup.limit_bytes,
        },
        "level": _level(s.level),
    }


def process_json(p: ProcessMemory) -> dict[str, Any]:
    """One entry of ``processes``."""
    return {
        "pid": p.pid,
        "ppid": p.ppid,
        "name": p.name,
        "cmdline": p.cmdline,
        "user": p.user,
        "rss_bytes": p.rss_bytes,
        "uss_bytes": p.uss_bytes,
        "pss_bytes": p.pss_bytes,
        "swap_bytes": p.swap_bytes,
        "gpu_bytes": p.gpu_bytes,
        "limit_bytes": p.limit_bytes,
        "percent": round(p.percent, 2),
        "growth_bytes_per_min": None if p.growth_bytes_per_min is None else round(p.growth_bytes_per_min),
        "level": _level(p.level),
    }


def gpus_json(g: GpuStatus) -> dict[str, Any]:
    """``gpus`` in the snapshot document."""
    return {
        "available": g.available,
        "reason": g.reason,
        "driver": g.driver,
        "devices": [
            {
                "index": d.index,
                "name": d.name,
                "uuid": d.uuid,
                "total_bytes": d.total_bytes,
                "used_bytes": d.used_bytes,
                "free_bytes": d.free_bytes,
                "percent": None if d.percent is None else round(d.percent, 2),
                "level": _level(d.level),
                "utilization": d.utilization,
                "temperature": d.temperature,
                "processes": [{"pid": p.pid, "used_bytes": p.used_bytes} for p in d.processes],
            }
            for d in g.devices
        ],
    }


def gc_json(gc: GcStats | None) -> dict[str, Any] | None:
    """A target's ``gc``."""
    if gc is None:
        return None
    return {
        "enabled": gc.enabled,
        "generations": [
            {
                "generation": g.generation,
                "count": g.count,
                "threshold": g.threshold,
                "collections": g.collections,
                "collected": g.collected,
                "uncollectable": g.uncollectable,
                "pause_total_seconds": g.pause_total_seconds,
                "pause_max_seconds": g.pause_max_seconds,
            }
            for g in gc.generations
        ],
        "pause_total_seconds": gc.pause_total_seconds,
        "pause_last_seconds": gc.pause_last_seconds,
        "pause_max_seconds": gc.pause_max_seconds,
        "garbage": gc.garbage,
    }


def cache_json(c: CacheStats) -> dict[str, Any]:
    """One entry of a target's ``caches``."""
    return {
        "name": c.name,
        "hits": c.hits,
        "misses": c.misses,
        "hit_rate": c.hit_rate,
        "size": c.size,
        "maxsize": c.maxsize,
        "size_bytes": c.size_bytes,
        "evictions": c.evictions,
    }


def torch_json(devs: tuple[TorchDevice, ...] | None) -> list[dict[str, Any]] | None:
    """A target's ``gpu``: PyTorch's allocator per device."""
    if devs is None:
        return None
    return [
        {
            "device": d.device,
            "name": d.name,
            "allocated_bytes": d.allocated_bytes,
            "reserved_bytes": d.reserved_bytes,
            "max_allocated_bytes": d.max_allocated_bytes,
        }
        for d in devs
    ]


def runtime_json(r: Runtime | None) -> dict[str, Any] | None:
    """A target's ``runtime``: ``{"kind": "go", "heap_inuse_bytes": ..., "spaces": {...}}``."""
    if r is None:
        return None
    out: dict[str, Any] = {"kind": r.kind}
    out.update(r.figures)
    out.update({k: {name: dict(row) for name, row in rows.items()} for k, rows in r.groups.items()})
    out.update(r.labels)
    return out


def python_memory_json(pm: PythonMemory | None) -> dict[str, Any] | None:
    """A target's ``python_memory``: its RSS split four ways, each with its method
    (docs/python-memory.md); ``null`` for targets that are not a memdash probe."""
    if pm is None:
        return None
    return {
        "rss_bytes": pm.rss_bytes,
        "live_python_bytes": pm.live_python_bytes,
        "pymalloc_free_bytes": pm.pymalloc_free_bytes,
        "malloc_free_bytes": pm.malloc_free_bytes,
        "trimmable_bytes": pm.trimmable_bytes,
        "native_other_bytes": pm.native_other_bytes,
        "methods": dict(pm.methods),
        "allocator": pm.allocator,
        "gc_flavour": pm.gc_flavour,
        "malloc_allocator": pm.malloc_allocator,
        "malloc_arenas": pm.malloc_arenas,
        "malloc_arena_max": pm.malloc_arena_max,
        "allocated_blocks": pm.allocated_blocks,
        "tracked_objects": list(pm.tracked_objects),
        "predict": {"gc_collectable_objects": pm.predict_gc_objects, "trim_bytes": pm.predict_trim_bytes},
    }


def target_json(t: TargetSample) -> dict[str, Any]:
    """One entry of ``targets``."""
    return {
        "name": t.name,
        "url": t.url,
        "kind": t.kind,
        "ok": t.ok,
        "error": t.error,
        "level": _level(t.level),
        "pid": t.pid,
        "rss_bytes": t.rss_bytes,
        "percent": None if t.percent is None else round(t.percent, 2),
        "limit_bytes": t.limit_bytes,
        "gc": gc_json(t.gc),
        "caches": [cache_json(c) for c in t.caches],
        "gpu": torch_json(t.gpu),
        "metrics": dict(t.metrics),
        "actions": list(t.actions),
        "last_ok": _iso(t.last_ok),
        "runtime": runtime_json(t.runtime),
        "recognised": list(t.recognised),
        "exporter_rss_bytes": t.exporter_rss_bytes,
        "instances": [{"labels": i.labels, "rss_bytes": i.rss_bytes, "runtime": i.runtime} for i in t.instances],
        "warnings": list(t.warnings),
        "service": t.service,
        "workers": t.workers,
        "workers_seen": t.workers_seen,
        "python_memory": python_memory_json(t.python_memory),
    }


def _finite(x: float | None, digits: int = 2) -> float | None:
    """``x`` rounded, or ``None`` for NaN/infinity: the JSON stays strict."""
    if x is None or x != x or x in (float("inf"), float("-inf")):
        return None
    return round(x, digits)


def pressure_json(p: MemoryPressure | None) -> dict[str, Any] | None:
    """``{"some_avg10": …, "full_avg10": …}`` (percent of the last 10 s), or ``null``."""
    if p is None:
        return None
    return {"some_avg10": _finite(p.some_avg10), "full_avg10": _finite(p.full_avg10)}


def oom_json(o: OomKills | None) -> dict[str, Any] | None:
    """An OOM-kill counter: ``count``, ``rose_at`` (when memdash saw it rise, or the kernel log dated a kill;
    ``null`` in a one-shot read) and ``recent`` (within 15 minutes)."""
    if o is None:
        return None
    return {"count": o.count, "rose_at": _iso(o.rose_at), "recent": o.recent}


def service_json(s: ServiceMemory) -> dict[str, Any]:
    """One entry of ``services`` (docs/services.md)."""
    b = s.breakdown
    return {
        "key": s.key,
        "name": s.name,
        "kind": s.kind,
        "program": s.program,
        "level": _level(s.level),
        "reasons": list(s.reasons),
        "cgroup": s.cgroup_path,
        "cgroup_version": s.cgroup_version,
        "container_id": s.container_id,
        "master_pid": s.master_pid,
        "worker_count": s.worker_count,
        "process_count": s.process_count,
        "rss_bytes": s.rss_bytes,
        "pss_bytes": s.pss_bytes,
        "uss_bytes": s.uss_bytes,
        "swap_bytes": s.swap_bytes,
        "usage_bytes": s.usage_bytes,
        "limit_bytes": s.limit_bytes,
        "limit_source": s.limit_source,
        "high_bytes": s.high_bytes,
        "working_set_bytes": s.working_set_bytes,
        "percent": _finite(s.percent),
        "breakdown": None if b is None else {
            "anon_bytes": b.anon_bytes, "file_bytes": b.file_bytes, "kernel_bytes": b.kernel_bytes,
            "slab_bytes": b.slab_bytes, "shmem_bytes": b.shmem_bytes, "sock_bytes": b.sock_bytes,
            "inactive_file_bytes": b.inactive_file_bytes,
        },
        "pressure": pressure_json(s.pressure),
        "oom_kills": oom_json(s.oom_kills),
        "growth_bytes_per_min": _finite(s.growth_bytes_per_min, 0),
        "oom_eta_seconds": _finite(s.oom_eta_seconds, 1),
        "growing_after_gc": s.growing_after_gc,
        "workers": [
            {"pid": w.pid, "ppid": w.ppid, "role": w.role, "name": w.name, "cmdline": w.cmdline,
             "rss_bytes": w.rss_bytes, "pss_bytes": w.pss_bytes, "uss_bytes": w.uss_bytes, "swap_bytes": w.swap_bytes,
             "growth_bytes_per_min": _finite(w.growth_bytes_per_min, 0)}
            for w in s.workers
        ],
    }


def snapshot_json(snap: Snapshot) -> dict[str, Any]:
    """The whole document, ``"schema": 1``."""
    return {
        "schema": SCHEMA,
        "host": snap.host,
        "time": _iso(snap.time),
        "level": _level(snap.level),
        "system": system_json(snap.system),
        "process_count": snap.process_count,
        "processes": [process_json(p) for p in snap.processes],
        "gpus": gpus_json(snap.gpus),
        "targets": [target_json(t) for t in snap.targets],
        "services": [service_json(s) for s in snap.services],
        "host_oom_kills": oom_json(snap.host_oom),
        "host_pressure": pressure_json(snap.host_pressure),
        "errors": list(snap.errors),
    }


def finite(value: Any) -> Any:
    """``value`` with every float that is NaN or infinite, at any depth of
    dicts, lists and tuples, replaced by ``None``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def dumps(doc: Any, *, indent: int | None = 2) -> str:
    """``doc`` as strict JSON: non-finite numbers become ``null``, and
    ``allow_nan=False`` guards against any that slipped past."""
    return json.dumps(finite(doc), indent=indent, allow_nan=False)


#: The longest command a piped ``snapshot`` prints: a whole line stays under 400 characters.
PIPED_COMMAND_MAX = 300


def snapshot_text(snap: Snapshot, *, width: int | None = 100) -> str:
    """A readable, plain-text report (no colour: it is often piped or mailed).

    ``width`` cuts each process line to a terminal's width; ``None`` (output
    to a file or a pipe) keeps commands to :data:`PIPED_COMMAND_MAX` characters
    (long arguments cut), not to 80 columns."""
    lines: list[str] = []
    level = _level(snap.level) or "unknown"
    lines.append(f"memdash snapshot  host {printable(snap.host, 64)}  {_iso(snap.time)}  level {level.upper()}")
    s = snap.system
    if s is None:
        lines.append("memory: unreadable")
    else:
        if s.limit_bytes is not None and s.cgroup is not None:
            against = f"{human_bytes(s.cgroup.usage_bytes)} of {human_bytes(s.limit_bytes)} cgroup limit"
        else:
            against = f"{human_bytes(s.used_bytes)} of {human_bytes(s.total_bytes)} RAM"
        lines.append(
            f"memory: {human_percent(s.percent)} ({against}), available {human_bytes(s.available_bytes)},"
            f" swap {human_bytes(s.swap_used_bytes)}/{human_bytes(s.swap_total_bytes)}  [{_level(s.level)}]"
        )
    g = snap.gpus
    if not g.available:
        lines.append(f"gpus: unavailable ({printable(g.reason, 200)})")
    else:
        for d in g.devices:
            lines.append(
                f"gpu {d.index}: {printable(d.name, 64)}  {human_bytes(d.used_bytes)}/{human_bytes(d.total_bytes)}"
                f" {human_percent(d.percent)}  [{_level(d.level)}]"
            )
    lines.append("")
    header = f"{'PID':>7} {'USER':<9} {'RSS':>6} {'USS':>6} {'PSS':>6} {'SWAP':>6} {'GPU':>6} {'%LIM':>6} {'GROW':>8} {'LEVEL':<9} COMMAND"
    lines.append(header)
    cmd_width = PIPED_COMMAND_MAX if width is None else max(10, width - len(header) + len("COMMAND"))
    for p in snap.processes:
        lines.append(
            f"{p.pid:>7} {printable(p.user or '?', 9):<9} {human_bytes(p.rss_bytes):>6} {human_bytes(p.uss_bytes):>6}"
            f" {human_bytes(p.pss_bytes):>6} {human_bytes(p.swap_bytes):>6} {human_bytes(p.gpu_bytes):>6}"
            f" {human_percent(p.percent):>6} {human_rate(p.growth_bytes_per_min):>8}"
            f" {_level(p.level) or '-':<9} {command_line(p.cmdline, cmd_width)}"
        )
    shown = len(snap.processes)
    if shown < snap.process_count:
        lines.append(f"({shown} of {snap.process_count} processes; --all shows every one)")
    if snap.targets:
        lines.append("")
        lines.append(f"{'TARGET':<20} {'KIND':<10} {'LEVEL':<9} {'RSS':>7} {'%LIM':>6}  STATUS")
        for t in snap.targets:
            status = "ok" if t.ok else f"error: {printable(t.error, 300)}"
            if t.recognised:
                status += f" ({printable('; '.join(t.recognised), 200)})"
            if t.workers_text:
                status += f" ({printable(t.workers_text, 120)})"
            lines.append(
                f"{printable(t.name, 20):<20} {printable(t.kind, 10):<10} {_level(t.level) or '-':<9} {human_bytes(t.rss_bytes):>7}"
                f" {human_percent(t.percent):>6}  {status}"
            )
    if snap.services:
        lines.append("")
        lines.append(f"{'SERVICE':<24} {'WRK':>4} {'WSET':>7} {'LIMIT':>7} {'%LIM':>6} {'GROW':>8} {'ETA':>8} {'OOM':>4}"
                     f" {'LEVEL':<9} WHY")
        for sv in snap.services:
            limit = human_bytes(sv.limit_bytes) if sv.limit_source == "cgroup" else "host"
            kills = "-" if sv.oom_kills.count is None else f"{sv.oom_kills.count}{'!' if sv.oom_kills.recent else ''}"
            lines.append(
                f"{printable(sv.name, 24):<24} {sv.worker_count:>4} {human_bytes(sv.working_set_bytes):>7} {limit:>7}"
                f" {human_percent(sv.percent):>6} {human_rate(sv.growth_bytes_per_min):>8}"
                f" {human_duration(sv.oom_eta_seconds):>8} {kills:>4} {_level(sv.level) or '-':<9}"
                f" {printable('; '.join(sv.reasons), 200)}"
            )
    for e in snap.errors:
        lines.append(f"error: {printable(e, 300)}")
    return "\n".join(lines)
