"""Recording the headless engine's frames.

:class:`EngineSource` is a frame source for :class:`~memdash.record.recorder.Recorder`
that takes the frames a :class:`memdash.engine.Engine` publishes (system,
processes, GPUs, targets with GC and caches, services where the engine has
them), at most one per ``interval``. ``memdash record`` runs its own engine;
``memdash --record`` attaches one to the dashboard's engine with
:func:`attach_recorder`, recording on its own thread what the screen shows.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from memdash.record.events import CgroupReading

from memdash.record.recorder import Recorder, SourceEnded
from memdash.record.source import FrameShaper, Polled
from memdash.record.store import Event, StoreWriter

if TYPE_CHECKING:
    from memdash.engine import Frame
    from memdash.engine.core import Engine

_CLOSED = object()


class EngineSource:
    """Frames from ``engine``, one per ``interval`` at most (a faster engine's
    frames in between are skipped; their cleanup events are kept).

    Args:
        engine: a running engine (or one :meth:`start` starts).
        interval: seconds between recorded frames.
        select: keep the recorder's choice of processes (the engine is asked for
            those rows: :class:`~memdash.record.source.FrameShaper`); ``False``
            records the rows the frame has (a dashboard's).
        owns_engine: close the engine with the source.
    """

    paced = True

    def __init__(self, engine: Engine, interval: float, *, top: int = 25, select: bool = True,
                 owns_engine: bool = False) -> None:
        self.engine = engine
        self.interval = interval
        self.owns_engine = owns_engine
        self.shaper = FrameShaper(top, select=select)
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=8)
        self._last: float | None = None
        self._held: list[Event] = []
        self._stopping = False
        if select:
            # The engine builds rows only for what the shaper keeps (the top, the
            # big, the services'), not one for each of a thousand idle processes:
            # that was most of the recorder's CPU on a busy box.
            engine.set_view(need_all=False, top=top, keep_rss_bytes=self.shaper.floor_bytes, keep_limited=True)
        self._unsubscribe = engine.subscribe(self._put, self._closed)

    def _put(self, item: Any) -> None:
        # On the engine's thread: never block it; a full queue drops its oldest frame.
        while True:
            try:
                self._queue.put_nowait(item)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    pass

    def _closed(self) -> None:
        self._put(_CLOSED)

    def poll(self) -> Polled:
        """The next frame due; raises :class:`SourceEnded` once the engine closed."""
        while True:
            try:
                item = self._queue.get(timeout=0.25)
            except queue.Empty:
                if self._stopping:
                    raise SourceEnded() from None
                continue
            if item is _CLOSED:
                raise SourceEnded()
            frame: Frame = item
            self._held.extend(_cleanup_events(frame))
            if self._last is not None and frame.time - self._last < self.interval * 0.9:
                continue
            self._last = frame.time
            events, self._held = tuple(self._held), []
            return self.shaper.shape(frame.as_snapshot(), events)

    def watch_also(self, cgroups: Sequence[CgroupReading]) -> tuple[CgroupReading, ...]:
        return self.shaper.reread(cgroups)

    def stop(self) -> None:
        """End a blocked :meth:`poll` within a quarter second (safe from a signal
        handler: it only sets a flag)."""
        self._stopping = True

    def close(self) -> None:
        self._unsubscribe()
        if self.owns_engine:
            self.engine.close()


def _cleanup_events(frame: Frame) -> list[Event]:
    out = []
    for e in frame.events:
        if e.kind == "cleanup":
            out.append(Event(t=e.time, kind="cleanup", subject=e.subject, data={"text": e.text, **dict(e.data)}))
    return out


class LiveRecorder:
    """A recorder on its own thread, fed by an engine that something else runs
    (the dashboard's). :meth:`close` stops it and releases the store."""

    def __init__(self, engine: Engine, path: Path, *, interval: float = 5.0, retain: float = 7 * 86400,
                 max_size: int = 1 << 30) -> None:
        self.writer = StoreWriter(path, retain=retain, max_size=max_size)
        self.source = EngineSource(engine, interval, select=False)
        self.recorder = Recorder(self.writer, self.source, interval)
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name="memdash-record", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.recorder.run(signals=False)
        except Exception as exc:  # the dashboard goes on; the reason is kept for its exit line
            self.error = f"{type(exc).__name__}: {exc}"

    def close(self, timeout: float = 10.0) -> None:
        self.recorder.stop()
        self.source.stop()
        self._thread.join(timeout)
        self.recorder.close()


def start_dashboard_recording(engine: Engine, directory: str, interval: float = 5.0) -> LiveRecorder:
    """``memdash --record [DIR]``: record ``engine``'s frames to DIR (``""``: the
    default store). Raises :class:`~memdash.record.store.StoreError` when another
    recorder holds the store."""
    from memdash.record.store import default_store_dir

    path = Path(directory).expanduser() if directory else default_store_dir()
    return LiveRecorder(engine, path, interval=interval)
