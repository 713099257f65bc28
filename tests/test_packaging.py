"""The wheel: it carries the themes and the stylesheet, and an installed copy finds them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("hatchling", reason="hatchling is needed to build the wheel without network")
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-cache-dir", "-q", "-w", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=50,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INDEX": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    wheels = list(out.glob("memdash-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_carries_themes_and_stylesheet(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for theme in sorted((REPO / "themes").glob("*.toml")):
            member = f"memdash/themes/{theme.name}"
            assert member in names, f"{member} missing from {wheel.name}"
            assert zf.read(member) == theme.read_bytes()
        assert "memdash/tui/app.tcss" in names
        assert zf.read("memdash/tui/app.tcss") == (REPO / "memdash/tui/app.tcss").read_bytes()
        assert "memdash/__init__.py" in names
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert "memdash = memdash.cli:main" in zf.read(entry_points).decode()
        # tests and benchmarks stay out of the wheel
        assert not any(n.startswith(("tests/", "bench/")) for n in names)


def test_installed_wheel_finds_its_shipped_themes(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--no-cache-dir", "-q", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=50,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    code = (
        "import json, memdash, memdash.tui.themes as t\n"
        "files = t.shipped_theme_files()\n"
        "loaded = t.load_themes(files)\n"
        "print(json.dumps({'pkg': memdash.__file__, 'sources': [s for s, _ in files],"
        " 'names': sorted(x.name for x in loaded.loaded), 'failed': loaded.failed}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MEMDASH_CONFIG")}
    env["PYTHONPATH"] = str(target)
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    info = json.loads(run.stdout)
    # the installed copy, not the source checkout, answered
    assert Path(info["pkg"]).resolve().is_relative_to(target.resolve()), info["pkg"]
    expected = sorted(p.name for p in (REPO / "themes").glob("*.toml"))
    assert len(expected) == 3
    assert sorted(info["sources"]) == [f"memdash/themes/{n}" for n in expected]
    assert info["names"] == sorted(["memdash-contrast", "memdash-dark", "memdash-light"])
    assert info["failed"] == []
