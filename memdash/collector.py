"""One refresh of the local box: system memory, processes and GPUs -> a Snapshot.

The dashboard and ``memdash snapshot`` both poll through :class:`LocalCollector`,
so what a script sees is what the screen shows. It is blocking (``/proc`` and
NVML reads); the dashboard calls it from a worker thread.
"""

from __future__ import annotations

import dataclasses
import socket
import time
from typing import Iterable

from memdash.config import Config
from memdash.history import History
from memdash.levels import Level, worst
from memdash.model import GpuStatus, ProcessMemory, Snapshot, SystemMemory, TargetSample
from memdash.sources.processes import ProcessScanner
from memdash.sources.system import read_system_memory


class LocalCollector:
    """Polls local sources and keeps their bounded history.

    Args:
        config: thresholds and limits.
        history: where series are kept (a new bounded one by default).
        gpu: poll NVML (``False`` skips it: ``gpus.available`` is then false).
    """

    def __init__(self, config: Config, *, history: History | None = None, gpu: bool = True) -> None:
        self.config = config
        self.history = history if history is not None else History()
        self.host = socket.gethostname()
        self._scanner: ProcessScanner | None = None
        self._gpu = None
        self._gpu_enabled = gpu
        self._gpu_unavailable_reason: str | None = None if gpu else "GPU polling disabled"

    def _gpu_source(self):  # -> GpuSource | None
        if self._gpu is None and self._gpu_enabled and self._gpu_unavailable_reason is None:
            try:
                from memdash.sources.gpu import GpuSource
            except ImportError as exc:  # nvidia-ml-py missing from the install
                self._gpu_unavailable_reason = f"GPU support not installed ({exc.name})"
                return None
            self._gpu = GpuSource(self.config.gpu_thresholds)
        return self._gpu

    def poll_gpus(self) -> GpuStatus:
        """Poll NVML; never raises."""
        source = self._gpu_source()
        if source is None:
            return GpuStatus(available=False, reason=self._gpu_unavailable_reason)
        try:
            return source.poll()
        except Exception as exc:  # a driver fault must not stop the dashboard
            return GpuStatus(available=False, reason=f"NVML query failed: {exc}")

    def close(self) -> None:
        """Release NVML."""
        if self._gpu is not None:
            self._gpu.close()

    def poll(
        self,
        *,
        detail_pids: Iterable[int] = (),
        detail_top: int = 0,
        limit: int | None = None,
        targets: tuple[TargetSample, ...] = (),
    ) -> Snapshot:
        """One refresh.

        Args:
            detail_pids: pids to read USS/PSS/swap for (the visible rows).
            detail_top: also read them for the top N processes by RSS.
            limit: keep only the top ``limit`` processes by RSS in the snapshot
                (``None``: all). Growth is tracked for all of them regardless.
            targets: remote samples to fold into the snapshot's level.
        """
        now = time.time()
        errors: list[str] = []
        system: SystemMemory | None
        try:
            system = read_system_memory(self.config.thresholds)
        except OSError as exc:
            system = None
            errors.append(f"system memory unreadable: {exc}")

        scanner = self._scanner
        if scanner is None:
            total = system.total_bytes if system else 0
            scanner = self._scanner = ProcessScanner(
                total_bytes=total,
                box_limit_bytes=system.limit_bytes if system else None,
                thresholds=self.config.thresholds,
            )
        elif system is not None:
            scanner.box_limit_bytes = system.limit_bytes

        rows = scanner.scan()
        growth = self.history.record_processes(now, {p.pid: p.rss_bytes for p in rows})
        rows.sort(key=lambda p: (-p.rss_bytes, p.pid))

        gpus = self.poll_gpus()
        gpu_by_pid: dict[int, int] = {}
        if gpus.available:
            from memdash.sources.gpu import gpu_bytes_by_pid

            gpu_by_pid = gpu_bytes_by_pid(gpus)

        detail = set(detail_pids)
        detail.update(p.pid for p in rows[:detail_top])
        kept = rows if limit is None else rows[:limit]
        # Rows beyond the kept ones that are asked for in detail still matter
        # (a filtered view can show any pid), so keep them too.
        if limit is not None and detail:
            kept_pids = {p.pid for p in kept}
            kept = kept + [p for p in rows[limit:] if p.pid in detail and p.pid not in kept_pids]
        out: list[ProcessMemory] = []
        for p in kept:
            changes: dict[str, object] = {}
            g = growth.get(p.pid)
            if g is not None:
                changes["growth_bytes_per_min"] = g
            if p.pid in gpu_by_pid:
                changes["gpu_bytes"] = gpu_by_pid[p.pid]
            if p.pid in detail:
                sm = scanner.smaps(p.pid)
                if sm is not None:
                    changes.update(uss_bytes=sm.uss_bytes, pss_bytes=sm.pss_bytes, swap_bytes=sm.swap_bytes)
            out.append(dataclasses.replace(p, **changes) if changes else p)

        if system is not None:
            self.history.record("system.percent", now, system.percent)
            used = system.cgroup.usage_bytes if system.limit_bytes and system.cgroup else system.used_bytes
            self.history.record("system.used", now, used)
        for dev in gpus.devices:
            self.history.record(f"gpu.{dev.index}.percent", now, dev.percent)

        levels: list[Level] = [p.level for p in rows]
        if system is not None:
            levels.append(system.level)
        levels.extend(d.level for d in gpus.devices)
        levels.extend(t.level for t in targets)
        return Snapshot(
            host=self.host,
            time=now,
            system=system,
            processes=tuple(out),
            process_count=len(rows),
            gpus=gpus,
            targets=targets,
            errors=tuple(errors),
            level=worst(levels),
        )
