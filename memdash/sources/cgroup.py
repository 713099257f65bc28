"""cgroup memory limits and usage, v1 and v2. Standard library only.

The probe imports this module too, so it must stay free of psutil, Textual and
httpx. Every function takes the filesystem roots as arguments so tests can point
them at sample trees.

How a process's limit is found:

1. ``/proc/PID/cgroup`` names the process's cgroup: the ``0::/path`` line on v2,
   the line whose controllers include ``memory`` on v1.
2. That path is looked up under the cgroup mount (``/sys/fs/cgroup`` on v2,
   ``/sys/fs/cgroup/memory`` on v1). Inside a container the cgroup namespace makes
   the path ``/`` and the mount is the container's own cgroup, which works too.
3. The *effective* limit is the smallest finite limit from that cgroup up to the
   root, since any ancestor's limit also binds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from memdash.model import CgroupMemory

#: v1 reports "no limit" as a huge page-aligned number near 2**63.
_V1_UNLIMITED_FLOOR = 1 << 60


@dataclass(frozen=True, slots=True)
class CgroupRoots:
    """Where to read from: ``proc`` (``/proc``) and ``sys_fs_cgroup``."""

    proc: str = "/proc"
    sys_fs_cgroup: str = "/sys/fs/cgroup"


DEFAULT_ROOTS = CgroupRoots()


def _read_int(path: Path) -> int | None:
    """The integer in ``path``; ``None`` for ``max``, unreadable or garbage."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if not text or text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def parse_proc_cgroup(text: str) -> tuple[str | None, str | None]:
    """From ``/proc/PID/cgroup`` text, return ``(v2_path, v1_memory_path)``.

    >>> parse_proc_cgroup("0::/system.slice/app.service\\n")
    ('/system.slice/app.service', None)
    >>> parse_proc_cgroup("4:memory:/docker/abc\\n0::/\\n")
    ('/', '/docker/abc')
    """
    v2: str | None = None
    v1: str | None = None
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hier, controllers, path = parts
        if hier == "0" and controllers == "":
            v2 = path
        elif "memory" in controllers.split(","):
            v1 = path
    return v2, v1


def _v2_mount(roots: CgroupRoots) -> Path | None:
    base = Path(roots.sys_fs_cgroup)
    if (base / "cgroup.controllers").exists():
        return base  # unified hierarchy mounted at the top
    unified = base / "unified"
    if (unified / "cgroup.controllers").exists() and (base / "memory").is_dir() is False:
        return unified
    return None


def _v1_mount(roots: CgroupRoots) -> Path | None:
    mem = Path(roots.sys_fs_cgroup) / "memory"
    if (mem / "memory.limit_in_bytes").exists() or (mem / "memory.usage_in_bytes").exists():
        return mem
    return None


def _resolve(mount: Path, cg_path: str) -> Path:
    """The directory for ``cg_path`` under ``mount``; falls back to the mount itself
    when the path is not visible (a container with a private cgroup namespace)."""
    candidate = mount / cg_path.lstrip("/")
    return candidate if candidate.is_dir() else mount


def _v2_memory(directory: Path, mount: Path) -> CgroupMemory | None:
    usage = _read_int(directory / "memory.current")
    limit: int | None = None
    d = directory
    while True:
        value = _read_int(d / "memory.max")
        if value is not None and (limit is None or value < limit):
            limit = value
        if d == mount or mount not in d.parents:
            break
        d = d.parent
    if usage is None and limit is None:
        # The root cgroup has neither file; that is "no limit", not an error.
        if not (directory / "cgroup.controllers").exists():
            return None
    return CgroupMemory(path=_display_path(directory, mount), version=2, usage_bytes=usage, limit_bytes=limit)


def _v1_memory(directory: Path, mount: Path) -> CgroupMemory | None:
    usage = _read_int(directory / "memory.usage_in_bytes")
    limit: int | None = None
    d = directory
    while True:
        value = _read_int(d / "memory.limit_in_bytes")
        if value is not None and value < _V1_UNLIMITED_FLOOR and (limit is None or value < limit):
            limit = value
        if d == mount or mount not in d.parents:
            break
        d = d.parent
    if usage is None and limit is None and not (directory / "memory.limit_in_bytes").exists():
        return None
    return CgroupMemory(path=_display_path(directory, mount), version=1, usage_bytes=usage, limit_bytes=limit)


def _display_path(directory: Path, mount: Path) -> str:
    rel = os.path.relpath(directory, mount)
    return "/" if rel == "." else "/" + rel


def memory_for_cgroup_text(text: str, roots: CgroupRoots = DEFAULT_ROOTS) -> CgroupMemory | None:
    """Memory figures for the cgroup described by ``/proc/PID/cgroup`` text."""
    v2_path, v1_path = parse_proc_cgroup(text)
    v1 = _v1_mount(roots)
    if v1 is not None and v1_path is not None:
        return _v1_memory(_resolve(v1, v1_path), v1)
    v2 = _v2_mount(roots)
    if v2 is not None and v2_path is not None:
        return _v2_memory(_resolve(v2, v2_path), v2)
    return None


def process_cgroup_memory(pid: int | str = "self", roots: CgroupRoots = DEFAULT_ROOTS) -> CgroupMemory | None:
    """The memory cgroup of process ``pid``; ``None`` if it cannot be read."""
    try:
        text = (Path(roots.proc) / str(pid) / "cgroup").read_text()
    except OSError:
        return None
    return memory_for_cgroup_text(text, roots)


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
        try:
            text = (Path(self.roots.proc) / str(pid) / "cgroup").read_text()
        except OSError:
            return None
        if text not in self._by_text:
            self._by_text[text] = memory_for_cgroup_text(text, self.roots)
        return self._by_text[text]
