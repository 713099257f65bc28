"""A recording played back through the dashboard: :class:`ReplayEngine` stands
where the live :class:`memdash.engine.Engine` stands and publishes the recorded
frame at a time cursor instead of polling. Nothing here imports Textual; the
screen is :mod:`memdash.tui.replay`.

The cursor moves by frame, by seconds, to the next or previous event, or to a
time. Charts get the series of the frames before the cursor (up to
``window`` frames, what the live dashboard's history holds), or, zoomed out
(:meth:`ReplayEngine.set_whole`), the whole recording downsampled by the store
to :data:`WHOLE_POINTS` points a series; the whole recording's levels and
events come from :meth:`timeline`.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections import OrderedDict
from typing import Any, Callable, NamedTuple

from memdash.engine.frame import Event as FrameEvent
from memdash.engine.frame import Frame, SeriesView
from memdash.engine.view import View
from memdash.model import CleanupResult
from memdash.record.decode import snapshot_from_json
from memdash.record.store import COLUMN_PREFIXES, Event, Store, series_of

#: Kinds of event the n/N keys stop at (a service coming and going is listed, not a stop).
STOP_KINDS = ("oom_kill", "level_change", "cleanup")
#: Points a whole-recording series is downsampled to (more than a chart has columns).
WHOLE_POINTS = 1000
#: Whole-recording series kept, most recently used last (each at most WHOLE_POINTS points).
WHOLE_KEYS = 64


class _Kept(NamedTuple):
    points: int


class ReplayEngine:
    """The recorded frames of ``store`` behind the dashboard's engine interface.

    Args:
        store: an open store with at least one frame.
        at: where the cursor starts (epoch seconds; the last frame by default).
        window: frames of history given to charts, ending at the cursor
            (default: ten minutes of frames, what the live dashboard keeps).
    """

    read_only = True

    def __init__(self, store: Store, at: float | None = None, *, window: int | None = None) -> None:
        if not len(store):
            raise ValueError("the recording has no frames")
        self.store = store
        self.times = store.times()
        start = store.nearest(at) if at is not None else None
        self.index: int = len(self.times) - 1 if start is None else start
        self.events: list[Event] = store.events()
        self._event_times = [e.t for e in self.events]
        self._stop_events = [e for e in self.events if e.kind in STOP_KINDS]
        self._stops = [e.t for e in self._stop_events]
        self._at_event: tuple[int, int] | None = None  # (frame index, stop index) after n/N
        self._subscribers: list[Callable[[Frame], None]] = []
        self._closers: list[Callable[[], None]] = []
        self._view = View()
        self._figures: OrderedDict[int, dict[str, float]] = OrderedDict()  # from the figures column
        self._decoded: OrderedDict[int, dict[str, float]] = OrderedDict()  # from decoded frames
        tail = self.times[-50:]
        gaps = sorted(b - a for a, b in zip(tail, tail[1:]) if b > a)
        self._interval = round(gaps[len(gaps) // 2], 2) if gaps else 5.0
        self.window = window if window is not None else max(10, min(600, int(600 / max(self._interval, 0.01))))
        self.frame: Frame | None = None
        #: Charts over the whole recording (``True``) or the window before the cursor.
        self.whole = False
        self._whole: OrderedDict[str, SeriesView] = OrderedDict()

    # -- what the dashboard calls on an engine

    @property
    def history(self) -> _Kept:
        """What the dashboard asks of History: how many points a chart can hold
        (here the replay window, in frames)."""
        return _Kept(self.window)

    def subscribe(self, callback: Callable[[Frame], None], on_close: Callable[[], None] | None = None) -> Callable[[], None]:
        self._subscribers.append(callback)
        if on_close is not None:
            self._closers.append(on_close)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def start(self) -> None:
        self.publish()

    def close(self, timeout: float = 0.0) -> None:
        for closer in self._closers:
            closer()
        self._closers.clear()
        self.store.close()

    @property
    def view(self) -> View:
        return self._view

    def set_view(self, *, refresh: bool = False, **changes: Any) -> None:
        before = self._view
        self._view = dataclasses.replace(self._view, **changes)
        if self._view.series != before.series:
            self.publish()

    @property
    def interval(self) -> float:
        """The recording's interval (the median gap between frames)."""
        return self._interval

    def set_interval(self, seconds: float) -> None:
        """A recording's interval is what it was: nothing to change."""

    @property
    def paused(self) -> bool:
        return False

    def set_paused(self, paused: bool) -> None:
        """A replay moves only with its cursor."""

    async def cleanup(self, name: str, action: str, **options: Any) -> CleanupResult:
        return CleanupResult(target=name, action=action, ok=False,
                             error="a recording is read-only: cleanups run on the live dashboard")

    def set_whole(self, whole: bool) -> None:
        """Charts over the whole recording (``True``) or the ``window`` frames
        before the cursor (``False``)."""
        if whole != self.whole:
            self.whole = whole
            self.publish()

    # -- the cursor

    @property
    def time(self) -> float:
        return self.times[self.index]

    def step(self, frames: int) -> bool:
        """Move by ``frames``; returns whether the cursor moved."""
        target = max(0, min(len(self.times) - 1, self.index + frames))
        return self._go(target)

    def shift(self, seconds: float) -> bool:
        """Move to the frame nearest ``seconds`` from here, at least one frame."""
        target = self.store.nearest(self.time + seconds)
        assert target is not None
        if target == self.index and seconds:
            target = max(0, min(len(self.times) - 1, self.index + (1 if seconds > 0 else -1)))
        return self._go(target)

    def goto(self, t: float) -> bool:
        target = self.store.nearest(t)
        assert target is not None
        return self._go(target)

    def next_event(self, direction: int) -> Event | None:
        """Move to the frame at or after the next (``direction`` 1) or previous
        (-1) stop event (an OOM kill, a level change, a cleanup); returns it."""
        stops = self._stops
        if not stops:
            return None
        if self._at_event is not None and self._at_event[0] == self.index:
            # Still on the frame of the last event visited: step through the
            # events that share it one by one.
            i = self._at_event[1] + direction
        elif direction > 0:
            i = bisect.bisect_right(stops, self.time)
        else:
            previous = self.times[self.index - 1] if self.index > 0 else self.time - 1e-6
            i = bisect.bisect_right(stops, previous) - 1
        if not 0 <= i < len(stops):
            return None
        # The first frame at or after the event shows its effect.
        target = min(bisect.bisect_left(self.times, stops[i]), len(self.times) - 1)
        self._go(target)
        self._at_event = (target, i)
        return self._stop_events[i]

    def _go(self, index: int) -> bool:
        if index == self.index and self.frame is not None:
            return False
        self.index = index
        self.publish()
        return True

    # -- frames

    def _figures_at(self, i: int, cache: OrderedDict[int, dict[str, float]]) -> dict[str, float]:
        """The charted figures of frame ``i`` (cached: charts re-read a window)."""
        hit = cache.get(i)
        if hit is not None:
            cache.move_to_end(i)
            return hit
        f = self.store.frame(i)  # decoded: a target's figures, or a frame without the column
        out = series_of(f.snapshot) if f is not None else {}
        self._remember(cache, i, out)
        return out

    def _remember(self, cache: OrderedDict[int, dict[str, float]], i: int, figures: dict[str, float]) -> None:
        cache[i] = figures
        cache.move_to_end(i)
        while len(cache) > 4 * self.window:
            cache.popitem(last=False)

    def _series(self, keys: set[str]) -> dict[str, SeriesView]:
        """The ``window`` frames up to the cursor: the box's series from the
        figures column, the rest (a target's, a process's, a service's, and the
        box's in frames recorded before the column had them) from decoded frames."""
        lo = max(0, self.index - self.window + 1)
        points: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in keys}

        def collect(wanted: list[str], cache: OrderedDict[int, dict[str, float]]) -> None:
            for i in range(lo, self.index + 1):
                figures = self._figures_at(i, cache)
                for k in wanted:
                    v = figures.get(k)
                    if v is not None:
                        points[k][0].append(self.times[i])
                        points[k][1].append(v)

        column = [k for k in keys if k.startswith(COLUMN_PREFIXES)]
        if column:
            missing = [i for i in range(lo, self.index + 1) if i not in self._figures]
            if missing:  # one range read of the figures column for what the cache lacks
                for i, figures in self.store.figures(missing[0], missing[-1]).items():
                    self._remember(self._figures, i, figures)
            collect(column, self._figures)
        rest = [k for k in keys if not k.startswith(COLUMN_PREFIXES) or not points[k][0]]
        if rest:
            collect(rest, self._decoded)
        return {k: SeriesView(times=tuple(ts), values=tuple(vs)) for k, (ts, vs) in points.items()}

    def _whole_series(self, keys: set[str]) -> dict[str, SeriesView]:
        """The whole recording, :data:`WHOLE_POINTS` points a series at most, read
        once a key from the store (:meth:`Store.downsampled`) and kept."""
        missing = [k for k in keys if k not in self._whole]
        if missing:
            for k, (ts, vs) in self.store.downsampled(missing, WHOLE_POINTS).items():
                self._whole[k] = SeriesView(times=tuple(ts), values=tuple(vs))
        out = {}
        for k in keys:
            self._whole.move_to_end(k)
            out[k] = self._whole[k]
        while len(self._whole) > max(WHOLE_KEYS, len(keys)):
            self._whole.popitem(last=False)
        return out

    def build(self) -> Frame | None:
        """The frame at the cursor, as the live engine would have published it."""
        rec = self.store.frame(self.index)
        if rec is None:
            return None
        snap = snapshot_from_json(rec.snapshot, rec.t)
        previous = self.times[self.index - 1] if self.index > 0 else float("-inf")
        lo = bisect.bisect_right(self._event_times, previous)
        hi = bisect.bisect_right(self._event_times, rec.t)
        events = tuple(FrameEvent(time=e.t, kind=e.kind, subject=e.subject, text=describe(e), data=dict(e.data))
                       for e in self.events[lo:hi])
        keys = {"system.percent", *self._view.series}
        keys.update(f"gpu.{d.uuid or d.index}.percent" for d in snap.gpus.devices)
        return Frame(
            seq=self.index + 1, time=rec.t, published=rec.t, host=snap.host, interval=self._interval,
            read_only=True, system=snap.system, processes=snap.processes, process_count=snap.process_count,
            gpus=snap.gpus, targets=tuple(sorted(snap.targets, key=lambda t: t.name)),
            changed_targets=frozenset(t.name for t in snap.targets), events=events, errors=snap.errors,
            level=snap.level, series=self._whole_series(keys) if self.whole else self._series(keys),
            services=snap.services, host_oom=snap.host_oom, host_pressure=snap.host_pressure,
        )

    def publish(self) -> None:
        frame = self.build()
        if frame is None:
            return
        self.frame = frame
        for callback in list(self._subscribers):
            callback(frame)

    def timeline(self, columns: int) -> tuple[list[str | None], list[list[Event]], int]:
        """The whole recording in ``columns`` buckets: the worst level in each,
        the stop events in each, and the column of the cursor."""
        levels = self.store.levels()
        order = {"excellent": 0, "good": 1, "warning": 2, "critical": 3}
        first, last = self.times[0], self.times[-1]
        span = max(last - first, 1e-9)

        def col(t: float) -> int:
            return max(0, min(columns - 1, int((t - first) / span * (columns - 1) + 0.5)))

        worst: list[str | None] = [None] * columns
        for t, level in zip(self.times, levels):
            c = col(t)
            here = worst[c]
            if level in order and (here is None or order[level] > order[here]):  # type: ignore[index]
                worst[c] = level
        marks: list[list[Event]] = [[] for _ in range(columns)]
        for e in self.events:
            if e.kind in STOP_KINDS and first <= e.t <= last + self._interval:
                marks[col(e.t)].append(e)
        return worst, marks, col(self.time)


def describe(e: Event) -> str:
    """An event in words, for the replay's event list (outside text is escaped
    where it is shown)."""
    d = e.data
    if e.kind == "oom_kill":
        who = f"pid {d.get('pid')}" if d.get("pid") is not None else "a process"
        if d.get("name"):
            who += f" ({d.get('name')})"
        return f"OOM kill: {who} in {e.subject} [{d.get('source')}]"
    if e.kind == "level_change":
        return f"{e.subject}: {d.get('from') or '-'} -> {d.get('to') or e.level}"
    if e.kind == "cleanup":
        return f"cleanup {d.get('action')} on {e.subject}: " + ("ok" if d.get("ok") else f"failed: {d.get('error')}")
    if e.kind in ("service_appeared", "service_vanished"):
        return f"{e.subject} {'appeared' if e.kind == 'service_appeared' else 'vanished'}"
    return f"{e.kind} {e.subject}"
