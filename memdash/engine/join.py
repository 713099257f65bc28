"""Targets meet services.

A target's endpoint answers from one process. Where that process is a pre-fork
worker, its figure is one worker's, and which worker answers changes from poll
to poll: the chart becomes a sawtooth that looks like a leak. Two remedies:

- **Local** (:class:`LocalJoin`): when the target's process runs on this box
  (the ``pid`` a local endpoint reports, or the process listening on the
  target's loopback TCP port or Unix socket), the target belongs to that
  process's service. Its figure becomes the service's total (the pool's master
  and workers), with the worker count; its limit, percent and level are the
  service's where the endpoint gives no limit of its own.
- **Remote** (:class:`SeenWorkers`): the worker that answered is known by its
  ``pid`` or, on a Prometheus page, its ``process_start_time_seconds``; the last
  figure of each worker seen is kept (bounded; a worker not seen for a while is
  forgotten), and the figure becomes their sum, "N workers seen".
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import ipaddress
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import urlsplit

from memdash.levels import Level, Thresholds
from memdash.model import ServiceMemory, ServiceWorker, TargetSample
from memdash.oom_eta import growing_after_gc
from memdash.sources import sockets

#: Seconds "no local listener" is trusted before looking again (a listener found is
#: kept while its process is in a service).
RELOOK_SECONDS = 10.0
#: A remote worker not seen in ``max(FORGET_POLLS, 3 * workers)`` polls of its target is forgotten
#: (a restarted or recycled worker must not be counted twice for long).
FORGET_POLLS = 10
#: Workers remembered per target.
MAX_WORKERS = 256
#: (full collections, RSS) pairs kept per target for the leak flag.
GC_TRAIL = 64

Where = tuple[str, object]  # ("unix", path) | ("tcp", port)


@functools.lru_cache(maxsize=1024)  # asked for every target every frame: 200 URL parses a second
def local_address(url: str) -> Where | None:
    """Where a target listens on this box: its Unix socket, or its loopback TCP
    port; ``None`` for a remote host (a pid it reports is another box's).

    Parsed here, not by the HTTP transport: the engine loads no HTTP stack
    before a target is polled (see :mod:`memdash.sources.transport` for the
    same ``unix:`` forms)."""
    if url.startswith("unix:"):
        rest = url[len("unix:"):]
        if rest.startswith("//"):
            rest = rest[2:]
        sock = rest.partition(":/")[0]
        return ("unix", sock) if sock else None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host:
        return None
    if host != "localhost":
        try:
            if not ipaddress.ip_address(host).is_loopback:
                return None
        except ValueError:
            return None
    return ("tcp", port or (443 if scheme == "https" else 80))


def _repercent(t: TargetSample, rss: int | None, thresholds: Thresholds) -> tuple[float | None, Level]:
    """Percent and level of figure ``rss`` against the target's own limit."""
    if t.limit_bytes and rss is not None:
        percent = 100.0 * rss / t.limit_bytes
        return percent, thresholds.classify(percent)
    return t.percent, t.level


def worker_key(sample: TargetSample) -> tuple[str, float] | None:
    """What identifies the process that answered: its pid, else (Prometheus)
    its start time. ``None`` when neither is known, or when the answer is
    already a pre-fork group's total (memdash.probe's ``group``)."""
    if any(name.startswith("group.") for name in sample.metrics):
        return None
    if sample.pid is not None:
        return ("pid", float(sample.pid))
    start = sample.metrics.get("process_start_time_seconds")
    if sample.kind == "prometheus" and start is not None and start > 0:
        return ("start", round(start, 2))
    return None


class SeenWorkers:
    """The last figure of each worker seen answering one remote target."""

    def __init__(self) -> None:
        self._polls = 0
        self._last: dict[tuple[str, float], tuple[int, int]] = {}  # key -> (poll number, rss)

    def __len__(self) -> int:
        return len(self._last)

    def add(self, sample: TargetSample, thresholds: Thresholds) -> TargetSample:
        """``sample`` with the sum over the workers seen (when more than one)."""
        key = worker_key(sample) if sample.ok else None
        if key is not None and sample.rss_bytes is not None:
            self._polls += 1
            self._last[key] = (self._polls, sample.rss_bytes)
            horizon = max(FORGET_POLLS, 3 * len(self._last))
            for k, (n, _) in list(self._last.items()):
                if self._polls - n > horizon:
                    del self._last[k]
            while len(self._last) > MAX_WORKERS:
                del self._last[min(self._last, key=lambda k: self._last[k][0])]
        elif sample.ok:
            self._last.clear()  # an answer that names no worker: nothing to add up
        if len(self._last) < 2:
            return sample
        total = sum(rss for _, rss in self._last.values())
        percent, level = _repercent(sample, total, thresholds)
        return dataclasses.replace(sample, rss_bytes=total, percent=percent, level=level,
                                   workers=len(self._last), workers_seen=True)


class LocalJoin:
    """Targets whose process is local, joined to its service; refreshed once per frame.

    Call :meth:`begin` with each refresh's services, then :meth:`join` per target.
    A listener found is kept while its process is in a service, "none here" for
    :data:`RELOOK_SECONDS`. When targets must be looked up, the socket tables
    (``/proc/net``) are read at most once per refresh and the services'
    descriptors at most once, however many targets look: with 200 local targets
    a table read per target was most of the dashboard's CPU.
    """

    def __init__(self, proc: str = "/proc") -> None:
        self.proc = proc
        self._members: dict[int, tuple[ServiceMemory, ServiceWorker]] = {}
        self._found: dict[Where, tuple[float, int | None]] = {}
        self._now = 0.0
        # This refresh's socket tables ("tcp", "tcp6", "unix") and descriptor scan, read on first need.
        self._tables: dict[str, Mapping[Any, set[int]]] = {}
        self._holders: sockets.Holders | None = None
        #: The service key each target joined at its last :meth:`join`.
        self.service_of: dict[str, str] = {}

    def begin(self, services: Iterable[ServiceMemory], now: float) -> None:
        self._now = now
        self._members = {w.pid: (sv, w) for sv in services for w in sv.workers}
        self._tables = {}
        self._holders = None
        if not self._members:
            self._found.clear()

    def _table(self, name: str) -> Mapping[Any, set[int]]:
        table = self._tables.get(name)
        if table is None:
            table = self._tables[name] = (sockets.unix_listeners(self.proc) if name == "unix"
                                          else sockets.tcp_listeners(name, self.proc))
        return table

    def _inodes(self, where: Where) -> set[int]:
        kind, value = where
        if kind == "unix":
            return self._table("unix").get(value, set())
        # IPv6's table is read only when a port is not in IPv4's.
        return self._table("tcp").get(value) or self._table("tcp6").get(value, set())

    def _listener(self, where: Where) -> int | None:
        cached = self._found.get(where)
        if cached is not None and (cached[1] in self._members if cached[1] is not None
                                   else self._now - cached[0] < RELOOK_SECONDS):
            return cached[1]  # a listener found stays while it lives; "none" is asked again after a while
        inodes = self._inodes(where)
        pid = None
        if inodes:
            if self._holders is None:
                # Pre-fork services' processes first: they are what targets usually are.
                order = sorted(self._members, key=lambda p: self._members[p][0].kind != "prefork")
                self._holders = sockets.Holders(order, self.proc)
            pid = self._holders.first(inodes)
        if len(self._found) > 4 * MAX_WORKERS:
            self._found.clear()
        self._found[where] = (self._now, pid)
        return pid

    def join(self, t: TargetSample, thresholds: Thresholds) -> TargetSample:
        """``t`` as its local service sees it (``t`` itself when not local or in no service)."""
        if not self._members or t.rss_bytes is None:
            return t  # no figure (multiprocess mode, never answered): unknown, not the service's
        where = local_address(t.url)
        if where is None:
            return t
        pid = t.pid if t.pid in self._members else self._listener(where)
        if pid is None or pid not in self._members:
            return t
        sv, w = self._members[pid]
        self.service_of[t.name] = sv.key
        rss, workers = t.rss_bytes, None
        if sv.kind == "prefork":
            rss, workers = sv.rss_bytes, sv.worker_count
        else:
            pool = _pool(sv, w)
            if pool:
                rss, workers = sum(x.rss_bytes for x in pool), sum(x.role == "worker" for x in pool)
        limit: int | None
        if t.limit_bytes is None and sv.limit_bytes is not None:
            limit, percent, level = sv.limit_bytes, sv.percent, sv.level
        else:
            limit = t.limit_bytes
            percent, level = _repercent(t, rss, thresholds)
        return dataclasses.replace(t, rss_bytes=rss, limit_bytes=limit, percent=percent, level=level,
                                   service=sv.name, workers=workers, workers_seen=False)


def _pool(sv: ServiceMemory, w: ServiceWorker) -> list[ServiceWorker]:
    """The pre-fork pool ``w`` is part of inside a cgroup service: its master and workers."""
    by_pid = {x.pid: x for x in sv.workers}
    if w.role == "master":
        master = w.pid
    elif w.role == "worker" and w.ppid in by_pid and by_pid[w.ppid].role == "master":
        master = w.ppid
    else:
        return []
    return [x for x in sv.workers if x.pid == master or (x.ppid == master and x.role == "worker")]


class TargetJoin:
    """Both joins for an engine: remote workers seen, then the local service."""

    def __init__(self, thresholds_for: Callable[[str], Thresholds], proc: str = "/proc") -> None:
        self.thresholds_for = thresholds_for
        self.local = LocalJoin(proc)
        self._seen: dict[str, SeenWorkers] = {}
        self._gc: dict[str, collections.deque[tuple[int | None, int | None]]] = {}

    def arrived(self, sample: TargetSample) -> TargetSample:
        """A sample as it arrives: figures of the workers seen so far added up."""
        full = _full_collections(sample)
        if full is not None:
            trail = self._gc.get(sample.name)
            if trail is None:
                trail = self._gc[sample.name] = collections.deque(maxlen=GC_TRAIL)
            trail.append((full, sample.rss_bytes))  # the answering process's own figure
        seen = self._seen.get(sample.name)
        if seen is None:
            if worker_key(sample) is None:
                return sample
            seen = self._seen[sample.name] = SeenWorkers()
        return seen.add(sample, self.thresholds_for(sample.name))

    def joined(self, sample: TargetSample) -> TargetSample:
        """A sample joined to its local service (after :meth:`LocalJoin.begin`)."""
        return self.local.join(sample, self.thresholds_for(sample.name))

    def leaking(self) -> set[str]:
        """Keys of the local services with a probed target whose RSS kept growing
        across at least two full collections ("growing after GC")."""
        out = set()
        for name, trail in self._gc.items():
            key = self.local.service_of.get(name)
            if key is not None and key not in out and growing_after_gc(trail):
                out.add(key)
        return out

    def forget(self, names: Mapping[str, object]) -> None:
        """Drop what is kept for targets not in ``names``."""
        for name in self._seen.keys() - names.keys():
            del self._seen[name]
        for name in self._gc.keys() - names.keys():
            del self._gc[name]


def _full_collections(sample: TargetSample) -> int | None:
    """The oldest generation's collection count of an answering Python process (``None``: not known)."""
    if not sample.ok or sample.gc is None or not sample.gc.generations:
        return None
    oldest = max(sample.gc.generations, key=lambda g: g.generation)
    return oldest.collections if oldest.generation >= 2 else None
