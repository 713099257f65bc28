"""What a recorded frame holds, from a :class:`~memdash.model.Snapshot`.

The frames themselves come from the headless engine
(:class:`memdash.record.live.EngineSource`); :class:`FrameShaper` decides what of
each is kept: the top ``top`` processes by RSS, every process at or above
``floor_bytes``, and every process in a memory cgroup with its own limit (a
service), at most ``max_processes`` in all (``process_count`` still counts every
process), and reads the memory cgroups of those services.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Sequence

from memdash.model import ProcessMemory, Snapshot
from memdash.record.events import CgroupMounts, CgroupReading
from memdash.record.store import Event

#: Processes at or above this RSS are always recorded.
DEFAULT_FLOOR_BYTES = 64 * 1024 * 1024
#: A frame never holds more process rows than this (bounded frames).
MAX_PROCESSES = 300


@dataclass(frozen=True, slots=True)
class Polled:
    """One poll: the snapshot document, the memory cgroups of services seen, and
    events the source saw itself (a cleanup's receipt)."""

    t: float
    snapshot: dict[str, Any]
    cgroups: tuple[CgroupReading, ...]
    events: tuple[Event, ...] = ()


class FrameShaper:
    """Turns a :class:`~memdash.model.Snapshot` into what a frame stores: the
    processes worth keeping (see the module docstring) and the memory cgroups
    of the services they are in, read once per frame.

    ``select=False`` keeps the snapshot's processes as they are (a dashboard
    recording what it shows)."""

    def __init__(self, top: int, *, floor_bytes: int = DEFAULT_FLOOR_BYTES, max_processes: int = MAX_PROCESSES,
                 select: bool = True) -> None:
        self.top = top
        self.floor_bytes = floor_bytes
        self.max_processes = max_processes
        self.select = select
        self.mounts = CgroupMounts()
        self._cg_cache: dict[int, tuple[int, str] | None] = {}

    def _memory_cgroup(self, pid: int) -> tuple[int, str] | None:
        if pid in self._cg_cache:
            return self._cg_cache[pid]
        try:
            with open(f"/proc/{pid}/cgroup", encoding="utf-8", errors="replace") as f:
                where = self.mounts.memory_path(f.read())
        except OSError:
            where = None
        self._cg_cache[pid] = where
        return where

    def shape(self, snap: Snapshot, events: tuple[Event, ...] = ()) -> Polled:
        from memdash.report import snapshot_json

        box = None
        if snap.system is not None:
            box = snap.system.limit_bytes or snap.system.total_bytes
        kept: list[ProcessMemory] = []
        in_service: dict[tuple[int, str], list[int]] = {}
        ordered = sorted(snap.processes, key=lambda p: -p.rss_bytes) if self.select else snap.processes
        for i, p in enumerate(ordered):  # largest first
            limited = box is not None and p.limit_bytes < box
            if limited:
                where = self._memory_cgroup(p.pid)
                if where is not None:
                    in_service.setdefault(where, []).append(p.pid)
            if not self.select or (
                (i < self.top or p.rss_bytes >= self.floor_bytes or limited) and len(kept) < self.max_processes
            ):
                kept.append(p)
        live = {p.pid for p in snap.processes}
        for pid in self._cg_cache.keys() - live:
            del self._cg_cache[pid]
        if self.select:
            snap = dataclasses.replace(snap, processes=tuple(kept))
        cgroups = []
        for (version, path), pids in sorted(in_service.items()):
            reading = self.mounts.read(version, path, pids)
            if reading is not None:
                cgroups.append(reading)
        return Polled(t=snap.time, snapshot=snapshot_json(snap), cgroups=tuple(cgroups), events=events)

    def reread(self, cgroups: Sequence[CgroupReading]) -> tuple[CgroupReading, ...]:
        """Re-read cgroups seen before that hold no recorded process now (their
        last process was just killed): an OOM kill shows in their counter only."""
        out = []
        for c in cgroups:
            r = self.mounts.read(c.version, c.path, ())
            if r is not None:
                out.append(r)
        return tuple(out)
