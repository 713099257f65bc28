"""What a service's memory cgroup holds and how close it is to being killed.

:mod:`memdash.sources.cgroup` answers "what limit applies to this process";
this module reads everything else a service view needs from one cgroup, on v1
and v2 alike:

=====================  ===========================  ================================
figure                 cgroup v2                    cgroup v1
=====================  ===========================  ================================
usage                  ``memory.current``           ``memory.usage_in_bytes``
limit                  ``memory.max``               ``memory.limit_in_bytes``
high (throttle)        ``memory.high``              (none)
inactive page cache    ``inactive_file``            ``total_inactive_file``
breakdown              ``memory.stat``              ``memory.stat`` ``total_*``,
                                                    ``memory.kmem.*usage_in_bytes``
pressure               ``memory.pressure``          (none: v1 has no per-cgroup PSI)
OOM kills              ``memory.events`` oom_kill   ``memory.oom_control`` oom_kill
=====================  ===========================  ================================

The **working set** is usage minus inactive page cache, as cAdvisor,
``docker stats``, ``kubectl top`` and the kubelet's eviction compute it: the
kernel reclaims inactive file pages before it OOM-kills, so they do not bring a
container closer to its end; everything else does.

A limit of ``max``, ``-1``, ``0``, NaN, v1's huge sentinel (about 2**63), or
one at or above the machine's RAM means "no limit" (``None``). Standard library
only; every reader takes its roots so tests point it at recorded trees.
"""

from __future__ import annotations

import errno
import os
import re
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

from memdash.model import MemoryBreakdown, MemoryPressure
from memdash.sources.cgroup import DEFAULT_ROOTS, CgroupRoots, parse_proc_cgroup
from memdash.sources.fds import close_fds, close_unused

#: At or above this a limit is a "no limit" sentinel (v1 writes 2**63 rounded to a page).
_HUGE = 1 << 60


_O_RDONLY = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)


def _read_text(path: str) -> str | None:
    # os.open/os.read skip io.open's buffered text machinery: about half the
    # cost, and a refresh reads a few files from each of dozens of cgroups.
    try:
        fd = os.open(path, _O_RDONLY)
    except OSError:
        return None
    try:
        return os.read(fd, 65536).decode("ascii", "replace")
    except OSError:  # EOPNOTSUPP (PSI disabled), or gone
        return None
    finally:
        os.close(fd)


def parse_limit(text: str | None, total_bytes: int | None = None) -> int | None:
    """A limit file's value in bytes, or ``None`` for no limit or garbage.

    >>> parse_limit("max\\n"), parse_limit("-1"), parse_limit("0"), parse_limit("9223372036854771712")
    (None, None, None, None)
    >>> parse_limit("268435456\\n")
    268435456
    """
    if text is None:
        return None
    text = text.strip()
    try:
        value = int(text)
    except ValueError:
        return None  # "max", "nan", "", garbage
    if value <= 0 or value >= _HUGE:
        return None
    if total_bytes is not None and value >= total_bytes:
        return None
    return value


def _parse_int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None


def parse_flat_keyed(text: str | None) -> dict[str, int]:
    """``key value`` lines (``memory.stat``, ``memory.events``,
    ``memory.oom_control``, ``/proc/vmstat``) as a dict; bad lines are skipped."""
    out: dict[str, int] = {}
    if not text:
        return out
    for line in text.split("\n"):
        key, sep, value = line.partition(" ")
        if sep and value.isdigit():
            out[key] = int(value)
    return out


_V1_STAT_KEYS = ("total_rss", "rss", "total_cache", "cache", "total_shmem", "shmem", "total_inactive_file",
                 "inactive_file")
_V2_STAT_KEYS = ("anon", "file", "shmem", "inactive_file", "slab", "slab_reclaimable", "slab_unreclaimable", "kernel",
                 "kernel_stack", "pagetables", "sec_pagetables", "percpu", "sock")


def pick_keyed(text: str | None, keys: tuple[str, ...]) -> dict[str, int]:
    """Only ``keys`` from ``key value`` lines: a handful of substring searches
    cost far less than splitting a ~60-line ``memory.stat`` every refresh."""
    out: dict[str, int] = {}
    if not text:
        return out
    text = "\n" + text
    for key in keys:
        i = text.find(f"\n{key} ")
        if i < 0:
            continue
        start = i + len(key) + 2
        end = text.find("\n", start)
        value = text[start:] if end < 0 else text[start:end]
        if value.isdigit():
            out[key] = int(value)
    return out


def parse_pressure(text: str | None) -> MemoryPressure | None:
    """``some avg10=…`` / ``full avg10=…`` lines (``memory.pressure``,
    ``/proc/pressure/memory``) as percents; ``None`` when unreadable."""
    if not text:
        return None
    found: dict[str, float] = {}
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        for item in rest.split():
            key, _, value = item.partition("=")
            if key == "avg10":
                try:
                    number = float(value)
                except ValueError:
                    break
                if number == number and 0 <= number <= 100:
                    found[kind] = number
                break
    if not found:
        return None
    return MemoryPressure(some_avg10=found.get("some"), full_avg10=found.get("full"))


def breakdown_from_stat(stat: dict[str, int], version: int, *, kmem: int | None = None,
                        kmem_tcp: int | None = None) -> MemoryBreakdown | None:
    """The parts of a cgroup's charge from its parsed ``memory.stat``.

    v1's ``memory.stat`` gives each figure for the cgroup alone and, prefixed
    ``total_``, for it and its children; the hierarchical one is used, matching
    ``memory.usage_in_bytes``. v1 has no kernel or socket figures in
    ``memory.stat``: those come from ``memory.kmem.usage_in_bytes`` (``kmem``)
    and ``memory.kmem.tcp.usage_in_bytes`` (``kmem_tcp``).
    """
    if not stat:
        return None

    def get(*names: str) -> int | None:
        for name in names:
            if name in stat:
                return stat[name]
        return None

    if version == 1:
        anon = get("total_rss", "rss")
        cache = get("total_cache", "cache")
        shmem = get("total_shmem", "shmem")
        inactive = get("total_inactive_file", "inactive_file")
        kernel, slab, sock = kmem, None, kmem_tcp
    else:
        anon = get("anon")
        cache = get("file")
        shmem = get("shmem")
        inactive = get("inactive_file")
        slab = get("slab")
        if slab is None and ("slab_reclaimable" in stat or "slab_unreclaimable" in stat):
            slab = stat.get("slab_reclaimable", 0) + stat.get("slab_unreclaimable", 0)
        kernel = get("kernel")  # 5.18+; before that, add up its parts
        if kernel is None and slab is not None:
            kernel = slab + sum(stat.get(k, 0) for k in ("kernel_stack", "pagetables", "sec_pagetables", "percpu"))
        sock = get("sock")
    file = None if cache is None else max(0, cache - (shmem or 0))
    return MemoryBreakdown(anon_bytes=anon, file_bytes=file, kernel_bytes=kernel, slab_bytes=slab,
                           shmem_bytes=shmem, sock_bytes=sock, inactive_file_bytes=inactive)


def working_set(usage_bytes: int | None, inactive_file_bytes: int | None) -> int | None:
    """Usage minus inactive page cache, never below 0; ``None`` without usage."""
    if usage_bytes is None:
        return None
    if inactive_file_bytes is None:
        return usage_bytes
    return max(0, usage_bytes - inactive_file_bytes)


@dataclass(frozen=True, slots=True)
class CgroupStats:
    """One memory cgroup, read once.

    ``path`` is the cgroup's path as ``/proc/PID/cgroup`` names it (``/`` is the
    root). ``own_limit_bytes`` is this cgroup's own ``memory.max`` /
    ``memory.limit_in_bytes``; ``limit_bytes`` the smallest finite limit from it
    up to the root, the one that binds. ``oom_kills`` counts kills in this
    cgroup and its children.
    """

    path: str
    version: int
    usage_bytes: int | None
    limit_bytes: int | None
    own_limit_bytes: int | None
    high_bytes: int | None
    working_set_bytes: int | None
    breakdown: MemoryBreakdown | None
    pressure: MemoryPressure | None
    oom_kills: int | None

    @property
    def percent(self) -> float | None:
        """Working set against the limit (0-100+), ``None`` without both."""
        if self.working_set_bytes is None or not self.limit_bytes:
            return None
        return 100.0 * self.working_set_bytes / self.limit_bytes


def _ancestors(directory: str, mount: str):
    d = directory
    while True:
        yield d
        if d == mount or not d.startswith(mount.rstrip("/") + "/"):
            return
        d = os.path.dirname(d)


def _cached_limit(path: str, total_bytes: int | None, cache: dict[str, int | None] | None,
                  read: Callable[[str], str | None]) -> int | None:
    """An ancestor's limit, read once per refresh when a ``cache`` is given (siblings share parents)."""
    if cache is None:
        return parse_limit(read(path), total_bytes)
    if path not in cache:
        cache[path] = parse_limit(read(path), total_bytes)
    return cache[path]


def _own_and_applying_limit(directory: str, mount: str, name: str, total_bytes: int | None,
                            limits: dict[str, int | None] | None,
                            read: Callable[[str], str | None]) -> tuple[int | None, int | None]:
    """The cgroup's own limit (file ``name``) and the one that applies: the
    smallest along it and its ancestors up to ``mount``."""
    own = parse_limit(read(directory + "/" + name), total_bytes)
    limit = own
    for d in _ancestors(os.path.dirname(directory), mount) if directory != mount else ():
        value = _cached_limit(d + "/" + name, total_bytes, limits, read)
        if value is not None and (limit is None or value < limit):
            limit = value
    return own, limit


def read_v2(directory: str, mount: str, path: str, total_bytes: int | None = None,
            limits: dict[str, int | None] | None = None, read: Callable[[str], str | None] | None = None,
            slow: tuple[int | None, ...] | None = None) -> CgroupStats:
    """A v2 cgroup's figures (``directory`` under the unified ``mount``).

    ``slow``: ``(own limit, limit, high)`` as last read (the caller reads the
    limits less often than the figures); ``None`` reads them.
    """
    read = read or _read_text
    usage = _parse_int(read(directory + "/memory.current"))
    if slow is None:
        own, limit = _own_and_applying_limit(directory, mount, "memory.max", total_bytes, limits, read)
        high = parse_limit(read(directory + "/memory.high"), total_bytes)
    else:
        own, limit, high = slow[0], slow[1], slow[2]
    stat = pick_keyed(read(directory + "/memory.stat"), _V2_STAT_KEYS)
    breakdown = breakdown_from_stat(stat, 2)
    events = read(directory + "/memory.events")
    oom = pick_keyed(events, ("oom_kill",)).get("oom_kill") if events is not None else None
    return CgroupStats(
        path=path, version=2, usage_bytes=usage, limit_bytes=limit, own_limit_bytes=own, high_bytes=high,
        working_set_bytes=working_set(usage, breakdown.inactive_file_bytes if breakdown else None),
        breakdown=breakdown, pressure=parse_pressure(read(directory + "/memory.pressure")),
        oom_kills=oom,
    )


def read_v1(directory: str, mount: str, path: str, total_bytes: int | None = None,
            limits: dict[str, int | None] | None = None, read: Callable[[str], str | None] | None = None,
            slow: tuple[int | None, ...] | None = None) -> CgroupStats:
    """A v1 cgroup's figures (``directory`` under the memory controller's ``mount``).

    ``slow``: ``(own limit, limit, kernel memory, socket memory)`` as last read
    (the caller reads those files less often than usage, ``memory.stat`` and
    the OOM counter); ``None`` reads them.
    """
    read = read or _read_text
    usage = _parse_int(read(directory + "/memory.usage_in_bytes"))
    if slow is None:
        own, limit = _own_and_applying_limit(directory, mount, "memory.limit_in_bytes", total_bytes, limits, read)
        kmem = (_parse_int(read(directory + "/memory.kmem.usage_in_bytes")),
                _parse_int(read(directory + "/memory.kmem.tcp.usage_in_bytes")))
    else:
        own, limit, kmem = slow[0], slow[1], (slow[2], slow[3])
    stat = pick_keyed(read(directory + "/memory.stat"), _V1_STAT_KEYS)
    breakdown = breakdown_from_stat(stat, 1, kmem=kmem[0], kmem_tcp=kmem[1])
    control = read(directory + "/memory.oom_control")
    oom = pick_keyed(control, ("oom_kill",)).get("oom_kill") if control is not None else None
    return CgroupStats(
        path=path, version=1, usage_bytes=usage, limit_bytes=limit, own_limit_bytes=own, high_bytes=None,
        working_set_bytes=working_set(usage, breakdown.inactive_file_bytes if breakdown else None),
        breakdown=breakdown, pressure=None, oom_kills=oom,
    )


class CgroupStatsReader:
    """Finds and reads the memory cgroups that ``/proc/PID/cgroup`` texts name.

    Keep one; call :meth:`clear` once per refresh so each cgroup is read at most
    once per refresh however many processes it holds.

    Args:
        roots: ``/proc`` and ``/sys/fs/cgroup`` (tests point them at recorded trees).
        total_bytes: the machine's RAM; a limit at or above it is no limit.
        max_fds: cgroup files kept open between refreshes. Opening a cgroup file
            costs several times reading it again with ``pread`` through a kept
            descriptor; past this many, files are opened and closed each time.
    """

    def __init__(self, roots: CgroupRoots = DEFAULT_ROOTS, *, total_bytes: int | None = None,
                 max_fds: int = 1024) -> None:
        self.roots = roots
        self.total_bytes = total_bytes
        base = roots.sys_fs_cgroup
        v1 = os.path.join(base, "memory")
        self.v1_mount = v1 if os.path.exists(os.path.join(v1, "memory.usage_in_bytes")) else None
        self.v2_mount: str | None = None
        if os.path.exists(os.path.join(base, "cgroup.controllers")):
            self.v2_mount = base
        elif os.path.exists(os.path.join(base, "unified", "cgroup.controllers")):
            self.v2_mount = os.path.join(base, "unified")
        self._paths: dict[str, tuple[int, str] | None] = {}
        self._stats: dict[tuple[int, str], CgroupStats | None] = {}
        self._limits: dict[str, int | None] = {}
        self._fds: dict[str, int] = {}
        self._dirs: dict[tuple[int, str], tuple[str, str]] = {}
        self._slow: dict[tuple[int, str], tuple[int | None, ...]] = {}
        self._detail = True
        self._used: set[str] = set()
        self.max_fds = max_fds

    def clear(self, *, detail: bool = True) -> None:
        """Forget this refresh's readings (the path lookups stay: texts do not
        change meaning); close the files of cgroups not read since the last clear.

        ``detail`` False keeps the limits (and v1's kernel and socket memory)
        from the last detailed refresh: they change rarely, and each is a file
        per cgroup per refresh. Usage, ``memory.stat``, the OOM counter and
        pressure are read every time.
        """
        self._detail = detail
        self._stats.clear()
        self._limits.clear()
        close_unused(self._fds, self._used)
        self._used.clear()
        if len(self._paths) > 4096:  # bounded: texts of processes long gone
            self._paths.clear()

    def close(self) -> None:
        """Close every kept file."""
        fds, self._fds = self._fds, {}  # swapped first: a refresh racing this close sees an empty table
        close_fds(fds.values())

    def __del__(self) -> None:
        self.close()

    def _read(self, path: str) -> str | None:
        fd = self._fds.get(path)
        if fd is None:
            if len(self._fds) >= self.max_fds:
                return _read_text(path)
            try:
                fd = os.open(path, _O_RDONLY)
            except OSError:
                return None
            self._fds[path] = fd
        self._used.add(path)
        try:
            data = os.pread(fd, 65536, 0)
        except OSError:
            # the cgroup was removed (ENODEV), or the file cannot be read now
            os.close(self._fds.pop(path))
            self._used.discard(path)
            return None
        return data.decode("ascii", "replace")

    def locate(self, cgroup_text: str | None) -> tuple[int, str] | None:
        """``(version, path)`` of the memory cgroup a ``/proc/PID/cgroup`` text names.

        v1's memory controller wins where it is mounted (the v2 tree then has no
        memory controller); ``None`` where neither applies.
        """
        if cgroup_text is None:
            return None
        if cgroup_text in self._paths:
            return self._paths[cgroup_text]
        v2, v1 = parse_proc_cgroup(cgroup_text)
        found: tuple[int, str] | None = None
        if self.v1_mount is not None and v1 is not None:
            found = (1, v1)
        elif self.v2_mount is not None and v2 is not None and self.v1_mount is None:
            found = (2, v2)
        self._paths[cgroup_text] = found
        return found

    def _directory(self, version: int, path: str) -> tuple[str, str] | None:
        found = self._dirs.get((version, path))
        if found is not None:
            return found
        mount = self.v1_mount if version == 1 else self.v2_mount
        if mount is None:
            return None
        directory = os.path.normpath(os.path.join(mount, path.lstrip("/")))
        if directory != mount and not directory.startswith(mount.rstrip("/") + "/"):
            return None  # ".." in a path: not ours to follow
        if not os.path.isdir(directory):
            return None  # not visible from here (another cgroup namespace) or gone
        if len(self._dirs) > 4096:
            self._dirs.clear()
        self._dirs[(version, path)] = (directory, mount)  # a removed cgroup's reads fail: see read()
        return directory, mount

    def read(self, version: int, path: str) -> CgroupStats | None:
        """The figures of cgroup ``path`` (once per refresh); ``None`` if not visible."""
        key = (version, path)
        if key not in self._stats:
            where = self._directory(version, path)
            if where is None:
                self._stats[key] = None
            else:
                slow = None if self._detail else self._slow.get(key)
                if len(self._slow) > 4096:
                    self._slow.clear()
                if version == 1:
                    st = read_v1(where[0], where[1], path, self.total_bytes, self._limits, self._read, slow)
                    b = st.breakdown
                    self._slow[key] = (st.own_limit_bytes, st.limit_bytes, b.kernel_bytes if b else None,
                                       b.sock_bytes if b else None)
                else:
                    st = read_v2(where[0], where[1], path, self.total_bytes, self._limits, self._read, slow)
                    self._slow[key] = (st.own_limit_bytes, st.limit_bytes, st.high_bytes)
                if st.usage_bytes is None:
                    # gone (or never a memory cgroup): look the directory up afresh next time
                    self._dirs.pop(key, None)
                    if not os.path.isdir(where[0]):
                        self._stats[key] = None
                        return None
                self._stats[key] = st
        return self._stats[key]

    def for_text(self, cgroup_text: str | None) -> CgroupStats | None:
        """:meth:`read` for the cgroup a ``/proc/PID/cgroup`` text names."""
        found = self.locate(cgroup_text)
        return None if found is None else self.read(*found)


@dataclass(frozen=True, slots=True)
class HostOomStats:
    """The whole machine: OOM kills since boot (``/proc/vmstat``) and memory pressure."""

    oom_kills: int | None
    pressure: MemoryPressure | None


def read_host(proc: str = "/proc") -> HostOomStats:
    """OOM kills and memory pressure of the host; ``None`` fields where unreadable."""
    vmstat = _read_text(os.path.join(proc, "vmstat"))
    kills = parse_flat_keyed(vmstat).get("oom_kill") if vmstat is not None else None
    return HostOomStats(oom_kills=kills, pressure=parse_pressure(_read_text(os.path.join(proc, "pressure", "memory"))))


# -- the kernel log ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KernelKill:
    """One OOM kill the kernel logged: when (Unix time), whom, and in which
    memory cgroup (``None`` where the log did not say)."""

    time: float
    pid: int
    name: str
    memcg: str | None


_KILLED = re.compile(r"Killed process (\d+) \(([^)]*)\)")
_OOM_KILL = re.compile(r"oom-kill:.*?task_memcg=([^,]*),task=[^,]*,pid=(\d+)")


def parse_kmsg_record(record: str) -> tuple[float, str] | None:
    """``(seconds since boot, message)`` of one ``/dev/kmsg`` record
    (``prio,seq,usec,flags;message``); ``None`` for garbage."""
    head, sep, message = record.partition(";")
    if not sep:
        return None
    fields = head.split(",")
    if len(fields) < 3:
        return None
    try:
        usec = int(fields[2])
    except ValueError:
        return None
    return usec / 1e6, message.split("\n", 1)[0]


class KernelLog:
    """OOM kills from ``/dev/kmsg``, read without blocking and in bounded steps.

    Opening ``/dev/kmsg`` starts at the oldest record the kernel still holds;
    each :meth:`poll` reads at most ``max_records`` further records and keeps
    the last ``keep`` kills. Where the device cannot be opened (not root, no
    ``CAP_SYSLOG`` with ``dmesg_restrict``), :attr:`available` is False and
    polls return nothing.
    """

    def __init__(self, path: str = "/dev/kmsg", *, max_records: int = 4096, keep: int = 64) -> None:
        self.max_records = max_records
        self.kills: deque[KernelKill] = deque(maxlen=keep)
        self._memcg: dict[int, str] = {}
        try:
            self._fd: int | None = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            self._fd = None

    @property
    def available(self) -> bool:
        """Whether the kernel log could be opened."""
        return self._fd is not None

    def close(self) -> None:
        """Close the device."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        self.close()

    def poll(self) -> tuple[KernelKill, ...]:
        """Kills logged since the last poll (up to ``max_records`` records read)."""
        if self._fd is None:
            return ()
        boot = time.time() - time.monotonic()  # printk stamps are since boot
        new: list[KernelKill] = []
        for _ in range(self.max_records):
            try:
                data = os.read(self._fd, 8192)
            except BlockingIOError:
                break  # nothing more for now
            except OSError as exc:
                if exc.errno == errno.EPIPE:
                    continue  # records were overwritten under us; the next read resumes
                self.close()
                break
            if not data:
                break
            # /dev/kmsg returns one record per read; a recorded file returns many.
            for line in data.decode("utf-8", "replace").split("\n"):
                kill = self._record(line, boot)
                if kill is not None:
                    self.kills.append(kill)
                    new.append(kill)
        return tuple(new)

    def _record(self, line: str, boot: float) -> KernelKill | None:
        parsed = parse_kmsg_record(line)
        if parsed is None:
            return None  # a continuation line (" KEY=value") or garbage
        stamp, message = parsed
        m = _OOM_KILL.search(message)
        if m:
            if len(self._memcg) > 256:
                self._memcg.clear()
            self._memcg[int(m.group(2))] = m.group(1)
            return None
        m = _KILLED.search(message)
        if m is None:
            return None
        pid = int(m.group(1))
        return KernelKill(time=boot + stamp, pid=pid, name=m.group(2), memcg=self._memcg.pop(pid, None))
