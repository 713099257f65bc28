"""cgroup memory limits and usage, v1 and v2, as plain tuples. Standard library only.

It lives in the probe because the probe reads its own limit with it and imports
nothing from memdash outside :mod:`memdash.probe`; the dashboard uses it through
:mod:`memdash.sources.cgroup`, which turns readings into
:class:`~memdash.model.CgroupMemory`. It stays free of psutil, Textual and httpx,
and even of ``pathlib``, ``dataclasses`` and ``typing`` (each costs a host process
memory). Every function takes the filesystem roots as arguments so tests can
point them at sample trees.

How a process's limit is found:

1. ``/proc/PID/cgroup`` names the process's cgroup: the ``0::/path`` line on v2,
   the line whose controllers include ``memory`` on v1.
2. That path is looked up under the cgroup mount (``/sys/fs/cgroup`` on v2,
   ``/sys/fs/cgroup/memory`` on v1). Inside a container the cgroup namespace makes
   the path ``/`` and the mount is the container's own cgroup, which works too.
3. The *effective* limit is the smallest finite limit from that cgroup up to the
   root, since any ancestor's limit also binds.

The probe's ``/metrics`` reads its cgroup here too (:func:`locate`,
:func:`read_at`, :func:`stat_value`): one reader for the whole package.
The two record types are tuples with named fields written out, not
``collections.namedtuple``: ``collections`` costs a host that had not loaded
it ~0.35 MiB of RSS (on 3.13+ nothing else the probe loads needs it).
"""

from __future__ import annotations

import os

#: v1 reports "no limit" as a huge page-aligned number near 2**63.
_V1_UNLIMITED_FLOOR = 1 << 60


class CgroupRoots(tuple):  # type: ignore[type-arg]
    """Where to read from: ``(proc, sys_fs_cgroup)``, by default ``/proc`` and ``/sys/fs/cgroup``."""

    __slots__ = ()

    def __new__(cls, proc: str = "/proc", sys_fs_cgroup: str = "/sys/fs/cgroup") -> CgroupRoots:
        return tuple.__new__(cls, (proc, sys_fs_cgroup))

    def __getnewargs__(self) -> tuple[str, str]:
        return self.proc, self.sys_fs_cgroup

    def __repr__(self) -> str:
        return f"CgroupRoots(proc={self.proc!r}, sys_fs_cgroup={self.sys_fs_cgroup!r})"

    @property
    def proc(self) -> str:
        """The ``/proc`` to read ``PID/cgroup`` from."""
        return self[0]

    @property
    def sys_fs_cgroup(self) -> str:
        """Where the cgroup hierarchies are mounted."""
        return self[1]


class CgroupReading(tuple):  # type: ignore[type-arg]
    """One cgroup's figures as a plain tuple: ``(path, version, usage_bytes, limit_bytes)``."""

    __slots__ = ()

    def __new__(cls, path: str, version: int, usage_bytes: int | None, limit_bytes: int | None) -> CgroupReading:
        return tuple.__new__(cls, (path, version, usage_bytes, limit_bytes))

    def __getnewargs__(self) -> tuple[str, int, int | None, int | None]:
        return self.path, self.version, self.usage_bytes, self.limit_bytes

    def __repr__(self) -> str:
        return (f"CgroupReading(path={self.path!r}, version={self.version!r}, "
                f"usage_bytes={self.usage_bytes!r}, limit_bytes={self.limit_bytes!r})")

    @property
    def path(self) -> str:
        """The cgroup's path as ``/proc/PID/cgroup`` names it (``/`` for the mount itself)."""
        return self[0]

    @property
    def version(self) -> int:
        """1 or 2."""
        return self[1]

    @property
    def usage_bytes(self) -> int | None:
        """Memory charged to the cgroup (``memory.usage_in_bytes`` / ``memory.current``)."""
        return self[2]

    @property
    def limit_bytes(self) -> int | None:
        """The effective limit: the smallest one from the cgroup up to the mount; ``None`` for none."""
        return self[3]


DEFAULT_ROOTS = CgroupRoots()


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def _read_int(path: str) -> int | None:
    """The integer in ``path``; ``None`` for ``max``, unreadable or garbage."""
    text = _read_text(path)
    if text is None:
        return None
    text = text.strip()
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


def _v2_mount(roots: CgroupRoots) -> str | None:
    base = roots.sys_fs_cgroup
    if os.path.exists(os.path.join(base, "cgroup.controllers")):
        return base  # unified hierarchy mounted at the top
    unified = os.path.join(base, "unified")
    if os.path.exists(os.path.join(unified, "cgroup.controllers")) and not os.path.isdir(os.path.join(base, "memory")):
        return unified
    return None


def _v1_mount(roots: CgroupRoots) -> str | None:
    mem = os.path.join(roots.sys_fs_cgroup, "memory")
    if os.path.exists(os.path.join(mem, "memory.limit_in_bytes")) or os.path.exists(
        os.path.join(mem, "memory.usage_in_bytes")
    ):
        return mem
    return None


def _resolve(mount: str, cg_path: str) -> str:
    """The directory for ``cg_path`` under ``mount``; falls back to the mount itself
    when the path is not visible (a container with a private cgroup namespace)."""
    candidate = os.path.normpath(os.path.join(mount, cg_path.lstrip("/")))
    inside = candidate == mount or candidate.startswith(mount.rstrip("/") + "/")
    return candidate if inside and os.path.isdir(candidate) else mount


def _ancestors(directory: str, mount: str):
    """``directory`` and each parent up to and including ``mount``."""
    d = directory
    while True:
        yield d
        if d == mount or not d.startswith(mount.rstrip("/") + "/"):
            return
        d = os.path.dirname(d)


def _v2_memory(directory: str, mount: str) -> CgroupReading | None:
    usage = _read_int(os.path.join(directory, "memory.current"))
    limit: int | None = None
    for d in _ancestors(directory, mount):
        value = _read_int(os.path.join(d, "memory.max"))
        # 0 and -1 are read as "no limit" too: never a divisor, never a percent.
        if value is not None and 0 < value < _V1_UNLIMITED_FLOOR and (limit is None or value < limit):
            limit = value
    if usage is None and limit is None:
        # The root cgroup has neither file; that is "no limit", not an error.
        if not os.path.exists(os.path.join(directory, "cgroup.controllers")):
            return None
    return CgroupReading(_display_path(directory, mount), 2, usage, limit)


def _v1_memory(directory: str, mount: str) -> CgroupReading | None:
    usage = _read_int(os.path.join(directory, "memory.usage_in_bytes"))
    limit: int | None = None
    for d in _ancestors(directory, mount):
        value = _read_int(os.path.join(d, "memory.limit_in_bytes"))
        if value is not None and 0 < value < _V1_UNLIMITED_FLOOR and (limit is None or value < limit):
            limit = value
    if usage is None and limit is None and not os.path.exists(os.path.join(directory, "memory.limit_in_bytes")):
        return None
    return CgroupReading(_display_path(directory, mount), 1, usage, limit)


def _display_path(directory: str, mount: str) -> str:
    rel = os.path.relpath(directory, mount)
    return "/" if rel == "." else "/" + rel


def locate(text: str, roots: CgroupRoots = DEFAULT_ROOTS) -> tuple[int, str, str] | None:
    """``(version, directory, mount)`` of the memory cgroup that ``/proc/PID/cgroup``
    text names (v1's memory controller first), or ``None`` where neither is mounted."""
    v2_path, v1_path = parse_proc_cgroup(text)
    v1 = _v1_mount(roots)
    if v1 is not None and v1_path is not None:
        return 1, _resolve(v1, v1_path), v1
    v2 = _v2_mount(roots)
    if v2 is not None and v2_path is not None:
        return 2, _resolve(v2, v2_path), v2
    return None


def read_at(version: int, directory: str, mount: str) -> CgroupReading | None:
    """Usage and effective limit of the cgroup at ``directory`` (from :func:`locate`)."""
    return (_v1_memory if version == 1 else _v2_memory)(directory, mount)


def stat_value(directory: str, name: str, key: str) -> int | None:
    """``key``'s value in the ``key value`` file ``name`` of a cgroup directory
    (``memory.stat``, ``memory.events``, v1's ``memory.oom_control``)."""
    for line in (_read_text(os.path.join(directory, name)) or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == key:
            try:
                return int(parts[1])
            except ValueError:
                return None
    return None


def read_cgroup_text(text: str, roots: CgroupRoots = DEFAULT_ROOTS) -> CgroupReading | None:
    """Figures for the cgroup that ``/proc/PID/cgroup`` text names, as a plain tuple."""
    found = locate(text, roots)
    return None if found is None else read_at(*found)


def read_process_cgroup(pid: int | str = "self", roots: CgroupRoots = DEFAULT_ROOTS) -> CgroupReading | None:
    """:func:`read_cgroup_text` for process ``pid`` (the probe uses this: no dataclasses)."""
    text = _read_text(os.path.join(roots.proc, str(pid), "cgroup"))
    return None if text is None else read_cgroup_text(text, roots)
