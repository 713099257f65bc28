"""``collect()``: one snapshot of this process, as ``docs/probe-wire.md`` says.

Budget: well under 200 µs with ten tracked caches. That rules out anything that
walks the heap (``gc.get_objects()``) or every mapping (``smaps_rollup``); the
cgroup limit, which takes several file reads, is cached for a few seconds.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from _thread import allocate_lock

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs the host ~2 MiB
if TYPE_CHECKING:
    from typing import Any

from memdash.probe import native, procfs
from memdash.probe.gc_pauses import TIMER
from memdash.probe.wire import PROBE_NAME, SCHEMA  # the wire schema's; other probe modules import them from here

#: How long a read of the cgroup limit is reused, seconds. Limits change
#: rarely (a ``systemctl set-property``), and re-reading costs ~10 file opens.
LIMIT_TTL_SECONDS = 10.0

# From sys rather than platform: platform's import costs ~1 MiB of RSS for two strings.
_PYTHON_VERSION = "{}.{}.{}".format(*sys.version_info[:3])
_IMPLEMENTATION = {"cpython": "CPython", "pypy": "PyPy", "graalpy": "GraalPy"}.get(
    sys.implementation.name, sys.implementation.name)


def _probe_version() -> str:
    try:
        from memdash import __version__
    except ImportError:
        return "unknown"
    return __version__


_VERSION = _probe_version()


class _LimitCache:
    """The cgroup limit of this process, re-read at most every :data:`LIMIT_TTL_SECONDS`."""

    def __init__(self) -> None:
        self._value: tuple[int | None, str | None] = (None, None)
        self._read_at = -1e18
        self._pid = -1
        self._lock = allocate_lock()

    def get(self) -> tuple[int | None, str | None]:
        now = time.monotonic()
        pid = os.getpid()
        if now - self._read_at < LIMIT_TTL_SECONDS and pid == self._pid:
            return self._value
        with self._lock:
            try:
                from memdash.probe.cgroupfs import read_process_cgroup

                cg = read_process_cgroup("self")
            except Exception:  # unreadable /proc or /sys: no limit known
                cg = None
            if cg is not None and cg.limit_bytes is not None:
                self._value = (cg.limit_bytes, f"cgroup v{cg.version}")
            else:
                self._value = (None, None)
            self._read_at = now
            self._pid = pid
        return self._value


LIMIT = _LimitCache()
_PHYSICAL = procfs.physical_memory_bytes()


def memory_figures() -> dict[str, Any]:
    """The ``memory`` block: RSS/VMS from statm, the limit and RSS's percent of it."""
    vms, rss = procfs.read_statm()
    limit, source = LIMIT.get()
    against = limit if limit is not None else _PHYSICAL
    percent = round(100.0 * rss / against, 2) if rss is not None and against else None
    return {"rss_bytes": rss, "uss_bytes": None, "vms_bytes": vms, "limit_bytes": limit,
            "limit_source": source, "physical_bytes": _PHYSICAL, "percent": percent}


def gc_figures() -> dict[str, Any]:
    """The ``gc`` block: per-generation counters and pause times."""
    TIMER.install()
    stats = gc.get_stats()
    counts = gc.get_count()
    thresholds = gc.get_threshold()
    gens = []
    for i, st in enumerate(stats):
        measured = i < len(TIMER.total)
        gens.append({
            "generation": i,
            "count": counts[i] if i < len(counts) else None,
            "threshold": thresholds[i] if i < len(thresholds) else None,
            "collections": st.get("collections"),
            "collected": st.get("collected"),
            "uncollectable": st.get("uncollectable"),
            "pause_total_seconds": TIMER.total[i] if measured else None,
            "pause_last_seconds": TIMER.last[i] if measured else None,
            "pause_max_seconds": TIMER.max[i] if measured else None,
            "pauses": TIMER.count[i] if measured else None,
        })
    return {"enabled": gc.isenabled(), "generations": gens,
            "pause_total_seconds": sum(TIMER.total), "pause_last_seconds": TIMER.last_any,
            "pause_max_seconds": max(TIMER.max) if TIMER.max else None,
            "pauses_since": TIMER.installed_at, "garbage": len(gc.garbage)}


def _tracemalloc_enabled() -> bool:
    tracing = sys.modules.get("memdash.probe.tracing")  # imported only by a host that enables it
    if tracing is not None:
        return tracing.enabled()
    return os.environ.get("MEMDASH_PROBE_TRACEMALLOC", "") in ("1", "true", "yes", "on")


def _cache_figures() -> list[dict[str, Any]]:
    """The tracked caches' figures. :mod:`memdash.probe.caches` is loaded by
    the first ``track_cache()``: until then no cache is tracked, and a host
    that tracks none never loads its code (~50 KiB)."""
    caches = sys.modules.get("memdash.probe.caches")
    return caches.REGISTRY.figures() if caches is not None else []


def available_actions() -> list[str]:
    """Cleanup actions this process can run now (``cuda``/``trim`` only where they exist)."""
    actions = ["gc", "caches"]
    if native.cuda_ready():
        actions.append("cuda")
    if native.trim_available():
        actions.append("trim")
    actions.append("all")
    if _tracemalloc_enabled():
        actions.append("tracemalloc")
    return actions


def collect() -> dict[str, Any]:
    """One snapshot of this process (``docs/probe-wire.md``, schema 1).

    Sizes in bytes, times in Unix epoch seconds, durations in seconds, ratios
    0..1; ``None`` where a figure cannot be read. Costs tens of microseconds;
    never walks the heap. The first call installs the GC pause timer, so pause
    figures cover the time since then.
    """
    now = time.time()
    started = procfs.process_started_at()
    memory = memory_figures()
    return {
        "schema": SCHEMA,
        "probe": PROBE_NAME,
        "version": _VERSION,
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "python": _PYTHON_VERSION,
        "implementation": _IMPLEMENTATION,
        "executable": sys.executable,
        "time": now,
        "started_at": started,
        "uptime_seconds": max(0.0, now - started),
        "memory": memory,
        "gc": gc_figures(),
        "caches": _cache_figures(),
        "torch": native.torch_figures(),
        "malloc": {"trim_available": native.trim_available()},
        "actions": available_actions(),
        "python_memory": _python_memory(memory["rss_bytes"]),
    }


#: ``MEMDASH_PROBE_PYTHON_MEMORY=0`` leaves the ``python_memory`` block out
#: (``null``), and with it ``_ctypes`` and :mod:`memdash.probe.pymem` (~0.3 MiB of the host's RSS).
_PYTHON_MEMORY = os.environ.get("MEMDASH_PROBE_PYTHON_MEMORY", "1").strip() != "0"


def _python_memory(rss: int | None) -> dict[str, Any] | None:
    """The ``python_memory`` block (:mod:`memdash.probe.pymem`); ``None`` if it
    failed: a figure that cannot be read must not cost the host its snapshot."""
    if not _PYTHON_MEMORY:
        return None
    try:
        from memdash.probe import pymem  # first snapshot only: its code, and _ctypes (~0.3 MiB together)

        return pymem.python_memory(rss)
    except Exception:
        return None
