"""cgroup memory limits and usage for the dashboard, as :class:`~memdash.model.CgroupMemory`.

The reader itself is :mod:`memdash.probe.cgroupfs` (standard library only, shared
with the probe, which may import nothing from memdash outside itself); this
module re-exports it and adds the model conversion and a per-refresh cache.
"""

from __future__ import annotations

import os

from memdash.model import CgroupMemory
from memdash.probe.cgroupfs import (
    DEFAULT_ROOTS,
    CgroupReading,
    CgroupRoots,
    _read_text,
    parse_proc_cgroup,
    read_cgroup_text,
    read_process_cgroup,
)

__all__ = [
    "DEFAULT_ROOTS",
    "CgroupCache",
    "CgroupReading",
    "CgroupRoots",
    "memory_for_cgroup_text",
    "parse_proc_cgroup",
    "process_cgroup_memory",
    "read_cgroup_text",
    "read_process_cgroup",
]


def _to_model(reading: CgroupReading | None) -> CgroupMemory | None:
    if reading is None:
        return None
    return CgroupMemory(
        path=reading.path, version=reading.version, usage_bytes=reading.usage_bytes, limit_bytes=reading.limit_bytes
    )


def memory_for_cgroup_text(text: str, roots: CgroupRoots = DEFAULT_ROOTS) -> CgroupMemory | None:
    """Memory figures for the cgroup described by ``/proc/PID/cgroup`` text."""
    return _to_model(read_cgroup_text(text, roots))


def process_cgroup_memory(pid: int | str = "self", roots: CgroupRoots = DEFAULT_ROOTS) -> CgroupMemory | None:
    """The memory cgroup of process ``pid``; ``None`` if it cannot be read."""
    return _to_model(read_process_cgroup(pid, roots))


class CgroupCache:
    """Per-process cgroup lookups, cached by the cgroup's path text.

    Hundreds of processes usually share a handful of cgroups, so one read of
    ``/proc/PID/cgroup`` per process (cheap) and one read of the limit files per
    distinct cgroup per refresh is enough.
    """

    def __init__(self, roots: CgroupRoots = DEFAULT_ROOTS) -> None:
        self.roots = roots
        self._by_text: dict[str, CgroupMemory | None] = {}

    def clear(self) -> None:
        """Forget cached limits (call once per refresh: limits can change)."""
        self._by_text.clear()

    def for_pid(self, pid: int) -> CgroupMemory | None:
        """The memory cgroup of ``pid``, or ``None`` if unreadable or unlimited-unknown."""
        text = _read_text(os.path.join(self.roots.proc, str(pid), "cgroup"))
        if text is None:
            return None
        if text not in self._by_text:
            self._by_text[text] = memory_for_cgroup_text(text, self.roots)
        return self._by_text[text]
