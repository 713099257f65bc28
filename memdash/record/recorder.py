"""The recorder loop: poll, derive events, append one frame, sleep to the next tick."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

from memdash.record.events import EventDeriver, KmsgReader, boot_id, oom_kills_from_kmsg, read_vmstat_oom_kills
from memdash.record.events import CgroupReading
from memdash.record.source import Polled
from memdash.record.store import Event, StoreWriter
from memdash.textsafe import printable


class FrameSource(Protocol):
    """Where a recorder's frames come from (:class:`memdash.record.live.EngineSource`)."""

    def poll(self) -> Polled: ...

    def watch_also(self, cgroups: Sequence[CgroupReading]) -> tuple[CgroupReading, ...]: ...

    def close(self) -> None: ...


class SourceEnded(Exception):
    """The frame source has no more frames (its engine closed)."""


class Recorder:
    """Appends a frame to ``writer`` every ``interval`` seconds from ``source``.

    The kernel-log cursor and the OOM counters are kept in the store, so a
    restarted recorder carries on where the last one stopped.
    """

    def __init__(self, writer: StoreWriter, source: FrameSource, interval: float, *,
                 kmsg_path: str = "/dev/kmsg") -> None:
        self.writer = writer
        self.source = source
        self.interval = interval
        self.frames = 0
        self._stop = False
        self._boot = boot_id()
        cursor = writer.get_meta("kmsg_cursor")
        after = -1
        if cursor and self._boot and cursor.rsplit(":", 1)[0] == self._boot:
            try:
                after = int(cursor.rsplit(":", 1)[1])
            except ValueError:
                after = -1
        self.kmsg = KmsgReader(after_seq=after, path=kmsg_path)
        counters: dict[str, int] = {}
        saved = writer.get_meta("oom_counters")
        if saved and writer.get_meta("oom_counters_boot") == self._boot:
            try:
                counters = {str(k): int(v) for k, v in json.loads(saved).items()}
            except (ValueError, AttributeError, TypeError):
                counters = {}
        self.deriver = EventDeriver(counters)
        self._watched: dict[str, Any] = {}
        self._pending: list[Event] = []
        self._saved_counters = saved

    def stop(self, *_: Any) -> None:
        self._stop = True
        stop_source = getattr(self.source, "stop", None)
        if stop_source is not None:
            stop_source()

    def step(self) -> Polled:
        """One poll, its events, one frame appended."""
        return self.record(self.source.poll())

    def record(self, polled: Polled) -> Polled:
        """Derive the events of ``polled`` and append it as one frame."""
        current = {f"{c.version}:{c.path}": c for c in polled.cgroups}
        # Cgroups that held a service at an earlier poll and hold no recorded
        # process now: read them anyway, an OOM kill empties its cgroup.
        missing = [c for key, c in self._watched.items() if key not in current]
        cgroups = list(polled.cgroups) + list(self.source.watch_also(missing))
        self._watched = {f"{c.version}:{c.path}": c for c in cgroups}
        kills = oom_kills_from_kmsg(self.kmsg.read())
        # Events not stored yet (the last append failed) go with this frame: a kill
        # read from the kernel log once must not be lost to a full disk.
        events = self._pending[-1000:] + list(polled.events) + self.deriver.derive(
            polled.t, polled.snapshot, cgroups, read_vmstat_oom_kills(),
            [(self.kmsg.wall_time(k.usec), k) for k in kills],
        )
        extra = {"cgroups": [c.as_json() for c in cgroups], "interval": self.interval}
        if self.kmsg.error:
            extra["kmsg_error"] = self.kmsg.error
        meta: dict[str, str] = {}
        if self._boot and self.kmsg.after_seq >= 0:
            meta["kmsg_cursor"] = f"{self._boot}:{self.kmsg.after_seq}"
        counters = json.dumps(self.deriver.counters, sort_keys=True)
        if counters != self._saved_counters and self._boot:
            meta["oom_counters"] = counters
            meta["oom_counters_boot"] = self._boot
        self._pending = events
        self.writer.append(polled.t, polled.snapshot, extra, events, meta)
        self._pending = []
        self._saved_counters = counters
        self.frames += 1
        return polled

    def run(self, *, count: int | None = None, on_frame: Callable[[Polled], None] | None = None,
            signals: bool = True) -> int:
        """Record until SIGTERM/SIGINT (or ``count`` frames, or the source ends);
        returns the exit status. A source that paces itself (``paced``: it blocks
        until its next frame) is polled back to back."""
        if signals:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(sig, self.stop)
        paced = getattr(self.source, "paced", False)
        next_tick = time.monotonic()
        last_error: tuple[str, float] | None = None
        while not self._stop:
            try:
                polled = self.step()
            except SourceEnded:
                break
            except Exception as exc:  # a full disk, a source's bug: say so, keep trying
                text = f"memdash record: frame not stored: {type(exc).__name__}: {printable(exc)}"
                if last_error is None or last_error[0] != text or time.monotonic() - last_error[1] > 60:
                    log(text)
                    last_error = (text, time.monotonic())
            else:
                if on_frame is not None:
                    on_frame(polled)
            if count is not None and self.frames >= count:
                break
            if paced:
                continue
            next_tick += self.interval
            delay = next_tick - time.monotonic()
            if delay < 0:  # a slow poll: skip the ticks it overran, never burst
                next_tick = time.monotonic()
                delay = 0
            end = time.monotonic() + delay
            while not self._stop and (left := end - time.monotonic()) > 0:
                time.sleep(min(left, 0.5))
        return 0

    def close(self) -> None:
        self.kmsg.close()
        self.source.close()
        self.writer.close()


def describe(path: Path, interval: float, retain: float, max_size: int) -> str:
    from memdash.units import human_bytes, human_duration

    return (f"memdash record: writing a frame every {interval:g}s to {printable(path)}"
            f" (keeping {human_duration(retain)}, at most {human_bytes(max_size)})")


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
