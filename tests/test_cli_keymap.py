"""Keymap mistakes are config errors, and global options go before or after the command.

Each case runs the real ``memdash`` command in a subprocess, as a user would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from memdash.cli import split_command


def memdash(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("MEMDASH_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "memdash", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, stdin=subprocess.DEVNULL)


def config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "memdash.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("keymap", "words"),
    [
        pytest.param('force_gc = "q"', ("keymap.force_gc", "'q'", "quit"), id="takes-quit"),
        pytest.param('quit = "g"', ("keymap.quit", "'g'", "force_gc"), id="quit-on-gc"),
        pytest.param('force_gc = "j"', ("keymap.force_gc", "'j'", "move down"), id="takes-table-key"),
        pytest.param('force_gcc = "G"', ("keymap.force_gcc", "unknown binding id", "force_gc"), id="unknown-id"),
    ],
)
def test_a_keymap_mistake_is_one_line_and_exit_2(tmp_path: Path, keymap: str, words: tuple[str, ...]) -> None:
    path = config(tmp_path, f"[keymap]\n{keymap}\n")
    result = memdash("--config", path, "--no-gpu", "--no-discover")
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"memdash: error: {path}: "), result.stderr
    for word in words:
        assert word in lines[0]


async def test_a_keymap_that_fits_moves_the_key() -> None:
    from memdash.config import Config

    from tui.tui_fixtures import sample_app

    app = sample_app(config=Config(keymap={"force_gc": "G", "pause": "space"}))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        keys = {b.binding.id: b.binding.key for b in app.screen.active_bindings.values() if b.binding.id}
        assert keys.get("pause") == "space" and keys.get("quit") == "q"
        await pilot.press("p")
        await pilot.pause(0.1)
        assert not app.engine.paused
        await pilot.press("space")
        await pilot.pause(0.1)
        assert app.engine.paused


def test_global_options_before_the_command(tmp_path: Path) -> None:
    path = config(tmp_path, "top = 3\n")
    result = memdash("--config", path, "snapshot", "--json", "--no-gpu", "--no-discover")
    assert result.returncode in (0, 1, 2, 3), result.stderr
    assert "memdash: error" not in result.stderr
    doc = json.loads(result.stdout)
    assert len(doc["processes"]) == 3  # the config's top: the file was read
    # and after it, the same
    after = memdash("snapshot", "--config", path, "--json", "--no-gpu", "--no-discover")
    assert len(json.loads(after.stdout)["processes"]) == 3


def test_a_config_error_before_the_command_is_still_exit_2(tmp_path: Path) -> None:
    path = config(tmp_path, "top = 0\n")
    result = memdash("--config", path, "snapshot")
    assert result.returncode == 2 and path in result.stderr and len(result.stderr.splitlines()) == 1


def test_split_command_never_takes_a_value_or_a_url_for_the_command() -> None:
    assert split_command(["--config", "snapshot", "demo"]) == ("demo", ["--config", "snapshot"])
    assert split_command(["http://h/snapshot", "snapshot"]) == (None, ["http://h/snapshot", "snapshot"])
    assert split_command(["-i", "2", "cleanup", "api", "gc"]) == ("cleanup", ["-i", "2", "api", "gc"])
    assert split_command(["--no-gpu"]) == (None, ["--no-gpu"])
