"""``memdash.sources.cgroup``'s public names, as a script importing them sees them."""

from __future__ import annotations

import os
import subprocess
import sys

import memdash.sources.cgroup as cgroup


def test_every_declared_name_is_importable_with_a_star_import() -> None:
    code = ("from memdash.sources.cgroup import *\n"
            "import memdash.sources.cgroup as m\n"
            "g = globals()\n"
            "print(sorted(n for n in m.__all__ if n in g))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == repr(sorted(cgroup.__all__))
    assert {"process_cgroup_memory", "memory_for_cgroup_text", "CgroupCache", "DEFAULT_ROOTS"} <= set(cgroup.__all__)


def test_the_default_process_is_this_one() -> None:
    here = cgroup.process_cgroup_memory()
    assert here == cgroup.process_cgroup_memory(os.getpid())
    with open("/proc/self/cgroup") as f:
        text = f.read()
    assert here == cgroup.memory_for_cgroup_text(text)
