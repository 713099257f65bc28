"""The fallback way to read ``sys._debugmallocstats()``: capture fd 2.

:mod:`memdash.probe.pymem` calls ``_PyObject_DebugMallocStats`` with a glibc
memory stream, which never touches fd 2. Only where that is impossible (no
``open_memstream``, or an interpreter without the symbol), or when
``MEMDASH_PROBE_FD2_CAPTURE=1`` forces it (tests), is this module loaded:
fd 2 points at an anonymous in-memory file for the one call and is restored
in ``finally``; a line another thread wrote to fd 2 in that window (the call
holds the GIL, so only C code or other processes sharing the fd can) is
recognised as not ours and written to the real stderr afterwards, so the
host's output is delayed by under a millisecond, never lost. One capture runs
at a time (a lock).
"""

from __future__ import annotations

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


class _Capture:
    """The anonymous file fd 2 points at during a capture. Kept open between
    captures (one fd, emptied each time) so that a write another thread had
    already started on fd 2 when it was restored, and that lands late, is
    still found and written back at the next capture instead of lost."""

    def __init__(self) -> None:
        self.fd = -1
        self.pid = -1

    def get(self) -> int:
        if self.fd < 0 or self.pid != os.getpid():
            if hasattr(os, "memfd_create"):
                self.fd = os.memfd_create("memdash-mallocstats", os.MFD_CLOEXEC)
            else:  # pragma: no cover - non-Linux
                import tempfile

                self.fd = os.dup(tempfile.TemporaryFile().fileno())
            self.pid = os.getpid()
        return self.fd


_CAPTURE = _Capture()


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
        tmp = _CAPTURE.get()
        late = _read_all(tmp, 0)
        if late:
            _write_back(late)  # host lines that landed after the last capture was read
        os.ftruncate(tmp, 0)
        os.lseek(tmp, 0, os.SEEK_SET)
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
        data = _read_all(tmp, 0)
        os.ftruncate(tmp, 0)  # what lands after this is found by the next capture
        os.lseek(tmp, 0, os.SEEK_SET)
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
