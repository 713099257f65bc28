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
from typing import Iterable

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


def tcp_listening_inodes(port: int, proc: str = "/proc") -> set[int]:
    """Inodes of the TCP sockets listening on ``port`` (any address; IPv6's
    table only read when IPv4's has none: the kernel builds each on every read)."""
    want = f"{port:04X}"
    out: set[int] = set()
    for name in ("tcp", "tcp6"):
        if out:
            break  # found over IPv4: the (as large) IPv6 table is not read
        for line in _table(f"{proc}/net/{name}"):
            fields = line.split()
            # sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            if len(fields) < 10 or fields[3] != _LISTEN:
                continue
            _, _, local_port = fields[1].rpartition(":")
            if local_port == want and fields[9].isdigit():
                out.add(int(fields[9]))
    out.discard(0)
    return out


def unix_listening_inodes(path: str, proc: str = "/proc") -> set[int]:
    """Inodes of the Unix sockets listening at filesystem ``path``."""
    out: set[int] = set()
    for line in _table(f"{proc}/net/unix"):
        # Num RefCount Protocol Flags Type St Inode Path
        fields = line.split(None, 7)
        if len(fields) < 8 or fields[7] != path:
            continue
        try:
            flags, inode = int(fields[3], 16), int(fields[6])
        except ValueError:
            continue
        if flags & _ACCEPTCON:
            out.add(inode)
    out.discard(0)
    return out


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
        d = f"{proc}/{pid}/fd"
        try:
            with os.scandir(d) as it:
                for n, entry in enumerate(it):
                    if n >= MAX_FDS_PER_PID:
                        break
                    budget -= 1
                    try:
                        if os.readlink(entry.path) in wanted:
                            found.append(pid)
                            if first:
                                return found
                            break
                    except OSError:
                        continue
        except OSError:  # gone, or not ours to read
            continue
    return found
