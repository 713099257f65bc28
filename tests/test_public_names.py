"""Every name a module declares public (``__all__``) can be imported, as
``from memdash.x import *`` in a user's script does."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DECLARING = sorted(
    ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    for p in (ROOT / "memdash").rglob("*.py")
    if any(line.startswith("__all__") for line in p.read_text().splitlines())
)


def test_the_modules_that_declare_names_are_found() -> None:
    assert {"memdash.sources.cgroup", "memdash.sources.jsonmap", "memdash.probe"} <= set(DECLARING)


@pytest.mark.parametrize("module", DECLARING)
def test_a_star_import_gives_every_declared_name(module: str) -> None:
    code = (f"from {module} import *\n"
            f"import json, {module} as m\n"
            "g = globals()\n"
            "print(json.dumps(sorted(n for n in m.__all__ if n in g)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    declared = importlib.import_module(module).__all__
    assert json.loads(out.stdout) == sorted(declared)
    assert len(set(declared)) == len(declared) and all(declared)
