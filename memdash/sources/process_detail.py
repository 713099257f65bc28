"""One process's memory in parts, for its process view (:class:`~memdash.model.ProcessDetail`).

Read on demand for the one process a person looks at, never in the per-refresh
scan: ``smaps_rollup`` walks every mapping of the process (~0.4 ms at 200 MB,
~5 ms at 2 GB), ``status`` and the cgroup files are cheap. A process that is
gone gives ``None``; a read that is denied leaves its figures ``None`` and says
so in ``error``. Never raises for the process's sake.
"""

from __future__ import annotations

import os
import time

from memdash.model import ProcessDetail
from memdash.sources.cgroup import DEFAULT_ROOTS, CgroupRoots, memory_for_cgroup_text

#: smaps_rollup keys -> ProcessDetail fields (values there are in kB).
_ROLLUP = {
    "Rss": "rss_bytes", "Pss": "pss_bytes", "Pss_Anon": "pss_anon_bytes", "Pss_File": "pss_file_bytes",
    "Pss_Shmem": "pss_shmem_bytes", "Private_Clean": "private_clean_bytes", "Private_Dirty": "private_dirty_bytes",
    "Shared_Clean": "shared_clean_bytes", "Shared_Dirty": "shared_dirty_bytes", "Swap": "swap_bytes",
    "SwapPss": "swap_pss_bytes", "Locked": "locked_bytes", "AnonHugePages": "anon_huge_bytes",
}
#: /proc/PID/status keys -> fields.
_STATUS = {"VmRSS": "rss_bytes", "RssAnon": "rss_anon_bytes", "RssFile": "rss_file_bytes",
           "RssShmem": "rss_shmem_bytes", "VmHWM": "peak_rss_bytes", "VmSwap": "swap_bytes"}


def parse_kb_lines(text: str, keys: dict[str, str]) -> dict[str, int]:
    """``{field: bytes}`` for the ``Key:  N kB`` lines of ``text`` whose key is in ``keys``."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        if not sep or key not in keys:
            continue
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB" and parts[0].isdigit():
            out[keys[key]] = int(parts[0]) * 1024
    return out


def _read(path: str) -> tuple[str | None, str | None]:
    """``(text, None)``, or ``(None, why)`` in words."""
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read(1 << 16), None
    except FileNotFoundError:
        return None, "gone"
    except PermissionError:
        return None, "permission denied"
    except OSError as exc:
        return None, exc.strerror or str(exc)


def read_process_detail(pid: int, *, box_limit_bytes: int | None = None,
                        roots: CgroupRoots = DEFAULT_ROOTS) -> ProcessDetail | None:
    """Process ``pid``'s memory in parts; ``None`` if it no longer exists.

    ``box_limit_bytes`` is the limit that applies where the process's cgroup
    sets none (memdash's own box limit, or physical memory).
    """
    base = os.path.join(roots.proc, str(pid))
    status, why = _read(os.path.join(base, "status"))
    if status is None:
        return None if why == "gone" else ProcessDetail(pid=pid, time=time.time(), error=f"status: {why}")
    fields: dict[str, object] = dict(parse_kb_lines(status, _STATUS))
    errors = []
    rollup, why = _read(os.path.join(base, "smaps_rollup"))
    if rollup is None:
        if why == "gone":
            return None
        errors.append(f"smaps_rollup: {why}")
    else:
        fields.update(parse_kb_lines(rollup, _ROLLUP))  # smaps_rollup's RSS and swap: read with the rest
    cg_text, why = _read(os.path.join(base, "cgroup"))
    cgroup = memory_for_cgroup_text(cg_text, roots) if cg_text is not None else None
    if cg_text is None and why != "gone":
        errors.append(f"cgroup: {why}")
    limit = cgroup.limit_bytes if cgroup is not None and cgroup.limit_bytes is not None else box_limit_bytes
    if limit is not None and box_limit_bytes is not None:
        limit = min(limit, box_limit_bytes)
    return ProcessDetail(pid=pid, time=time.time(), cgroup=cgroup, limit_bytes=limit,
                         error="; ".join(errors) or None, **fields)  # type: ignore[arg-type]
