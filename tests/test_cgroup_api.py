"""``memdash.sources.cgroup``'s API as a script calling it sees it (its declared names: test_public_names.py)."""

from __future__ import annotations

import os

import memdash.sources.cgroup as cgroup


def _which(m: cgroup.CgroupMemory | None) -> tuple | None:
    # The cgroup and its limit; its usage moves between two reads (this process
    # and everything else in its cgroup allocate meanwhile).
    return None if m is None else (m.path, m.version, m.limit_bytes, m.usage_bytes is None)


def test_the_default_process_is_this_one() -> None:
    here = cgroup.process_cgroup_memory()
    assert _which(here) == _which(cgroup.process_cgroup_memory(os.getpid()))
    with open("/proc/self/cgroup") as f:
        text = f.read()
    assert _which(here) == _which(cgroup.memory_for_cgroup_text(text))
