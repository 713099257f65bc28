"""The engine: polls the local box and the targets, keeps History, runs
cleanups, and publishes :class:`~memdash.engine.frame.Frame` objects.

Two schedules, each on its own interval, neither overlapping itself:

- **local** (thread "memdash-local"): system memory, processes and GPUs through
  :class:`~memdash.collector.LocalCollector` every ``interval`` seconds (/proc and
  NVML reads block), then probe discovery every few seconds. This thread is also
  the engine's clock and its only History writer: after each local poll it takes
  every target sample that arrived since the previous frame, records them,
  and publishes one frame. So frames come at most once per refresh however many
  targets answer, and no reader ever sees History change under it.
- **targets** (:class:`~memdash.engine.targets.TargetSchedule`, its own asyncio
  loop thread): every target on its own interval, started only once a target
  exists (configured or discovered), since the HTTP stack costs memory.

Pause stops both. :meth:`Engine.close` stops both and waits for them: nothing is
released while a thread may still be reading it.

Usage::

    engine = Engine(config)
    unsubscribe = engine.subscribe(lambda frame: ...)   # called on the local thread
    engine.start()
    async for frame in engine.frames(): ...              # or on an event loop
    result = await engine.cleanup("api", "gc")           # receipt; then a re-poll of "api"
    engine.close()

    frame = Engine(config, running=False).poll_once()    # one frame, for a script
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import threading
import time
from typing import Any, AsyncIterator, Callable, Iterable, Protocol

from memdash.config import Config, TargetConfig
from memdash.engine.frame import Event, Frame, SeriesView
from memdash.engine.join import TargetJoin
from memdash.engine.targets import TargetSchedule, wrap
from memdash.engine.view import SMAPS_SERIES, View, smaps_series_pids
from memdash.history import History
from memdash.levels import Level, worst
from memdash.model import ACTIONS, CleanupResult, Snapshot, TargetSample

log = logging.getLogger(__name__)

#: Seconds between two looks for local probe sockets.
DISCOVERY_SECONDS = 5.0
#: Seconds of RSS samples before a process's growth is given: less is noise
#: (a new process's first climb is not a leak of hundreds of MB a minute).
GROWTH_MIN_SPAN_SECONDS = 60.0
#: Target samples held between two frames; older ones are dropped first (a
#: frame only needs the latest of each target; History gets the rest).
MAX_PENDING_SAMPLES = 10_000
#: Frames an async iterator holds for a slow reader; the oldest go first.
STREAM_BUFFER = 8


class Collector(Protocol):
    """What the engine needs of a local collector (:class:`~memdash.collector.LocalCollector`)."""

    def poll(self, *, detail_pids: Iterable[int] = (), detail_top: int = 0, limit: int | None = None,
             keep_rss_bytes: int | None = None, keep_limited: bool = False,
             charted_pids: Iterable[int] = ()) -> Snapshot: ...

    def close(self) -> None: ...


def target_series_keys(name: str) -> tuple[str, str]:
    """History keys of target ``name``: its RSS in bytes and its percent of its limit."""
    return f"target.{name}.rss", f"target.{name}.percent"


def target_runtime_keys(name: str) -> tuple[str, str, str, str]:
    """History keys of target ``name``'s counters, all cumulative: GC collections
    (every generation), GC pause seconds, cache hits and cache lookups. The
    target view charts their rates."""
    return f"target.{name}.gc", f"target.{name}.gc_pause", f"target.{name}.hits", f"target.{name}.lookups"


def _record_runtime(history: History, s: TargetSample, t: float) -> None:
    gc_key, pause_key, hits_key, lookups_key = target_runtime_keys(s.name)
    if s.gc is not None:
        counts = [g.collections for g in s.gc.generations if g.collections is not None]
        if counts:
            history.record(gc_key, t, float(sum(counts)))
        history.record(pause_key, t, s.gc.pause_total_seconds)
    counted = [c for c in s.caches if c.hits is not None]
    if counted:
        history.record(hits_key, t, float(sum(c.hits or 0 for c in counted)))
        history.record(lookups_key, t, float(sum(c.lookups for c in counted)))


class Engine:
    """Everything between sources and screens. Never imports Textual.

    Args:
        config: thresholds, interval, targets, read-only and discovery settings.
        gpu: poll NVIDIA GPUs.
        discover: look for local probes (default: ``config.discover``).
        poll_targets: poll targets at all (``False``: local figures only).
        collector: the local source (default a :class:`~memdash.collector.LocalCollector`);
            anything with its ``poll``/``close``.
        history: where series are kept (default: the collector's, else a new one).
        running: poll targets on their schedules once started (``False`` for
            one-shot use through :meth:`poll_once` and :meth:`cleanup`).
        discovered_interval: seconds between polls of each discovered probe
            (``None``: discovery's default, 2 s); the recorder passes its own
            interval, so a probe is not polled more often than frames are stored.
        smaps_max_age: how old a process's USS/PSS/swap may be before it is read
            again (``None``: the dashboard's ``SMAPS_MAX_AGE_SECONDS``; the
            recorder keeps them a minute: ``smaps_rollup`` of a big process is
            the dearest read there is, and RSS stays fresh each frame). With
            ``None`` a row on screen whose RSS holds still keeps its reading up
            to ``SMAPS_STEADY_SECONDS``; a process view's pid never does.
        targets_after_first_frame: start the target schedule once the first frame is
            published, not with :meth:`start` (the dashboard: the target thread's
            imports and connections held the GIL while the first screen was drawn).
    """

    def __init__(
        self,
        config: Config,
        *,
        gpu: bool = True,
        discover: bool | None = None,
        poll_targets: bool = True,
        collector: Collector | None = None,
        history: History | None = None,
        running: bool = True,
        services: bool = True,
        discovered_interval: float | None = None,
        smaps_max_age: float | None = None,
        targets_after_first_frame: bool = False,
    ) -> None:
        self.config = config
        self.discovered_interval = discovered_interval
        if history is None:
            history = getattr(collector, "history", None) or History(growth_min_span=GROWTH_MIN_SPAN_SECONDS)
        self.history: History = history
        self._collector: Collector | None = collector
        self._collector_options = {"gpu": gpu, "services": services}
        self._smaps_max_age = smaps_max_age
        self._collector_lock = threading.Lock()
        self.discover = config.discover if discover is None else discover
        self.poll_targets = poll_targets
        self.read_only = config.read_only
        self._running_targets = running
        self._interval = config.interval
        self._paused = False
        self._view = View(top=config.top)
        self._lock = threading.Lock()  # guards what other threads hand the local thread
        self._wake = threading.Condition(self._lock)
        self._requests: set[str] = set()  # "poll": poll now; "publish": a frame now
        self._stop = threading.Event()
        self._pending: collections.deque[TargetSample] = collections.deque(maxlen=MAX_PENDING_SAMPLES)
        self._targets_late = targets_after_first_frame
        self._new_events: list[Event] = []
        self._subscribers: list[Callable[[Frame], None]] = []
        self._closers: list[Callable[[], None]] = []
        self._thread: threading.Thread | None = None
        self._schedule: TargetSchedule | None = None
        self._schedule_lock = threading.Lock()
        self._known_urls = {t.url for t in config.targets}
        # Owned by the local thread (or by poll_once's caller):
        self._seq = 0
        self._local: Snapshot | None = None
        self._targets: dict[str, TargetSample] = {}
        target_thresholds = {t.name: t.thresholds for t in config.targets if t.thresholds is not None}
        self._join = TargetJoin(lambda name: target_thresholds.get(name) or config.thresholds)
        self._target_order: list[str] = []
        # pid -> when its smaps series last got a point (only pids a view charts)
        self._smaps_seen: dict[int, float] = {}
        self._smaps_keys: set[str] = set()
        self.last_frame: Frame | None = None
        """The newest frame (``None`` before the first)."""

    @property
    def collector(self) -> Collector:
        """The local source: the one given, else a :class:`~memdash.collector.LocalCollector`
        built on first use. A screen's engine first uses it on its own thread,
        after the first paint: the collector's imports (psutil, the /proc and
        cgroup readers) are a large part of start-up and the first paint needs
        none of them."""
        collector = self._collector
        if collector is None:
            with self._collector_lock:
                if self._collector is None:
                    from memdash.collector import LocalCollector

                    age = self._smaps_max_age
                    # The dashboard's cadence (None), or the caller's with no
                    # longer keeping of steady rows (the recorder's minute).
                    self._collector = LocalCollector(self.config, history=self.history,
                                                     smaps_max_age=LocalCollector.SMAPS_MAX_AGE_SECONDS
                                                     if age is None else age,
                                                     smaps_steady_age=LocalCollector.SMAPS_STEADY_SECONDS
                                                     if age is None else 0.0,
                                                     **self._collector_options)
                collector = self._collector
        return collector

    # ------------------------------------------------------------------ subscribers

    def subscribe(self, callback: Callable[[Frame], None], on_close: Callable[[], None] | None = None) -> Callable[[], None]:
        """Call ``callback(frame)`` with every frame, on the engine's local thread.

        The callback must be quick and must not touch anything another thread
        owns: post a message (Textual's ``post_message`` is thread-safe) or
        ``loop.call_soon_threadsafe``. ``on_close`` is called once when the
        engine closes. Returns a function that unsubscribes.
        """
        with self._lock:
            self._subscribers.append(callback)
            if on_close is not None:
                self._closers.append(on_close)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)
                if on_close is not None and on_close in self._closers:
                    self._closers.remove(on_close)

        return unsubscribe

    def frames(self) -> AsyncIterator[Frame]:
        """Frames as an async iterator on the running loop (call it from a
        coroutine: frames published from then on are kept for it); it ends when
        the engine closes. A slow reader loses the oldest frames first (at most
        :data:`STREAM_BUFFER` are held)."""
        return _FrameStream(self)

    # ------------------------------------------------------------------ control (any thread)

    @property
    def interval(self) -> float:
        """Seconds between local polls (and frames)."""
        return self._interval

    def set_interval(self, seconds: float) -> None:
        """Change the local refresh interval; the next poll starts at once."""
        self._interval = float(seconds)
        self._request("poll")

    @property
    def paused(self) -> bool:
        """True while nothing is polled."""
        return self._paused

    def set_paused(self, paused: bool) -> None:
        """Pause or resume everything: the local schedule and every target.

        A frame with ``paused`` set (and the last figures) is published at once.
        """
        if paused == self._paused:
            return
        self._paused = paused
        if self._schedule is not None:
            self._schedule.set_paused(paused)
        self._request("poll" if not paused else "publish")

    @property
    def view(self) -> View:
        """What the screen needs now."""
        return self._view

    def set_view(self, *, refresh: bool = False, **changes: Any) -> None:
        """Change what the next polls read (:class:`View` fields); ``refresh``
        polls at once instead of at the next tick."""
        self._view = dataclasses.replace(self._view, **changes)
        if refresh:
            self._request("poll")

    def refresh_now(self) -> None:
        """Poll the local box now (and publish a frame), not at the next tick."""
        self._request("poll")

    def _request(self, what: str) -> None:
        with self._wake:
            self._requests.add(what)
            self._wake.notify()

    # ------------------------------------------------------------------ lifetime

    def start(self) -> None:
        """Start the local schedule and, where there are targets, the target schedule
        (once the first frame is out where the engine was built with
        ``targets_after_first_frame=True``)."""
        if self._thread is not None or self._stop.is_set():
            return
        if self.poll_targets and self.config.targets and not self._targets_late:
            self._ensure_schedule(())
        self._thread = threading.Thread(target=self._run, name="memdash-local", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Stop both schedules and wait for them, then release the sources.

        The local source is closed only once its thread has finished a scan in
        progress, never under it. Safe to call more than once, from any thread
        but the engine's own.
        """
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        thread = self._thread
        finished = True
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            finished = not thread.is_alive()
        if self._schedule is not None:
            self._schedule.close(timeout)
        if finished:
            if self._collector is not None:  # never built: nothing to release
                self._collector.close()
        else:  # a read blocked in the kernel: leave its file descriptors to the process's exit
            log.warning("the local poll did not finish within %s s; not closing its sources", timeout)
        with self._lock:
            closers, self._closers = self._closers, []
            self._subscribers.clear()
        for fn in closers:
            try:
                fn()
            except Exception:
                log.exception("an engine on_close callback failed")

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ targets

    def _ensure_schedule(self, targets: Iterable[TargetConfig]) -> TargetSchedule:
        with self._schedule_lock:
            return self._ensure_schedule_locked(targets)

    def _ensure_schedule_locked(self, targets: Iterable[TargetConfig]) -> TargetSchedule:
        if self._schedule is None:
            self._schedule = TargetSchedule(
                self.config.thresholds,
                read_only=self.read_only,
                on_sample=self._on_sample,
                running=self._running_targets and not self._paused,
            )
            self._schedule.start((*self.config.targets, *targets))
        else:
            self._schedule.add(targets)
        return self._schedule

    def add_targets(self, targets: Iterable[TargetConfig]) -> None:
        """Poll more targets (URLs not seen before); the target schedule starts if need be."""
        if not self.poll_targets:
            return
        new = []
        with self._lock:
            for t in targets:
                if t.url not in self._known_urls:
                    self._known_urls.add(t.url)
                    new.append(t)
        if new:
            self._ensure_schedule(new)
            self._event("target-added", new[0].name if len(new) == 1 else f"{len(new)} targets",
                        "found " + ", ".join(t.name for t in new), {"targets": [t.name for t in new]})

    def _on_sample(self, sample: TargetSample) -> None:
        # On the targets' loop thread: hand it over; the local thread records it.
        with self._lock:
            self._pending.append(sample)

    def _event(self, kind: str, subject: str, text: str, data: dict[str, Any] | None = None) -> None:
        with self._lock:
            self._new_events.append(Event(time=time.time(), kind=kind, subject=subject, text=text, data=data or {}))

    async def cleanup(self, name: str, action: str, **options: Any) -> CleanupResult:
        """Run cleanup ``action`` on target ``name``, then poll that target at once.

        The one way cleanups run, from a key or a script. Awaitable from any
        event loop. Never raises for the target's answer: refusals come back as
        ``ok=False`` with ``error`` in words. The receipt also comes in the next
        frame's ``events`` (``kind="cleanup"``), which is published at once.
        """
        sample: TargetSample | None = None  # the re-poll after the cleanup
        if self.read_only:
            result = CleanupResult(target=name, action=action, ok=False, error="read-only: cleanups are disabled")
        elif action not in ACTIONS:
            result = CleanupResult(target=name, action=action, ok=False,
                                   error=f"unknown action {action!r} (one of: {', '.join(ACTIONS)})")
        elif self._schedule is None and not (self.poll_targets and self.config.targets):
            result = CleanupResult(target=name, action=action, ok=False, error=f"no target named {name!r}")
        else:
            schedule = self._ensure_schedule(())
            result, sample = await wrap(schedule.submit(schedule.cleanup(name, action, dict(options))))
        from memdash.actions import result_json

        verdict = "done" if result.ok else f"refused: {result.error}"
        event = Event(time=time.time(), kind="cleanup", subject=name, text=f"{action} on {name} {verdict}",
                      data=result_json(result))
        with self._lock:  # the re-poll and the receipt in the same frame, whenever the local thread publishes
            if sample is not None:
                self._pending.append(sample)
            self._new_events.append(event)
        self._request("publish")
        return result

    # ------------------------------------------------------------------ one shot

    def poll_once(self, *, limit: int | None, detail_top: int = 0) -> Frame:
        """Poll everything once in the calling thread (targets concurrently) and
        return the frame, without starting the schedules: what ``memdash snapshot``
        prints.

        Args:
            limit: keep the top ``limit`` processes by RSS (``None``: all).
            detail_top: read USS/PSS/swap for this many of the largest.
        """
        found: list[TargetConfig] = []
        if self.discover and self.poll_targets:
            found = self._discover()
        targets = None
        if self.poll_targets and (self.config.targets or found):
            with self._lock:
                self._known_urls.update(t.url for t in found)
            schedule = self._ensure_schedule(found)
            targets = schedule.submit(schedule.poll_all())
        snap = self.collector.poll(detail_top=detail_top, limit=limit)
        if targets is not None:
            targets.result()
        self._local = snap
        return self._publish()

    def find_probes(self) -> list[TargetConfig]:
        """Local probes not yet among the targets (empty when discovery is off)."""
        return self._discover() if self.discover and self.poll_targets else []

    def _discover(self) -> list[TargetConfig]:
        try:
            from memdash.sources.discovery import discover_targets
        except ImportError:
            return []
        try:
            if self.discovered_interval is None:
                found = discover_targets()
            else:
                found = discover_targets(interval=self.discovered_interval)
        except OSError:
            return []
        with self._lock:
            return [t for t in found if t.url not in self._known_urls]

    # ------------------------------------------------------------------ the local thread

    def _run(self) -> None:
        last_discovery = float("-inf")
        reason = "poll"
        while not self._stop.is_set():
            if reason in ("poll", "tick") and not self._paused:
                first = self._local is None
                self._local = self._poll_local(first)
                if self._stop.is_set():
                    return
                self._publish()
                if first:
                    if self._targets_late and self.poll_targets and self.config.targets:
                        self._ensure_schedule(())  # targets_after_first_frame
                    # The first frame shows RSS at once; USS/PSS (smaps_rollup)
                    # come with a second poll right after it.
                    reason = "poll"
                    continue
                if (self.discover and self.poll_targets and not self._paused
                        and time.monotonic() - last_discovery > DISCOVERY_SECONDS):
                    last_discovery = time.monotonic()
                    found = self._discover()
                    if found:
                        self.add_targets(found)
            elif reason == "publish" and self._local is not None:
                self._publish()  # paused: the last figures again, with what changed (pause, a receipt)
            reason = self._wait()

    def _wait(self) -> str:
        """Sleep until the next tick or a request; what to do next."""
        deadline = time.monotonic() + self._interval
        with self._wake:
            while not self._requests and not self._stop.is_set():
                timeout = None if self._paused else deadline - time.monotonic()
                if timeout is not None and timeout <= 0:
                    return "tick"
                self._wake.wait(timeout)
            requests, self._requests = self._requests, set()
        if "poll" in requests and not self._paused:
            return "poll"
        if "publish" in requests:
            return "publish"
        return "idle" if requests else "tick"  # idle: a poll asked for while paused

    def _poll_local(self, first: bool) -> Snapshot:
        view = self._view
        visible = view.detail_pids
        # Only a view that asks for more rows (the recorder's) passes the keep_*
        # options, so a collector without them still works.
        keep: dict[str, Any] = {}
        if view.keep_rss_bytes is not None:
            keep["keep_rss_bytes"] = view.keep_rss_bytes
        if view.keep_limited:
            keep["keep_limited"] = True
        # A process view's pid gets USS/PSS/swap read too (at the collector's
        # smaps cadence), wherever it is in the table, for its series.
        series_pids = smaps_series_pids(view.series)
        charted = tuple(pid for pid in series_pids if pid not in visible)
        if series_pids and not first:
            # Its chart gets a point each read: read at the usual cadence, not
            # only when its RSS moves (ProcessScanner.smaps).
            keep["charted_pids"] = tuple(series_pids)
        return self.collector.poll(
            detail_pids=() if first else (*visible, *charted),
            detail_top=0 if (first or visible) else view.top,
            limit=None if view.need_all else view.top,
            **keep,
        )

    def _publish(self) -> Frame:
        """Fold in the target samples that arrived, record them, and publish one frame."""
        local = self._local
        assert local is not None
        with self._lock:
            samples = list(self._pending)
            self._pending.clear()
            events = tuple(self._new_events)
            self._new_events.clear()
            subscribers = tuple(self._subscribers)
        history = self.history
        changed = set()
        join = self._join
        # Targets meet services (engine/join.py): a pre-fork service's figures
        # are its totals, not whichever worker answered.
        join.local.begin(local.services, local.time)
        for s in samples:
            if s.name not in self._targets:
                self._target_order.append(s.name)
                self._target_order.sort()
            s = self._targets[s.name] = join.arrived(s)
            changed.add(s.name)
            if s.ok:
                s = join.joined(s)
                rss_key, pct_key = target_series_keys(s.name)
                t = s.time or time.time()
                history.record(rss_key, t, s.rss_bytes)
                history.record(pct_key, t, s.percent)
                _record_runtime(history, s, t)
        targets = tuple(join.joined(self._targets[n]) for n in self._target_order)
        services = local.services
        leaking = join.leaking() if services else set()
        if leaking:
            services = tuple(
                dataclasses.replace(sv, growing_after_gc=True, reasons=(*sv.reasons, "growing after GC"))
                if sv.key in leaking and not sv.growing_after_gc else sv
                for sv in services
            )
        view = self._view
        self._record_smaps(local, view.series)
        keys = ["system.percent", *(f"gpu.{d.uuid or d.index}.percent" for d in local.gpus.devices), *view.series]
        series = {}
        for key in keys:
            kept = history.peek(key)
            if kept is not None:
                series[key] = SeriesView(tuple(kept.times), tuple(kept.values))
        levels: list[Level] = [local.level, *(t.level for t in targets)]
        level = worst(levels)
        if level < Level.WARNING and any(t.rss_bytes is None for t in targets):
            # A target with no memory figure is unknown: the header must not say
            # "excellent" over it (snapshot exits 3 for it).
            level = Level.UNKNOWN
        self._seq += 1
        frame = Frame(
            seq=self._seq,
            time=local.time,
            published=time.time(),
            host=local.host,
            uptime_seconds=local.uptime_seconds,
            interval=self._interval,
            paused=self._paused,
            read_only=self.read_only,
            system=local.system,
            processes=local.processes,
            process_count=local.process_count,
            gpus=local.gpus,
            targets=targets,
            services=services,
            host_oom=local.host_oom,
            host_pressure=local.host_pressure,
            changed_targets=frozenset(changed),
            events=events,
            errors=local.errors,
            level=level,
            series=series,
        )
        self.last_frame = frame
        for callback in subscribers:
            try:
                callback(frame)
            except Exception:  # one broken subscriber must not stop the others
                log.exception("a frame subscriber failed")
        return frame


    def _record_smaps(self, local: Snapshot, series: tuple[str, ...]) -> None:
        """Points for the smaps series a view asks for (``process.<pid>.pss`` ...).

        A point is added only when ``smaps_rollup`` was read again (the row's
        ``smaps_time`` moved), stamped with that read's own time: a cached
        reading shown beside a fresher RSS is not a new point. Series no view
        asks for any more are dropped, so only the viewed pids' are kept."""
        wanted = smaps_series_pids(series)
        keys = {key for pid_keys in wanted.values() for key in pid_keys}
        history = self.history
        for key in self._smaps_keys - keys:
            history.discard(key)
        self._smaps_keys = keys
        for pid in self._smaps_seen.keys() - wanted.keys():
            del self._smaps_seen[pid]
        if not wanted:
            return
        for p in local.processes:
            pid_keys = wanted.get(p.pid)
            if pid_keys is None or p.smaps_time is None or p.smaps_time <= self._smaps_seen.get(p.pid, float("-inf")):
                continue
            self._smaps_seen[p.pid] = p.smaps_time
            for kind, field in SMAPS_SERIES:
                key = f"process.{p.pid}.{kind}"
                if key in pid_keys:
                    history.record(key, p.smaps_time, getattr(p, field))


class _FrameStream:
    """``async for frame in engine.frames()``: frames handed to the reader's loop."""

    _CLOSED = object()

    def __init__(self, engine: Engine) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        self._queue = queue
        self._done = False

        def put(item: object) -> None:
            if queue.qsize() >= STREAM_BUFFER:
                queue.get_nowait()
            queue.put_nowait(item)

        def hand(item: object) -> None:
            try:
                loop.call_soon_threadsafe(put, item)
            except RuntimeError:  # the reader's loop has closed
                pass

        self._unsubscribe = engine.subscribe(hand, lambda: hand(self._CLOSED))

    def __aiter__(self) -> _FrameStream:
        return self

    async def __anext__(self) -> Frame:
        if self._done:
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is self._CLOSED:
            self._done = True
            self._unsubscribe()
            raise StopAsyncIteration
        assert isinstance(item, Frame)
        return item

    async def aclose(self) -> None:
        """Stop receiving frames."""
        self._done = True
        self._unsubscribe()
