"""Real memory cgroups for service tests (cgroup v1's memory controller, as root)."""

from __future__ import annotations

import itertools
import os
import signal
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

V1_MEMORY = Path("/sys/fs/cgroup/memory")
_serial = itertools.count()


def _writable_reason() -> str | None:
    if os.geteuid() != 0:
        return "real cgroups need root"
    if not (V1_MEMORY / "memory.usage_in_bytes").exists():
        return "no cgroup v1 memory controller at /sys/fs/cgroup/memory"
    if not os.access(V1_MEMORY, os.W_OK):
        return "/sys/fs/cgroup/memory is not writable"
    return None


def _empty_and_remove(path: Path) -> None:
    """Kill what the test started in ``path`` (only that cgroup's tasks) and remove it."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            pids = [int(x) for x in (path / "cgroup.procs").read_text().split()]
        except OSError:
            return
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
    for _ in range(100):
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"could not remove test cgroup {path}")


@pytest.fixture
def make_cgroup() -> Iterator[Callable[[int], Path]]:
    """``make_cgroup(limit_bytes, suffix="")`` creates a v1 memory cgroup with that limit;
    every one created is emptied (its tasks killed) and removed afterwards,
    whatever the test did."""
    reason = _writable_reason()
    if reason is not None:
        pytest.skip(reason)
    made: list[Path] = []

    def make(limit_bytes: int, suffix: str = "") -> Path:
        path = V1_MEMORY / f"memdash-test-{os.getpid()}-{next(_serial)}{suffix}"
        path.mkdir()
        made.append(path)
        (path / "memory.limit_in_bytes").write_text(str(limit_bytes))
        return path

    try:
        yield make
    finally:
        errors = []
        for path in reversed(made):
            try:
                _empty_and_remove(path)
            except RuntimeError as exc:
                errors.append(str(exc))
        if errors:
            pytest.fail("; ".join(errors))


def join_cgroup(path: Path) -> Callable[[], None]:
    """A ``preexec_fn`` that moves the child into ``path`` before it execs."""

    def move() -> None:
        (path / "cgroup.procs").write_text(str(os.getpid()))

    return move
