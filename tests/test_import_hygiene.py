"""What importing memdash's light parts drags in: the probe runs inside users'
services, and the headless core runs without a terminal UI."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import memdash


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
        "memdash.engine",
        "memdash.history",
    ],
)
def test_headless_core_loads_no_textual(module: str) -> None:
    assert loaded_after(module, ("textual", "textual_plotext", "plotext")) == []


def test_headless_core_together_loads_no_textual() -> None:
    modules = (
        "memdash.sources.cgroup, memdash.model, memdash.levels, memdash.config, "
        "memdash.sources.processes, memdash.collector, memdash.sources.remote, memdash.report, memdash.engine"
    )
    assert loaded_after(modules, ("textual", "textual_plotext", "plotext")) == []


def test_the_dashboard_loads_no_http_stack_at_start() -> None:
    # httpx and the transport come with the engine's target schedule, only once
    # a target exists; the screen itself never needs them.
    loaded = loaded_after("memdash.tui.app", ("httpx", "h11", "memdash"))
    assert not [m for m in loaded if m.split(".")[0] in ("httpx", "h11")]
    assert "memdash.sources.remote" not in loaded and "memdash.sources.http11" not in loaded
    assert "memdash.engine" in loaded


def test_the_dashboard_loads_no_local_source_before_its_first_paint() -> None:
    # psutil and the /proc and cgroup readers come with the engine's first poll,
    # on its own thread after the first paint: the first frame needs none of them.
    loaded = loaded_after("memdash.tui.app", ("psutil", "memdash"))
    assert "psutil" not in loaded
    assert not [m for m in loaded if m in ("memdash.collector", "memdash.sources.processes", "memdash.service_watch")]


# -- the static import graph: every import statement, at module level or inside
# a function (what sys.modules cannot see until the code runs) ------------------

PACKAGE = Path(memdash.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """memdash module -> every module it names in an import statement."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        name = _module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                found.add(base)
                found.update(f"{base}.{a.name}" for a in node.names)
        graph[name] = found
    return graph


def reachable(graph: dict[str, set[str]], roots: list[str], *, through: bool = True) -> dict[str, str]:
    """Every module imported from ``roots`` (transitively through memdash modules
    when ``through``), mapped to the memdash module that imports it."""
    seen: dict[str, str] = {}
    todo = [m for m in graph if any(m == r or m.startswith(r + ".") for r in roots)]
    done: set[str] = set()
    while todo:
        mod = todo.pop()
        if mod in done:
            continue
        done.add(mod)
        for target in graph.get(mod, ()):
            seen.setdefault(target, mod)
            if through and target in graph:
                todo.append(target)
    return seen


def _hits(found: dict[str, str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(f"{by} imports {m}" for m, by in found.items() if any(m == f or m.startswith(f + ".") for f in forbidden))


def test_static_graph_sees_an_import_inside_a_function() -> None:
    # the check itself works: cli imports the TUI only inside a function
    assert "memdash.tui.app" in import_graph()["memdash.cli"]


def test_headless_core_never_imports_textual_even_lazily() -> None:
    graph = import_graph()
    roots = ["memdash.sources", "memdash.engine", "memdash.model", "memdash.history", "memdash.levels",
             "memdash.record.recorder", "memdash.record.live", "memdash.record.replay", "memdash.record.bundle"]
    assert _hits(reachable(graph, roots), ("textual", "textual_plotext", "plotext")) == []


def test_screens_never_import_the_http_stack_themselves() -> None:
    forbidden = ("httpx", "h11", "memdash.sources.remote", "memdash.sources.http11", "memdash.sources.transport")
    assert _hits(reachable(import_graph(), ["memdash.tui"], through=False), forbidden) == []


def test_probe_imports_nothing_from_memdash_outside_itself() -> None:
    found = reachable(import_graph(), ["memdash.probe"])
    # memdash/__init__.py (its __version__) loads with any subpackage and imports nothing itself.
    outside = [
        m for m in found if m.startswith("memdash.") and not m.startswith("memdash.probe") and m != "memdash.__version__"
    ]
    assert outside == [], [f"{found[m]} imports {m}" for m in outside]
