"""memdash.probe runs inside users' services: it imports nothing from memdash outside itself."""

from __future__ import annotations

import ast
import json
import os
import pathlib
import subprocess
import sys

import memdash.probe

PROBE_DIR = pathlib.Path(memdash.probe.__file__).parent


def test_every_probe_module_loaded_together_pulls_in_nothing_from_memdash_outside_the_probe() -> None:
    modules = sorted(f"memdash.probe.{p.stem}" for p in PROBE_DIR.glob("*.py") if p.stem != "__init__")
    code = (
        "import sys, json, importlib\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'memdash')))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONSTARTUP"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout)
    assert "memdash.probe.cgroupfs" in loaded  # the check sees what the probe loads
    assert [m for m in loaded if m != "memdash" and not m.startswith("memdash.probe")] == []


def test_no_probe_source_names_a_memdash_module_outside_the_probe() -> None:
    # Lazy imports inside functions escape the sys.modules check above; read the source.
    outside = []
    for path in PROBE_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            outside += [f"{path.name}: {n}" for n in names
                        if n.split(".")[0] == "memdash" and n != "memdash" and not n.startswith("memdash.probe")]
    assert outside == []


def test_the_dashboard_still_reads_cgroups_through_sources() -> None:
    from memdash.probe import cgroupfs
    from memdash.sources import cgroup

    assert cgroup.read_cgroup_text is cgroupfs.read_cgroup_text
    assert cgroup.CgroupRoots is cgroupfs.CgroupRoots
