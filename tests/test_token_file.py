"""A ``token_file`` that cannot hold a token is one line on stderr and exit 2:
never a hang (a FIFO), a traceback, or the file's contents or the URL's password."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from memdash.config import ConfigError, TargetConfig, read_token_file

PASSWORD = "pw-7hQ2xKc9"


def bad_token_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name -> (path, what the error says)."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # nobody ever writes it: opening it for reading would block
    folder = tmp_path / "folder"
    folder.mkdir()
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe\x00tok-secret-binary\x00")
    big = tmp_path / "big"
    big.write_text("tok-secret-big" * 400)  # 5.6 KB
    spaced = tmp_path / "spaced"
    spaced.write_text("tok-secret one\r\nX-Injected: yes\n")
    return {
        "fifo": (fifo, "is not a regular file"),
        "folder": (folder, "is a directory"),
        "binary": (binary, "is not UTF-8 text"),
        "big": (big, "is larger than 4 KB"),
        "spaced": (spaced, "an HTTP header cannot carry it"),
    }


@pytest.mark.parametrize("kind", ["fifo", "folder", "binary", "big", "spaced"])
def test_memdash_refuses_the_file_in_one_line(tmp_path: Path, kind: str) -> None:
    path, words = bad_token_files(tmp_path)[kind]
    config = tmp_path / "config.toml"
    config.write_text(
        f'[[targets]]\nname = "api"\nurl = "http://me:{PASSWORD}@127.0.0.1:9/memdash"\ntoken_file = "{path}"\n'
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    for command in (["snapshot", "--no-gpu", "--no-discover"], ["cleanup", "api", "gc", "--yes"]):
        out = subprocess.run(
            [sys.executable, "-m", "memdash", *command, "--config", str(config)],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )
        assert out.returncode == 2, out.stdout + out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1, out.stderr
        assert lines[0].startswith("memdash: error: ") and "targets.api.token_file" in lines[0]
        assert words in lines[0] and str(path) in lines[0]
        assert "Traceback" not in out.stderr and PASSWORD not in out.stdout + out.stderr
        assert "tok-secret" not in out.stdout + out.stderr


@pytest.mark.parametrize("kind", ["fifo", "folder", "binary", "big", "spaced"])
def test_token_read_at_request_time_fails_in_words(tmp_path: Path, kind: str) -> None:
    # The file may turn bad after start-up: the target's poll then fails, in words.
    path, words = bad_token_files(tmp_path)[kind]
    target = TargetConfig(name="api", url="http://127.0.0.1:9/", token_file=str(path))
    with pytest.raises(ConfigError, match=words) as caught:
        target.token()
    assert "tok-secret" not in str(caught.value)


def test_a_good_token_file_reads_stripped(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("  tok-abc.DEF_123~  \n")
    assert read_token_file(str(path)) == "tok-abc.DEF_123~"
    path.write_text("\n")
    assert read_token_file(str(path)) is None
