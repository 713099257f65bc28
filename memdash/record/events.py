"""Events the recorder stores as such: OOM kills, services appearing and vanishing,
level changes, cleanups.

OOM kills come from three places, each stored as its own ``oom_kill`` event with
a ``source``; :mod:`memdash.record.incidents` joins the ones that describe the
same kill:

* ``kmsg``: the kernel's own lines in ``/dev/kmsg`` (root, or ``CAP_SYSLOG`` where
  ``kernel.dmesg_restrict`` is set). The richest: pid, command name, the victim's
  memory cgroup and its RSS at death. :func:`oom_kills_from_kmsg` is a pure
  function over the records, tested on lines recorded from a real kill.
* ``cgroup``: a memory cgroup's own counter rose (``oom_kill`` in
  ``memory.events`` on v2, ``memory.oom_control`` on v1). The victim's pid is the
  process that was in the cgroup at the previous poll and is gone now, when
  exactly one is.
* ``vmstat``: the host-wide ``oom_kill`` counter in ``/proc/vmstat`` rose.

Nothing here imports Textual.
"""

from __future__ import annotations

import errno
import os
import re
import time
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from memdash.record.store import Event

LEVEL_ORDER = {"excellent": 0, "good": 1, "warning": 2, "critical": 3}


# -- the kernel log -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KernelOomKill:
    """One "Killed process" record from the kernel log.

    ``usec`` is microseconds since boot (the kernel's clock); ``cgroup`` the
    victim's memory cgroup (``task_memcg``) and ``oom_cgroup`` the one whose
    limit was hit (``oom_memcg``), from the ``oom-kill:`` line before it where
    the kernel wrote one (4.19 and later).
    """

    seq: int
    usec: int
    pid: int
    name: str
    rss_bytes: int | None
    anon_rss_bytes: int | None
    file_rss_bytes: int | None
    shmem_rss_bytes: int | None
    cgroup: str | None
    oom_cgroup: str | None
    constraint: str | None
    line: str


_KMSG_HEAD = re.compile(r"^(\d+),(\d+),(\d+),[^;]*;(.*)$", re.S)
_KILLED = re.compile(r"Killed process (\d+) \((.*)\)(.*)$")
_KB_FIELD = re.compile(r"([a-z-]+):(\d+)kB")
_OOM_KILL = re.compile(r"^oom-kill:(.*)$")


def parse_kmsg_record(record: str) -> tuple[int, int, str] | None:
    """``(seq, usec, message)`` from one ``/dev/kmsg`` record, ``None`` for anything else.

    >>> parse_kmsg_record("3,422,428762293,-;Memory cgroup out of memory: Killed process 1 (x)\\n")
    (422, 428762293, 'Memory cgroup out of memory: Killed process 1 (x)')
    """
    m = _KMSG_HEAD.match(record)
    if m is None:
        return None
    message = m.group(4).split("\n", 1)[0]  # continuation lines (" SUBSYSTEM=...") follow
    return int(m.group(2)), int(m.group(3)), message


def _oom_kill_fields(text: str) -> dict[str, str]:
    """``key=value`` pairs of an ``oom-kill:`` line. Values may hold commas (cgroup
    paths can), so a pair ends only where the next known key starts."""
    keys = ("constraint", "nodemask", "cpuset", "mems_allowed", "oom_memcg", "task_memcg", "task", "pid", "uid")
    pattern = re.compile(r"(?:^|,)(" + "|".join(keys) + r")=")
    marks = [(m.group(1), m.start(), m.end()) for m in pattern.finditer(text)]
    out: dict[str, str] = {}
    for i, (key, _start, end) in enumerate(marks):
        stop = marks[i + 1][1] if i + 1 < len(marks) else len(text)
        out[key] = text[end:stop]
    return out


def oom_kills_from_kmsg(records: Iterable[str]) -> list[KernelOomKill]:
    """The OOM kills in a sequence of ``/dev/kmsg`` records (pure; no I/O).

    Each ``Killed process PID (NAME) total-vm:..kB, anon-rss:..kB, file-rss:..kB,
    shmem-rss:..kB ...`` line is one kill; the ``oom-kill:...task_memcg=...,pid=PID``
    line the kernel writes before it (same pid) gives its cgroups. RSS at death
    is anon + file + shmem RSS.
    """
    context: dict[int, dict[str, str]] = {}
    kills: list[KernelOomKill] = []
    for record in records:
        parsed = parse_kmsg_record(record)
        if parsed is None:
            continue
        seq, usec, message = parsed
        m = _OOM_KILL.match(message)
        if m is not None:
            fields = _oom_kill_fields(m.group(1))
            try:
                context[int(fields.get("pid", ""))] = fields
            except ValueError:
                pass
            if len(context) > 64:  # bounded: a line without its "Killed process" must not pile up
                context.pop(next(iter(context)))
            continue
        k = _KILLED.search(message)
        if k is None:
            continue
        pid = int(k.group(1))
        name, rest = k.group(2), k.group(3)
        kb = {key: int(v) * 1024 for key, v in _KB_FIELD.findall(rest)}
        parts = [kb.get("anon-rss"), kb.get("file-rss"), kb.get("shmem-rss")]
        rss = sum(p for p in parts if p is not None) if any(p is not None for p in parts) else None
        fields = context.pop(pid, {})
        kills.append(
            KernelOomKill(
                seq=seq, usec=usec, pid=pid, name=name, rss_bytes=rss,
                anon_rss_bytes=kb.get("anon-rss"), file_rss_bytes=kb.get("file-rss"),
                shmem_rss_bytes=kb.get("shmem-rss"),
                cgroup=fields.get("task_memcg") or None, oom_cgroup=fields.get("oom_memcg") or None,
                constraint=fields.get("constraint") or None, line=message,
            )
        )
    return kills


def boot_id() -> str | None:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return None


class KmsgReader:
    """Reads new records from ``/dev/kmsg`` without blocking.

    Args:
        after_seq: records up to this sequence number were already seen (the
            store keeps the cursor, so a restarted recorder neither repeats a
            kill nor misses one written while it was down, as long as the
            kernel's ring buffer still holds it).
        path: the device (tests may pass a file of recorded records).

    :attr:`error` says why the log is unreadable (not root, ``dmesg_restrict``).
    """

    #: Records read per :meth:`read` at most: the ring buffer is bounded, but a
    #: first read after boot must not take the recorder's whole interval.
    MAX_RECORDS = 20000

    def __init__(self, after_seq: int = -1, path: str = "/dev/kmsg") -> None:
        self.after_seq = after_seq
        self.error: str | None = None
        self._fd: int | None = None
        try:
            self._fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            self.error = f"{path} unreadable: {exc.strerror}"
        # Kernel timestamps are microseconds on the monotonic clock since boot.
        self._wall_minus_mono = time.time() - time.monotonic()

    def wall_time(self, usec: int) -> float:
        """Epoch seconds for a kernel timestamp."""
        return self._wall_minus_mono + usec / 1e6

    def read(self) -> list[str]:
        """New records since the last call (or since ``after_seq``)."""
        if self._fd is None:
            return []
        out: list[str] = []
        for _ in range(self.MAX_RECORDS):
            try:
                chunk = os.read(self._fd, 8192)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.EPIPE:  # records overwritten before we read them: go on
                    continue
                self.error = f"/dev/kmsg: {exc.strerror}"
                break
            if not chunk:
                break
            text = chunk.decode("utf-8", errors="replace")
            parsed = parse_kmsg_record(text)
            if parsed is None or parsed[0] <= self.after_seq:
                continue
            self.after_seq = parsed[0]
            # Only the lines that matter are kept: the log is mostly other things.
            if "Killed process" in text or "oom-kill:" in text:
                out.append(text)
        return out

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


# -- memory cgroups -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CgroupReading:
    """One memory cgroup as the recorder read it."""

    path: str
    version: int
    usage_bytes: int | None
    working_set_bytes: int | None
    limit_bytes: int | None
    oom_kills: int | None
    pids: tuple[int, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path, "version": self.version, "usage_bytes": self.usage_bytes,
            "working_set_bytes": self.working_set_bytes, "limit_bytes": self.limit_bytes,
            "oom_kills": self.oom_kills, "pids": list(self.pids),
        }


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        return None


def _keyed(text: str | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                pass
    return out


class CgroupMounts:
    """Where the v1 memory controller and the v2 unified tree are mounted."""

    def __init__(self, sys_fs_cgroup: str = "/sys/fs/cgroup") -> None:
        v1 = os.path.join(sys_fs_cgroup, "memory")
        self.v1 = v1 if os.path.exists(os.path.join(v1, "memory.usage_in_bytes")) else None
        v2 = None
        for candidate in (sys_fs_cgroup, os.path.join(sys_fs_cgroup, "unified")):
            controllers = _read(os.path.join(candidate, "cgroup.controllers"))
            if controllers is not None and "memory" in controllers.split():
                v2 = candidate
                break
        self.v2 = v2

    def memory_path(self, proc_cgroup_text: str) -> tuple[int, str] | None:
        """``(version, path)`` of the memory cgroup in ``/proc/PID/cgroup`` text."""
        v2_path = v1_path = None
        for line in proc_cgroup_text.splitlines():
            parts = line.split(":", 2)
            if len(parts) != 3:
                continue
            if parts[0] == "0" and parts[1] == "":
                v2_path = parts[2]
            elif "memory" in parts[1].split(","):
                v1_path = parts[2]
        if v1_path is not None and self.v1:
            return 1, v1_path
        if v2_path is not None and self.v2:
            return 2, v2_path
        return None

    def read(self, version: int, path: str, pids: Sequence[int] = ()) -> CgroupReading | None:
        """The cgroup's usage, working set, limit and OOM-kill count; ``None`` once it is gone."""
        mount = self.v1 if version == 1 else self.v2
        if mount is None:
            return None
        d = os.path.normpath(os.path.join(mount, path.lstrip("/")))
        if not (d == mount or d.startswith(mount.rstrip("/") + "/")):
            return None  # a path outside our namespace: never read outside the mount
        stat = _keyed(_read(os.path.join(d, "memory.stat")))
        if version == 1:
            usage = _int(_read(os.path.join(d, "memory.usage_in_bytes")))
            if usage is None and not stat:
                return None
            limit = _int(_read(os.path.join(d, "memory.limit_in_bytes")))
            if limit is not None and limit >= 1 << 60:
                limit = None
            inactive = stat.get("total_inactive_file", stat.get("inactive_file"))
            oom = _keyed(_read(os.path.join(d, "memory.oom_control"))).get("oom_kill")
        else:
            usage = _int(_read(os.path.join(d, "memory.current")))
            if usage is None and not stat:
                return None
            raw_limit = _read(os.path.join(d, "memory.max"))
            limit = None if raw_limit is None or raw_limit.strip() == "max" else _int(raw_limit)
            inactive = stat.get("inactive_file")
            oom = _keyed(_read(os.path.join(d, "memory.events"))).get("oom_kill")
        ws = None if usage is None else max(0, usage - (inactive or 0))
        return CgroupReading(path=path, version=version, usage_bytes=usage, working_set_bytes=ws,
                             limit_bytes=limit, oom_kills=oom, pids=tuple(sorted(pids)))


def read_vmstat_oom_kills(path: str = "/proc/vmstat") -> int | None:
    """The host's ``oom_kill`` counter (kernel 4.13+)."""
    return _keyed(_read(path)).get("oom_kill")


# -- turning readings into events -----------------------------------------------------


def _bucket(level: str | None) -> str | None:
    """Levels that matter for an event: excellent and good are both "ok"."""
    if level in ("excellent", "good"):
        return "ok"
    return level


class EventDeriver:
    """Compares each poll with the one before and yields the events between them.

    Args:
        oom_counters: counters remembered from an earlier run (``{"host": n,
            "1:/path": n}``), so kills while the recorder was down are reported
            when it comes back (at that time, marked ``while_not_recording``).
    """

    def __init__(self, oom_counters: Mapping[str, int] | None = None) -> None:
        self._counters: dict[str, int] = dict(oom_counters or {})
        self._cgroups: dict[str, CgroupReading] = {}
        self._targets: dict[str, str | None] = {}
        self._level: str | None = None
        self._first = True
        # Resident sizes of the last poll's processes, for "RSS at death".
        self._rss: dict[int, tuple[str, int]] = {}

    @property
    def counters(self) -> dict[str, int]:
        """The OOM counters now (for the store to remember)."""
        return dict(self._counters)

    def derive(
        self,
        t: float,
        snapshot: Mapping[str, Any],
        cgroups: Sequence[CgroupReading],
        host_oom_kills: int | None,
        kernel_kills: Sequence[tuple[float, KernelOomKill]] = (),
    ) -> list[Event]:
        """Events between the previous call and this one."""
        events: list[Event] = []
        first = self._first
        self._first = False

        for when, k in kernel_kills:
            events.append(Event(t=when, kind="oom_kill", subject=k.cgroup or k.oom_cgroup or "host", level="critical",
                                data={"source": "kmsg", "pid": k.pid, "name": k.name, "cgroup": k.cgroup,
                                      "oom_cgroup": k.oom_cgroup, "constraint": k.constraint,
                                      "rss_bytes": k.rss_bytes, "anon_rss_bytes": k.anon_rss_bytes,
                                      "file_rss_bytes": k.file_rss_bytes, "shmem_rss_bytes": k.shmem_rss_bytes,
                                      "kernel_seq": k.seq, "line": k.line}))

        now = {f"{c.version}:{c.path}": c for c in cgroups}
        for key, c in now.items():
            before = self._counters.get(key)
            if c.oom_kills is not None:
                if before is not None and c.oom_kills > before:
                    prev = self._cgroups.get(key)
                    gone = sorted(set(prev.pids) - set(c.pids)) if prev is not None else []
                    data: dict[str, Any] = {"source": "cgroup", "cgroup": c.path, "count": c.oom_kills,
                                            "delta": c.oom_kills - before, "limit_bytes": c.limit_bytes}
                    if prev is None:
                        data["while_not_recording"] = True
                    if len(gone) == 1:
                        data["pid"] = gone[0]
                        name_rss = self._rss.get(gone[0])
                        if name_rss is not None:
                            data["name"], data["last_rss_bytes"] = name_rss
                    elif gone:
                        data["vanished_pids"] = gone
                    events.append(Event(t=t, kind="oom_kill", subject=c.path, level="critical", data=data))
                self._counters[key] = c.oom_kills
            if key not in self._cgroups and not first:
                events.append(Event(t=t, kind="service_appeared", subject=c.path,
                                    data={"kind": "cgroup", "limit_bytes": c.limit_bytes, "pids": list(c.pids)}))
        for key, c in self._cgroups.items():
            if key not in now:
                events.append(Event(t=t, kind="service_vanished", subject=c.path,
                                    data={"kind": "cgroup", "pids": list(c.pids)}))
                self._counters.pop(key, None)
        self._cgroups = now

        if host_oom_kills is not None:
            before = self._counters.get("host")
            if before is not None and host_oom_kills > before:
                events.append(Event(t=t, kind="oom_kill", subject="host", level="warning",
                                    data={"source": "vmstat", "count": host_oom_kills,
                                          "delta": host_oom_kills - before}))
            self._counters["host"] = host_oom_kills

        targets = {str(x.get("name")): x.get("level") for x in snapshot.get("targets", ()) or ()}
        if not first:
            for name in targets.keys() - self._targets.keys():
                events.append(Event(t=t, kind="service_appeared", subject=name, data={"kind": "target"}))
            for name in self._targets.keys() - targets.keys():
                events.append(Event(t=t, kind="service_vanished", subject=name, data={"kind": "target"}))
            for name, level in targets.items():
                if name in self._targets and _bucket(level) != _bucket(self._targets[name]) and level is not None:
                    events.append(Event(t=t, kind="level_change", subject=name, level=level,
                                        data={"kind": "target", "from": self._targets[name], "to": level}))
        self._targets = targets

        level = snapshot.get("level")
        if level is not None:
            if first and _bucket(level) in ("warning", "critical"):
                events.append(Event(t=t, kind="level_change", subject="host", level=level,
                                    data={"from": None, "to": level}))
            elif not first and _bucket(level) != _bucket(self._level):
                events.append(Event(t=t, kind="level_change", subject="host", level=level,
                                    data={"from": self._level, "to": level}))
            self._level = level

        self._rss = {int(p["pid"]): (str(p.get("name")), int(p.get("rss_bytes") or 0))
                     for p in snapshot.get("processes", ()) or ()}
        return events
