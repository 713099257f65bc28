"""The fallback way to read ``sys._debugmallocstats()``: capture fd 2.

:mod:`memdash.probe.pymem` calls ``_PyObject_DebugMallocStats`` with a glibc
memory stream, which never touches fd 2. Only where that is impossible (no
``open_memstream``, or an interpreter without the symbol), or when
``MEMDASH_PROBE_FD2_CAPTURE=1`` forces it (tests), is this module loaded:
fd 2 points at an anonymous in-memory file for the one call and is restored
in ``finally``; a line another thread wrote to fd 2 in that window (the call
holds the GIL, so only C code or other processes sharing the fd can) is
recognised as not ours and written to the real stderr afterwards, so the
host's output is delayed by under a millisecond (a write still in flight: until
the next capture), never lost. One capture runs at a time (a lock).
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from _thread import allocate_lock

from memdash.probe.pymem import MAX_CAPTURE_BYTES

_CAPTURE_LOCK = allocate_lock()


def _is_stats_line(line: bytes) -> bool:
    """Whether a line has the shape of ``_debugmallocstats`` output (so a
    line of the host's that landed in the capture can be told apart)."""
    s = line.strip()
    if not s or b" = " in s or s.startswith((b"-----", b"class ", b"arena map counts", b"Small block")):
        return True
    return all(tok.isdigit() for tok in s.split())  # a size-class row


#: Seconds a capture file is kept after its capture, read at each capture
#: meanwhile: a write that resolved fd 2 to it and was then preempted (a
#: loaded box) still lands in a file that is read.
KEEP_SECONDS = 2.0
#: At most this many capture files are kept. Captures are normally 30 s
#: apart (one file kept at a time); only a caller forcing them back to back
#: keeps more, each the size of one report (~10-20 KB).
KEEP_FILES = 16


def _whole_lines(data: bytes) -> bytes:
    """``data`` up to its last newline: a line still being written is left
    for the next read, whole, rather than judged in two pieces."""
    return data[: data.rfind(b"\n") + 1]


class _File:
    """One capture file: its descriptor, how far it has been read, and when
    its capture was made (monotonic)."""

    __slots__ = ("fd", "read_to", "made")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.read_to = 0
        self.made = time.monotonic()


class _Captures:
    """The anonymous files fd 2 pointed at during recent captures, and how far
    each has been read. A fresh file is made for each capture; earlier ones
    are read again at each capture, for :data:`KEEP_SECONDS`, and then closed:
    a write another thread had already started on fd 2 when it was restored,
    and that lands late, is found then and written back. No capture file is
    ever emptied: that raced with a write landing between the read and the
    truncation, and lost it."""

    def __init__(self) -> None:
        self.files: list[_File] = []  # oldest first
        self.pid = os.getpid()

    def drain(self) -> bytes:
        """What landed in earlier capture files since they were read; files
        past :data:`KEEP_SECONDS` (or beyond :data:`KEEP_FILES`) are closed.
        In a forked child the files are the parent's: closed unread."""
        if self.pid != os.getpid():
            files, self.files, self.pid = self.files, [], os.getpid()
            for f in files:
                os.close(f.fd)
            return b""
        out = []
        now = time.monotonic()
        over = len(self.files) - KEEP_FILES  # the oldest this many are closed now
        kept = []
        for i, f in enumerate(self.files):
            closing = i < over or now - f.made >= KEEP_SECONDS
            data = _read_all(f.fd, f.read_to)
            if not closing:
                data = _whole_lines(data)
            out.append(data)
            f.read_to += len(data)
            if closing:
                os.close(f.fd)
            else:
                kept.append(f)
        self.files = kept
        return b"".join(out)

    def new(self) -> int:
        """A fresh capture file, kept for the next drains."""
        if hasattr(os, "memfd_create"):
            fd = os.memfd_create("memdash-mallocstats", os.MFD_CLOEXEC)
        else:  # pragma: no cover - non-Linux
            import tempfile

            fd = os.dup(tempfile.TemporaryFile().fileno())
        # Appending: the call and another thread write through one shared
        # offset, and a memfd's writes do not serialise it (no f_pos lock on
        # a pseudo file), so without O_APPEND one write could land on top of
        # another and both be lost. Appends go to the end under the inode lock.
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_APPEND)
        self.files.append(_File(fd))
        return fd

    def read_newest(self) -> bytes:
        """The capture just made, whole lines only."""
        newest = self.files[-1]
        data = _whole_lines(_read_all(newest.fd, 0))
        newest.read_to = len(data)
        return data


_CAPTURE = _Captures()


def _read_all(fd: int, start: int) -> bytes:
    """What ``fd`` holds from ``start`` to its end, bounded by the file's size."""
    out = []
    offset = start
    while True:
        size = os.fstat(fd).st_size
        if offset >= size:
            break
        chunk = os.pread(fd, min(size - offset, 1 << 16), offset)
        if not chunk:
            break
        out.append(chunk)
        offset += len(chunk)
    return b"".join(out)


def capture_debugmallocstats() -> bytes:
    """The text ``sys._debugmallocstats()`` writes to fd 2, captured (the fallback).

    fd 2 points at an anonymous file for that one call and is restored in
    ``finally``; lines that are not the call's are written back to the real
    stderr (late arrivals at the next capture, see :class:`_Capture`). A
    C-level write to fd 2 from another thread in that window can land between
    two pieces of a stats line: it is still written back, with that piece. At
    most :data:`MAX_CAPTURE_BYTES` are parsed.
    """
    dump = getattr(sys, "_debugmallocstats", None)
    if dump is None:
        return b""
    with _CAPTURE_LOCK:
        try:
            sys.stderr.flush()  # what Python already buffered goes out before, not into, the capture
        except Exception:
            pass
        late = _CAPTURE.drain()
        if late:
            _write_back(late)  # host lines that landed after the last capture was read
        tmp = _CAPTURE.new()
        saved = os.dup(2)  # OSError where the host closed fd 2: no figures, no harm
        try:
            os.dup2(tmp, 2)
            try:
                dump()
            finally:
                os.dup2(saved, 2)
        finally:
            os.close(saved)
        time.sleep(0.002)  # let a write another thread started on fd 2 land before we read
        data = _CAPTURE.read_newest()
    ours: list[bytes] = []
    kept = 0
    for line in data.splitlines(keepends=True):
        if _is_stats_line(line) and kept + len(line) <= MAX_CAPTURE_BYTES:
            ours.append(line)
            kept += len(line)
        else:
            _write_back(line)
    return b"".join(ours)


def _write_back(data: bytes) -> None:
    try:
        while data:
            data = data[os.write(2, data):]
    except OSError:
        pass


def _after_fork_in_child() -> None:
    """A lock another thread held at the fork would never be released in the child."""
    global _CAPTURE_LOCK
    _CAPTURE_LOCK = allocate_lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
