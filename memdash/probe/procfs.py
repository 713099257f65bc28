"""The OS's view of a process, read from ``/proc``. Standard library only.

Every figure is in bytes or seconds and is ``None`` where it cannot be read
(another user's process, a non-Linux system): never 0, so a dashboard does not
mistake "unknown" for "empty".
"""

from __future__ import annotations

import os
import time

_PAGE_SIZE: int = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_CLOCK_TICKS: int = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def read_statm(pid: int | str = "self") -> tuple[int | None, int | None]:
    """``(vms_bytes, rss_bytes)`` from ``/proc/PID/statm``.

    statm is the cheapest source (one short read, no parsing of key/value
    lines), which is what lets ``collect()`` stay in the microseconds.
    """
    try:
        fd = os.open(f"/proc/{pid}/statm", os.O_RDONLY)
    except OSError:
        return None, None
    try:
        fields = os.read(fd, 256).split()
    except OSError:
        return None, None
    finally:
        os.close(fd)
    try:
        return int(fields[0]) * _PAGE_SIZE, int(fields[1]) * _PAGE_SIZE
    except (IndexError, ValueError):
        return None, None


def read_rss(pid: int | str = "self") -> int | None:
    """Resident set size in bytes (the OS's view, not Python's)."""
    return read_statm(pid)[1]


def _stat_fields(pid: int | str) -> list[str] | None:
    """Fields of ``/proc/PID/stat`` after the command name.

    The name is in parentheses and may itself hold spaces or ``)``, so split
    after the *last* ``)``. Index 0 of the result is field 3 (state).
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode("ascii", "replace")
    except OSError:
        return None
    end = raw.rfind(")")
    if end < 0:
        return None
    return raw[end + 2 :].split()


def read_ppid(pid: int | str) -> int | None:
    """The parent pid of ``pid``, ``None`` if the process is gone or unreadable."""
    fields = _stat_fields(pid)
    if not fields or len(fields) < 2:
        return None
    try:
        return int(fields[1])
    except ValueError:
        return None


def _boot_time() -> float | None:
    try:
        with open("/proc/stat", "rb") as f:
            for line in f:
                if line.startswith(b"btime "):
                    return float(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def read_start_time(pid: int | str = "self") -> float | None:
    """When ``pid`` started, Unix epoch seconds (``None`` if unreadable)."""
    fields = _stat_fields(pid)
    boot = _boot_time()
    if not fields or len(fields) < 20 or boot is None:
        return None
    try:
        return boot + int(fields[19]) / _CLOCK_TICKS
    except ValueError:
        return None


def read_smaps_rollup(pid: int | str = "self") -> dict[str, int]:
    """Figures from ``/proc/PID/smaps_rollup``, bytes, keyed ``rss``, ``pss``,
    ``uss`` (private clean + dirty) and ``swap``. Empty where unreadable.

    The kernel walks every mapping to build this file, so it costs
    milliseconds on a big process: read it for group totals, not on every
    snapshot.
    """
    wanted = {b"Rss:": "rss", b"Pss:": "pss", b"Private_Clean:": "private_clean",
              b"Private_Dirty:": "private_dirty", b"Swap:": "swap"}
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                parts = line.split()
                key = wanted.get(parts[0]) if parts else None
                if key is not None and len(parts) >= 2:
                    out[key] = int(parts[1]) * 1024  # the file says kB
    except (OSError, ValueError):
        return {}
    if "private_clean" in out and "private_dirty" in out:
        out["uss"] = out.pop("private_clean") + out.pop("private_dirty")
    return out


def physical_memory_bytes() -> int | None:
    """Physical RAM of the box, bytes."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * _PAGE_SIZE
    except (OSError, ValueError, AttributeError):
        return None


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (it may belong to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


_started_at: tuple[int, float] | None = None


def process_started_at() -> float:
    """When this process started, Unix epoch seconds. Read once per pid (a
    forked worker is a new process with its own start time)."""
    global _started_at
    pid = os.getpid()
    if _started_at is None or _started_at[0] != pid:
        _started_at = (pid, read_start_time() or time.time())
    return _started_at[1]
