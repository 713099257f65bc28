"""memdash.probe's JSON (docs/probe-wire.md, schema 1) -> samples and cleanup results.

The schema itself (version, actions, routes, keys) is :mod:`memdash.probe.wire`,
shared with the probe that writes it.

Consumers ignore keys they do not know, so everything here reads with ``.get``
and tolerates ``null`` anywhere. Standard library only; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping  # not typing's: its isinstance check costs several calls
from typing import Any

from memdash.model import (CacheStats, CleanupResult, GcGeneration, GcStats, PythonMemory, TargetSample,
                           TorchDevice)
from memdash.probe.wire import ACTIONS, PROBE_NAME, SCHEMA, is_probe_document
from memdash.sources.construct import maker
from memdash.sources.numbers import count, limit, number, percent, seconds, size

__all__ = ["PROBE_NAME", "SCHEMA", "is_probe_document", "sample_from_probe", "result_from_receipt",
           "python_memory_from_probe"]


# A poll of a probe builds ~60 fields of these 200 times a second with 200 targets:
# built slot by slot (memdash.sources.construct), the same objects as the classes'.
_GcGeneration = maker(GcGeneration)
_GcStats = maker(GcStats)
_CacheStats = maker(CacheStats)
_TorchDevice = maker(TorchDevice)
_PythonMemory = maker(PythonMemory)
_TargetSample = maker(TargetSample)

_EMPTY: Mapping[str, Any] = {}


def _is_map(value: Any) -> bool:
    # JSON gives dicts: their exact type first, the ABC's (slower) check for the rest.
    return type(value) is dict or isinstance(value, Mapping)


def _map(value: Any) -> Mapping[str, Any]:
    return value if _is_map(value) else _EMPTY


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _generation(value: Any, default: int) -> int:
    """A generation number as given, else its position (a 401-digit generation is garbage)."""
    g = count(value)
    return g if g is not None and g < 100 else default


def gc_from_probe(raw: Any) -> GcStats | None:
    """The snapshot's ``gc`` object; as many generations as the interpreter has."""
    if not _is_map(raw):
        return None
    gens = tuple([
        _GcGeneration(
            generation=_generation(g.get("generation"), i),
            count=count(g.get("count")),
            threshold=count(g.get("threshold")),
            collections=count(g.get("collections")),
            collected=count(g.get("collected")),
            uncollectable=count(g.get("uncollectable")),
            pause_total_seconds=seconds(g.get("pause_total_seconds")),
            pause_last_seconds=seconds(g.get("pause_last_seconds")),
            pause_max_seconds=seconds(g.get("pause_max_seconds")),
        )
        for i, g in enumerate(_list(raw.get("generations")))
        if _is_map(g)
    ])
    enabled = raw.get("enabled")
    return _GcStats(
        generations=gens,
        enabled=enabled if isinstance(enabled, bool) else None,
        pause_total_seconds=seconds(raw.get("pause_total_seconds")),
        pause_last_seconds=seconds(raw.get("pause_last_seconds")),
        pause_max_seconds=seconds(raw.get("pause_max_seconds")),
        garbage=count(raw.get("garbage")),
    )


def caches_from_probe(raw: Any) -> tuple[CacheStats, ...]:
    """The snapshot's ``caches`` list (``hit_rate`` already 0..1)."""
    out = []
    for c in _list(raw):
        if not _is_map(c):
            continue
        rate = number(c.get("hit_rate"))
        out.append(_CacheStats(
            name=str(c.get("name") or "cache"),
            hits=count(c.get("hits")),
            misses=count(c.get("misses")),
            hit_rate=None if rate is None else min(max(rate, 0.0), 1.0),
            size=count(c.get("size")),
            maxsize=count(c.get("maxsize")),
            size_bytes=size(c.get("size_bytes")),
            evictions=count(c.get("evictions")),
        ))
    return tuple(out)


def torch_from_probe(raw: Any) -> tuple[TorchDevice, ...] | None:
    """The snapshot's ``torch.devices``; ``None`` when the service has no torch."""
    if not _is_map(raw):
        return None
    devices = []
    for i, d in enumerate(_list(raw.get("devices"))):
        if not _is_map(d):
            continue
        name = d.get("name")
        devices.append(_TorchDevice(
            device=_generation(d.get("device"), i),
            allocated_bytes=size(d.get("allocated_bytes")),
            reserved_bytes=size(d.get("reserved_bytes")),
            max_allocated_bytes=size(d.get("max_allocated_bytes")),
            name=name if isinstance(name, str) else None,
        ))
    return tuple(devices)


def _text(value: Any, limit_chars: int = 200) -> str | None:
    """A short string from the wire (``None`` for anything else); the screen escapes it."""
    return value[:limit_chars] if isinstance(value, str) else None


def python_memory_from_probe(raw: Any) -> PythonMemory | None:
    """The ``python_memory`` block (schema 1, optional): ``None`` when absent."""
    pm = _map(raw)
    if not pm:
        return None
    bd = _map(pm.get("breakdown"))
    malloc = _map(pm.get("malloc"))
    pred = _map(pm.get("predict"))
    methods = {str(k)[:64]: v[:300] for k, v in list(_map(bd.get("methods")).items())[:16] if isinstance(v, str)}
    return _PythonMemory(
        rss_bytes=size(bd.get("rss_bytes")),
        live_python_bytes=size(bd.get("live_python_bytes")),
        pymalloc_free_bytes=size(bd.get("pymalloc_free_bytes")),
        malloc_free_bytes=size(bd.get("malloc_free_bytes")),
        trimmable_bytes=size(bd.get("trimmable_bytes")),
        native_other_bytes=size(bd.get("native_other_bytes")),
        methods=methods,
        allocator=_text(pm.get("allocator")),
        gc_flavour=_text(pm.get("gc_flavour")),
        malloc_allocator=_text(malloc.get("allocator")),
        malloc_arenas=count(malloc.get("arenas")),
        malloc_arena_max=count(malloc.get("arena_max")),
        allocated_blocks=count(pm.get("allocated_blocks")),
        tracked_objects=tuple([count(v) for v in _list(pm.get("tracked_objects"))[:8]]),
        predict_gc_objects=count(pred.get("gc_collectable_objects")),
        predict_trim_bytes=size(pred.get("trim_bytes")),
    )


def sample_from_probe(doc: Mapping[str, Any], *, name: str, url: str, now: float) -> TargetSample:
    """A probe snapshot as a sample (``ok=True``, level not yet set).

    A pre-fork group (``workers`` + ``group``) reports the group's RSS (shared
    pages counted once where the probe could read PSS); GC and caches are those
    of the worker that answered.
    """
    memory = _map(doc.get("memory"))
    group = _map(doc.get("group"))
    rss = size(memory.get("rss_bytes"))
    metrics: dict[str, float] = {}
    for key in ("uss_bytes", "vms_bytes"):
        v = size(memory.get(key))
        if v is not None:
            metrics[f"memory.{key}"] = v
    if group:
        group_rss = size(group.get("pss_bytes")) or size(group.get("rss_bytes"))
        if group_rss is not None:
            rss = group_rss
        for key in ("rss_bytes", "pss_bytes", "workers"):
            figure = number(group.get(key))
            if figure is not None:
                metrics[f"group.{key}"] = figure
    uptime = number(doc.get("uptime_seconds"))
    if uptime is not None:
        metrics["uptime_seconds"] = uptime
    actions = _list(doc.get("actions"))
    return _TargetSample(
        name=name, url=url, kind="probe", ok=True, time=now, last_ok=now,
        pid=count(doc.get("pid")),
        rss_bytes=rss,
        percent=None if _no_limit(memory.get("limit_bytes")) else percent(memory.get("percent")),
        limit_bytes=limit(memory.get("limit_bytes")),
        gc=gc_from_probe(doc.get("gc")),
        caches=caches_from_probe(doc.get("caches")),
        gpu=torch_from_probe(doc.get("torch")),
        metrics=metrics,
        actions=tuple([a for a in ACTIONS if a in actions]),
        python_memory=python_memory_from_probe(doc.get("python_memory")),
    )


def _no_limit(raw: Any) -> bool:
    """True for a limit given as -1, 0, NaN or Inf: a percent against it is no figure."""
    return raw is not None and limit(raw) is None


def _sum(receipts: list[Mapping[str, Any]], key: str) -> int | None:
    values = [size(r.get(key)) for r in receipts]
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def result_from_receipt(doc: Mapping[str, Any], *, target: str, action: str, status: int) -> CleanupResult:
    """A ``POST /cleanup/{action}`` receipt as a :class:`CleanupResult`.

    A pre-fork receipt's totals are used where present, else the workers' figures
    are summed. ``note`` is the probe's own explanation (e.g. why RSS did not drop).
    """
    workers = [w for w in _list(doc.get("workers")) if isinstance(w, Mapping)]

    def total(key: str) -> int | None:
        v = size(doc.get(key))
        return v if v is not None or not workers else _sum(workers, key)

    note = doc.get("note")
    if not isinstance(note, str) and workers:
        notes = sorted({w["note"] for w in workers if isinstance(w.get("note"), str)})
        note = "; ".join(notes) or None
    ok = doc.get("ok")
    error = doc.get("error")
    return CleanupResult(
        target=target,
        action=str(doc.get("action") or action),
        ok=ok if isinstance(ok, bool) else True,
        error=error if isinstance(error, str) else None,
        status=status,
        rss_before_bytes=total("rss_before_bytes"),
        rss_after_bytes=total("rss_after_bytes"),
        gpu_reserved_before_bytes=total("gpu_reserved_before_bytes"),
        gpu_reserved_after_bytes=total("gpu_reserved_after_bytes"),
        collected=total("collected"),
        note=note if isinstance(note, str) else None,
        raw=dict(doc),
    )
