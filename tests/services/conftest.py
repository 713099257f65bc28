"""Real memory cgroups for service tests (see tests/cgroups.py)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Callable, Iterator

import pytest

from cgroups import join_cgroup, memory_cgroup, need_memory_cgroup

__all__ = ["join_cgroup", "make_cgroup"]


@pytest.fixture
def make_cgroup() -> Iterator[Callable[..., Path]]:
    """``make_cgroup(limit_bytes, suffix="")`` creates a v1 memory cgroup with that limit;
    every one created is emptied (its tasks killed) and removed afterwards,
    whatever the test did."""
    need_memory_cgroup()
    with contextlib.ExitStack() as stack:
        yield lambda limit_bytes, suffix="": stack.enter_context(memory_cgroup(limit_bytes, "test", suffix)).path
