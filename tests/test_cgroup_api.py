"""``memdash.sources.cgroup``'s API as a script calling it sees it (its declared names: test_public_names.py)."""

from __future__ import annotations

import os

import memdash.sources.cgroup as cgroup


def test_the_default_process_is_this_one() -> None:
    here = cgroup.process_cgroup_memory()
    assert here == cgroup.process_cgroup_memory(os.getpid())
    with open("/proc/self/cgroup") as f:
        text = f.read()
    assert here == cgroup.memory_for_cgroup_text(text)
