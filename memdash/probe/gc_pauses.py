"""GC pause times, measured with ``gc.callbacks``.

The callback runs inside the collector on every collection, so it does the
least it can: one clock read on "start", a few list updates on "stop". It is
installed once, lazily (first ``collect()`` or front end), never at import, so
importing the probe changes nothing in the host.

Generations are not hard-coded: the lists grow to whatever generation numbers
the interpreter reports (3 on CPython 3.10-3.13, 2 with 3.14's incremental GC).
"""

from __future__ import annotations

import gc
from _thread import allocate_lock
import time

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs the host ~2 MiB
if TYPE_CHECKING:
    from typing import Any

_perf_ns = time.perf_counter_ns


class GcPauseTimer:
    """Totals of GC pauses since :meth:`install`, seconds, per generation."""

    def __init__(self) -> None:
        n = max(len(gc.get_stats()), 1)
        self.total: list[float] = [0.0] * n
        self.last: list[float | None] = [None] * n
        self.max: list[float] = [0.0] * n
        self.count: list[int] = [0] * n
        self.last_any: float | None = None
        self.installed_at: float | None = None
        self._start_ns = 0
        self._installed = False
        self._lock = allocate_lock()

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        # Runs inside the collector: no allocation-heavy work, no locks, no logging.
        if phase == "start":
            self._start_ns = _perf_ns()
            return
        duration = info.get("duration")  # CPython 3.15+ measures it for us
        if duration is None:
            duration = (_perf_ns() - self._start_ns) / 1e9
        gen = info.get("generation", 0)
        if gen >= len(self.total):
            grow = gen + 1 - len(self.total)
            self.total.extend([0.0] * grow)
            self.last.extend([None] * grow)
            self.max.extend([0.0] * grow)
            self.count.extend([0] * grow)
        self.total[gen] += duration
        self.last[gen] = duration
        self.last_any = duration
        self.count[gen] += 1
        if duration > self.max[gen]:
            self.max[gen] = duration

    def install(self) -> None:
        """Add the callback to ``gc.callbacks`` once (idempotent, thread-safe)."""
        if self._installed:
            return
        with self._lock:
            if not self._installed:
                gc.callbacks.append(self._callback)
                self.installed_at = time.time()
                self._installed = True

    def uninstall(self) -> None:
        """Remove the callback (tests, or a host that wants the probe gone)."""
        with self._lock:
            try:
                gc.callbacks.remove(self._callback)
            except ValueError:
                pass
            self._installed = False


#: The one timer of this process.
TIMER = GcPauseTimer()
