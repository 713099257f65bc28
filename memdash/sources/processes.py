"""Per-process memory, read straight from ``/proc`` and kept cheap.

Costs measured on this kind of machine (``../shared/tech-notes.md``): psutil's
``process_iter`` with attributes is ~31 us a process, more per refresh than
htop spends in total; ``/proc/PID/statm`` is ~3.5 us; ``smaps_rollup`` (USS,
PSS, swap) grows with the process's size, ~0.4 ms at 200 MB. So a scan:

- reads ``statm`` (RSS) for every process, every refresh, through a file
  descriptor kept open per process: ``pread`` on it costs ~2 us against ~11 us
  for open/read/close, and an fd that fails means that very process is gone
  (a new process reusing the pid gets a new fd), so pid reuse is caught too;
- reads a process's name, command line, user, parent and cgroup once, when it
  is first seen (they do not change for the life of a pid);
- reads ``smaps_rollup`` only for the pids the caller asks for (the visible
  rows, or the top N).

A process that vanishes mid-scan, or denies a read, is skipped or shown with
what could be read; a scan never raises for one process.
"""

from __future__ import annotations

import os
import pwd
import resource
import time
from dataclasses import dataclass
from typing import Iterable

from memdash.levels import DEFAULT_THRESHOLDS, Thresholds
from memdash.model import ProcessMemory
from memdash.probe.cgroupfs import _ancestors, locate
from memdash.sources.cgroup import DEFAULT_ROOTS, CgroupRoots
from memdash.sources.fds import close_fds, close_unused

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
#: v1 reports "no limit" as a huge page-aligned number near 2**63 (as cgroupfs).
_UNLIMITED_FLOOR = 1 << 60
#: How far RSS may move (a share of the RSS at the reading) and still count as
#: holding still for :meth:`ProcessScanner.smaps`'s ``steady_age``.
SMAPS_RSS_SLACK = 0.01
_O_RDONLY = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)


def _fd_budget() -> int:
    """How many statm fds to keep open: raise the soft RLIMIT_NOFILE towards the
    hard one, and leave 256 fds for everything else (sockets, NVML, Textual)."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = hard if hard != resource.RLIM_INFINITY else 65536
        want = min(want, 65536)
        if soft != resource.RLIM_INFINITY and soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
    except (ValueError, OSError):
        soft = 1024
    limit = 65536 if soft == resource.RLIM_INFINITY else soft
    return max(0, limit - 256)


@dataclass(slots=True)
class _Static:
    """What does not change for the life of a pid."""

    name: str
    cmdline: str
    user: str | None
    ppid: int | None
    cgroup_text: str | None
    starttime: str | None


#: ``(pid, rss_bytes, limit_bytes, static info)`` from :meth:`ProcessScanner.scan_raw`.
RawProcess = tuple[int, int, int, _Static]


@dataclass(frozen=True, slots=True)
class Smaps:
    """USS, PSS and swap of one process, in bytes, from ``smaps_rollup``, and
    when they were read (epoch seconds; ``None`` from :func:`parse_smaps_rollup`)."""

    uss_bytes: int | None
    pss_bytes: int | None
    swap_bytes: int | None
    read_at: float | None = None


def parse_smaps_rollup(text: str) -> Smaps:
    """Parse ``/proc/PID/smaps_rollup``; values there are in kB."""
    fields: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("Pss", "Private_Clean", "Private_Dirty", "Private_Hugetlb", "Swap"):
            try:
                fields[key] = int(rest.split()[0]) * 1024
            except (IndexError, ValueError):
                continue
    uss = None
    if "Private_Clean" in fields or "Private_Dirty" in fields:
        uss = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0) + fields.get("Private_Hugetlb", 0)
    return Smaps(uss_bytes=uss, pss_bytes=fields.get("Pss"), swap_bytes=fields.get("Swap"))


def parse_stat(text: str) -> tuple[str, int | None, str | None]:
    """``(comm, ppid, starttime)`` from ``/proc/PID/stat``; comm may hold spaces and parens."""
    open_ = text.find("(")
    close = text.rfind(")")
    comm = text[open_ + 1 : close] if open_ != -1 and close != -1 else "?"
    rest = text[close + 2 :].split()
    ppid = int(rest[1]) if len(rest) > 1 and rest[1].isdigit() else None
    starttime = rest[19] if len(rest) > 19 else None
    return comm, ppid, starttime


class ProcessScanner:
    """Scans ``/proc`` for process memory; keep one and call :meth:`scan` each refresh.

    Args:
        proc: the procfs root (tests point it at a sample tree).
        roots: where cgroup files are read from.
        total_bytes: physical RAM, the last-resort limit.
        box_limit_bytes: the limit memdash itself runs under, if any.
        thresholds: levels for each process's percent of its limit.
    """

    def __init__(
        self,
        *,
        total_bytes: int,
        box_limit_bytes: int | None = None,
        thresholds: Thresholds = DEFAULT_THRESHOLDS,
        roots: CgroupRoots = DEFAULT_ROOTS,
    ) -> None:
        self.proc = roots.proc
        self.roots = roots
        self.total_bytes = total_bytes
        self.box_limit_bytes = box_limit_bytes
        self.thresholds = thresholds
        self._static: dict[int, _Static] = {}
        self._fds: dict[int, int] = {}
        # pid -> (when read, monotonic; the reading; RSS when read, if the caller gave it)
        self._smaps: dict[int, tuple[float, Smaps | None, int | None]] = {}
        self._users: dict[int, str | None] = {}
        # /proc/PID/cgroup text -> the limit files from its cgroup up to the mount
        self._limit_files: dict[str, tuple[str, ...]] = {}
        self._max_fds = _fd_budget()
        self.errors = 0  # reads that failed in the last scan (denied or vanished)

    def close(self) -> None:
        """Close the per-process file descriptors."""
        fds, self._fds = self._fds, {}  # swapped first: a scan racing this close sees an empty table
        close_fds(fds.values())

    def __del__(self) -> None:
        self.close()

    def _statm(self, pid: int) -> bytes | None:
        fd = self._fds.get(pid)
        if fd is None:
            if len(self._fds) >= self._max_fds:
                return self._read(f"{self.proc}/{pid}/statm", 128)
            try:
                fd = os.open(f"{self.proc}/{pid}/statm", _O_RDONLY)
            except OSError:
                return None
            self._fds[pid] = fd
        try:
            data = os.pread(fd, 128, 0)
        except OSError:
            data = b""
        if not data:
            # The process behind this fd has exited; a new process with the same
            # pid will be opened afresh on the next scan.
            os.close(self._fds.pop(pid))
            self._static.pop(pid, None)
            self._smaps.pop(pid, None)
            return None
        return data

    # -- one process -------------------------------------------------------

    def _read(self, path: str, size: int = 65536) -> bytes | None:
        # os.open/os.read skip io.open's buffered-reader machinery: about half
        # the cost per /proc file, which is most of a scan.
        try:
            fd = os.open(path, _O_RDONLY)
        except OSError:
            return None
        try:
            return os.read(fd, size)
        except OSError:
            return None
        finally:
            os.close(fd)

    def _user(self, uid: int) -> str | None:
        if uid not in self._users:
            try:
                self._users[uid] = pwd.getpwuid(uid).pw_name
            except KeyError:
                self._users[uid] = str(uid)
        return self._users[uid]

    def _static_for(self, pid: int) -> _Static | None:
        base = f"{self.proc}/{pid}"
        stat = self._read(f"{base}/stat")
        if stat is None:
            return None
        comm, ppid, starttime = parse_stat(stat.decode("utf-8", "replace"))
        raw_cmd = self._read(f"{base}/cmdline") or b""
        cmdline = raw_cmd.rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "replace")
        try:
            uid = os.stat(base).st_uid
            user = self._user(uid)
        except OSError:
            user = None
        cg = self._read(f"{base}/cgroup")
        return _Static(
            name=comm,
            cmdline=cmdline or f"[{comm}]",
            user=user,
            ppid=ppid,
            cgroup_text=cg.decode("utf-8", "replace") if cg is not None else None,
            starttime=starttime,
        )

    def smaps(self, pid: int, max_age: float = 0.0, rss: int | None = None, steady_age: float = 0.0) -> Smaps | None:
        """USS/PSS/swap of ``pid``; ``None`` if denied or gone.

        ``smaps_rollup`` walks every mapping of the process (~4 ms for a 200 MB
        process here), so a refreshing caller passes ``max_age`` and gets a
        reading up to that many seconds old; RSS from ``statm`` stays fresh.
        A caller that also passes the process's ``rss`` now and a longer
        ``steady_age`` gets a reading up to ``steady_age`` seconds old while
        that RSS is within :data:`SMAPS_RSS_SLACK` of the RSS at the reading:
        USS/PSS/swap seldom move while the resident set holds still (swapping
        out or touching pages moves RSS), and an idle big process is the
        dearest read there is. The reading keeps its own time (``read_at``),
        so a screen can say how old it is.
        """
        now = time.monotonic()
        if max_age > 0:
            cached = self._smaps.get(pid)
            if cached is not None:
                age = now - cached[0]
                if age < max_age:
                    return cached[1]
                then = cached[2]
                if (age < steady_age and rss is not None and then is not None
                        and abs(rss - then) <= then * SMAPS_RSS_SLACK):
                    return cached[1]
        data = self._read(f"{self.proc}/{pid}/smaps_rollup")
        sm = None
        if data is not None:
            parsed = parse_smaps_rollup(data.decode("ascii", "replace"))
            sm = Smaps(uss_bytes=parsed.uss_bytes, pss_bytes=parsed.pss_bytes, swap_bytes=parsed.swap_bytes,
                       read_at=time.time())
        if max_age > 0:
            # A denied read is remembered too, so it is not retried every refresh.
            self._smaps[pid] = (now, sm, rss)
        return sm

    # -- a whole scan ------------------------------------------------------

    def pids(self) -> list[int]:
        """The pids in ``/proc`` now."""
        try:
            return [int(n) for n in os.listdir(self.proc) if n.isdigit()]
        except OSError:
            return []

    def scan_raw(self) -> list[RawProcess]:
        """One RSS reading of every process, as light tuples (no dataclass per row:
        with hundreds of processes the objects would cost more than the reads).

        Kernel threads and zombies (no memory) are left out. A process that
        vanishes or denies a read is skipped and counted in :attr:`errors`.
        """
        limits: dict[str | None, int | None] = {}
        out: list[RawProcess] = []
        seen: set[int] = set()
        errors = 0
        page = PAGE_SIZE
        box = self.box_limit_bytes or self.total_bytes
        for pid in self.pids():
            statm = self._statm(pid)
            if statm is None:
                errors += 1
                continue
            seen.add(pid)
            parts = statm.split(None, 2)
            try:
                rss = int(parts[1]) * page
            except (IndexError, ValueError):
                errors += 1
                continue
            if rss == 0:
                continue  # a kernel thread or a zombie: nothing to show
            st = self._static.get(pid)
            if st is None:
                st = self._static_for(pid)
                if st is None:
                    errors += 1
                    continue  # vanished between statm and stat
                self._static[pid] = st
            cg = st.cgroup_text
            if cg not in limits:
                limits[cg] = self._limit_for(cg)
            out.append((pid, rss, limits[cg] or box, st))
        # Forget pids that are gone so the caches stay bounded by the live set.
        for pid in self._static.keys() - seen:
            del self._static[pid]
        close_unused(self._fds, seen)
        for pid in self._smaps.keys() - seen:
            del self._smaps[pid]
        if len(self._limit_files) > len(limits):  # only the cgroups of live processes
            self._limit_files = {text: self._limit_files[text] for text in limits if text in self._limit_files}
        self.errors = errors
        return out

    def materialize(
        self,
        raw: RawProcess,
        *,
        smaps: Smaps | None = None,
        growth_bytes_per_min: float | None = None,
        gpu_bytes: int | None = None,
    ) -> ProcessMemory:
        """A :class:`ProcessMemory` row from a :meth:`scan_raw` tuple."""
        pid, rss, limit, st = raw
        percent = 100.0 * rss / limit if limit else 0.0
        return ProcessMemory(
            pid=pid,
            ppid=st.ppid,
            name=st.name,
            cmdline=st.cmdline,
            user=st.user,
            rss_bytes=rss,
            uss_bytes=smaps.uss_bytes if smaps else None,
            pss_bytes=smaps.pss_bytes if smaps else None,
            swap_bytes=smaps.swap_bytes if smaps else None,
            smaps_time=smaps.read_at if smaps else None,
            limit_bytes=limit,
            percent=percent,
            growth_bytes_per_min=growth_bytes_per_min,
            gpu_bytes=gpu_bytes,
            level=self.thresholds.classify(percent),
        )

    def scan(self, detail_pids: Iterable[int] = ()) -> list[ProcessMemory]:
        """Every process as a :class:`ProcessMemory`; ``detail_pids`` also get
        USS/PSS/swap from ``smaps_rollup``."""
        detail = set(detail_pids)
        return [
            self.materialize(r, smaps=self.smaps(r[0]) if r[0] in detail else None)
            for r in self.scan_raw()
        ]

    def _limit_for(self, cgroup_text: str | None) -> int | None:
        """The effective memory limit of the cgroup ``cgroup_text`` names (the
        smallest from it up to the mount, as :mod:`memdash.probe.cgroupfs`
        finds it), ``None`` for none or one at or above physical RAM.

        Read each scan, so a changed limit shows at once; where the files are
        is found once per cgroup (several stat calls), and only the limit files
        are read, without Python's buffered file objects (a handful of cgroups
        a scan, but ~0.3 ms each the long way)."""
        if cgroup_text is None:
            return None
        files = self._limit_files.get(cgroup_text)
        if files is None:
            found = locate(cgroup_text, self.roots)
            if found is None:
                files = ()
            else:
                version, directory, mount = found
                name = "memory.limit_in_bytes" if version == 1 else "memory.max"
                files = tuple(os.path.join(d, name) for d in _ancestors(directory, mount))
            self._limit_files[cgroup_text] = files
        limit: int | None = None
        for path in files:
            data = self._read(path, 64)
            if not data:
                continue
            try:
                value = int(data)  # "max" (v2's none) is not a number
            except ValueError:
                continue
            # 0 and -1 are read as "no limit" too: never a divisor, never a percent.
            if 0 < value < _UNLIMITED_FLOOR and (limit is None or value < limit):
                limit = value
        if limit is None or limit >= self.total_bytes:
            return None
        return limit
