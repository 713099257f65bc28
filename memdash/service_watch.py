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

from typing import Callable, Iterable, Mapping, NamedTuple, Sequence

from memdash.levels import Level, Thresholds
from memdash.model import MemoryPressure, OomKills, ProcessMemory, ServiceMemory, ServiceWorker
from memdash.oom_eta import OOM_RECENT_SECONDS, OomKillWatch, WorkingSetTrend, ago, is_recent
from memdash.sources.cgroup import DEFAULT_ROOTS, CgroupRoots
from memdash.sources.cgroup_stats import CgroupStats, CgroupStatsReader, HostOomStats, KernelKill, KernelLog, read_host
from memdash.sources.processes import ProcessScanner, RawProcess
from memdash.sources.services import Proc, ServiceGroup, environ_name, group_pids, group_services
from memdash.units import human_duration, human_rate


class MemberRow(NamedTuple):
    """What a service needs of one process: a light stand-in for a
    :class:`~memdash.model.ProcessMemory` (no percent or level to compute)."""

    pid: int
    ppid: int | None
    name: str
    cmdline: str
    rss_bytes: int
    pss_bytes: int | None
    uss_bytes: int | None
    swap_bytes: int | None
    growth_bytes_per_min: float | None


def _sum(values: Iterable[int | None]) -> int | None:
    """The sum, or ``None`` when any part is unknown (a partial sum would mislead)."""
    total = 0
    for v in values:
        if v is None:
            return None
        total += v
    return total


class _State:
    __slots__ = ("trend", "kills", "pids", "workers", "worker_tuple", "rss", "pss", "uss", "swap", "rows", "group")

    def __init__(self, window: float, min_span: float) -> None:
        self.trend = WorkingSetTrend(window=window, min_span=min_span)
        self.kills = OomKillWatch()
        self.pids: frozenset[int] = frozenset()
        self.workers: dict[int, ServiceWorker] = {}
        self.worker_tuple: tuple[ServiceWorker, ...] = ()
        self.rss = 0
        self.pss: int | None = None
        self.uss: int | None = None
        self.swap: int | None = None
        self.rows: object = None
        self.group: object = None


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
        rows: Mapping[int, MemberRow],
        now: float,
        *,
        kills: Iterable[KernelKill] = (),
        growing_after_gc: Mapping[str, bool] | None = None,
        rss: Mapping[int, int] | None = None,
        cgroups: Mapping[str, CgroupStats | None] | None = None,
    ) -> tuple[ServiceMemory, ...]:
        """This refresh's services.

        Args:
            groups: from :func:`~memdash.sources.services.group_services`.
            rows: process rows by pid (:class:`~memdash.model.ProcessMemory`
                rows, or :class:`MemberRow`). Passing the very same mapping as
                last time says the rows are unchanged: each service's worker
                rows and PSS/USS sums are then reused.
            now: Unix time of the refresh.
            kills: kills the kernel log reported since the last call.
            growing_after_gc: service keys whose probed targets are growing after GC.
            rss: this refresh's RSS by pid, when fresher than ``rows``.
            cgroups: this refresh's cgroup figures by service key, when fresher
                than the groups' own.
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
            cg = cgroups.get(g.key, g.cgroup) if cgroups is not None else g.cgroup
            leak = bool(growing_after_gc and growing_after_gc.get(g.key))
            out.append(self._one(g, state, rows, now, leak, rss, cg))
        for key in self._states.keys() - seen:
            del self._states[key]
        return tuple(out)

    @staticmethod
    def _members(g: ServiceGroup, state: _State, rows: Mapping[int, MemberRow]) -> None:
        """Rebuild a service's worker rows and their sums from ``rows``."""
        members = [rows[pid] for pid in g.pids if pid in rows]
        members.sort(key=lambda p: (p.pid != g.master_pid, p.pid))
        cache = state.workers
        workers_list = []
        for p in members:
            role = g.roles.get(p.pid, "process")
            w = cache.get(p.pid)
            # Most processes do not change between refreshes: reuse their row
            # (a frozen dataclass costs more to build than to compare).
            if w is None or w.rss_bytes != p.rss_bytes or w.pss_bytes != p.pss_bytes or w.role != role \
                    or w.uss_bytes != p.uss_bytes or w.swap_bytes != p.swap_bytes \
                    or w.growth_bytes_per_min != p.growth_bytes_per_min:
                w = ServiceWorker(
                    pid=p.pid, ppid=p.ppid, name=p.name, cmdline=p.cmdline, role=role,
                    rss_bytes=p.rss_bytes, pss_bytes=p.pss_bytes, uss_bytes=p.uss_bytes, swap_bytes=p.swap_bytes,
                    growth_bytes_per_min=p.growth_bytes_per_min,
                )
            workers_list.append(w)
        state.worker_tuple = tuple(workers_list)
        state.workers = {w.pid: w for w in workers_list}
        state.rss = sum(p.rss_bytes for p in members)
        state.pss = _sum(p.pss_bytes for p in members) if members else None
        state.uss = _sum(p.uss_bytes for p in members) if members else None
        state.swap = _sum(p.swap_bytes for p in members) if members else None
        state.rows = rows
        state.group = g

    def _one(self, g: ServiceGroup, state: _State, rows: Mapping[int, MemberRow], now: float,
             leak: bool, rss_now: Mapping[int, int] | None, cg: CgroupStats | None) -> ServiceMemory:
        if state.rows is not rows or state.group is not g:
            self._members(g, state, rows)
        workers = state.worker_tuple
        if rss_now is None:
            rss = state.rss
        else:
            rss = 0
            for pid in g.pids:
                value = rss_now.get(pid)
                if value is not None:
                    rss += value
        limit: int | None
        source: str | None
        if cg is not None and cg.limit_bytes is not None:
            limit, source = cg.limit_bytes, "cgroup"
        else:
            limit, source = self.host_limit_bytes, ("host" if self.host_limit_bytes else None)
        ws = cg.working_set_bytes if cg is not None and cg.working_set_bytes is not None else rss
        percent = 100.0 * ws / limit if limit else None

        # Kills: the cgroup's counter, and the kernel log's dated kills in this
        # cgroup (or of a pid this service had at the last refresh).
        before = state.kills.rose_at
        if cg is not None:
            state.kills.update(cg.oom_kills, now)
        for k in self._logged:
            if (cg is not None and k.memcg is not None and (k.memcg == cg.path or k.memcg.startswith(cg.path.rstrip("/") + "/"))) \
                    or (k.memcg is None and k.pid in state.pids):
                state.kills.note_logged(k.time)
        state.pids = frozenset(g.pids)
        rose = state.kills.rose_at
        if rose != before:
            # A kill ends the story the samples told: what grew is gone. Start
            # the slope afresh (a restarted worker that leaks again shows a new
            # ETA once eta_min_span of samples are in).
            state.trend.reset()
        state.trend.add(now, ws)
        trend = state.trend.trend(limit)

        reasons: list[str] = []
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
            master_pid=g.master_pid, worker_count=g.worker_count, process_count=len(workers),
            workers=workers, rss_bytes=rss, pss_bytes=state.pss, uss_bytes=state.uss, swap_bytes=state.swap,
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

    #: Group again at least this often while processes come and go outside services.
    REGROUP_SECONDS = 5.0
    #: Re-read members' USS/PSS at most this often in a running dashboard.
    ROWS_SECONDS = 30.0

    def __init__(self, thresholds: Thresholds, *, roots: CgroupRoots = DEFAULT_ROOTS, total_bytes: int | None = None,
                 host_limit_bytes: int | None = None, kernel_log: bool = True, window: float = 600.0) -> None:
        self.roots = roots
        self.reader = CgroupStatsReader(roots, total_bytes=total_bytes)
        self.watch = ServiceWatch(thresholds, host_limit_bytes=host_limit_bytes or total_bytes, window=window)
        self.kernel_log = KernelLog() if kernel_log else None
        self.host: OomKills = OomKills()
        self.host_pressure: MemoryPressure | None = None
        self._groups: list[ServiceGroup] | None = None
        self._seen: dict[int, tuple[object, Proc, tuple[int, str] | None]] = {}
        self._members: set[int] = set()
        self._service_paths: set[str] = set()
        self._grouped_at = float("-inf")
        self._pids: set[int] = set()
        self._rows: dict[int, MemberRow] = {}
        self._rows_at = float("-inf")
        self._rows_due = float("-inf")

    def close(self) -> None:
        """Close the kernel log and the kept cgroup files."""
        if self.kernel_log is not None:
            self.kernel_log.close()
        self.reader.close()

    def collect(self, raw: Sequence[RawProcess], scanner: ProcessScanner, now: float, *,
                smaps_max_age: float = 0.0, growth: Callable[[int], float | None] | None = None,
                growing_after_gc: Mapping[str, bool] | None = None,
                known: Mapping[int, ProcessMemory] | None = None) -> tuple[ServiceMemory, ...]:
        """Services from this refresh's :meth:`ProcessScanner.scan_raw` tuples.

        ``known``: process rows this refresh already read USS/PSS for (they are
        not read twice).

        What is read each call: every service cgroup's usage, ``memory.stat``,
        OOM counter and pressure, and RSS (from the scan). Grouping is redone
        when a service gains or loses a process, else at most every
        :attr:`REGROUP_SECONDS` while processes come and go. Members' USS/PSS
        (``smaps_rollup``), the cgroups' limits and v1's kernel memory are
        re-read every ``max(smaps_max_age, ROWS_SECONDS)`` seconds; with
        ``smaps_max_age`` 0 (a one-shot), every call.
        """
        reader = self.reader
        detail = now >= self._rows_due or now < self._rows_at
        reader.clear(detail=detail)
        rss = {r[0]: r[1] for r in raw}
        if self._groups is None or now < self._grouped_at:
            regroup = True
        elif rss.keys() == self._pids:
            regroup = False
        else:
            # Processes come and go all the time on a busy box. Group again at
            # once when a service loses a member or a process starts in a
            # service's cgroup; otherwise (a pool may be forming elsewhere) at
            # most every REGROUP_SECONDS.
            regroup = now - self._grouped_at >= self.REGROUP_SECONDS or not self._members.isdisjoint(
                self._pids - rss.keys()) or self._joins_a_service(raw, rss.keys() - self._pids)
        if regroup:
            self._regroup(raw)
            self._pids = set(rss)
            self._grouped_at = now
        groups = self._groups
        assert groups is not None
        # Worker rows (USS/PSS from smaps_rollup, the dearest read: a few ms per
        # hundred processes) at most every ROWS_SECONDS in a running dashboard;
        # a one-shot (smaps_max_age 0) reads them fresh.
        every = 0.0 if smaps_max_age <= 0 else max(smaps_max_age, self.ROWS_SECONDS)
        if detail:
            self._rows = self._member_rows(groups, raw, scanner, every, growth, known or {}, {})
            self._rows_at = now
            self._rows_due = now + every
        elif regroup:
            # Only the processes that joined a service need rows; the mapping is
            # updated in place so services whose members did not change keep theirs.
            self._member_rows(groups, raw, scanner, every, growth, known or {}, self._rows)
        cgroups = {}
        for g in groups:
            if g.cgroup is not None:
                cgroups[g.key] = reader.read(g.cgroup.version, g.cgroup.path)
        kills = self.kernel_log.poll() if self.kernel_log is not None else ()
        host = read_host(self.roots.proc)
        self.host = self.watch.host_oom(host, now)
        self.host_pressure = host.pressure
        return self.watch.update(groups, self._rows, now, kills=kills, growing_after_gc=growing_after_gc,
                                 rss=rss, cgroups=cgroups)

    def _joins_a_service(self, raw: Sequence[RawProcess], new: set[int]) -> bool:
        """Whether one of the ``new`` pids started in a service's cgroup."""
        if not new:
            return False
        for r in raw:
            if r[0] in new:
                found = self.reader.locate(r[3].cgroup_text)
                if found is not None and found[1] in self._service_paths:
                    return True
        return False

    def _regroup(self, raw: Sequence[RawProcess]) -> None:
        """Group afresh (the set of processes changed). What each pid is and
        where it lives is worked out once per pid; a group whose make-up did not
        change is kept as the same object, so its service keeps its rows."""
        reader = self.reader
        seen = self._seen
        infos: list[Proc] = []
        cgroup_of: dict[int, str | None] = {}
        cgroups: dict[str, CgroupStats | None] = {}
        fresh: dict[int, tuple[object, Proc, tuple[int, str] | None]] = {}
        for r in raw:
            pid, st = r[0], r[3]
            known = seen.get(pid)
            if known is None or known[0] is not st:  # a new pid, or a new process behind it
                known = (st, Proc(pid, st.ppid, st.name, st.cmdline), reader.locate(st.cgroup_text))
            fresh[pid] = known
            infos.append(known[1])
            found = known[2]
            if found is None:
                continue
            path = found[1]
            cgroup_of[pid] = path
            if path not in cgroups:
                cgroups[path] = reader.read(*found)
        self._seen = fresh  # bounded by the live processes
        old = {g.key: g for g in self._groups or ()}
        groups = []
        for g in group_services(infos, cgroup_of, cgroups, names=self._names(infos, cgroup_of)):
            before = old.get(g.key)
            if before is not None and _same_make_up(before, g):
                g = before
            groups.append(g)
        self._groups = groups
        self._members = group_pids(groups)
        self._service_paths = {g.cgroup.path for g in groups if g.cgroup is not None}

    @staticmethod
    def _member_rows(groups: Sequence[ServiceGroup], raw: Sequence[RawProcess], scanner: ProcessScanner,
                     smaps_max_age: float, growth: Callable[[int], float | None] | None,
                     known: Mapping[int, ProcessMemory], rows: dict[int, MemberRow]) -> dict[int, MemberRow]:
        """Rows for every member pid missing from ``rows`` (all of them when it is empty)."""
        wanted = group_pids(groups)
        for pid in rows.keys() - wanted:
            del rows[pid]
        for r in raw:
            pid = r[0]
            if pid not in wanted or pid in rows:
                continue
            st = r[3]
            p = known.get(pid)
            if p is not None and p.pss_bytes is not None:
                rows[pid] = MemberRow(pid, st.ppid, st.name, st.cmdline, r[1], p.pss_bytes, p.uss_bytes,
                                      p.swap_bytes, p.growth_bytes_per_min)
                continue
            sm = scanner.smaps(pid, smaps_max_age)
            rows[pid] = MemberRow(
                pid, st.ppid, st.name, st.cmdline, r[1],
                sm.pss_bytes if sm else None, sm.uss_bytes if sm else None, sm.swap_bytes if sm else None,
                growth(pid) if growth else None,
            )
        return rows

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


def _same_make_up(a: ServiceGroup, b: ServiceGroup) -> bool:
    """Whether two groupings of a service hold the same processes in the same roles."""
    return (a.pids == b.pids and a.roles == b.roles and a.name == b.name and a.master_pid == b.master_pid
            and a.worker_count == b.worker_count and a.program == b.program)
