"""Bounded history: what memdash remembers between refreshes.

memdash is a memory tool, so every buffer here has a fixed maximum: a series
holds at most ``points`` values, and per-process series exist only for live
pids (a pid that disappears is dropped at the next refresh).
"""

from __future__ import annotations

from collections import deque
from typing import Iterable, Sequence


class Series:
    """A bounded series of ``(time, value)`` points; the oldest fall off.

    Keeps running sums so the least-squares slope costs O(1) per refresh: with
    hundreds of processes, a loop over every point of every series would cost
    more than the rest of the refresh.
    """

    __slots__ = ("times", "values", "_st", "_sv", "_stv", "_stt", "_origin", "_appends")

    def __init__(self, points: int) -> None:
        self.times: deque[float] = deque(maxlen=points)
        self.values: deque[float] = deque(maxlen=points)
        self._st = self._sv = self._stv = self._stt = 0.0
        self._origin: float | None = None
        self._appends = 0

    def append(self, t: float, value: float) -> None:
        """Add one point."""
        if self._origin is None:
            self._origin = t
        if len(self.values) == self.values.maxlen:
            old_t = self.times[0] - self._origin
            old_v = self.values[0]
            self._st -= old_t
            self._sv -= old_v
            self._stv -= old_t * old_v
            self._stt -= old_t * old_t
        self.times.append(t)
        self.values.append(value)
        rt = t - self._origin
        self._st += rt
        self._sv += value
        self._stv += rt * value
        self._stt += rt * rt
        self._appends += 1
        if self._appends >= 4 * (self.values.maxlen or 1):
            self._resync()

    def _resync(self) -> None:
        # Adding and subtracting for hours drifts in floating point; recomputing
        # once every few windows keeps the slope exact at O(1) amortised cost.
        self._origin = self.times[0]
        self._appends = 0
        self._st = self._sv = self._stv = self._stt = 0.0
        for t, v in zip(self.times, self.values):
            rt = t - self._origin
            self._st += rt
            self._sv += v
            self._stv += rt * v
            self._stt += rt * rt

    def __len__(self) -> int:
        return len(self.values)

    def last(self) -> float | None:
        """The newest value, ``None`` when empty."""
        return self.values[-1] if self.values else None

    def rate_per_minute(self, min_span_seconds: float = 5.0) -> float | None:
        """Least-squares slope of the series in units per minute.

        ``None`` until the points span at least ``min_span_seconds``: two close
        points say more about noise than about growth.
        """
        n = len(self.values)
        if n < 2 or self.times[-1] - self.times[0] < min_span_seconds:
            return None
        den = n * self._stt - self._st * self._st
        if den <= 0:
            return None
        slope = (n * self._stv - self._st * self._sv) / den
        return slope * 60.0


class History:
    """Everything memdash remembers: named series (system, GPUs, targets) and
    per-process RSS series, each at most ``points`` long.

    Args:
        points: how many refreshes a series keeps (the chart's width in time).
        process_points: how many points a process's RSS series keeps (one every
            5 s from the collector: 60 points is the last 5 minutes); growth is
            the slope over these.
    """

    def __init__(self, points: int = 600, process_points: int = 60) -> None:
        self.points = points
        self.process_points = process_points
        self._series: dict[str, Series] = {}
        self._procs: dict[int, Series] = {}

    def series(self, key: str) -> Series:
        """The series named ``key``, created empty on first use."""
        s = self._series.get(key)
        if s is None:
            s = self._series[key] = Series(self.points)
        return s

    def record(self, key: str, t: float, value: float | None) -> None:
        """Append to series ``key``; a ``None`` value is skipped."""
        if value is not None:
            self.series(key).append(t, value)

    def values(self, key: str) -> Sequence[float]:
        """The values of series ``key`` (empty if unknown)."""
        s = self._series.get(key)
        return list(s.values) if s is not None else []

    def keys(self) -> list[str]:
        """Names of the series held."""
        return list(self._series)

    def forget(self, keys: Iterable[str]) -> None:
        """Drop series that no longer have a source (a removed target, a lost GPU)."""
        for key in keys:
            self._series.pop(key, None)

    def record_processes(self, t: float, rss_by_pid: dict[int, int]) -> None:
        """Append each live pid's RSS and drop the series of pids that are gone."""
        procs = self._procs
        for pid in procs.keys() - rss_by_pid.keys():
            del procs[pid]
        points = self.process_points
        for pid, rss in rss_by_pid.items():
            s = procs.get(pid)
            if s is None:
                s = procs[pid] = Series(points)
            s.append(t, float(rss))

    def growth(self, pid: int) -> float | None:
        """RSS growth of ``pid`` in bytes per minute over its history; ``None``
        until known."""
        s = self._procs.get(pid)
        return s.rate_per_minute() if s is not None else None

    def process_count(self) -> int:
        """How many per-process series are held (bounded by the live pids)."""
        return len(self._procs)
