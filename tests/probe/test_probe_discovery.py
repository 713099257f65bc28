"""Local discovery: the private socket directory and find_sockets()."""

from __future__ import annotations

import os
import socket
import stat
import subprocess

import pytest

import memdash.probe as probe
from memdash.probe.discovery import find_sockets, socket_dir
from memdash.probe.errors import ProbeError
from probe_helpers import PYTHON


def _dead_pid() -> int:
    proc = subprocess.run([PYTHON, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          timeout=30, check=True)
    return int(proc.stdout)


def _leave_socket_file(path: str) -> None:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()  # the file stays behind, with nobody listening: what a killed probe leaves


def test_socket_dir_is_private_under_runtime_dir(runtime_dir):
    path = socket_dir()
    assert path == os.path.join(runtime_dir, "memdash")
    st = os.lstat(path)
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.geteuid()


def test_fallback_dir_without_runtime_dir(monkeypatch):
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert socket_dir(create=False) == f"/tmp/memdash-{os.geteuid()}"


def test_socket_dir_refuses_a_symlink(runtime_dir, tmp_path):
    os.symlink(tmp_path, os.path.join(runtime_dir, "memdash"))
    with pytest.raises(ProbeError, match="not a directory"):
        socket_dir()


def test_find_sockets_lists_live_probes_and_removes_stale_ones(runtime_dir):
    directory = socket_dir()
    dead = _dead_pid()
    stale = os.path.join(directory, f"{dead}.sock")
    _leave_socket_file(stale)
    # A live pid (our parent) whose socket nobody serves: a reused pid.
    orphan = os.path.join(directory, f"{os.getppid()}.sock")
    _leave_socket_file(orphan)
    with probe.serve(port=None, unix_socket=True) as handle:
        assert find_sockets() == [(os.getpid(), handle.socket_path)]
        assert not os.path.exists(stale) and not os.path.exists(orphan)
    assert find_sockets() == []


def test_serve_replaces_a_stale_socket_of_its_own_pid(runtime_dir):
    path = os.path.join(socket_dir(), f"{os.getpid()}.sock")
    _leave_socket_file(path)
    with probe.serve(port=None, unix_socket=True) as handle:
        assert handle.socket_path == path
    with probe.serve(port=None, unix_socket=True):
        with pytest.raises(ProbeError, match="already listens"):
            probe.serve(port=None, unix_socket=True)
