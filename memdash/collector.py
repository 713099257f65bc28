"""One refresh of the local box: system memory, processes and GPUs -> a Snapshot.

The engine (:mod:`memdash.engine`) polls through :class:`LocalCollector` for the
dashboard and ``memdash snapshot`` alike, so what a script sees is what the
screen shows. It is blocking (``/proc`` and NVML reads): the engine calls it from
its local thread, which is also the only writer of the History it is given.
"""

from __future__ import annotations

import socket
import time
from typing import TYPE_CHECKING, Iterable

import psutil

from memdash.config import Config
from memdash.history import History, service_series_key
from memdash.levels import Level, worst
from memdash.model import GpuStatus, ServiceMemory, Snapshot, SystemMemory
from memdash.service_watch import ServiceCollector
from memdash.sources.processes import ProcessScanner
from memdash.sources.system import read_system_memory

if TYPE_CHECKING:
    from memdash.sources.gpu import GpuSource


class LocalCollector:
    """Polls local sources and keeps their bounded history.

    Args:
        config: thresholds and limits.
        history: where series are kept (a new bounded one by default).
        gpu: poll NVML (``False`` skips it: ``gpus.available`` is then false).
    """

    #: How often a point is added to each process's RSS series (growth rate).
    PROCESS_SAMPLE_SECONDS = 5.0
    #: How often the dashboard re-reads a shown process's USS/PSS/swap...
    SMAPS_MAX_AGE_SECONDS = 10.0
    #: ...and how often while its RSS holds still (``ProcessScanner.smaps``).
    SMAPS_STEADY_SECONDS = 60.0

    def __init__(
        self, config: Config, *, history: History | None = None, gpu: bool = True, smaps_max_age: float = 0.0,
        services: bool = True, smaps_steady_age: float = 0.0,
    ) -> None:
        self.config = config
        #: How old a USS/PSS/swap reading may be (0: always fresh, as for a
        #: one-shot snapshot; the dashboard uses SMAPS_MAX_AGE_SECONDS).
        self.smaps_max_age = smaps_max_age
        #: How old a shown row's reading may get while its RSS holds still (no
        #: longer than ``smaps_max_age`` when smaller; the dashboard uses
        #: SMAPS_STEADY_SECONDS).
        self.smaps_steady_age = smaps_steady_age
        self.history = history if history is not None else History()
        self._last_process_record = float("-inf")
        self.host = socket.gethostname()
        try:
            self._boot_time: float | None = psutil.boot_time()
        except (OSError, RuntimeError):
            self._boot_time = None
        self._scanner: ProcessScanner | None = None
        self._gpu: GpuSource | None = None
        self._gpu_enabled = gpu
        self._gpu_unavailable_reason: str | None = None if gpu else "GPU polling disabled"
        #: groups processes into services (docs/services.md); None when turned off
        self.services: ServiceCollector | None = None
        self._services_enabled = services
        self._service_series: set[str] = set()

    def _gpu_source(self) -> GpuSource | None:
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
        """Release NVML and the scanner's file descriptors."""
        if self._gpu is not None:
            self._gpu.close()
        if self._scanner is not None:
            self._scanner.close()
        if self.services is not None:
            self.services.close()

    def poll(
        self,
        *,
        detail_pids: Iterable[int] = (),
        detail_top: int = 0,
        limit: int | None = None,
        keep_rss_bytes: int | None = None,
        keep_limited: bool = False,
        charted_pids: Iterable[int] = (),
    ) -> Snapshot:
        """One refresh.

        Args:
            detail_pids: pids to read USS/PSS/swap for (the visible rows).
            detail_top: also read them for the top N processes by RSS.
            limit: keep only the top ``limit`` processes by RSS in the snapshot
                (``None``: all). Growth is tracked for all of them regardless.
            keep_rss_bytes: with ``limit``, also keep processes at or above this RSS.
            keep_limited: with ``limit``, also keep processes in a memory cgroup
                with its own limit (below the box's).
            charted_pids: pids whose USS/PSS/swap are charted (a process view,
                ``detail_pids`` too): re-read every ``smaps_max_age`` seconds.
                Other detail rows keep a reading up to ``smaps_steady_age``
                while their RSS holds still (:meth:`ProcessScanner.smaps`).
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

        raw = scanner.scan_raw()
        # Growth is a slope over minutes; a point every few seconds is plenty,
        # and costs a fraction of appending hundreds of series every refresh.
        if now - self._last_process_record >= self.PROCESS_SAMPLE_SECONDS:
            self._last_process_record = now
            self.history.record_processes(now, {r[0]: r[1] for r in raw})
        raw.sort(key=lambda r: (-r[1], r[0]))

        gpus = self.poll_gpus()
        gpu_by_pid: dict[int, int] = {}
        if gpus.available:
            from memdash.sources.gpu import gpu_bytes_by_pid

            gpu_by_pid = gpu_bytes_by_pid(gpus)

        detail = set(detail_pids)
        detail.update(r[0] for r in raw[:detail_top])
        if limit is None:
            kept = raw
        else:
            # Beyond the top N by RSS, keep the rows asked for in detail (a
            # filtered view can show any pid) and GPU users (a process can hold
            # a lot of GPU memory and little RAM).
            extra = detail | gpu_by_pid.keys()
            floor = keep_rss_bytes if keep_rss_bytes is not None else float("inf")
            box = (scanner.box_limit_bytes or scanner.total_bytes) if keep_limited else 0
            kept = raw[:limit] + [r for r in raw[limit:] if r[0] in extra or r[1] >= floor or r[2] < box]
        history = self.history
        age, steady = self.smaps_max_age, self.smaps_steady_age
        charted = set(charted_pids)
        out = [
            scanner.materialize(
                r,
                smaps=(scanner.smaps(r[0], age) if r[0] in charted else scanner.smaps(r[0], age, r[1], steady))
                if r[0] in detail else None,
                growth_bytes_per_min=history.growth(r[0]),
                gpu_bytes=gpu_by_pid.get(r[0]),
            )
            for r in kept
        ]

        services: tuple[ServiceMemory, ...] = ()
        if self._services_enabled:
            if self.services is None:
                ram = system.total_bytes if system else None
                self.services = ServiceCollector(
                    self.config.thresholds, total_bytes=ram,
                    host_limit_bytes=(system.limit_bytes or ram) if system else None,
                )
            services = self.services.collect(raw, scanner, now, smaps_max_age=self.smaps_max_age,
                                             growth=history.growth, known={p.pid: p for p in out})
            # Each service's working set against its limit, for the service view's
            # chart; series of services that are gone are dropped (bounded).
            keys = set()
            for sv in services:
                key = service_series_key(sv.key)
                keys.add(key)
                history.record(key, now, sv.percent)
            for key in self._service_series - keys:
                history.discard(key)
            self._service_series = keys

        if system is not None:
            self.history.record("system.percent", now, system.percent)
            used = system.cgroup.usage_bytes if system.limit_bytes and system.cgroup else system.used_bytes
            self.history.record("system.used", now, used)
        for dev in gpus.devices:
            # By UUID where there is one: MIG instances share their GPU's index.
            self.history.record(f"gpu.{dev.uuid or dev.index}.percent", now, dev.percent)

        # The worst process is the one nearest its limit: classify just that one.
        top_percent = max((100.0 * r[1] / r[2] for r in raw if r[2]), default=None)
        levels: list[Level] = [self.config.thresholds.classify(top_percent)] if top_percent is not None else []
        if system is not None:
            levels.append(system.level)
        levels.extend(d.level for d in gpus.devices)
        levels.extend(sv.level for sv in services)
        host_oom = self.services.host if self.services is not None else None
        if self.services is not None:
            levels.append(self.services.watch.host_level(now))  # warning for 15 min after a host-wide kill
        return Snapshot(
            host=self.host,
            time=now,
            uptime_seconds=now - self._boot_time if self._boot_time else None,
            system=system,
            processes=tuple(out),
            process_count=len(raw),
            gpus=gpus,
            services=services,
            host_oom=host_oom,
            host_pressure=self.services.host_pressure if self.services is not None else None,
            errors=tuple(errors),
            level=worst(levels),
        )
