"""Frames: what the engine publishes, at most once per refresh.

A :class:`Frame` is immutable and self-contained: everything a screen, a script
or a recorder needs to show one moment, with no reference back into the engine.
Its parts are the plain samples of :mod:`memdash.model`; what happened between
two frames (a cleanup and its receipt, a target appearing) comes as
:class:`Event` records; history a screen asked for comes as :class:`SeriesView`
copies, so no reader ever touches the engine's live :class:`~memdash.history.History`.

Adding a part (services, say) is adding a field with a default here and a key
in :func:`frame_json`; nothing else has to change.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, Mapping

from memdash.levels import Level
from memdash.model import (
    GpuStatus,
    MemoryPressure,
    OomKills,
    ProcessMemory,
    ServiceMemory,
    Snapshot,
    SystemMemory,
    TargetSample,
)


@dataclass(frozen=True, slots=True)
class SeriesView:
    """A copy of one history series: ``times`` (epoch seconds) and ``values``, oldest first."""

    times: tuple[float, ...] = ()
    values: tuple[float, ...] = ()

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Something that happened between two frames.

    ``kind`` says what (``"cleanup"``, ``"target-added"``), ``subject`` what it
    happened to (a target's name), ``text`` says it in words, and ``data`` holds
    the figures as JSON-ready values (a cleanup's receipt).
    """

    time: float
    kind: str
    subject: str
    text: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Frame:
    """One published moment. ``eq=False``: compared by identity, so a reactive
    holding a frame fires on every new one without a deep compare.

    Attributes:
        seq: 1 for the first frame, then one more per frame.
        time: when the local figures were read (epoch seconds); the publish time
            when there are none yet.
        published: when the frame was published.
        host, uptime_seconds: the box.
        interval: the local refresh interval in force, seconds.
        paused: polling is paused (local and targets); the figures are the last ones read.
        read_only: cleanups are refused.
        system, processes, process_count, gpus: the local box, as
            :class:`~memdash.model.Snapshot` has them. ``processes`` holds the top
            rows by RSS plus the rows the view asked for (every row when it asked
            for all); ``process_count`` counts every process on the box.
        targets: the latest sample of every target, sorted by name.
        services, host_oom, host_pressure: worker pools and containers against
            their limits, and the host's OOM-kill counter and memory pressure
            (docs/services.md).
        changed_targets: names of the targets with a new sample since the previous
            frame (screens repaint only those rows).
        events: what happened since the previous frame, oldest first.
        errors: local sources that could not be read, in words.
        level: the worst level over the system, processes, GPUs and targets.
        series: copies of the history series the view asked for, by key
            (``system.percent``, ``gpu.<uuid>.percent``, ``target.<name>.rss``...).
    """

    seq: int
    time: float
    published: float
    host: str
    uptime_seconds: float | None = None
    interval: float
    paused: bool = False
    read_only: bool = False
    system: SystemMemory | None
    processes: tuple[ProcessMemory, ...] = ()
    process_count: int = 0
    gpus: GpuStatus
    targets: tuple[TargetSample, ...] = ()
    services: tuple[ServiceMemory, ...] = ()
    host_oom: OomKills | None = None
    host_pressure: MemoryPressure | None = None
    changed_targets: frozenset[str] = frozenset()
    events: tuple[Event, ...] = ()
    errors: tuple[str, ...] = ()
    level: Level = Level.UNKNOWN
    series: Mapping[str, SeriesView] = field(default_factory=dict)

    def target(self, name: str) -> TargetSample | None:
        """The latest sample of target ``name``, ``None`` if there is none."""
        for t in self.targets:
            if t.name == name:
                return t
        return None

    @property
    def failing_targets(self) -> int:
        """How many targets' latest poll failed."""
        return sum(1 for t in self.targets if not t.ok)

    def as_snapshot(self) -> Snapshot:
        """The frame as a :class:`~memdash.model.Snapshot` (what ``memdash snapshot`` prints)."""
        return Snapshot(
            host=self.host,
            time=self.time,
            uptime_seconds=self.uptime_seconds,
            system=self.system,
            processes=self.processes,
            process_count=self.process_count,
            gpus=self.gpus,
            targets=self.targets,
            services=self.services,
            host_oom=self.host_oom,
            host_pressure=self.host_pressure,
            errors=self.errors,
            level=self.level,
        )


def _iso(t: float) -> str:
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).isoformat(timespec="milliseconds")


def event_json(e: Event) -> dict[str, Any]:
    """An event as a JSON object."""
    return {"time": _iso(e.time), "kind": e.kind, "subject": e.subject, "text": e.text, "data": dict(e.data)}


def frame_json(frame: Frame, *, series: bool = False) -> dict[str, Any]:
    """A frame as one JSON object: the ``memdash snapshot`` document (schema 1,
    docs/snapshot.md) plus ``seq``, ``interval``, ``paused``, ``events`` and, with
    ``series=True``, the series copies. Strict JSON: no NaN or infinity."""
    from memdash.report import snapshot_json

    doc = snapshot_json(frame.as_snapshot())
    doc["seq"] = frame.seq
    doc["interval"] = frame.interval
    doc["paused"] = frame.paused
    doc["events"] = [event_json(e) for e in frame.events]
    if series:
        doc["series"] = {
            key: {"times": list(s.times), "values": [v if v == v and abs(v) != float("inf") else None for v in s.values]}
            for key, s in frame.series.items()
        }
    return doc
