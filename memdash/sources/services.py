"""Services: processes grouped the way users run them. Pure functions over process rows.

A **service** is either

- a **memory cgroup** that holds processes and has a finite limit (``memory.max``,
  ``memory.high`` or ``memory.limit_in_bytes``) or is a container, a Kubernetes
  pod's container or a systemd ``*.service``/``*.scope`` unit; all its processes
  belong to it. A pre-fork pool inside it gives it its master and workers, never
  a second service; or
- a **pre-fork pool** where no such cgroup separates its processes: a master
  and its children running the same program (gunicorn, uvicorn, celery, uWSGI,
  hypercorn, daphne, or any Python program's ``multiprocessing`` pool, forked or
  spawned).

Each process belongs to at most one service. Names come from the cgroup path
(container ids shortened to 12 characters, unit names as they are) or, where
the caller found one without privileges (``HOSTNAME`` in ``/proc/PID/environ``
is a Kubernetes pod's name), from that name.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping, NamedTuple, Protocol, Sequence

from memdash.sources.cgroup_stats import CgroupStats


class ProcInfo(Protocol):
    """What grouping needs of a process (a :class:`~memdash.model.ProcessMemory` will do)."""

    @property
    def pid(self) -> int: ...
    @property
    def ppid(self) -> int | None: ...
    @property
    def name(self) -> str: ...
    @property
    def cmdline(self) -> str: ...


class Proc(NamedTuple):
    """A light :class:`ProcInfo` for callers without process rows."""

    pid: int
    ppid: int | None
    name: str
    cmdline: str

#: Pre-fork servers known by name; any Python program's multiprocessing pool counts too.
PREFORK_PROGRAMS = frozenset({"gunicorn", "uvicorn", "celery", "uwsgi", "hypercorn", "daphne"})
_PYTHON = re.compile(r"^python[0-9.]*[a-z]?$")
_MP_CHILD = ("--multiprocessing-fork", "multiprocessing.spawn", "multiprocessing.forkserver")
_MP_HELPER = "multiprocessing.resource_tracker"
_MP_FORKSERVER = "multiprocessing.forkserver"
_HEX64 = r"[0-9a-f]{64}"
_CONTAINER = re.compile(rf"^(?:(docker|cri-containerd|crio|libpod|containerd|podman)-)?({_HEX64})(?:\.scope)?$")
_POD = re.compile(r"pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})")
_RUNTIME_NAMES = {"cri-containerd": "containerd", "crio": "cri-o", "libpod": "podman", "podman": "podman",
                  "docker": "docker", "containerd": "containerd"}


@functools.lru_cache(maxsize=4096)
def program_of(cmdline: str, name: str = "") -> str:
    """What a process runs, for telling a pool's members apart from others.

    The interpreter is looked through: ``python3 -m gunicorn app`` and
    ``/venv/bin/python /venv/bin/gunicorn app`` are both ``gunicorn``; a script
    is its file name without ``.py``. A ``multiprocessing`` child (spawn or
    forkserver) is ``multiprocessing``; a retitled worker (``gunicorn: worker
    [app]``) is the word before the colon.
    """
    if any(marker in cmdline for marker in _MP_CHILD):
        return "multiprocessing"
    argv = cmdline.split()
    if not argv:
        return name
    first = argv[0]
    if first.endswith(":") and len(argv) > 1:  # setproctitle: "gunicorn: worker [app]"
        return first[:-1].lower()
    base = os.path.basename(first)
    if _PYTHON.match(base):
        i = 1
        while i < len(argv):
            arg = argv[i]
            if arg == "-m" and i + 1 < len(argv):
                return argv[i + 1].split(".")[0]
            if arg == "-c":
                return "python -c"
            if arg in ("-W", "-X", "-Q") or (arg.startswith("-") and len(arg) == 2 and arg[1] in "WXQ"):
                i += 2
                continue
            if arg.startswith("-"):
                i += 1
                continue
            script = os.path.basename(arg)
            return script[:-3] if script.endswith(".py") else script
        return base
    return base[:-3] if base.endswith(".py") else base


def _is_python(cmdline: str, name: str) -> bool:
    argv = cmdline.split(None, 1)
    return bool(argv and _PYTHON.match(os.path.basename(argv[0]))) or name.startswith("python")


@dataclass(frozen=True, slots=True)
class Pool:
    """A pre-fork master, its workers, and helpers (the multiprocessing resource tracker)."""

    master: int
    program: str
    workers: tuple[int, ...]
    helpers: tuple[int, ...] = ()

    @property
    def pids(self) -> tuple[int, ...]:
        """Master, workers and helpers."""
        return (self.master, *self.workers, *self.helpers)


def find_pools(processes: Sequence[ProcInfo]) -> list[Pool]:
    """The pre-fork pools among ``processes`` (topmost master first, each process in one pool).

    A master is a process whose children run its program (or are
    ``multiprocessing`` children of a Python master), and whose program is a
    known pre-fork server or a Python program. Workers' own children that run
    the same program join the pool too.
    """
    by_pid = {p.pid: p for p in processes}
    children: dict[int, list[int]] = {}
    for p in processes:
        if p.ppid is not None and p.ppid in by_pid:
            children.setdefault(p.ppid, []).append(p.pid)
    programs: dict[int, str] = {}

    def program(pid: int) -> str:
        found = programs.get(pid)
        if found is None:
            p = by_pid[pid]
            found = programs[pid] = program_of(p.cmdline, p.name)
        return found

    taken: set[int] = set()
    pools: list[Pool] = []
    def member(child: int, master_program: str, python: bool) -> str | None:
        c = by_pid[child]
        if _MP_HELPER in c.cmdline:
            return "helper" if python else None
        if _MP_FORKSERVER in c.cmdline:
            # the fork server is a helper; what it forks (same command line) are the workers
            parent = by_pid.get(c.ppid) if c.ppid is not None else None
            forked = parent is not None and _MP_FORKSERVER in parent.cmdline
            return ("worker" if forked else "helper") if python else None
        cp = program(child)
        if cp == master_program or (python and cp == "multiprocessing"):
            return "worker"
        return None

    # Only parents can be masters: look at those alone (a few dozen on a box
    # of a thousand processes), parents before children, so the topmost
    # master claims the tree.
    candidates = []
    for pid in children:
        p = by_pid[pid]
        prog = program(pid)
        python = prog == "multiprocessing" or _is_python(p.cmdline, p.name)
        if prog in PREFORK_PROGRAMS or python:
            candidates.append((p, prog, python))
    candidates.sort(key=lambda c: _depth(c[0].pid, by_pid))
    for p, prog, python in candidates:
        if p.pid in taken:
            continue
        workers: list[int] = []
        helpers: list[int] = []
        stack = list(children[p.pid])
        while stack:
            c = stack.pop()
            if c in taken:
                continue
            role = member(c, prog, python)
            if role is None:
                continue
            (workers if role == "worker" else helpers).append(c)
            stack.extend(children.get(c, ()))
        if not workers:
            continue
        pool = Pool(p.pid, prog, tuple(sorted(workers)), tuple(sorted(helpers)))
        taken.update(pool.pids)
        pools.append(pool)
    return pools


def _depth(pid: int, by_pid: Mapping[int, ProcInfo]) -> int:
    d = 0
    seen = set()
    p = by_pid.get(pid)
    while p is not None and p.ppid in by_pid and p.pid not in seen and d < 64:
        seen.add(p.pid)
        p = by_pid[p.ppid]  # type: ignore[index]
        d += 1
    return d


@dataclass(frozen=True, slots=True)
class CgroupIdentity:
    """What a cgroup path says it is: ``kind`` is ``container``, ``pod``,
    ``unit`` or ``cgroup``; ``name`` is what to show."""

    kind: str
    name: str
    container_id: str | None = None
    pod_uid: str | None = None
    runtime: str | None = None


def identify(path: str) -> CgroupIdentity:
    """Name a cgroup from its path.

    >>> identify("/docker/" + "ab" * 32).name
    'docker abababababab'
    >>> identify("/system.slice/nginx.service").name
    'nginx.service'
    """
    segments = [s for s in path.strip("/").split("/") if s]
    last = segments[-1] if segments else "/"
    pod_uid = None
    for s in segments:
        m = _POD.search(s)
        if m:
            pod_uid = m.group(1).replace("_", "-")
    m = _CONTAINER.match(last)
    if m:
        cid = m.group(2)
        prefix = m.group(1)
        if prefix is None and len(segments) > 1:
            parent = segments[-2]
            prefix = "docker" if parent == "docker" else ("podman" if "libpod" in parent else None)
        runtime = _RUNTIME_NAMES.get(prefix or "", None)
        if pod_uid is not None:
            return CgroupIdentity("pod", f"pod {pod_uid[:8]}/{cid[:12]}", cid, pod_uid, runtime)
        return CgroupIdentity("container", f"{runtime or 'container'} {cid[:12]}", cid, None, runtime)
    if pod_uid is not None:
        return CgroupIdentity("pod", f"pod {pod_uid[:8]}", None, pod_uid)
    if last.endswith(".service") or last.endswith(".scope"):
        return CgroupIdentity("unit", last)
    return CgroupIdentity("cgroup", last)


def environ_name(pid: int, proc: str = "/proc") -> str | None:
    """``HOSTNAME`` from a process's environment (a Kubernetes pod's name; a
    container's hostname), where it can be read; ``None`` otherwise."""
    try:
        with open(f"{proc}/{pid}/environ", "rb") as f:
            data = f.read(65536)
    except OSError:
        return None
    for item in data.split(b"\0"):
        if item.startswith(b"HOSTNAME="):
            value = item[9:].decode("utf-8", "replace").strip()
            return value[:63] or None
    return None


@dataclass(frozen=True, slots=True)
class ServiceGroup:
    """Which processes make one service, and what it is called.

    ``roles`` gives each pid's role (``master``, ``worker``, ``process``);
    ``worker_count`` is the pool's workers where there is a pool, else the
    number of processes.
    """

    key: str
    name: str
    kind: str  # cgroup | prefork
    pids: tuple[int, ...]
    roles: Mapping[int, str]
    worker_count: int
    program: str | None = None
    master_pid: int | None = None
    cgroup: CgroupStats | None = None
    identity: CgroupIdentity | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


def _qualifies(stats: CgroupStats | None, identity: CgroupIdentity) -> bool:
    if stats is not None and stats.path == "/":
        return False
    if identity.kind in ("container", "pod", "unit"):
        return True
    return stats is not None and (stats.own_limit_bytes is not None or stats.high_bytes is not None)


def group_services(
    processes: Sequence[ProcInfo],
    cgroup_of: Mapping[int, str | None],
    cgroups: Mapping[str, CgroupStats | None],
    *,
    names: Mapping[int, str] | None = None,
) -> list[ServiceGroup]:
    """Group ``processes`` into services.

    Args:
        processes: this refresh's process rows (``pid``, ``ppid``, ``cmdline``).
        cgroup_of: each pid's memory cgroup path (as ``/proc/PID/cgroup`` names it).
        cgroups: each such path's figures (``None`` where unreadable).
        names: names found for some pids (see :func:`environ_name`).

    Returns:
        Services, cgroups first (by path), then pools outside them (by master pid).
    """
    names = names or {}
    by_cgroup: dict[str, list[ProcInfo]] = {}
    for p in processes:
        path = cgroup_of.get(p.pid)
        if path is not None:
            by_cgroup.setdefault(path, []).append(p)
    services: list[ServiceGroup] = []
    claimed: set[int] = set()
    for path in sorted(by_cgroup):
        members = by_cgroup[path]
        stats = cgroups.get(path)
        ident = identify(path)
        if not _qualifies(stats, ident) or (stats is None and path == "/"):
            continue
        pools = find_pools(members)
        roles = {p.pid: "process" for p in members}
        workers = 0
        for pool in pools:
            roles[pool.master] = "master"
            for w in pool.workers:
                roles[w] = "worker"
            workers += len(pool.workers)
        main = max(pools, key=lambda pl: len(pl.workers)) if pools else None
        name = ident.name
        if ident.kind in ("container", "pod"):
            found = next((names[p.pid] for p in members if p.pid in names), None)
            if found and (ident.container_id is None or not ident.container_id.startswith(found)):
                name = f"{found}/{ident.container_id[:12]}" if ident.kind == "pod" and ident.container_id else found
        pids = tuple(sorted(p.pid for p in members))
        claimed.update(pids)
        services.append(ServiceGroup(
            key=f"cgroup:{path}", name=name, kind="cgroup", pids=pids, roles=roles,
            worker_count=workers if len(pools) == 1 and main is not None else len(pids),
            program=main.program if main else None, master_pid=main.master if main else None,
            cgroup=stats, identity=ident,
        ))
    rest = [p for p in processes if p.pid not in claimed]
    for pool in sorted(find_pools(rest), key=lambda pl: pl.master):
        roles = {pool.master: "master"}
        roles.update({w: "worker" for w in pool.workers})
        roles.update({h: "process" for h in pool.helpers})
        services.append(ServiceGroup(
            key=f"prefork:{pool.master}", name=f"{pool.program} [{pool.master}]", kind="prefork",
            pids=tuple(sorted(pool.pids)), roles=roles, worker_count=len(pool.workers),
            program=pool.program, master_pid=pool.master,
        ))
    return services


def group_pids(groups: Iterable[ServiceGroup]) -> set[int]:
    """Every pid that belongs to a service (the rows that need PSS/USS)."""
    out: set[int] = set()
    for g in groups:
        out.update(g.pids)
    return out
