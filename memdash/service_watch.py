"""Services over time: trends, OOM-kill recency and levels, refresh after refresh.

:func:`memdash.sources.services.group_services` says which processes form
which service; :class:`ServiceWatch` turns each group into a
:class:`~memdash.model.ServiceMemory` with its sums, its cgroup figures, its
working-set trend and time to OOM, its OOM kills, and its level. The engine
keeps one and calls :meth:`ServiceWatch.update` each refresh; a one-shot
snapshot uses a fresh one, which reports counts and no trends.

State is bounded: one trend (at most :data:`memdash.oom_eta.MAX_POINTS`
samples) and one kill watch per service seen in the last refresh.
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping, Sequence

from memdash.levels import Level, Thresholds
from memdash.model import MemoryPressure, OomKills, ProcessMemory, ServiceMemory, ServiceWorker
from memdash.oom_eta import OOM_RECENT_SECONDS, OomKillWatch, WorkingSetTrend, ago, is_recent
from memdash.sources.cgroup import DEFAULT_ROOTS, CgroupRoots
from memdash.sources.cgroup_stats import CgroupStats, CgroupStatsReader, HostOomStats, KernelKill, KernelLog, read_host
from memdash.sources.processes import ProcessScanner, RawProcess
from memdash.sources.services import Proc, ServiceGroup, environ_name, group_services
from memdash.units import human_duration, human_rate


def _sum(values: Iterable[int | None]) -> int | None:
    """The sum, or ``None`` when any part is unknown (a partial sum would mislead)."""
    total = 0
    for v in values:
        if v is None:
            return None
        total += v
    return total


class _State:
    __slots__ = ("trend", "kills", "pids")

    def __init__(self, window: float, min_span: float) -> None:
        self.trend = WorkingSetTrend(window=window, min_span=min_span)
        self.kills = OomKillWatch()
        self.pids: frozenset[int] = frozenset()


class ServiceWatch:
    """Keeps each service's history between refreshes.

    Args:
        thresholds: percent and time-to-OOM levels, and ``eta_min_span``.
        host_limit_bytes: the limit for a service with no cgroup limit (memdash's
            box limit, else physical memory).
        window: seconds of working set the slope is fitted over.
    """

    def __init__(self, thresholds: Thresholds, *, host_limit_bytes: int | None = None, window: float = 600.0) -> None:
        self.thresholds = thresholds
        self.host_limit_bytes = host_limit_bytes
        self.window = window
        self._states: dict[str, _State] = {}
        self._host_kills = OomKillWatch()
        self._logged: list[KernelKill] = []

    # -- the host ---------------------------------------------------------------

    def host_oom(self, host: HostOomStats | None, now: float) -> OomKills:
        """The host-wide OOM-kill counter; call once per refresh."""
        if host is not None:
            self._host_kills.update(host.oom_kills, now)
        rose = self._host_kills.rose_at
        return OomKills(count=self._host_kills.count, rose_at=rose, recent=is_recent(rose, now))

    def host_level(self, now: float) -> Level:
        """Warning for 15 minutes after the host-wide counter rose, else excellent."""
        return Level.WARNING if is_recent(self._host_kills.rose_at, now) else Level.EXCELLENT

    # -- services ---------------------------------------------------------------

    def update(
        self,
        groups: Iterable[ServiceGroup],
        rows: Mapping[int, ProcessMemory],
        now: float,
        *,
        kills: Iterable[KernelKill] = (),
        growing_after_gc: Mapping[str, bool] | None = None,
    ) -> tuple[ServiceMemory, ...]:
        """This refresh's services.

        Args:
            groups: from :func:`~memdash.sources.services.group_services`.
            rows: this refresh's process rows by pid.
            now: Unix time of the refresh.
            kills: kills the kernel log reported since the last call.
            growing_after_gc: service keys whose probed targets are growing after GC.
        """
        self._logged.extend(kills)
        self._logged = [k for k in self._logged if is_recent(k.time, now, OOM_RECENT_SECONDS)][-256:]
        out: list[ServiceMemory] = []
        seen: set[str] = set()
        for g in groups:
            seen.add(g.key)
            state = self._states.get(g.key)
            if state is None:
                state = self._states[g.key] = _State(self.window, self.thresholds.eta_min_span)
            out.append(self._one(g, state, rows, now, bool(growing_after_gc and growing_after_gc.get(g.key))))
        for key in self._states.keys() - seen:
            del self._states[key]
        return tuple(out)

    def _one(self, g: ServiceGroup, state: _State, rows: Mapping[int, ProcessMemory], now: float,
             leak: bool) -> ServiceMemory:
        members = [rows[pid] for pid in g.pids if pid in rows]
        workers = tuple(
            ServiceWorker(
                pid=p.pid, ppid=p.ppid, name=p.name, cmdline=p.cmdline, role=g.roles.get(p.pid, "process"),
                rss_bytes=p.rss_bytes, pss_bytes=p.pss_bytes, uss_bytes=p.uss_bytes, swap_bytes=p.swap_bytes,
                growth_bytes_per_min=p.growth_bytes_per_min,
            )
            for p in sorted(members, key=lambda p: (p.pid != g.master_pid, p.pid))
        )
        rss = sum(p.rss_bytes for p in members)
        cg = g.cgroup
        if cg is not None and cg.limit_bytes is not None:
            limit, source = cg.limit_bytes, "cgroup"
        else:
            limit, source = self.host_limit_bytes, ("host" if self.host_limit_bytes else None)
        ws = cg.working_set_bytes if cg is not None and cg.working_set_bytes is not None else rss
        percent = 100.0 * ws / limit if limit else None

        state.trend.add(now, ws)
        trend = state.trend.trend(limit)

        reasons: list[str] = []
        # Kills: the cgroup's counter, and the kernel log's dated kills in this
        # cgroup (or of a pid this service had at the last refresh).
        if cg is not None:
            state.kills.update(cg.oom_kills, now)
        for k in self._logged:
            if (cg is not None and k.memcg is not None and (k.memcg == cg.path or k.memcg.startswith(cg.path.rstrip("/") + "/"))) \
                    or (k.memcg is None and k.pid in state.pids):
                state.kills.note_logged(k.time)
        state.pids = frozenset(g.pids)
        rose = state.kills.rose_at
        recent = is_recent(rose, now)
        oom = OomKills(count=state.kills.count, rose_at=rose, recent=recent)

        level = self.thresholds.classify_with_eta(percent, trend.oom_eta_seconds)
        if recent and rose is not None:
            level = Level.CRITICAL
            reasons.append(f"OOM kill {ago(now - rose)}")
        if trend.oom_eta_seconds is not None and self.thresholds.classify_eta(trend.oom_eta_seconds) >= Level.WARNING:
            reasons.append(f"OOM in {human_duration(trend.oom_eta_seconds)} at {human_rate(trend.growth_bytes_per_min)}")
        if percent is not None and self.thresholds.classify(percent) >= Level.WARNING:
            reasons.append(f"{percent:.0f}% of its {'limit' if source == 'cgroup' else 'host memory'}")
        if leak:
            reasons.append("growing after GC")

        return ServiceMemory(
            key=g.key, name=g.name, kind=g.kind, program=g.program,
            cgroup_path=cg.path if cg is not None else None,
            cgroup_version=cg.version if cg is not None else None,
            container_id=g.identity.container_id if g.identity is not None else None,
            master_pid=g.master_pid, worker_count=g.worker_count, process_count=len(members),
            workers=workers, rss_bytes=rss,
            pss_bytes=_sum(p.pss_bytes for p in members) if members else None,
            uss_bytes=_sum(p.uss_bytes for p in members) if members else None,
            swap_bytes=_sum(p.swap_bytes for p in members) if members else None,
            usage_bytes=cg.usage_bytes if cg is not None else None,
            limit_bytes=limit, limit_source=source,
            high_bytes=cg.high_bytes if cg is not None else None,
            working_set_bytes=ws, percent=percent,
            breakdown=cg.breakdown if cg is not None else None,
            pressure=cg.pressure if cg is not None else None,
            oom_kills=oom, growth_bytes_per_min=trend.growth_bytes_per_min,
            oom_eta_seconds=trend.oom_eta_seconds, growing_after_gc=leak,
            reasons=tuple(reasons), level=level,
        )



class ServiceCollector:
    """One refresh of services from a process scan: cgroups read, processes
    grouped, members' PSS/USS read, and :class:`ServiceWatch` applied.

    Args:
        thresholds: levels and ``eta_min_span``.
        roots: ``/proc`` and ``/sys/fs/cgroup``.
        total_bytes: physical RAM (a limit at or above it is no limit).
        host_limit_bytes: the limit for services without one of their own.
        kernel_log: read OOM kills from ``/dev/kmsg`` where it can be opened.
        window: seconds of working set the slope is fitted over.
    """

    def __init__(self, thresholds: Thresholds, *, roots: CgroupRoots = DEFAULT_ROOTS, total_bytes: int | None = None,
                 host_limit_bytes: int | None = None, kernel_log: bool = True, window: float = 600.0) -> None:
        self.roots = roots
        self.reader = CgroupStatsReader(roots, total_bytes=total_bytes)
        self.watch = ServiceWatch(thresholds, host_limit_bytes=host_limit_bytes or total_bytes, window=window)
        self.kernel_log = KernelLog() if kernel_log else None
        self.host: OomKills = OomKills()
        self.host_pressure: MemoryPressure | None = None

    def close(self) -> None:
        """Close the kernel log."""
        if self.kernel_log is not None:
            self.kernel_log.close()

    def collect(self, raw: Sequence[RawProcess], scanner: ProcessScanner, now: float, *,
                smaps_max_age: float = 0.0, growth: Callable[[int], float | None] | None = None,
                growing_after_gc: Mapping[str, bool] | None = None) -> tuple[ServiceMemory, ...]:
        """Services from this refresh's :meth:`ProcessScanner.scan_raw` tuples."""
        reader = self.reader
        reader.clear()
        infos: list[Proc] = []
        cgroup_of: dict[int, str | None] = {}
        cgroups: dict[str, CgroupStats | None] = {}
        by_pid: dict[int, RawProcess] = {}
        for r in raw:
            pid, st = r[0], r[3]
            by_pid[pid] = r
            infos.append(Proc(pid, st.ppid, st.name, st.cmdline))
            found = reader.locate(st.cgroup_text)
            if found is None:
                continue
            path = found[1]
            cgroup_of[pid] = path
            if path not in cgroups:
                cgroups[path] = reader.read(*found)
        groups = group_services(infos, cgroup_of, cgroups, names=self._names(infos, cgroup_of))
        rows: dict[int, ProcessMemory] = {}
        for g in groups:
            for pid in g.pids:
                r = by_pid[pid]
                rows[pid] = scanner.materialize(r, smaps=scanner.smaps(pid, smaps_max_age),
                                                growth_bytes_per_min=growth(pid) if growth else None)
        kills = self.kernel_log.poll() if self.kernel_log is not None else ()
        host = read_host(self.roots.proc)
        self.host = self.watch.host_oom(host, now)
        self.host_pressure = host.pressure
        return self.watch.update(groups, rows, now, kills=kills, growing_after_gc=growing_after_gc)

    def _names(self, infos: Sequence[Proc], cgroup_of: Mapping[int, str | None]) -> dict[int, str]:
        """Pod names from ``HOSTNAME``, one process per container cgroup."""
        names: dict[int, str] = {}
        done: set[str] = set()
        for p in infos:
            path = cgroup_of.get(p.pid)
            if path is None or path in done:
                continue
            if "kubepods" in path:
                done.add(path)
                found = environ_name(p.pid, self.roots.proc)
                if found:
                    names[p.pid] = found
        return names
