"""What importing memdash's light parts drags in: the probe runs inside users'
services, and the headless core runs without a terminal UI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def loaded_after(imports: str, roots: tuple[str, ...]) -> list[str]:
    code = (
        "import sys, json\n"
        f"import {imports}\n"
        f"roots = {roots!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in roots)))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONSTARTUP"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


HEAVY = ("textual", "httpx", "plotext", "textual_plotext", "pynvml", "psutil", "rich")


def test_probe_imports_nothing_heavy() -> None:
    assert loaded_after("memdash.probe", HEAVY) == []


def test_the_check_sees_heavy_modules_when_they_are_imported() -> None:
    # the detector itself works: importing the TUI does load textual
    assert "textual" in loaded_after("memdash.tui.themes", HEAVY)


@pytest.mark.parametrize(
    "module",
    [
        "memdash.sources.cgroup",
        "memdash.model",
        "memdash.levels",
        "memdash.config",
        "memdash.sources.processes",
        "memdash.collector",
        "memdash.sources.remote",
    ],
)
def test_headless_core_loads_no_textual(module: str) -> None:
    assert loaded_after(module, ("textual", "textual_plotext", "plotext")) == []


def test_headless_core_together_loads_no_textual() -> None:
    modules = (
        "memdash.sources.cgroup, memdash.model, memdash.levels, memdash.config, "
        "memdash.sources.processes, memdash.collector, memdash.sources.remote, memdash.report"
    )
    assert loaded_after(modules, ("textual", "textual_plotext", "plotext")) == []
