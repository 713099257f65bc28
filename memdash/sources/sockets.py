"""Which local processes listen on a TCP port or a Unix socket.

Read the way ``ss -lp`` does, without privileges beyond reading one's own (or,
as root, every) process's file descriptors:

- the listening sockets' inodes from ``/proc/net/tcp``, ``/proc/net/tcp6``
  (state ``0A``, LISTEN) or ``/proc/net/unix`` (flag ``__SO_ACCEPTCON``), as
  memdash's own network namespace sees them;
- then, among the candidate pids the caller gives (a service's processes, not
  the whole box), those with a descriptor ``socket:[INODE]`` on one of them.

Every read is bounded: the tables at :data:`MAX_TABLE_BYTES`, each process at
:data:`MAX_FDS_PER_PID` descriptors and the whole look at :data:`MAX_FDS`. A
vanished process or a denied read is skipped.
"""

from __future__ import annotations

import os
from typing import Iterable, Iterator

#: Bytes read of one /proc/net table (about 25 000 sockets).
MAX_TABLE_BYTES = 4 << 20
#: Descriptors looked at per process, and in all, per look.
MAX_FDS_PER_PID = 4096
MAX_FDS = 200_000
_LISTEN = "0A"
_ACCEPTCON = 0x10000


def _table(path: str) -> list[str]:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_TABLE_BYTES)
    except OSError:
        return []
    lines = data.decode("ascii", "replace").splitlines()
    if len(data) >= MAX_TABLE_BYTES and lines:
        lines.pop()  # cut mid-line
    return lines[1:]  # the header


def tcp_listeners(family: str = "tcp", proc: str = "/proc") -> dict[int, set[int]]:
    """Every TCP socket listening in table ``family`` (``"tcp"`` or ``"tcp6"``), as
    port -> inodes: one read of the table answers every port (the kernel builds
    the whole table on each read, so a read per port costs a table per port)."""
    out: dict[int, set[int]] = {}
    for line in _table(f"{proc}/net/{family}"):
        fields = line.split()
        # sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
        if len(fields) < 10 or fields[3] != _LISTEN or not fields[9].isdigit():
            continue
        inode = int(fields[9])
        if not inode:
            continue
        try:
            port = int(fields[1].rpartition(":")[2], 16)
        except ValueError:
            continue
        out.setdefault(port, set()).add(inode)
    return out


def tcp_listening_inodes(port: int, proc: str = "/proc") -> set[int]:
    """Inodes of the TCP sockets listening on ``port`` (any address; IPv6's
    table only read when IPv4's has none: the kernel builds each on every read)."""
    for family in ("tcp", "tcp6"):
        found = tcp_listeners(family, proc).get(port)
        if found:
            return found  # found over IPv4: the (as large) IPv6 table is not read
    return set()


def unix_listeners(proc: str = "/proc") -> dict[str, set[int]]:
    """Every Unix socket listening at a filesystem path, as path -> inodes (one read)."""
    out: dict[str, set[int]] = {}
    for line in _table(f"{proc}/net/unix"):
        # Num RefCount Protocol Flags Type St Inode Path
        fields = line.split(None, 7)
        if len(fields) < 8:
            continue
        try:
            flags, inode = int(fields[3], 16), int(fields[6])
        except ValueError:
            continue
        if flags & _ACCEPTCON and inode:
            out.setdefault(fields[7], set()).add(inode)
    return out


def unix_listening_inodes(path: str, proc: str = "/proc") -> set[int]:
    """Inodes of the Unix sockets listening at filesystem ``path``."""
    return unix_listeners(proc).get(path, set())


def _socket_links(pid: int, proc: str) -> Iterator[str]:
    """The link texts of ``pid``'s descriptors (``socket:[INODE]`` for a socket),
    at most :data:`MAX_FDS_PER_PID`; nothing for a process gone or not ours to read."""
    try:
        with os.scandir(f"{proc}/{pid}/fd") as it:
            for n, entry in enumerate(it):
                if n >= MAX_FDS_PER_PID:
                    break
                try:
                    yield os.readlink(entry.path)
                except OSError:
                    continue
    except OSError:  # gone, or not ours to read
        return


class Holders:
    """Which of ``pids`` (in the order given) holds a socket, for many lookups at once.

    Descriptors are read lazily, in order, and each process's at most once: a
    lookup that an earlier one already answered reads nothing, and all lookups
    together read no more than one :func:`owners` over every pid would
    (:data:`MAX_FDS` descriptors in all).
    """

    def __init__(self, pids: Iterable[int], proc: str = "/proc") -> None:
        self.proc = proc
        self._pending = iter(pids)
        self._scanned = 0
        self._budget = MAX_FDS
        self._held: dict[int, tuple[int, int]] = {}  # inode -> (order, first pid holding it)

    def first(self, inodes: set[int]) -> int | None:
        """The first pid (in the order given) holding one of ``inodes``."""
        if not inodes:
            return None
        while True:
            held = [self._held[i] for i in inodes if i in self._held]
            if held:
                # A pid further on may hold another of the inodes, but none before it: the
                # scan is in order, so every pid before the one found was read already.
                return min(held)[1]
            if not self._scan_next():
                return None

    def _scan_next(self) -> bool:
        if self._budget <= 0:
            return False
        pid = next(self._pending, None)
        if pid is None:
            return False
        order = self._scanned
        self._scanned += 1
        for link in _socket_links(pid, self.proc):
            self._budget -= 1
            if link.startswith("socket:[") and link.endswith("]"):
                inode = link[8:-1]
                if inode.isdigit():
                    self._held.setdefault(int(inode), (order, pid))
            if self._budget <= 0:
                break
        return True


def owners(inodes: set[int], pids: Iterable[int], proc: str = "/proc", *, first: bool = False) -> list[int]:
    """The pids among ``pids`` holding a descriptor on one of ``inodes``, in the
    order given (``first``: stop at the first found)."""
    if not inodes:
        return []
    wanted = {f"socket:[{i}]" for i in inodes}
    found: list[int] = []
    budget = MAX_FDS
    for pid in pids:
        if budget <= 0:
            break
        for link in _socket_links(pid, proc):
            budget -= 1
            if link in wanted:
                found.append(pid)
                if first:
                    return found
                break
    return found
