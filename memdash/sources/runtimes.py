"""Runtimes and exporters recognised on a Prometheus page, by the names their clients use.

=========  ====================================================  ==========================
kind       recognised by                                         read
=========  ====================================================  ==========================
``go``     ``go_memstats_*`` (client_golang)                     heap alloc/inuse/idle/
                                                                 released/sys, next GC,
                                                                 GOGC, GOMEMLIMIT, GC count
                                                                 and pause quantiles
``node``   ``nodejs_heap_size_*`` (prom-client)                  V8 heap used/total, per
                                                                 space, external, array
                                                                 buffers, GC by kind,
                                                                 event-loop lag
``python`` ``python_gc_*``/``python_info`` (prometheus_client)   version, collections per
                                                                 generation
``jvm``    ``jvm_memory_used_bytes`` (Micrometer, client_java    heap/non-heap used,
           1.x) or ``jvm_memory_bytes_used`` (JMX exporter)      committed, max, per pool,
                                                                 GC pauses by collector
``host``   ``node_memory_MemTotal_bytes`` (node_exporter)        the machine: total,
                                                                 available, buffers, cached,
                                                                 swap, pressure, OOM kills
``redis``  ``redis_memory_used_bytes`` (redis_exporter)          see :mod:`.redisinfo`
=========  ====================================================  ==========================

A page is indexed once (:class:`Page`); each reader takes what it knows and
returns a :class:`~memdash.model.Runtime`, or ``None`` when its names are not
there. Every figure goes through :mod:`memdash.sources.numbers`, so one bad
value drops that figure only. Standard library only; no I/O.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from prometheus_client.samples import Sample

from memdash.model import Runtime
from memdash.sources.numbers import count, number, seconds, size

#: Labels that tell instances apart on a page carrying several (``/federate``).
IDENTITY_LABELS = ("instance", "job")


class Page:
    """A parsed page's samples by name, for lookups by name and label."""

    __slots__ = ("samples", "by_name")

    def __init__(self, samples: Iterable[Sample]) -> None:
        self.samples = list(samples)
        self.by_name: dict[str, list[Sample]] = {}
        for s in self.samples:
            self.by_name.setdefault(s.name, []).append(s)

    def has(self, name: str) -> bool:
        return name in self.by_name

    def value(self, name: str, /, **labels: str) -> float | None:
        """The first finite value of series ``name`` whose labels include ``labels``."""
        for s in self.by_name.get(name, ()):
            if all(s.labels.get(k) == v for k, v in labels.items()):
                v = number(s.value)
                if v is not None:
                    return v
        return None

    def by_label(self, name: str, label: str) -> dict[str, float]:
        """``{label value: value}`` for series ``name`` (summed where other labels differ)."""
        out: dict[str, float] = {}
        for s in self.by_name.get(name, ()):
            key = s.labels.get(label)
            v = number(s.value)
            if key is not None and v is not None:
                out[key] = out.get(key, 0.0) + v
        return out

    def label(self, name: str, label: str) -> str | None:
        for s in self.by_name.get(name, ()):
            if label in s.labels:
                return s.labels[label]
        return None

    def identities(self) -> list[str]:
        """The distinct ``instance``/``job`` label sets on the page, as the page spelled them."""
        seen: dict[str, None] = {}
        for s in self.by_name.get("process_resident_memory_bytes", ()) or self.samples:
            ident = identity(s.labels)
            if ident:
                seen.setdefault(ident, None)
        return list(seen)


def identity(labels: Mapping[str, str]) -> str:
    """``instance="a:9100",job="api"``: the labels that name an instance, or ``""``."""
    return ",".join(f'{k}="{labels[k]}"' for k in IDENTITY_LABELS if k in labels)


def _put(figures: dict[str, float], key: str, value: float | int | None) -> None:
    if value is not None:
        figures[key] = value


def _sizes(page: Page, figures: dict[str, float], names: Mapping[str, str]) -> None:
    for key, series in names.items():
        _put(figures, key, size(page.value(series)))


# --------------------------------------------------------------------------- Go

_GO_SIZES = {
    "heap_alloc_bytes": "go_memstats_heap_alloc_bytes",
    "heap_inuse_bytes": "go_memstats_heap_inuse_bytes",
    "heap_idle_bytes": "go_memstats_heap_idle_bytes",
    "heap_released_bytes": "go_memstats_heap_released_bytes",
    "heap_sys_bytes": "go_memstats_heap_sys_bytes",
    "sys_bytes": "go_memstats_sys_bytes",
    "next_gc_bytes": "go_memstats_next_gc_bytes",
    "stack_inuse_bytes": "go_memstats_stack_inuse_bytes",
}
#: What math.MaxInt64 means for GOMEMLIMIT: no limit.
_NO_GOMEMLIMIT = 1 << 62


def go(page: Page) -> Runtime | None:
    """Go's runtime from client_golang's ``go_*`` series."""
    if not page.has("go_memstats_heap_alloc_bytes") and not page.has("go_gc_duration_seconds"):
        return None
    f: dict[str, float] = {}
    _sizes(page, f, _GO_SIZES)
    _put(f, "heap_objects", count(page.value("go_memstats_heap_objects")))
    _put(f, "goroutines", count(page.value("go_goroutines")))
    gogc = page.value("go_gc_gogc_percent")
    if gogc is not None:
        f["gogc_percent"] = gogc  # -1: GC off
    limit = size(page.value("go_gc_gomemlimit_bytes"))
    if limit is not None and limit < _NO_GOMEMLIMIT:
        f["gomemlimit_bytes"] = limit
    _put(f, "gc_count", count(page.value("go_gc_duration_seconds_count")))
    _put(f, "gc_pause_total_seconds", seconds(page.value("go_gc_duration_seconds_sum")))
    for q, word in (("0", "min"), ("0.25", "p25"), ("0.5", "p50"), ("0.75", "p75"), ("1", "max")):
        _put(f, f"gc_pause_{word}_seconds", seconds(page.value("go_gc_duration_seconds", quantile=q)))
    last = number(page.value("go_memstats_last_gc_time_seconds"))
    if last:
        f["last_gc_time_seconds"] = last
    labels = {}
    version = page.label("go_info", "version")
    if version:
        labels["version"] = version
    return Runtime(kind="go", figures=f, labels=labels)


# --------------------------------------------------------------------------- Node.js


def node(page: Page) -> Runtime | None:
    """V8 and libuv from prom-client's ``nodejs_*`` series."""
    if not page.has("nodejs_heap_size_used_bytes") and not page.has("nodejs_heap_space_size_used_bytes"):
        return None
    f: dict[str, float] = {}
    _sizes(page, f, {
        "heap_used_bytes": "nodejs_heap_size_used_bytes",
        "heap_total_bytes": "nodejs_heap_size_total_bytes",
        "external_bytes": "nodejs_external_memory_bytes",
        "array_buffers_bytes": "nodejs_array_buffers_bytes",
    })
    for key, series in (("eventloop_lag_seconds", "nodejs_eventloop_lag_seconds"),
                        ("eventloop_lag_p50_seconds", "nodejs_eventloop_lag_p50_seconds"),
                        ("eventloop_lag_p99_seconds", "nodejs_eventloop_lag_p99_seconds"),
                        ("eventloop_lag_max_seconds", "nodejs_eventloop_lag_max_seconds")):
        _put(f, key, seconds(page.value(series)))
    spaces: dict[str, dict[str, float]] = {}
    for what in ("used", "total", "available"):
        for space, v in page.by_label(f"nodejs_heap_space_size_{what}_bytes", "space").items():
            b = size(v)
            if b is not None:
                spaces.setdefault(space, {})[f"{what}_bytes"] = b
    gc_kinds: dict[str, dict[str, float]] = {}
    for kind, v in page.by_label("nodejs_gc_duration_seconds_count", "kind").items():
        c = count(v)
        if c is not None:
            gc_kinds.setdefault(kind, {})["count"] = c
    for kind, v in page.by_label("nodejs_gc_duration_seconds_sum", "kind").items():
        t = seconds(v)
        if t is not None:
            gc_kinds.setdefault(kind, {})["total_seconds"] = t
    if gc_kinds:
        f["gc_count"] = sum(k.get("count", 0) for k in gc_kinds.values())
        f["gc_pause_total_seconds"] = sum(k.get("total_seconds", 0.0) for k in gc_kinds.values())
    groups = {k: v for k, v in (("spaces", spaces), ("gc_kinds", gc_kinds)) if v}
    labels = {}
    version = page.label("nodejs_version_info", "version")
    if version:
        labels["version"] = version
    return Runtime(kind="node", figures=f, groups=groups, labels=labels)


# --------------------------------------------------------------------------- Python


def python(page: Page) -> Runtime | None:
    """CPython from prometheus_client's ``python_*`` series (GC generations stay in ``gc``)."""
    if not page.has("python_info") and not page.has("python_gc_collections_total"):
        return None
    f: dict[str, float] = {}
    gens = page.by_label("python_gc_collections_total", "generation")
    for gen, v in sorted(gens.items()):
        c = count(v)
        if c is not None and gen.isdigit() and len(gen) < 3:
            f[f"gc_gen{gen}_collections"] = c
    if gens:
        total = sum(count(v) or 0 for v in gens.values())
        f["gc_count"] = total
    labels = {}
    version = page.label("python_info", "version")
    if version:
        labels["version"] = version
    impl = page.label("python_info", "implementation")
    if impl:
        labels["implementation"] = impl
    return Runtime(kind="python", figures=f, labels=labels)


# --------------------------------------------------------------------------- JVM


def jvm(page: Page) -> Runtime | None:
    """The JVM from Micrometer (``jvm_memory_used_bytes{area,id}``, ``jvm_gc_pause_seconds``)
    or the JMX exporter / client_java (``jvm_memory_bytes_used{area}``,
    ``jvm_memory_pool_bytes_used{pool}``, ``jvm_gc_collection_seconds``)."""
    micrometer = page.has("jvm_memory_used_bytes")
    jmx = page.has("jvm_memory_bytes_used")
    if not micrometer and not jmx:
        return None
    f: dict[str, float] = {}
    pools: dict[str, dict[str, float]] = {}
    if micrometer:
        # Micrometer: one series per pool, area=heap|nonheap, id=pool name;
        # client_java 1.x: area only. Sum per area; -1 max means "undefined".
        for what in ("used", "committed", "max"):
            per_area: dict[str, float] = {}
            for s in page.by_name.get(f"jvm_memory_{what}_bytes", ()):
                area = s.labels.get("area", "")
                b: float | None = size(s.value) if what != "max" or (number(s.value) or -1) > 0 else None
                if b is None:
                    continue
                per_area[area] = per_area.get(area, 0) + b
                pool = s.labels.get("id") or s.labels.get("pool")
                if pool:
                    pools.setdefault(pool, {})[f"{what}_bytes"] = b
            for area, b in per_area.items():
                word = {"heap": "heap", "nonheap": "nonheap"}.get(area)
                if word:
                    f[f"{word}_{what}_bytes"] = b
        for what in ("used", "committed", "max"):
            for pool, v in page.by_label(f"jvm_memory_pool_{what}_bytes", "pool").items():
                b = size(v)
                if b is not None and (what != "max" or v > 0):
                    pools.setdefault(pool, {})[f"{what}_bytes"] = b
    if jmx:
        for what in ("used", "committed", "max"):
            for area, v in page.by_label(f"jvm_memory_bytes_{what}", "area").items():
                b = size(v)
                if b is not None and area in ("heap", "nonheap") and (what != "max" or v > 0):
                    f.setdefault(f"{area}_{what}_bytes", b)
            for pool, v in page.by_label(f"jvm_memory_pool_bytes_{what}", "pool").items():
                b = size(v)
                if b is not None and (what != "max" or v > 0):
                    pools.setdefault(pool, {})[f"{what}_bytes"] = b
    collectors: dict[str, dict[str, float]] = {}
    for count_name, sum_name, max_name, label in (
        ("jvm_gc_pause_seconds_count", "jvm_gc_pause_seconds_sum", "jvm_gc_pause_seconds_max", "gc"),
        ("jvm_gc_collection_seconds_count", "jvm_gc_collection_seconds_sum", None, "gc"),
    ):
        for gc, v in page.by_label(count_name, label).items():
            c = count(v)
            if c is not None:
                collectors.setdefault(gc, {})["count"] = collectors.get(gc, {}).get("count", 0) + c
        for gc, v in page.by_label(sum_name, label).items():
            t = seconds(v)
            if t is not None:
                collectors.setdefault(gc, {})["total_seconds"] = collectors.get(gc, {}).get("total_seconds", 0.0) + t
        if max_name:
            for s in page.by_name.get(max_name, ()):
                collector = s.labels.get(label)
                t = seconds(s.value)
                if collector is not None and t is not None:
                    entry = collectors.setdefault(collector, {})
                    entry["max_seconds"] = max(entry.get("max_seconds", 0.0), t)
    if collectors:
        f["gc_count"] = sum(c.get("count", 0) for c in collectors.values())
        f["gc_pause_total_seconds"] = sum(c.get("total_seconds", 0.0) for c in collectors.values())
        maxes = [c["max_seconds"] for c in collectors.values() if "max_seconds" in c]
        if maxes:
            f["gc_pause_max_seconds"] = max(maxes)
    _put(f, "threads", count(page.value("jvm_threads_live_threads") or page.value("jvm_threads_current")))
    groups = {k: v for k, v in (("pools", pools), ("collectors", collectors)) if v}
    return Runtime(kind="jvm", figures=f, groups=groups)


#: The runtime readers, in the order they are tried (a page names one runtime).
RUNTIMES = (go, node, jvm, python)


def runtime(page: Page) -> Runtime | None:
    """The first runtime recognised on ``page``."""
    for read in RUNTIMES:
        found = read(page)
        if found is not None:
            return found
    return None


def runtime_kinds(names: Iterable[str]) -> str | None:
    """The runtime a set of series names suggests (for one instance's row)."""
    names = set(names)
    for prefix, kind in (("go_memstats_", "go"), ("nodejs_", "node"), ("jvm_", "jvm"), ("python_", "python")):
        if any(n.startswith(prefix) for n in names):
            return kind
    return None


# --------------------------------------------------------------------------- node_exporter


def host(page: Page) -> Runtime | None:
    """The machine node_exporter describes (``node_memory_*``, ``node_pressure_memory_*``,
    ``node_vmstat_oom_kill``); the exporter's own RSS is not part of it."""
    if not page.has("node_memory_MemTotal_bytes"):
        return None
    f: dict[str, float] = {}
    _sizes(page, f, {
        "total_bytes": "node_memory_MemTotal_bytes",
        "available_bytes": "node_memory_MemAvailable_bytes",
        "free_bytes": "node_memory_MemFree_bytes",
        "buffers_bytes": "node_memory_Buffers_bytes",
        "cached_bytes": "node_memory_Cached_bytes",
        "swap_total_bytes": "node_memory_SwapTotal_bytes",
        "swap_free_bytes": "node_memory_SwapFree_bytes",
        "shmem_bytes": "node_memory_Shmem_bytes",
    })
    if "total_bytes" in f and "available_bytes" in f:
        f["used_bytes"] = max(0, f["total_bytes"] - f["available_bytes"])
    if "swap_total_bytes" in f and "swap_free_bytes" in f:
        f["swap_used_bytes"] = max(0, f["swap_total_bytes"] - f["swap_free_bytes"])
    _put(f, "pressure_some_seconds", seconds(page.value("node_pressure_memory_waiting_seconds_total")))
    _put(f, "pressure_full_seconds", seconds(page.value("node_pressure_memory_stalled_seconds_total")))
    _put(f, "oom_kills", count(page.value("node_vmstat_oom_kill")))
    return Runtime(kind="host", figures=f)
