"""Real memory cgroups for tests (cgroup v1's memory controller, as root).

Every test that gives a process its own memory limit makes its cgroup here:
:func:`memory_cgroup` creates one with a limit and, whatever the test did,
kills the tasks still in it (that cgroup's and its sub-cgroups' only) and
removes it. :func:`why_no_memory_cgroup` is the one reason such a test skips;
each reason it gives is one CI allows (``CI_ALLOWED_SKIPS`` in
``tests/conftest.py``: a runner on cgroup v2, not root, or with a read-only
tree), so on a runner as root with cgroup v1 these tests must run, and a skip
for any other reason fails CI.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

V1 = Path("/sys/fs/cgroup/memory")

#: How long cleanup waits for killed tasks to leave and the kernel to let the
#: directory go (it may still be uncharging pages of a dead task): generous,
#: for a loaded box.
CLEANUP_SECONDS = 30.0

_serial = itertools.count()


def why_no_memory_cgroup(root: Path = V1, euid: int | None = None) -> str | None:
    """Why a test cannot create a memory cgroup under ``root`` (``None``: it can)."""
    if (os.geteuid() if euid is None else euid) != 0:
        return "needs root to create a memory cgroup"
    if not (root / "memory.limit_in_bytes").exists():
        return f"no cgroup v1 memory controller at {root} (cgroup v2 memory is not delegated here)"
    if not os.access(root, os.W_OK):
        return f"{root} is not writable"
    return None


def need_memory_cgroup() -> None:
    """Skip the calling test, saying why, unless it can create memory cgroups."""
    why = why_no_memory_cgroup()
    if why is not None:
        pytest.skip(why)


class MemoryCgroup:
    """A v1 memory cgroup a test made (see :func:`memory_cgroup`)."""

    def __init__(self, path: Path, limit_bytes: int | None) -> None:
        self.path = path
        self.limit_bytes = limit_bytes
        self._children: list[MemoryCgroup] = []
        path.mkdir()
        try:
            if limit_bytes is not None:
                self.set_limit(limit_bytes)
        except BaseException:
            path.rmdir()
            raise

    @property
    def name(self) -> str:
        return self.path.name

    def set_limit(self, limit_bytes: int) -> None:
        (self.path / "memory.limit_in_bytes").write_text(str(limit_bytes))
        self.limit_bytes = limit_bytes

    def child(self, name: str, limit_bytes: int | None = None) -> MemoryCgroup:
        """A cgroup inside this one (removed with it)."""
        sub = MemoryCgroup(self.path / name, limit_bytes)
        self._children.append(sub)
        return sub

    def add(self, pid: int) -> None:
        """Move process ``pid`` into the cgroup."""
        (self.path / "cgroup.procs").write_text(str(pid))

    def join(self) -> None:
        """For ``preexec_fn``: move the child into the cgroup before it execs
        (and so before it allocates)."""
        with open(self.path / "cgroup.procs", "w") as f:
            f.write("0")

    def pids(self) -> list[int]:
        """The processes in this cgroup itself (not its sub-cgroups)."""
        try:
            return [int(x) for x in (self.path / "cgroup.procs").read_text().split()]
        except FileNotFoundError:
            return []

    def working_set(self) -> int:
        """usage − total_inactive_file, read here, independently of memdash."""
        usage = int((self.path / "memory.usage_in_bytes").read_text())
        inactive = 0
        for line in (self.path / "memory.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "total_inactive_file":
                inactive = int(value)
        return usage - inactive

    def remove(self) -> None:
        """Kill what is still in the cgroup (its own tasks and its sub-cgroups'
        only), then remove it and them; :class:`RuntimeError` if that fails."""
        for sub in reversed(self._children):
            sub.remove()
        deadline = time.monotonic() + CLEANUP_SECONDS
        me = os.getpid()
        while self.path.exists():
            pids = self.pids()
            if me in pids:  # never kill the test run itself: put it back at the root
                (V1 / "cgroup.procs").write_text(str(me))
            for pid in pids:
                if pid != me:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            if not pids:
                try:
                    self.path.rmdir()
                    return
                except FileNotFoundError:
                    return
                except OSError:  # EBUSY: a dying task or its pages are still charged here
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"could not remove test cgroup {self.path} (tasks: {pids})")
            time.sleep(0.05)


@contextlib.contextmanager
def memory_cgroup(limit_bytes: int | None, tag: str = "test", suffix: str = "") -> Iterator[MemoryCgroup]:
    """A fresh v1 memory cgroup with ``limit_bytes`` (``None``: no limit of its
    own), named ``memdash-<tag>-<pid>-<n><suffix>``; skips the test when
    none can be made here. Removed on exit, its stray tasks killed first."""
    need_memory_cgroup()
    while True:  # short names: a table's name column shows them whole
        try:
            group = MemoryCgroup(V1 / f"memdash-{tag}-{os.getpid()}-{next(_serial)}{suffix}", limit_bytes)
            break
        except FileExistsError:  # left by an earlier run whose pid this one has now
            continue
    try:
        yield group
    finally:
        group.remove()


def wait_until_empty(path: Path, seconds: float = 60.0) -> None:
    """Wait until no task is left in cgroup directory ``path``: a task killed
    with SIGKILL still holds its memory (and its row) until it has exited, and
    a parent that killed its workers may exit first. Bounded but generous."""
    deadline = time.monotonic() + seconds
    while (path / "cgroup.procs").read_text().split():
        if time.monotonic() > deadline:
            raise AssertionError(f"tasks still in {path} after {seconds:g} s")
        time.sleep(0.05)


def join_cgroup(path: Path) -> Callable[[], None]:
    """A ``preexec_fn`` that moves the child into cgroup directory ``path`` before it execs."""

    def move() -> None:
        with open(path / "cgroup.procs", "w") as f:
            f.write("0")

    return move
