"""Bounded history: what memdash remembers between refreshes.

memdash is a memory tool, so every buffer here has a fixed maximum: a series
holds at most ``points`` values, and per-process series exist only for live
pids (a pid that disappears is dropped at the next refresh).
"""

from __future__ import annotations

from array import array


class Series:
    """A bounded series of ``(time, value)`` points; the oldest fall off.

    Storage is two ``array('d')`` rings allocated in full when the series is
    created (16 bytes a point), so memory does not creep up while the series
    fills: hundreds of per-process series would otherwise grow for minutes.
    Running sums make the least-squares slope O(1) per refresh.
    """

    __slots__ = ("capacity", "_t", "_v", "_n", "_next", "_st", "_sv", "_stv", "_stt", "_origin", "_appends")

    def __init__(self, points: int) -> None:
        self.capacity = max(1, points)
        self._t = array("d", bytes(8 * self.capacity))
        self._v = array("d", bytes(8 * self.capacity))
        self._n = 0
        self._next = 0
        self._st = self._sv = self._stv = self._stt = 0.0
        self._origin: float | None = None
        self._appends = 0

    def append(self, t: float, value: float) -> None:
        """Add one point."""
        if self._origin is None:
            self._origin = t
        i = self._next
        if self._n == self.capacity:
            old_t = self._t[i] - self._origin
            old_v = self._v[i]
            self._st -= old_t
            self._sv -= old_v
            self._stv -= old_t * old_v
            self._stt -= old_t * old_t
        else:
            self._n += 1
        self._t[i] = t
        self._v[i] = value
        self._next = (i + 1) % self.capacity
        rt = t - self._origin
        self._st += rt
        self._sv += value
        self._stv += rt * value
        self._stt += rt * rt
        self._appends += 1
        if self._appends >= 4 * self.capacity:
            self._resync()

    def _oldest_first(self, ring: array[float]) -> list[float]:
        # Two slices of the ring at C speed (a frame copies a few series each refresh).
        start = (self._next - self._n) % self.capacity
        end = start + self._n
        if end <= self.capacity:
            return ring[start:end].tolist()
        return ring[start:].tolist() + ring[: end - self.capacity].tolist()

    @property
    def times(self) -> list[float]:
        """The times, oldest first."""
        return self._oldest_first(self._t)

    @property
    def values(self) -> list[float]:
        """The values, oldest first."""
        return self._oldest_first(self._v)

    def _resync(self) -> None:
        # Adding and subtracting for hours drifts in floating point; recomputing
        # once every few windows keeps the slope exact at O(1) amortised cost.
        times, values = self.times, self.values
        self._origin = times[0]
        self._appends = 0
        self._st = self._sv = self._stv = self._stt = 0.0
        for t, v in zip(times, values):
            rt = t - self._origin
            self._st += rt
            self._sv += v
            self._stv += rt * v
            self._stt += rt * rt

    def __len__(self) -> int:
        return self._n

    def last(self) -> float | None:
        """The newest value, ``None`` when empty."""
        return self._v[(self._next - 1) % self.capacity] if self._n else None

    def _span(self) -> float:
        c = self.capacity
        first = (self._next - self._n) % c
        return self._t[(self._next - 1) % c] - self._t[first]

    def rate_per_minute(self, min_span_seconds: float = 5.0) -> float | None:
        """Least-squares slope of the series in units per minute.

        ``None`` until the points span at least ``min_span_seconds``: two close
        points say more about noise than about growth.
        """
        n = self._n
        if n < 2 or self._span() < min_span_seconds:
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

    def __init__(self, points: int = 600, process_points: int = 60, growth_min_span: float = 5.0) -> None:
        self.points = points
        self.process_points = process_points
        #: Seconds of samples a growth figure needs (the dashboard asks for 60:
        #: one step in a new process's RSS is not a rate).
        self.growth_min_span = growth_min_span
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

    def peek(self, key: str) -> Series | None:
        """The series named ``key``, ``None`` if there is none (nothing is created).

        ``process.<pid>.rss`` names a process's RSS series (one point every 5 s)."""
        if key.startswith("process.") and key.endswith(".rss"):
            pid = key[len("process."):-len(".rss")]
            return self._procs.get(int(pid)) if pid.isdigit() else None
        return self._series.get(key)

    def discard(self, key: str) -> None:
        """Drop series ``key`` (a service that is gone), if it exists."""
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
        return s.rate_per_minute(self.growth_min_span) if s is not None else None


def service_series_key(key: str) -> str:
    """The history series of a service's working set, percent of its limit."""
    return f"service.{key}.percent"
