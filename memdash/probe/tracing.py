"""The ``tracemalloc`` action: where the process allocates, on demand.

Off by default: the host enables it with ``MEMDASH_PROBE_TRACEMALLOC=1`` (or
:func:`enable`), and like every cleanup it needs the token over HTTP. One run
starts ``tracemalloc`` for ``seconds`` (1..:data:`MAX_SECONDS`, default 5)
keeping ``frames`` frames per allocation (1..:data:`MAX_FRAMES`, default 1),
takes one snapshot halfway and one at the end, and stops it again (unless
the host had started it itself, in which case it is left running). The answer
lists the top :data:`TOP` sites by size at the end and by growth between the
two snapshots, and states the overhead: the memory tracemalloc itself used,
and that every allocation in the process is slower while it runs (CPython's
bench: a loop that only allocates small objects runs 7-14x slower with 1
frame, up to ~60x with 10).

``tracemalloc`` is imported only when the action runs: it is not free to load.
"""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs the host ~2 MiB
if TYPE_CHECKING:
    from typing import Any

#: Longest run, seconds (cleanups are serialised: a run holds the others back this long at most).
MAX_SECONDS = 30.0
DEFAULT_SECONDS = 5.0
#: Most frames kept per allocation (each frame costs memory per traced block).
MAX_FRAMES = 10
DEFAULT_FRAMES = 1
#: Sites listed by size and by growth.
TOP = 20

_enabled_in_code = False


def enable(on: bool = True) -> None:
    """Allow (or forbid again) the ``tracemalloc`` action in this process."""
    global _enabled_in_code
    _enabled_in_code = on


def enabled() -> bool:
    """Whether the host allowed the action (:func:`enable` or ``MEMDASH_PROBE_TRACEMALLOC=1``)."""
    return _enabled_in_code or os.environ.get("MEMDASH_PROBE_TRACEMALLOC", "") in ("1", "true", "yes", "on")


def _site(stat: Any, growth: bool) -> dict[str, Any]:
    # A Traceback runs oldest to most recent: the allocating line is the last frame.
    frames = [{"file": f.filename, "line": f.lineno} for f in stat.traceback]
    out = {"file": frames[-1]["file"] if frames else None, "line": frames[-1]["line"] if frames else None,
           "size_bytes": stat.size, "count": stat.count, "traceback": frames}
    if growth:
        out["size_diff_bytes"] = stat.size_diff
        out["count_diff"] = stat.count_diff
    return out


def trace(seconds: float = DEFAULT_SECONDS, frames: int = DEFAULT_FRAMES, *,
          sleep: Any = time.sleep) -> dict[str, Any]:
    """Run tracemalloc for ``seconds`` and return the ``tracemalloc`` block of the receipt."""
    import tracemalloc

    was_on = tracemalloc.is_tracing()
    if not was_on:
        tracemalloc.start(frames)
    started = time.perf_counter()
    try:
        # The probe's own frames and tracemalloc's are not the host's allocations.
        filters = [tracemalloc.Filter(False, tracemalloc.__file__),
                   tracemalloc.Filter(False, __file__)]
        sleep(seconds / 2)
        first = tracemalloc.take_snapshot().filter_traces(filters)
        sleep(seconds / 2)
        second = tracemalloc.take_snapshot().filter_traces(filters)
        key = "traceback" if tracemalloc.get_traceback_limit() > 1 else "lineno"
        by_size = [_site(s, False) for s in second.statistics(key)[:TOP]]
        by_growth = [_site(s, True) for s in second.compare_to(first, key)[:TOP]]
        traced, peak = tracemalloc.get_traced_memory()
        overhead = tracemalloc.get_tracemalloc_memory()
        del first, second
    finally:
        if not was_on:
            tracemalloc.stop()  # frees its traces
    return {
        "seconds": round(time.perf_counter() - started, 3),
        "frames": tracemalloc.get_traceback_limit() if was_on else frames,
        "was_running": was_on, "left_running": was_on,
        "traced_bytes": traced, "traced_peak_bytes": peak,
        "top_by_size": by_size, "top_by_growth": by_growth,
        "overhead": {
            "tracemalloc_memory_bytes": overhead,
            "note": ("while tracing, every allocation in the process is slower (a loop that only "
                     "allocates small objects ran 7-14x slower with 1 frame, more with 10, in "
                     "bench/bench_probe.py; code that also computes, less) and each traced block costs memory per frame kept; both end when it stops"),
        },
    }
