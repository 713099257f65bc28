"""Time to OOM, OOM-kill recency, and the "growing after GC" leak flag. Pure logic.

**Slope.** :class:`WorkingSetTrend` keeps the working set's recent samples (a
bounded deque, at most :data:`MAX_POINTS`, none older than the window, 10 min
by default). Its slope is the Theil-Sen estimate (the median of the slopes
between every pair of points) over at most :data:`FIT_POINTS` points; longer
series are first cut into that many time buckets, each represented by its
highest sample, since peaks, not dips, are what hit a limit. Theil-Sen ignores
noise and single outliers (a sample taken mid-GC). One more rule makes it robust
to a single *lasting* drop, such as a GC that returns memory for good while a
leak goes on: when exactly one step between points falls far below the usual
step (and no step as far above it undoes it), the later samples are lifted so
that step becomes a usual one before the fit. Two or more
such drops are a sawtooth, and are fitted as they are (a steady sawtooth has no
trend).

**Projection.** ``oom_eta_seconds`` = (limit - latest working set) / slope,
given only once the samples span ``eta_min_span`` seconds, only with a limit,
and only while growing; 0 once at or past the limit.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Iterable, Sequence

#: Samples a trend keeps at most (at a 1 s refresh, a 10 min window needs 600).
MAX_POINTS = 1024
#: Points the fit uses at most: 32 points are 496 pair slopes, ~0.1 ms.
FIT_POINTS = 32
#: A kill keeps a service critical (and a host-wide one, a warning) this long.
OOM_RECENT_SECONDS = 900.0
#: A single step down counts as a drop, not noise, when it departs from the usual step by this
#: many times the steps' median absolute deviation ...
_DROP_FACTOR = 6.0
#: ... and by at least this much, so a quiet series does not turn tiny wobbles into drops.
_DROP_FLOOR_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Trend:
    """What a trend says now: growth per minute (``None`` before ``min_span``)
    and the time to reach the limit (``None`` when not growing or unknown)."""

    growth_bytes_per_min: float | None
    oom_eta_seconds: float | None


def median(values: Sequence[float]) -> float:
    """The median of a non-empty sequence."""
    s = sorted(values)
    n = len(s)
    mid = n // 2
    return s[mid] if n % 2 else (s[mid - 1] + s[mid]) / 2.0


def theil_sen(points: Sequence[tuple[float, float]]) -> float | None:
    """The median of pairwise slopes (value units per time unit); ``None`` with
    fewer than two distinct times."""
    slopes = []
    n = len(points)
    for i in range(n):
        ti, vi = points[i]
        for j in range(i + 1, n):
            tj, vj = points[j]
            if tj != ti:
                slopes.append((vj - vi) / (tj - ti))
    return median(slopes) if slopes else None


def bucket_peaks(points: Sequence[tuple[float, float]], buckets: int = FIT_POINTS) -> list[tuple[float, float]]:
    """At most ``buckets`` points: the series cut into equal time spans, each
    kept as its highest sample (with that sample's time)."""
    if len(points) <= buckets:
        return list(points)
    t0 = points[0][0]
    span = points[-1][0] - t0
    if span <= 0:
        return [max(points, key=lambda p: p[1])]
    out: dict[int, tuple[float, float]] = {}
    for t, v in points:
        b = min(buckets - 1, int((t - t0) / span * buckets))
        best = out.get(b)
        if best is None or v > best[1]:
            out[b] = (t, v)
    return [out[b] for b in sorted(out)]


def without_single_drop(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """``points`` with the later samples lifted by the one big step down, when
    there is exactly one (see the module docstring); otherwise unchanged."""
    pts = list(points)
    if len(pts) < 4:
        return pts
    steps = [pts[i][1] - pts[i - 1][1] for i in range(1, len(pts))]
    usual = median(steps)
    spread = median([abs(s - usual) for s in steps])
    floor = max(_DROP_FACTOR * spread, _DROP_FLOOR_BYTES)
    drops = [i for i, s in enumerate(steps) if s - usual < -floor]
    rises = [i for i, s in enumerate(steps) if s - usual > floor]
    if len(drops) != 1 or rises:
        return pts  # none, a sawtooth, or a dip that came back: Theil-Sen copes as is
    i = drops[0] + 1
    lift = usual - steps[drops[0]]  # the drop becomes an ordinary step
    return pts[:i] + [(t, v + lift) for t, v in pts[i:]]


def slope_per_second(points: Sequence[tuple[float, float]]) -> float | None:
    """The robust slope of ``(time, bytes)`` points, in bytes per second."""
    return theil_sen(without_single_drop(bucket_peaks(points)))


def project(current: float | None, limit: float | None, slope: float | None) -> float | None:
    """Seconds until ``current`` reaches ``limit`` at ``slope`` bytes/s; ``None``
    when not growing or either figure is unknown; 0 at or past the limit."""
    if current is None or limit is None or slope is None or slope <= 0:
        return None
    if current >= limit:
        return 0.0
    return (limit - current) / slope


class WorkingSetTrend:
    """A rolling window of one service's working set, and its trend.

    Args:
        window: seconds of samples kept (default 10 min).
        min_span: seconds the samples must span before any figure is given.
    """

    __slots__ = ("window", "min_span", "points", "_cache", "_cache_t")

    def __init__(self, *, window: float = 600.0, min_span: float = 60.0) -> None:
        self.window = window
        self.min_span = min_span
        self.points: deque[tuple[float, float]] = deque(maxlen=MAX_POINTS)
        self._cache: float | None = None
        self._cache_t = float("-inf")

    def add(self, t: float, value: float | None) -> None:
        """Add a sample (``None`` is skipped); samples out of time order reset the window."""
        if value is None:
            return
        if self.points and t <= self.points[-1][0]:
            if t == self.points[-1][0]:
                return
            self.reset()  # the clock went back: old samples cannot be compared
        self.points.append((t, float(value)))
        while self.points and self.points[0][0] < t - self.window:
            self.points.popleft()

    def reset(self) -> None:
        """Forget every sample."""
        self.points.clear()
        self._cache = None
        self._cache_t = float("-inf")

    @property
    def span(self) -> float:
        """Seconds between the oldest and newest sample."""
        return self.points[-1][0] - self.points[0][0] if len(self.points) > 1 else 0.0

    def slope(self) -> float | None:
        """Bytes per second, or ``None`` before ``min_span`` seconds of samples.

        The fit is redone once a fit bucket's worth of time has passed
        (``span / FIT_POINTS``, at least 1 s: ~19 s over a full 10 min window),
        not on every sample: a slope over minutes barely moves in seconds, and
        dozens of services refitted every refresh would cost the dashboard.
        """
        if len(self.points) < 3 or self.span < self.min_span:
            return None
        last = self.points[-1][0]
        if self._cache is None or last - self._cache_t >= max(1.0, self.span / FIT_POINTS):
            self._cache = slope_per_second(list(self.points))
            self._cache_t = last
        return self._cache

    def trend(self, limit: float | None) -> Trend:
        """Growth per minute and time to ``limit`` from the latest sample."""
        s = self.slope()
        if s is None:
            return Trend(None, None)
        return Trend(s * 60.0, project(self.points[-1][1], limit, s))


# -- OOM kills ------------------------------------------------------------------


class OomKillWatch:
    """Notices when a kernel OOM-kill counter rises while memdash watches.

    The first reading is the baseline: a one-shot read reports the count and
    no time (it cannot know when kills before it happened). A later, higher
    reading sets :attr:`rose_at` to that reading's time. A lower one (the cgroup
    was recreated) becomes the new baseline.
    """

    __slots__ = ("count", "rose_at")

    def __init__(self) -> None:
        self.count: int | None = None
        self.rose_at: float | None = None

    def update(self, count: int | None, now: float) -> None:
        """Take a new reading of the counter."""
        if count is None:
            return
        if self.count is not None and count > self.count:
            self.rose_at = now
        self.count = count

    def note_logged(self, when: float) -> None:
        """A kill the kernel log dates at ``when`` (keeps the latest)."""
        if self.rose_at is None or when > self.rose_at:
            self.rose_at = when


def is_recent(when: float | None, now: float, within: float = OOM_RECENT_SECONDS) -> bool:
    """Whether ``when`` lies within the last ``within`` seconds (a little ahead of ``now`` counts too)."""
    return when is not None and now - within <= when <= now + 60.0


def ago(seconds: float) -> str:
    """``"just now"``, ``"42 s ago"``, ``"3 min ago"`` for a recent time."""
    seconds = max(0.0, seconds)
    if seconds < 5:
        return "just now"
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    return f"{seconds / 60:.0f} min ago"


# -- leak flag ------------------------------------------------------------------


def growing_after_gc(samples: Iterable[tuple[int | None, int | None]], *, min_collections: int = 2,
                     floor_bytes: int = 1 << 20, floor_ratio: float = 0.01) -> bool:
    """Whether RSS kept growing across at least ``min_collections`` full collections.

    ``samples`` are ``(full_collections, rss_bytes)`` in time order, as a probed
    Python target reports them (GC generation 2's ``collections``). The RSS read
    right after each full collection (the first sample whose count went up) is a
    baseline garbage cannot explain; when each of the last ``min_collections``
    baselines is higher than the one before by more than noise (``floor_bytes``
    or ``floor_ratio`` of it, the larger), the target is "growing after GC".
    """
    after: list[int] = []
    previous: int | None = None
    for collections, rss in samples:
        if collections is None or rss is None:
            continue
        if previous is not None and collections > previous:
            after.append(rss)
        elif previous is not None and collections < previous:
            after.clear()  # the process restarted: start over
        previous = collections
    if len(after) < min_collections + 1:
        return False
    recent = after[-(min_collections + 1):]
    return all(b - a > max(floor_bytes, floor_ratio * a) for a, b in zip(recent, recent[1:]))
